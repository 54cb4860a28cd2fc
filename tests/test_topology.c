/* Topology tests: cpulist parsing/formatting, cluster detection on fixture sysfs trees (Arm big.LITTLE,
 * Intel hybrid with SMT, a bare homogeneous pair, 2-node NUMA, an online-only tree, broken online
 * lists), detection on this machine's real /sys (printed), and a NUMA bind that must not fail here. */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sd_common.h"
#include "cpu/numa_place.h"
#include "cpu/topology.h"

static int failures;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                             \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fprintf(stderr, "\n");                                                                           \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

/* ---- fixture trees ---- */

/* mkdir -p for every directory above `path`. */
static void make_parents(char *path) {
    for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
}

/* Writes `text` + newline to root/<printf path>, as sysfs files end in a newline. */
static void put_file(const char *root, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_file(const char *root, const char *text, const char *fmt, ...) {
    char rel[512], path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    make_parents(path);
    FILE *f = fopen(path, "w");
    if (!f) {
        CHECK(0, "cannot create fixture file %s", path);
        return;
    }
    fprintf(f, "%s\n", text);
    fclose(f);
}

static void put_cpu_number(const char *root, int cpu, const char *file, long value) {
    char text[32];
    snprintf(text, sizeof text, "%ld", value);
    put_file(root, text, "devices/system/cpu/cpu%d/%s", cpu, file);
}

/* A cache index of one CPU: level, type, size text ("512K"), shared_cpu_list. */
static void put_cache(const char *root, int cpu, int index, int level, const char *type, const char *size,
                      const char *shared) {
    char level_text[8];
    snprintf(level_text, sizeof level_text, "%d", level);
    put_file(root, level_text, "devices/system/cpu/cpu%d/cache/index%d/level", cpu, index);
    put_file(root, type, "devices/system/cpu/cpu%d/cache/index%d/type", cpu, index);
    put_file(root, size, "devices/system/cpu/cpu%d/cache/index%d/size", cpu, index);
    put_file(root, shared, "devices/system/cpu/cpu%d/cache/index%d/shared_cpu_list", cpu, index);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A fresh empty fixture root under $TMPDIR; the caller removes it with drop_root. */
static void new_root(char *root, size_t len) {
    const char *tmp = getenv("TMPDIR");
    snprintf(root, len, "%s/sd-topo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        CHECK(0, "mkdtemp %s failed", root);
        root[0] = '\0';
    }
}

static void drop_root(const char *root) {
    if (root[0]) nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ---- */

static const char *fmt_set(const sd_cpuset *set, char *buf, size_t len) {
    if (sd_cpuset_format(set, buf, len) < 0) snprintf(buf, len, "<unformattable>");
    return buf;
}

static void check_set(const sd_cpuset *set, const char *want, const char *what) {
    char got[256];
    fmt_set(set, got, sizeof got);
    CHECK(strcmp(got, want) == 0, "%s: got [%s], want [%s]", what, got, want);
}

static sd_topology *detect(const char *root, const char *what) {
    char err[256] = "";
    sd_topology *topo = NULL;
    int rc = sd_topology_detect(root, &topo, err, sizeof err);
    CHECK(rc == SD_STATUS_OK && topo, "%s: detect failed: %d %s", what, rc, err);
    return rc == SD_STATUS_OK ? topo : NULL;
}

static void check_describe(const sd_topology *topo, const char *want, const char *what) {
    char text[1024];
    int n = sd_topology_describe(topo, text, sizeof text);
    CHECK(n == (int)strlen(text), "%s: describe returned %d for %zu chars", what, n, strlen(text));
    CHECK(strcmp(text, want) == 0, "%s: describe\n  got:  %s\n  want: %s", what, text, want);
    printf("  %s: %s\n", what, text);
}

/* ---- cpuset ---- */

static void test_cpuset(void) {
    static const struct {
        const char *in, *out;
    } good[] = {
        {"0-3,8,10-11", "0-3,8,10-11"},
        {"0-1\n", "0-1"},
        {" 5 , 1-2 ,\t3\n", "1-3,5"}, /* whitespace anywhere between items, unsorted input */
        {"", ""},
        {"\n", ""},           /* what the kernel prints for an empty list */
        {"0-3,2-5,4", "0-5"}, /* overlaps and duplicates merge */
        {"7", "7"},
        {"0,2,4,6", "0,2,4,6"},
        {"1023", "1023"},
        {"0-1023", "0-1023"},
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(good); i++) {
        sd_cpuset set;
        char err[128] = "";
        int rc = sd_cpuset_parse(good[i].in, &set, err, sizeof err);
        CHECK(rc == SD_STATUS_OK, "parse \"%s\": %d %s", good[i].in, rc, err);
        if (rc == SD_STATUS_OK) check_set(&set, good[i].out, good[i].in);
    }
    sd_cpuset set;
    CHECK(sd_cpuset_parse("0-1023", &set, NULL, 0) == SD_STATUS_OK && set.count == 1024, "0-1023 count %d",
          set.count);
    CHECK(sd_cpuset_parse("3,1,2", &set, NULL, 0) == SD_STATUS_OK && set.count == 3 && set.cpu[0] == 1 &&
              set.cpu[2] == 3,
          "parse must sort");
    CHECK(sd_cpuset_contains(&set, 2) && !sd_cpuset_contains(&set, 0), "contains");

    static const char *const bad[] = {"abc", "1-",    "-1",   "3-1",    "1,,2",
                                      "1,",  ",1",    "1024", "0-1024", "99999999999999999999",
                                      "1 2", "1-2-3", "0x3",  "1;2",    "2.5"};
    for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
        char err[128] = "";
        int rc = sd_cpuset_parse(bad[i], &set, err, sizeof err);
        CHECK(rc == SD_STATUS_FORMAT && err[0], "parse \"%s\" should fail with a message: %d", bad[i], rc);
    }
    CHECK(sd_cpuset_parse(NULL, &set, NULL, 0) == SD_STATUS_INVALID_ARGUMENT, "NULL list");

    /* format: buffer too small truncates and says so; ids out of range are refused */
    sd_cpuset_parse("0-3,8,10-11", &set, NULL, 0);
    char small[6];
    CHECK(sd_cpuset_format(&set, small, sizeof small) == SD_STATUS_INVALID_ARGUMENT && strlen(small) == 5,
          "short buffer must fail, got \"%s\"", small);
    char exact[12];
    CHECK(sd_cpuset_format(&set, exact, sizeof exact) == 11, "11 chars + NUL must fit");
    sd_cpuset odd = {.count = 2, .cpu = {5, 1024}};
    char buf[32];
    CHECK(sd_cpuset_format(&odd, buf, sizeof buf) == SD_STATUS_INVALID_ARGUMENT, "id 1024 must not format");
}

/* ---- fixtures ---- */

/* (a) Arm big.LITTLE 4+4: capacities 1024/446, max freqs 2.8/1.8 GHz, an L2 per cluster, one L3. */
static void test_big_little(void) {
    char root[256];
    new_root(root, sizeof root);
    put_file(root, "0-7", "devices/system/cpu/online");
    for (int cpu = 0; cpu < 8; cpu++) {
        int big = cpu < 4;
        put_cpu_number(root, cpu, "cpu_capacity", big ? 1024 : 446);
        put_cpu_number(root, cpu, "cpufreq/cpuinfo_max_freq", big ? 2800000 : 1800000);
        put_cpu_number(root, cpu, "topology/physical_package_id", 0);
        put_cpu_number(root, cpu, "topology/core_id", cpu % 4); /* Arm DT: numbered per cluster */
        char self[8];
        snprintf(self, sizeof self, "%d", cpu);
        put_file(root, self, "devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu);
        put_cache(root, cpu, 0, 1, "Data", "64K", self);
        put_cache(root, cpu, 1, 1, "Instruction", "64K", self);
        put_cache(root, cpu, 2, 2, "Unified", big ? "1024K" : "512K", big ? "0-3" : "4-7");
        put_cache(root, cpu, 3, 3, "Unified", "4096K", "0-7");
    }
    put_file(root, "0-7", "devices/system/node/node0/cpulist");

    sd_topology *topo = detect(root, "big.LITTLE");
    if (topo) {
        CHECK(sd_topology_n_cpus(topo) == 8, "n_cpus %d", sd_topology_n_cpus(topo));
        CHECK(sd_topology_n_clusters(topo) == 2, "n_clusters %d", sd_topology_n_clusters(topo));
        CHECK(sd_topology_basis(topo) == SD_CLUSTER_BY_CAPACITY, "basis %d", sd_topology_basis(topo));
        CHECK(sd_topology_n_numa_nodes(topo) == 1, "nodes %d", sd_topology_n_numa_nodes(topo));
        const sd_cluster *p = sd_topology_cluster(topo, 0), *e = sd_topology_cluster(topo, 1);
        CHECK(sd_topology_cluster(topo, 2) == NULL && sd_topology_cluster(topo, -1) == NULL, "out of range");
        if (p && e) {
            CHECK(p->type == SD_CORE_PERFORMANCE && e->type == SD_CORE_EFFICIENCY, "types %d %d", p->type,
                  e->type);
            check_set(&p->cpus, "0-3", "big cpus");
            check_set(&e->cpus, "4-7", "little cpus");
            check_set(&p->cores, "0-3", "big cores");
            CHECK(p->capacity == 1024 && e->capacity == 446, "capacity %d %d", p->capacity, e->capacity);
            CHECK(p->max_freq_khz == 2800000 && e->max_freq_khz == 1800000, "freq");
            CHECK(p->l2_bytes == 1 << 20 && e->l2_bytes == 512 << 10 && p->l2_shared && e->l2_shared, "L2");
            CHECK(p->l3_bytes == 4 << 20 && p->l3_shared, "L3");
            CHECK(p->threads_per_core == 1 && p->numa_node == 0, "smt %d node %d", p->threads_per_core,
                  p->numa_node);
        }
        sd_cpuset draft, target;
        CHECK(sd_topology_default_split(topo, &draft, &target) == SD_SPLIT_SEPARATE,
              "split must be separate");
        check_set(&target, "0-3", "big.LITTLE target");
        check_set(&draft, "4-7", "big.LITTLE draft");
        check_describe(
            topo,
            "8 CPUs, 2 clusters: performance [0-3] capacity 1024 2.8 GHz, L2 1 MiB shared, L3 4 MiB "
            "shared; efficiency [4-7] capacity 446 1.8 GHz, L2 512 KiB shared, L3 4 MiB shared; "
            "1 NUMA node",
            "big.LITTLE");
        char tiny[16];
        CHECK(sd_topology_describe(topo, tiny, sizeof tiny) == SD_STATUS_INVALID_ARGUMENT &&
                  strlen(tiny) == sizeof tiny - 1,
              "describe into a short buffer must fail and truncate");
        sd_topology_free(topo);
    }

    /* The same tree without cpu_capacity: max frequency (2.8 vs 1.8 GHz, > 10% apart) separates them. */
    for (int cpu = 0; cpu < 8; cpu++) {
        char path[512];
        snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/cpu_capacity", root, cpu);
        remove(path);
    }
    topo = detect(root, "big.LITTLE by frequency");
    if (topo) {
        CHECK(sd_topology_basis(topo) == SD_CLUSTER_BY_FREQUENCY, "basis %d", sd_topology_basis(topo));
        const sd_cluster *p = sd_topology_cluster(topo, 0);
        CHECK(sd_topology_n_clusters(topo) == 2 && p && p->type == SD_CORE_PERFORMANCE, "frequency clusters");
        if (p) check_set(&p->cpus, "0-3", "fast cpus by frequency");
        sd_topology_free(topo);
    }

    /* Max frequencies within 10% of each other (boost bins) are one class. */
    for (int cpu = 0; cpu < 8; cpu++)
        put_cpu_number(root, cpu, "cpufreq/cpuinfo_max_freq", cpu < 4 ? 2800000 : 2600000);
    topo = detect(root, "close frequencies");
    if (topo) {
        CHECK(sd_topology_n_clusters(topo) == 1 && sd_topology_basis(topo) == SD_CLUSTER_BY_NONE,
              "2.8 vs 2.6 GHz must be one cluster, got %d", sd_topology_n_clusters(topo));
        sd_topology_free(topo);
    }
    drop_root(root);
}

/* (b) Intel hybrid: P-cores 0-7 as SMT pairs (0,1)...(6,7), E-cores 8-15 without SMT, E-cores in modules
 * of 4 sharing an L2. cpu_capacity is uniform (1024), as on many x86 kernels: core type must win. */
static void test_intel_hybrid(void) {
    char root[256];
    new_root(root, sizeof root);
    put_file(root, "0-15", "devices/system/cpu/online");
    put_file(root, "0-7", "devices/cpu_core/cpus");
    put_file(root, "8-15", "devices/cpu_atom/cpus");
    for (int cpu = 0; cpu < 16; cpu++) {
        int p = cpu < 8;
        char siblings[16], l2[16];
        if (p)
            snprintf(siblings, sizeof siblings, "%d-%d", cpu & ~1, (cpu & ~1) + 1);
        else
            snprintf(siblings, sizeof siblings, "%d", cpu);
        if (p)
            snprintf(l2, sizeof l2, "%s", siblings);
        else
            snprintf(l2, sizeof l2, "%d-%d", cpu & ~3, (cpu & ~3) + 3);
        put_file(root, siblings, "devices/system/cpu/cpu%d/topology/core_cpus_list", cpu);
        put_cpu_number(root, cpu, "cpu_capacity", 1024);
        put_cpu_number(root, cpu, "cpufreq/cpuinfo_max_freq", p ? 5000000 : 3800000);
        put_cache(root, cpu, 0, 1, "Data", "48K", siblings);
        put_cache(root, cpu, 1, 1, "Instruction", "32K", siblings);
        put_cache(root, cpu, 2, 2, "Unified", p ? "1280K" : "2048K", l2);
        put_cache(root, cpu, 3, 3, "Unified", "24576K", "0-15");
    }
    sd_topology *topo = detect(root, "Intel hybrid");
    if (topo) {
        CHECK(sd_topology_basis(topo) == SD_CLUSTER_BY_CORE_TYPE, "basis %d", sd_topology_basis(topo));
        CHECK(sd_topology_n_clusters(topo) == 2, "n_clusters %d", sd_topology_n_clusters(topo));
        const sd_cluster *p = sd_topology_cluster(topo, 0), *e = sd_topology_cluster(topo, 1);
        if (p && e) {
            CHECK(p->type == SD_CORE_PERFORMANCE && e->type == SD_CORE_EFFICIENCY, "types");
            check_set(&p->cpus, "0-7", "P cpus");
            check_set(&p->cores, "0,2,4,6", "P cores (one thread each)");
            check_set(&e->cores, "8-15", "E cores");
            CHECK(p->threads_per_core == 2 && e->threads_per_core == 1, "smt %d %d", p->threads_per_core,
                  e->threads_per_core);
            CHECK(!p->l2_shared && e->l2_shared, "P L2 is per core (SMT only), E L2 per module: %d %d",
                  p->l2_shared, e->l2_shared);
        }
        sd_cpuset draft, target;
        CHECK(sd_topology_default_split(topo, &draft, &target) == SD_SPLIT_SEPARATE, "split separate");
        check_set(&target, "0,2,4,6", "hybrid target");
        check_set(&draft, "8-15", "hybrid draft");
        check_describe(
            topo,
            "16 CPUs, 2 clusters: performance [0-7] 4 cores x 2 threads 5.0 GHz, L3 24 MiB shared; "
            "efficiency [8-15] 3.8 GHz, L2 2 MiB shared, L3 24 MiB shared",
            "Intel hybrid");
        sd_topology_free(topo);
    }

    /* Without the sibling lists, (package, core_id) pairs still find the SMT threads. */
    for (int cpu = 0; cpu < 16; cpu++) {
        char path[512];
        snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/core_cpus_list", root, cpu);
        remove(path);
        put_cpu_number(root, cpu, "topology/physical_package_id", 0);
        put_cpu_number(root, cpu, "topology/core_id", cpu < 8 ? cpu / 2 : cpu);
    }
    topo = detect(root, "hybrid without sibling lists");
    if (topo) {
        const sd_cluster *p = sd_topology_cluster(topo, 0);
        if (p) check_set(&p->cores, "0,2,4,6", "P cores from core_id");
        sd_topology_free(topo);
    }
    drop_root(root);
}

/* (c) Two identical CPUs, no capacity or cpufreq files: one uniform cluster, both models share it. */
static void test_homogeneous(void) {
    char root[256];
    new_root(root, sizeof root);
    put_file(root, "0-1", "devices/system/cpu/online");
    for (int cpu = 0; cpu < 2; cpu++) {
        char self[8];
        snprintf(self, sizeof self, "%d", cpu);
        put_file(root, self, "devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu);
        put_cache(root, cpu, 0, 2, "Unified", "1024K", self);
        put_cache(root, cpu, 1, 3, "Unified", "32768K", "0-1");
    }
    put_file(root, "0-1", "devices/system/node/node0/cpulist");
    sd_topology *topo = detect(root, "homogeneous");
    if (topo) {
        const sd_cluster *c = sd_topology_cluster(topo, 0);
        CHECK(sd_topology_n_clusters(topo) == 1 && c && c->type == SD_CORE_UNIFORM, "one uniform cluster");
        if (c) CHECK(!c->l2_shared && c->l3_shared && c->capacity == 0 && c->max_freq_khz == 0, "caches");
        sd_cpuset draft, target;
        CHECK(sd_topology_default_split(topo, &draft, &target) == SD_SPLIT_SHARED, "uniform must share");
        check_set(&draft, "0-1", "uniform draft");
        check_set(&target, "0-1", "uniform target");
        check_describe(topo, "2 CPUs, 1 cluster: uniform [0-1], L3 32 MiB shared; 1 NUMA node",
                       "homogeneous");
        sd_topology_free(topo);
    }
    drop_root(root);
}

/* (d) Two NUMA nodes of 4 identical CPUs: two uniform clusters, one per node; the split still shares. */
static void test_numa(void) {
    char root[256];
    new_root(root, sizeof root);
    put_file(root, "0-7", "devices/system/cpu/online");
    for (int cpu = 0; cpu < 8; cpu++) {
        put_cpu_number(root, cpu, "cpu_capacity", 1024);
        put_cpu_number(root, cpu, "cpufreq/cpuinfo_max_freq", 2600000);
        put_cache(root, cpu, 0, 3, "Unified", "16M", cpu < 4 ? "0-3" : "4-7");
    }
    put_file(root, "0-3", "devices/system/node/node0/cpulist");
    put_file(root, "4-7", "devices/system/node/node1/cpulist");
    sd_topology *topo = detect(root, "NUMA 2x4");
    if (topo) {
        CHECK(sd_topology_n_numa_nodes(topo) == 2, "nodes %d", sd_topology_n_numa_nodes(topo));
        CHECK(sd_topology_n_clusters(topo) == 2, "n_clusters %d", sd_topology_n_clusters(topo));
        const sd_cluster *a = sd_topology_cluster(topo, 0), *b = sd_topology_cluster(topo, 1);
        if (a && b) {
            CHECK(a->numa_node == 0 && b->numa_node == 1, "nodes %d %d", a->numa_node, b->numa_node);
            CHECK(a->type == SD_CORE_UNIFORM && b->type == SD_CORE_UNIFORM, "uniform");
            check_set(&b->cpus, "4-7", "node 1 cpus");
        }
        sd_cpuset draft, target;
        CHECK(sd_topology_default_split(topo, &draft, &target) == SD_SPLIT_SHARED, "uniform NUMA shares");
        check_set(&target, "0-7", "NUMA target");
        check_describe(
            topo,
            "8 CPUs, 2 clusters: uniform [0-3] 2.6 GHz, L3 16 MiB shared, node 0; uniform [4-7] 2.6 "
            "GHz, L3 16 MiB shared, node 1; 2 NUMA nodes",
            "NUMA 2x4");
        sd_topology_free(topo);
    }
    drop_root(root);
}

/* (e) Only the online list (a locked-down container): everything else unknown, never an error. Plus the
 * error cases: no online list, a garbled one. */
static void test_sparse_and_broken(void) {
    char root[256];
    new_root(root, sizeof root);
    sd_topology *topo = NULL;
    char err[256] = "";
    CHECK(sd_topology_detect(root, &topo, err, sizeof err) == SD_STATUS_IO && !topo && err[0],
          "missing online list must be SD_STATUS_IO");
    put_file(root, "0-3,x", "devices/system/cpu/online");
    CHECK(sd_topology_detect(root, &topo, err, sizeof err) == SD_STATUS_FORMAT && !topo,
          "garbled online list must be SD_STATUS_FORMAT");
    put_file(root, "", "devices/system/cpu/online");
    CHECK(sd_topology_detect(root, &topo, err, sizeof err) == SD_STATUS_FORMAT && !topo,
          "empty online list must be SD_STATUS_FORMAT");
    CHECK(sd_topology_detect(NULL, &topo, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT, "NULL root");

    put_file(root, "0-2,4", "devices/system/cpu/online"); /* CPU 3 offline */
    topo = detect(root, "online only");
    if (topo) {
        const sd_cluster *c = sd_topology_cluster(topo, 0);
        CHECK(sd_topology_n_cpus(topo) == 4 && sd_topology_n_clusters(topo) == 1, "one cluster of 4");
        CHECK(sd_topology_n_numa_nodes(topo) == 0, "nodes unknown");
        if (c) {
            CHECK(c->numa_node == -1 && c->l3_bytes == 0 && c->threads_per_core == 1, "unknowns");
            check_set(&c->cores, "0-2,4", "cores = cpus without SMT info");
        }
        check_describe(topo, "4 CPUs, 1 cluster: uniform [0-2,4]", "online only");
        sd_topology_free(topo);
    }

    /* Many CPUs in one cluster (more than fit a byte counter) stay one cluster. */
    put_file(root, "0-299", "devices/system/cpu/online");
    topo = detect(root, "300 CPUs");
    if (topo) {
        CHECK(sd_topology_n_cpus(topo) == 300 && sd_topology_n_clusters(topo) == 1, "300 CPUs: %d clusters",
              sd_topology_n_clusters(topo));
        sd_topology_free(topo);
    }
    drop_root(root);
}

/* ---- this machine ---- */

static void test_real_sys(void) {
    sd_topology *topo = detect("/sys", "/sys");
    if (!topo) return;
    char text[2048];
    CHECK(sd_topology_describe(topo, text, sizeof text) > 0, "describe /sys");
    printf("  this machine: %s\n", text);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(sd_topology_n_cpus(topo) == online, "/sys has %d CPUs, sysconf says %ld", sd_topology_n_cpus(topo),
          online);
    CHECK(sd_topology_n_clusters(topo) >= 1, "no clusters");
    sd_cpuset draft, target;
    int split = sd_topology_default_split(topo, &draft, &target);
    CHECK(split == SD_SPLIT_SEPARATE || split == SD_SPLIT_SHARED, "split %d", split);
    CHECK(draft.count > 0 && target.count > 0, "empty split");
    char d[256], t[256];
    printf("  default split (%s): draft [%s], target [%s]\n",
           split == SD_SPLIT_SHARED ? "shared" : "separate", fmt_set(&draft, d, sizeof d),
           fmt_set(&target, t, sizeof t));

    /* NUMA placement of the target's buffer: must succeed whatever this machine is. */
    size_t len = 3u << 20;
    char *buf = malloc(len);
    CHECK(buf != NULL, "malloc");
    if (buf) {
        int node = sd_numa_node_of_cpuset(&target);
        char err[256] = "";
        int rc = sd_numa_bind(buf, len, node, err, sizeof err);
        CHECK(rc == SD_STATUS_OK, "sd_numa_bind(node %d): %d %s", node, rc, err);
        CHECK(sd_numa_bind(buf, len, -1, err, sizeof err) == SD_STATUS_OK, "node -1 is a no-op");
        CHECK(sd_numa_bind(buf + 1, 10, 0, err, sizeof err) == SD_STATUS_OK, "sub-page range is a no-op");
        memset(buf, 1, len); /* touch the pages after binding: they must still be usable */
        printf("  NUMA: %d node(s), target buffer node %d\n", sd_numa_n_nodes(), node);
        if (sd_numa_n_nodes() <= 1) CHECK(node == -1, "one node: nothing to choose, got %d", node);
        free(buf);
    }
    sd_topology_free(topo);
}

int main(void) {
    test_cpuset();
    test_big_little();
    test_intel_hybrid();
    test_homogeneous();
    test_numa();
    test_sparse_and_broken();
    test_real_sys();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("topology: all checks passed\n");
    return 0;
}
