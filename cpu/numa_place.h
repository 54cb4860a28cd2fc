/* NUMA placement: put a model's weights and buffers on the memory node of the cluster that reads them,
 * so each cluster streams from local memory. Everything here is a no-op that succeeds on one-node
 * machines and where the kernel or libnuma offers no NUMA support: placement is an optimisation, never
 * a reason to fail. */
#ifndef SD_CPU_NUMA_PLACE_H
#define SD_CPU_NUMA_PLACE_H

#include <stddef.h>

#include "cpu/topology.h"

/* Number of NUMA nodes placement can choose between: 0 when NUMA is unavailable, else >= 1. */
int sd_numa_n_nodes(void);

/* The node holding most CPUs of `cpus` (ties go to the lower node), or -1 when there is nothing to
 * choose (no NUMA support, a single node, an empty set). */
int sd_numa_node_of_cpuset(const sd_cpuset *cpus);

/* Binds the pages lying wholly inside [addr, addr + len) to `node` (mbind MPOL_BIND, as
 * numa_tonode_memory does), so pages not yet touched are allocated there. Pages only partly inside are
 * left alone: they may belong to other allocations. node -1, a single-node machine or no NUMA support:
 * does nothing. Returns SD_STATUS_OK, SD_STATUS_INVALID_ARGUMENT for a node that does not exist, or
 * SD_STATUS_IO if the kernel refused. */
int sd_numa_bind(void *addr, size_t len, int node, char *err, size_t err_len);

#endif
