/* NUMA placement through libnuma (see numa_place.h). We keep no state: every call asks libnuma, whose
 * own lazily built tables are its business. */
#include "cpu/numa_place.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/sd_common.h"

int sd_numa_n_nodes(void) {
    if (numa_available() < 0) return 0;
    int n = numa_num_configured_nodes();
    return n > 0 ? n : 1;
}

int sd_numa_node_of_cpuset(const sd_cpuset *cpus) {
    if (!cpus || cpus->count <= 0 || sd_numa_n_nodes() <= 1) return -1;
    int best = -1, best_count = 0;
    /* Nodes are few: count per candidate node by rescanning instead of sizing a table by numa_max_node. */
    for (int i = 0; i < cpus->count; i++) {
        int node = numa_node_of_cpu(cpus->cpu[i]);
        if (node < 0 || node == best) continue;
        int count = 0;
        for (int j = 0; j < cpus->count; j++)
            count += numa_node_of_cpu(cpus->cpu[j]) == node;
        if (count > best_count || (count == best_count && node < best)) {
            best = node;
            best_count = count;
        }
    }
    return best;
}

int sd_numa_bind(void *addr, size_t len, int node, char *err, size_t err_len) {
    if (node < 0 || !addr || len == 0 || sd_numa_n_nodes() <= 1) return SD_STATUS_OK;
    if (node > numa_max_node())
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "numa: node %d does not exist", node);
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    uintptr_t begin = ((uintptr_t)addr + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t end = ((uintptr_t)addr + len) & ~((uintptr_t)page - 1);
    if (end <= begin) return SD_STATUS_OK; /* no whole page inside */
    /* mbind rather than numa_tonode_memory: same policy, but it returns an error instead of printing.
     * MPOL_MF_MOVE also moves pages already touched (mapped weights, first-touched buffers). */
    struct bitmask *mask = numa_allocate_nodemask();
    if (!mask) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "numa: out of memory");
    numa_bitmask_setbit(mask, (unsigned)node);
    /* libnuma passes size + 1 as maxnode: the kernel reads maxnode - 1 bits. */
    long rc = mbind((void *)begin, end - begin, MPOL_BIND, mask->maskp, mask->size + 1, MPOL_MF_MOVE);
    int saved = errno;
    numa_bitmask_free(mask);
    if (rc != 0)
        return sd_error(err, err_len, SD_STATUS_IO, "numa: binding %zu bytes to node %d: %s",
                        (size_t)(end - begin), node, strerror(saved));
    return SD_STATUS_OK;
}
