/* CPU topology from sysfs: which CPUs are online, how they group into core clusters (performance vs
 * efficiency), what caches they share and which NUMA node they sit on. specdec runs the draft model on
 * the efficiency cluster and the target on the performance cluster; this file finds those clusters.
 *
 * Everything except the online CPU list is optional: containers and VMs hide much of /sys, and a
 * missing file only makes a field unknown. */
#ifndef SD_CPU_TOPOLOGY_H
#define SD_CPU_TOPOLOGY_H

#include <stddef.h>

/* Highest CPU id + 1 that specdec handles (the kernel's default NR_CPUS on x86-64 is 8192, but machines
 * specdec targets have far fewer; ids at or above this are rejected rather than silently dropped). */
#define SD_CPUSET_MAX 1024

/* A set of CPU ids, ascending and without duplicates when built by sd_cpuset_parse or this file. The
 * array form is what sd_pool_create takes (cpu, count). */
typedef struct {
    int count;
    int cpu[SD_CPUSET_MAX];
} sd_cpuset;

/* Parses the kernel's cpulist syntax ("0-3,8,10-11", as in /sys/devices/system/cpu/online) into `out`,
 * sorted ascending with duplicates merged. Whitespace (including a trailing newline) around numbers is
 * ignored and an empty or all-blank list is the empty set. Returns SD_STATUS_OK, or SD_STATUS_FORMAT
 * for garbage, empty items ("1,,2"), reversed ranges ("3-1") or ids >= SD_CPUSET_MAX. */
int sd_cpuset_parse(const char *list, sd_cpuset *out, char *err, size_t err_len);

/* Writes `set` in cpulist syntax (ranges collapsed, ascending, "" for the empty set) into buf. Returns
 * the length written, or SD_STATUS_INVALID_ARGUMENT if it did not fit (buf then holds a truncated,
 * NUL-terminated prefix) or the set holds an id outside [0, SD_CPUSET_MAX). */
int sd_cpuset_format(const sd_cpuset *set, char *buf, size_t len);

/* Returns 1 if `cpu` is in `set`, else 0. */
int sd_cpuset_contains(const sd_cpuset *set, int cpu);

/* A cluster's class. With one class the machine is uniform; with several, the lowest class is
 * "efficiency" and every higher one "performance" (so an Arm prime + big + little phone gives the target
 * both prime and big cores). */
typedef enum {
    SD_CORE_UNIFORM = 0,
    SD_CORE_PERFORMANCE = 1,
    SD_CORE_EFFICIENCY = 2,
} sd_core_type;

/* "uniform", "performance" or "efficiency". */
const char *sd_core_type_name(sd_core_type type);

/* What the clusters were told apart by. */
typedef enum {
    SD_CLUSTER_BY_NONE = 0,      /* nothing tells the CPUs apart: one class */
    SD_CLUSTER_BY_CORE_TYPE = 1, /* Intel hybrid: devices/cpu_core vs devices/cpu_atom */
    SD_CLUSTER_BY_CAPACITY = 2,  /* Arm: cpu_capacity (1024 = the fastest core) */
    SD_CLUSTER_BY_FREQUENCY = 3, /* cpufreq/cpuinfo_max_freq, classes > 10% apart */
} sd_cluster_basis;

/* One cluster: the CPUs of one class on one NUMA node. Unknown numbers are 0 (sizes, capacity,
 * frequency) or -1 (numa_node). */
typedef struct {
    sd_core_type type;
    sd_cpuset cpus;       /* every online hardware thread of the cluster */
    sd_cpuset cores;      /* one thread per physical core (the lowest SMT sibling): what to pin workers to */
    int threads_per_core; /* 1 without SMT (or when the sibling lists are hidden) */
    int capacity;         /* highest cpu_capacity in the cluster, 1..1024; 0 unknown */
    long max_freq_khz;    /* highest cpuinfo_max_freq in the cluster; 0 unknown */
    long l2_bytes;        /* size of one L2 instance; 0 unknown */
    long l3_bytes;        /* size of one L3 instance; 0 unknown */
    int l2_shared;        /* 1 if an L2 instance spans more than one physical core */
    int l3_shared;        /* 1 if an L3 instance spans more than one physical core */
    int numa_node;        /* -1 unknown */
} sd_cluster;

typedef struct sd_topology sd_topology;

/* Reads the topology under sysfs_root ("/sys" normally; tests pass a fixture tree) into *out, which the
 * caller frees with sd_topology_free. Clusters are told apart by core type where known, else by
 * cpu_capacity, else by max frequency (the first of these that is known for every CPU and separates
 * them), split further by NUMA node, and ordered performance-first (then by node).
 * Only an unreadable or garbled online list is an error (SD_STATUS_IO / SD_STATUS_FORMAT); for "/sys"
 * itself even that falls back to sysconf(_SC_NPROCESSORS_ONLN) CPUs numbered 0..n-1. */
int sd_topology_detect(const char *sysfs_root, sd_topology **out, char *err, size_t err_len);
void sd_topology_free(sd_topology *topo);

int sd_topology_n_cpus(const sd_topology *topo);
int sd_topology_n_clusters(const sd_topology *topo);
/* Cluster i in performance-first order, or NULL if i is out of range. Valid until sd_topology_free. */
const sd_cluster *sd_topology_cluster(const sd_topology *topo, int i);
/* NUMA nodes listed under devices/system/node; 0 unknown. */
int sd_topology_n_numa_nodes(const sd_topology *topo);
sd_cluster_basis sd_topology_basis(const sd_topology *topo);

/* Return values of sd_topology_default_split. */
enum {
    SD_SPLIT_SEPARATE = 0, /* draft and target have disjoint clusters and can run at the same time */
    SD_SPLIT_SHARED = 1,   /* uniform machine: both get all cores and must take turns */
};

/* Chooses the default CPUs: target = the performance clusters, draft = the efficiency clusters, one
 * thread per physical core (SMT siblings share a core's load/store units, and memory-bound decode does
 * not gain from them). On a uniform machine both get all cores and the result is SD_SPLIT_SHARED: the
 * sequential schedule time-shares them. Returns SD_SPLIT_SEPARATE, SD_SPLIT_SHARED, or
 * SD_STATUS_INVALID_ARGUMENT for NULL arguments. */
int sd_topology_default_split(const sd_topology *topo, sd_cpuset *draft, sd_cpuset *target);

/* Writes a one-paragraph human description into buf, e.g.
 * "2 CPUs, 1 cluster: uniform [0-1] 2.6 GHz, L3 32 MiB shared; 1 NUMA node". Only shared caches are
 * named (private ones say nothing about placement). Returns the length written, or
 * SD_STATUS_INVALID_ARGUMENT if it did not fit (buf then holds a truncated, NUL-terminated prefix). */
int sd_topology_describe(const sd_topology *topo, char *buf, size_t len);

#endif
