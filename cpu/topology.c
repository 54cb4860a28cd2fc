/* CPU topology from sysfs (see topology.h). Reading is forgiving: every file but the online list may be
 * missing, and a missing or unparsable value is simply "unknown". */
#include "cpu/topology.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sd_common.h"

/* Largest sysfs text we read: a cpulist of 1024 scattered ids is ~5 KB. */
#define TEXT_MAX 8192
/* A key meaning "unknown" for ids (node, sibling, cache domain). */
#define UNKNOWN (-1)

/* What sysfs says about one online CPU. Unknown numbers are 0 (sizes, rates) or UNKNOWN (ids). */
typedef struct {
    int cpu;
    int hybrid_type;   /* 0 unknown, 1 in devices/cpu_core (P-core), 2 in devices/cpu_atom (E-core) */
    long capacity;     /* cpu_capacity, 1..1024 */
    long max_freq_khz; /* cpufreq/cpuinfo_max_freq */
    int package;       /* topology/physical_package_id */
    int core_id;       /* topology/core_id: unique within a package on x86, maybe only per cluster on Arm */
    int sibling_key;   /* lowest CPU id of this CPU's SMT sibling list: equal keys = same physical core */
    long l2_bytes, l3_bytes;
    int l2_domain, l3_domain; /* lowest CPU id of the cache instance's shared_cpu_list */
    int node;                 /* NUMA node */
    int cls;                  /* class index, 0 = fastest */
} cpu_info;

struct sd_topology {
    int n_cpus;
    cpu_info *cpus; /* [n_cpus], ascending cpu id */
    int n_clusters;
    sd_cluster *clusters; /* [n_clusters], performance-first, then by node */
    int n_numa_nodes;
    sd_cluster_basis basis;
};

/* ---- cpulists ---- */

static const char *skip_space(const char *s) {
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* Parses a decimal CPU id at *s; returns it, or -1 on no digits, -2 if >= SD_CPUSET_MAX. */
static int parse_cpu_id(const char **s) {
    const char *p = *s;
    if (!isdigit((unsigned char)*p)) return -1;
    long v = 0;
    while (isdigit((unsigned char)*p)) {
        if (v < SD_CPUSET_MAX) v = v * 10 + (*p - '0'); /* stop growing once too big: no overflow */
        p++;
    }
    *s = p;
    return v >= SD_CPUSET_MAX ? -2 : (int)v;
}

int sd_cpuset_parse(const char *list, sd_cpuset *out, char *err, size_t err_len) {
    if (!list || !out) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "cpuset: NULL argument");
    unsigned char member[SD_CPUSET_MAX] = {0};
    const char *s = skip_space(list);
    while (*s) {
        int lo = parse_cpu_id(&s), hi = lo;
        if (lo >= 0 && *s == '-') {
            s++;
            hi = parse_cpu_id(&s);
        }
        if (lo == -2 || hi == -2)
            return sd_error(err, err_len, SD_STATUS_FORMAT, "cpuset \"%.40s\": id >= %d", list,
                            SD_CPUSET_MAX);
        if (lo < 0 || hi < 0)
            return sd_error(err, err_len, SD_STATUS_FORMAT, "cpuset \"%.40s\": expected a number", list);
        if (hi < lo)
            return sd_error(err, err_len, SD_STATUS_FORMAT, "cpuset \"%.40s\": reversed range %d-%d", list,
                            lo, hi);
        for (int c = lo; c <= hi; c++)
            member[c] = 1;
        s = skip_space(s);
        if (*s == ',') {
            s = skip_space(s + 1);
            if (!*s)
                return sd_error(err, err_len, SD_STATUS_FORMAT, "cpuset \"%.40s\": trailing comma", list);
        } else if (*s) {
            return sd_error(err, err_len, SD_STATUS_FORMAT, "cpuset \"%.40s\": unexpected '%c'", list, *s);
        }
    }
    out->count = 0;
    for (int c = 0; c < SD_CPUSET_MAX; c++)
        if (member[c]) out->cpu[out->count++] = c;
    return SD_STATUS_OK;
}

/* snprintf into buf at *pos; remembers overflow so callers check once at the end. */
typedef struct {
    char *buf;
    size_t len, pos;
    int overflow;
} text_out;

static void put(text_out *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_out *t, const char *fmt, ...) {
    size_t room = t->pos < t->len ? t->len - t->pos : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? t->buf + t->pos : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) t->overflow = 1;
    if (n > 0) t->pos += (size_t)n;
}

static int text_result(text_out *t) {
    if (t->len) t->buf[SD_MIN(t->pos, t->len - 1)] = '\0';
    return t->overflow || t->pos > INT_MAX ? SD_STATUS_INVALID_ARGUMENT : (int)t->pos;
}

static void put_cpuset(text_out *t, const sd_cpuset *set, int *bad) {
    unsigned char member[SD_CPUSET_MAX] = {0};
    for (int i = 0; i < set->count; i++) {
        if (set->cpu[i] < 0 || set->cpu[i] >= SD_CPUSET_MAX) {
            *bad = 1;
            return;
        }
        member[set->cpu[i]] = 1;
    }
    const char *sep = "";
    for (int c = 0; c < SD_CPUSET_MAX; c++) {
        if (!member[c]) continue;
        int end = c;
        while (end + 1 < SD_CPUSET_MAX && member[end + 1])
            end++;
        if (end == c)
            put(t, "%s%d", sep, c);
        else
            put(t, "%s%d-%d", sep, c, end);
        sep = ",";
        c = end;
    }
}

int sd_cpuset_format(const sd_cpuset *set, char *buf, size_t len) {
    if (!set || !buf || len == 0 || set->count < 0 || set->count > SD_CPUSET_MAX)
        return SD_STATUS_INVALID_ARGUMENT;
    text_out t = {buf, len, 0, 0};
    int bad = 0;
    buf[0] = '\0';
    put_cpuset(&t, set, &bad);
    int n = text_result(&t);
    return bad ? SD_STATUS_INVALID_ARGUMENT : n;
}

int sd_cpuset_contains(const sd_cpuset *set, int cpu) {
    for (int i = 0; set && i < set->count; i++)
        if (set->cpu[i] == cpu) return 1;
    return 0;
}

/* ---- sysfs reading ---- */

/* Reads root/<printf path> into buf (NUL-terminated). Returns 0, or -1 if missing or unreadable. */
static int read_sysfs(const char *root, char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int read_sysfs(const char *root, char *buf, size_t len, const char *fmt, ...) {
    char rel[256], path[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof rel) return -1;
    n = snprintf(path, sizeof path, "%s/%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof path) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t r = read(fd, buf + got, len - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return 0;
}

/* Parses a non-negative decimal with an optional K/M/G suffix (cache sizes read "32768K"); -1 if bad. */
static long parse_scaled(const char *s) {
    s = skip_space(s);
    if (!isdigit((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno) return -1;
    long scale = 1;
    if (*end == 'K')
        scale = 1L << 10;
    else if (*end == 'M')
        scale = 1L << 20;
    else if (*end == 'G')
        scale = 1L << 30;
    if (scale > 1) end++;
    if (*skip_space(end) || v > LONG_MAX / scale) return -1;
    return v * scale;
}

/* A numeric sysfs file, or `unknown` if missing or garbled. */
static long read_number(const char *root, long unknown, const char *fmt, int cpu) {
    char text[64];
    if (read_sysfs(root, text, sizeof text, fmt, cpu) != 0) return unknown;
    long v = parse_scaled(text);
    return v < 0 ? unknown : v;
}

/* A cpulist file into *set; returns 0, or -1 if missing or garbled. */
static int read_cpulist(const char *root, sd_cpuset *set, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int read_cpulist(const char *root, sd_cpuset *set, const char *fmt, ...) {
    char rel[256], text[TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof rel) return -1;
    if (read_sysfs(root, text, sizeof text, "%s", rel) != 0) return -1;
    return sd_cpuset_parse(text, set, NULL, 0) == SD_STATUS_OK ? 0 : -1;
}

static int lowest_or_unknown(const sd_cpuset *set) {
    return set->count > 0 ? set->cpu[0] : UNKNOWN;
}

/* Fills the L2/L3 fields of c from cpuN/cache/index*. The scratch cpuset is the caller's (4 KB). */
static void read_caches(const char *root, cpu_info *c, sd_cpuset *scratch) {
    for (int idx = 0; idx < 16; idx++) {
        char rel[96], text[64], type[32];
        snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/cache/index%d", c->cpu, idx);
        if (read_sysfs(root, text, sizeof text, "%s/level", rel) != 0) break; /* indexes are contiguous */
        long level = parse_scaled(text);
        if (read_sysfs(root, type, sizeof type, "%s/type", rel) == 0 && strncmp(type, "Instruction", 11) == 0)
            continue;
        if (level != 2 && level != 3) continue;
        long size = read_sysfs(root, text, sizeof text, "%s/size", rel) == 0 ? parse_scaled(text) : -1;
        int domain = read_cpulist(root, scratch, "%s/shared_cpu_list", rel) == 0 ? lowest_or_unknown(scratch)
                                                                                 : UNKNOWN;
        if (level == 2) {
            c->l2_bytes = size > 0 ? size : 0;
            c->l2_domain = domain;
        } else {
            c->l3_bytes = size > 0 ? size : 0;
            c->l3_domain = domain;
        }
    }
}

static void read_cpu(const char *root, cpu_info *c, sd_cpuset *scratch) {
    const int cpu = c->cpu;
    c->capacity = read_number(root, 0, "devices/system/cpu/cpu%d/cpu_capacity", cpu);
    if (c->capacity > 1024) c->capacity = 0; /* the kernel scales capacity to 1..1024: garbage */
    c->max_freq_khz = read_number(root, 0, "devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq", cpu);
    c->package =
        (int)read_number(root, UNKNOWN, "devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
    c->core_id = (int)read_number(root, UNKNOWN, "devices/system/cpu/cpu%d/topology/core_id", cpu);
    /* core_cpus_list is the newer name of thread_siblings_list (Linux 5.7); either gives the SMT group. */
    c->sibling_key = UNKNOWN;
    if (read_cpulist(root, scratch, "devices/system/cpu/cpu%d/topology/core_cpus_list", cpu) == 0 ||
        read_cpulist(root, scratch, "devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu) == 0)
        c->sibling_key = lowest_or_unknown(scratch);
    c->l2_domain = c->l3_domain = UNKNOWN;
    read_caches(root, c, scratch);
}

/* Marks Intel hybrid core types from devices/cpu_core/cpus and devices/cpu_atom/cpus. */
static void read_hybrid_types(const char *root, cpu_info *cpus, int n, sd_cpuset *scratch) {
    static const char *const pmu[2] = {"cpu_core", "cpu_atom"};
    for (int t = 0; t < 2; t++) {
        if (read_cpulist(root, scratch, "devices/%s/cpus", pmu[t]) != 0) continue;
        for (int i = 0; i < n; i++)
            if (sd_cpuset_contains(scratch, cpus[i].cpu)) cpus[i].hybrid_type = t + 1;
    }
}

/* Sets each CPU's node from devices/system/node/nodeN/cpulist; returns the number of nodes listed. */
static int read_nodes(const char *root, cpu_info *cpus, int n, sd_cpuset *scratch) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/devices/system/node", root);
    DIR *dir = opendir(path);
    if (!dir) return 0;
    int n_nodes = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        int node;
        char tail;
        if (sscanf(e->d_name, "node%d%c", &node, &tail) != 1 || node < 0) continue;
        n_nodes++; /* memory-only nodes count too: they are places weights can go */
        if (read_cpulist(root, scratch, "devices/system/node/node%d/cpulist", node) != 0) continue;
        for (int i = 0; i < n; i++)
            if (sd_cpuset_contains(scratch, cpus[i].cpu)) cpus[i].node = node;
    }
    closedir(dir);
    return n_nodes;
}

/* Without sibling lists, CPUs of one class with the same (package, core_id) are SMT threads of one core.
 * Restricted to one class because Arm numbers core_id per cluster, so a big and a little core can share it.
 */
static void derive_missing_siblings(cpu_info *cpus, int n) {
    for (int i = 0; i < n; i++) {
        cpu_info *c = &cpus[i];
        if (c->sibling_key != UNKNOWN) continue;
        c->sibling_key = c->cpu;
        if (c->package == UNKNOWN || c->core_id == UNKNOWN) continue;
        for (int j = 0; j < i; j++) {
            if (cpus[j].cls == c->cls && cpus[j].package == c->package && cpus[j].core_id == c->core_id) {
                c->sibling_key = cpus[j].sibling_key;
                break;
            }
        }
    }
}

/* ---- classes ---- */

static int cmp_long_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* Splits CPUs into classes by a per-CPU metric (values[i] > 0, all known), fastest first; a class ends
 * where the next-lower distinct value is more than 10% below the previous one. Writes cpus[i].cls and
 * returns the number of classes, or 0 if a value is unknown or allocation failed. */
static int classes_by_metric(cpu_info *cpus, int n, const long *values) {
    long *sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return 0;
    for (int i = 0; i < n; i++) {
        if (values[i] <= 0) {
            free(sorted);
            return 0;
        }
        sorted[i] = values[i];
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_long_desc);
    for (int i = 0; i < n; i++) {
        int cls = 0;
        for (int k = 1; k < n && sorted[k] >= values[i]; k++)
            if (sorted[k] * 10 < sorted[k - 1] * 9) cls++;
        cpus[i].cls = cls;
    }
    int n_classes = 1;
    for (int k = 1; k < n; k++)
        if (sorted[k] * 10 < sorted[k - 1] * 9) n_classes++;
    free(sorted);
    return n_classes;
}

/* Hybrid core types separate CPUs only if every CPU has one and both kinds are present. */
static int classes_by_core_type(cpu_info *cpus, int n) {
    int seen[3] = {0};
    for (int i = 0; i < n; i++)
        seen[cpus[i].hybrid_type]++;
    if (seen[0] || !seen[1] || !seen[2]) return 0;
    for (int i = 0; i < n; i++)
        cpus[i].cls = cpus[i].hybrid_type - 1; /* cpu_core first: performance */
    return 2;
}

/* Picks the first basis that is known for all CPUs and separates them; writes cls. Returns #classes. */
static int classify(sd_topology *t) {
    int n = t->n_cpus;
    for (int i = 0; i < n; i++)
        t->cpus[i].cls = 0;
    t->basis = SD_CLUSTER_BY_NONE;
    if (classes_by_core_type(t->cpus, n) > 1) {
        t->basis = SD_CLUSTER_BY_CORE_TYPE;
        return 2;
    }
    long *values = malloc((size_t)n * sizeof *values);
    if (!values) return -1;
    const sd_cluster_basis bases[2] = {SD_CLUSTER_BY_CAPACITY, SD_CLUSTER_BY_FREQUENCY};
    int n_classes = 1;
    for (int b = 0; b < 2 && t->basis == SD_CLUSTER_BY_NONE; b++) {
        for (int i = 0; i < n; i++)
            values[i] = b == 0 ? t->cpus[i].capacity : t->cpus[i].max_freq_khz;
        int k = classes_by_metric(t->cpus, n, values);
        if (k > 1) {
            t->basis = bases[b];
            n_classes = k;
        }
    }
    free(values);
    if (t->basis == SD_CLUSTER_BY_NONE)
        for (int i = 0; i < n; i++)
            t->cpus[i].cls = 0; /* a failed metric may have left partial classes */
    return n_classes;
}

/* ---- clusters ---- */

/* 1 if some cache instance (given by domain id per CPU) holding a CPU of the cluster spans two cores. */
static int cache_spans_cores(const sd_topology *t, int cls, int node, int l3) {
    for (int i = 0; i < t->n_cpus; i++) {
        const cpu_info *a = &t->cpus[i];
        int da = l3 ? a->l3_domain : a->l2_domain;
        if (a->cls != cls || a->node != node || da == UNKNOWN) continue;
        for (int j = 0; j < t->n_cpus; j++) {
            const cpu_info *b = &t->cpus[j];
            if ((l3 ? b->l3_domain : b->l2_domain) == da && b->sibling_key != a->sibling_key) return 1;
        }
    }
    return 0;
}

static void fill_cluster(const sd_topology *t, sd_cluster *cl, int cls, int n_classes, int node) {
    memset(cl, 0, sizeof *cl);
    cl->type = n_classes == 1         ? SD_CORE_UNIFORM
               : cls == n_classes - 1 ? SD_CORE_EFFICIENCY
                                      : SD_CORE_PERFORMANCE;
    cl->numa_node = node;
    for (int i = 0; i < t->n_cpus; i++) {
        const cpu_info *c = &t->cpus[i];
        if (c->cls != cls || c->node != node) continue;
        cl->cpus.cpu[cl->cpus.count++] = c->cpu;
        int threads = 0; /* online threads of c's core seen so far, c included */
        for (int j = 0; j <= i; j++)
            threads += t->cpus[j].sibling_key == c->sibling_key && t->cpus[j].cls == cls;
        if (threads == 1) cl->cores.cpu[cl->cores.count++] = c->cpu; /* ascending: the lowest thread */
        cl->threads_per_core = SD_MAX(cl->threads_per_core, threads);
        cl->capacity = SD_MAX(cl->capacity, (int)c->capacity);
        cl->max_freq_khz = SD_MAX(cl->max_freq_khz, c->max_freq_khz);
        cl->l2_bytes = SD_MAX(cl->l2_bytes, c->l2_bytes);
        cl->l3_bytes = SD_MAX(cl->l3_bytes, c->l3_bytes);
    }
    cl->l2_shared = cache_spans_cores(t, cls, node, 0);
    cl->l3_shared = cache_spans_cores(t, cls, node, 1);
}

/* One cluster per (class, node) pair that holds CPUs, ordered by class then node. */
static int build_clusters(sd_topology *t, int n_classes) {
    /* node ids are -1 (unknown) or a NUMA node number < SD_CPUSET_MAX in practice */
    unsigned char *used = calloc((size_t)n_classes * (SD_CPUSET_MAX + 1), 1); /* [class][node + 1] */
    if (!used) return -1;
    for (int i = 0; i < t->n_cpus; i++) {
        int node = t->cpus[i].node;
        if (node >= SD_CPUSET_MAX) node = t->cpus[i].node = UNKNOWN;
        unsigned char *slot = &used[t->cpus[i].cls * (SD_CPUSET_MAX + 1) + node + 1];
        if (!*slot) t->n_clusters++;
        *slot = 1;
    }
    t->clusters = calloc((size_t)t->n_clusters, sizeof *t->clusters);
    if (!t->clusters) {
        free(used);
        return -1;
    }
    int k = 0;
    for (int cls = 0; cls < n_classes; cls++)
        for (int node = -1; node < SD_CPUSET_MAX; node++)
            if (used[cls * (SD_CPUSET_MAX + 1) + node + 1])
                fill_cluster(t, &t->clusters[k++], cls, n_classes, node);
    free(used);
    return 0;
}

/* ---- detection ---- */

static int online_cpus(const char *root, sd_cpuset *online, char *err, size_t err_len) {
    char text[TEXT_MAX];
    int rc = SD_STATUS_OK;
    if (read_sysfs(root, text, sizeof text, "devices/system/cpu/online") != 0)
        rc = sd_error(err, err_len, SD_STATUS_IO, "%s/devices/system/cpu/online: cannot read", root);
    else if (sd_cpuset_parse(text, online, err, err_len) != SD_STATUS_OK || online->count == 0)
        rc = sd_error(err, err_len, SD_STATUS_FORMAT, "%s/devices/system/cpu/online: garbled \"%.40s\"", root,
                      text);
    if (rc == SD_STATUS_OK || strcmp(root, "/sys") != 0) return rc;
    /* The real /sys without a usable list (odd containers): trust libc's count, numbered 0..n-1. */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return rc;
    online->count = (int)SD_MIN(n, SD_CPUSET_MAX);
    for (int i = 0; i < online->count; i++)
        online->cpu[i] = i;
    return SD_STATUS_OK;
}

int sd_topology_detect(const char *sysfs_root, sd_topology **out, char *err, size_t err_len) {
    if (!sysfs_root || !out)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "topology: NULL argument");
    *out = NULL;
    sd_topology *t = calloc(1, sizeof *t);
    sd_cpuset *scratch = malloc(sizeof *scratch); /* 4 KB each: keep them off the stack */
    sd_cpuset *online = malloc(sizeof *online);
    int rc = SD_STATUS_NO_MEMORY;
    if (!t || !scratch || !online) goto fail;
    rc = online_cpus(sysfs_root, online, err, err_len);
    if (rc != SD_STATUS_OK) goto fail;
    rc = SD_STATUS_NO_MEMORY;
    t->n_cpus = online->count;
    t->cpus = calloc((size_t)t->n_cpus, sizeof *t->cpus);
    if (!t->cpus) goto fail;
    for (int i = 0; i < t->n_cpus; i++) {
        t->cpus[i].cpu = online->cpu[i];
        t->cpus[i].node = UNKNOWN;
        read_cpu(sysfs_root, &t->cpus[i], scratch);
    }
    read_hybrid_types(sysfs_root, t->cpus, t->n_cpus, scratch);
    t->n_numa_nodes = read_nodes(sysfs_root, t->cpus, t->n_cpus, scratch);
    int n_classes = classify(t);
    if (n_classes < 1) goto fail;
    derive_missing_siblings(t->cpus, t->n_cpus);
    if (build_clusters(t, n_classes) != 0) goto fail;
    free(scratch);
    free(online);
    *out = t;
    return SD_STATUS_OK;
fail:
    if (rc == SD_STATUS_NO_MEMORY) sd_error(err, err_len, rc, "topology: out of memory");
    free(scratch);
    free(online);
    sd_topology_free(t);
    return rc;
}

void sd_topology_free(sd_topology *topo) {
    if (!topo) return;
    free(topo->cpus);
    free(topo->clusters);
    free(topo);
}

/* ---- accessors ---- */

int sd_topology_n_cpus(const sd_topology *topo) {
    return topo ? topo->n_cpus : 0;
}

int sd_topology_n_clusters(const sd_topology *topo) {
    return topo ? topo->n_clusters : 0;
}

const sd_cluster *sd_topology_cluster(const sd_topology *topo, int i) {
    return topo && i >= 0 && i < topo->n_clusters ? &topo->clusters[i] : NULL;
}

int sd_topology_n_numa_nodes(const sd_topology *topo) {
    return topo ? topo->n_numa_nodes : 0;
}

sd_cluster_basis sd_topology_basis(const sd_topology *topo) {
    return topo ? topo->basis : SD_CLUSTER_BY_NONE;
}

const char *sd_core_type_name(sd_core_type type) {
    switch (type) {
    case SD_CORE_PERFORMANCE:
        return "performance";
    case SD_CORE_EFFICIENCY:
        return "efficiency";
    default:
        return "uniform";
    }
}

/* ---- default split ---- */

static void append_cores(sd_cpuset *dst, const sd_cluster *cl) {
    for (int i = 0; i < cl->cores.count && dst->count < SD_CPUSET_MAX; i++)
        dst->cpu[dst->count++] = cl->cores.cpu[i];
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int sd_topology_default_split(const sd_topology *topo, sd_cpuset *draft, sd_cpuset *target) {
    if (!topo || !draft || !target) return SD_STATUS_INVALID_ARGUMENT;
    draft->count = target->count = 0;
    for (int i = 0; i < topo->n_clusters; i++) {
        const sd_cluster *cl = &topo->clusters[i];
        append_cores(cl->type == SD_CORE_EFFICIENCY ? draft : target, cl);
    }
    /* Uniform (or degenerate) machine: both models share every core and run one after the other. */
    int shared = draft->count == 0 || target->count == 0;
    if (shared) {
        sd_cpuset *all = draft->count ? draft : target;
        qsort(all->cpu, (size_t)all->count, sizeof all->cpu[0], cmp_int); /* clusters per node interleave */
        memcpy(all == draft ? target : draft, all, sizeof *all);
        return SD_SPLIT_SHARED;
    }
    qsort(draft->cpu, (size_t)draft->count, sizeof draft->cpu[0], cmp_int);
    qsort(target->cpu, (size_t)target->count, sizeof target->cpu[0], cmp_int);
    return SD_SPLIT_SEPARATE;
}

/* ---- description ---- */

static void put_size(text_out *t, long bytes) {
    if (bytes >= (1L << 20) && bytes % (1L << 20) == 0)
        put(t, "%ld MiB", bytes >> 20);
    else if (bytes >= (1L << 10) && bytes % (1L << 10) == 0)
        put(t, "%ld KiB", bytes >> 10);
    else
        put(t, "%ld B", bytes);
}

static void put_cluster(text_out *t, const sd_topology *topo, const sd_cluster *cl) {
    int bad = 0;
    put(t, "%s [", sd_core_type_name(cl->type));
    put_cpuset(t, &cl->cpus, &bad);
    put(t, "]");
    if (cl->threads_per_core > 1) put(t, " %d cores x %d threads", cl->cores.count, cl->threads_per_core);
    if (topo->basis == SD_CLUSTER_BY_CAPACITY && cl->capacity) put(t, " capacity %d", cl->capacity);
    if (cl->max_freq_khz >= 1000000)
        put(t, " %.1f GHz", (double)cl->max_freq_khz / 1e6);
    else if (cl->max_freq_khz > 0)
        put(t, " %ld MHz", cl->max_freq_khz / 1000);
    if (cl->l2_shared && cl->l2_bytes) {
        put(t, ", L2 ");
        put_size(t, cl->l2_bytes);
        put(t, " shared");
    }
    if (cl->l3_shared && cl->l3_bytes) {
        put(t, ", L3 ");
        put_size(t, cl->l3_bytes);
        put(t, " shared");
    }
    if (topo->n_numa_nodes > 1 && cl->numa_node >= 0) put(t, ", node %d", cl->numa_node);
}

int sd_topology_describe(const sd_topology *topo, char *buf, size_t len) {
    if (!topo || !buf || len == 0) return SD_STATUS_INVALID_ARGUMENT;
    text_out t = {buf, len, 0, 0};
    put(&t, "%d CPU%s, %d cluster%s: ", topo->n_cpus, topo->n_cpus == 1 ? "" : "s", topo->n_clusters,
        topo->n_clusters == 1 ? "" : "s");
    for (int i = 0; i < topo->n_clusters; i++) {
        if (i) put(&t, "; ");
        put_cluster(&t, topo, &topo->clusters[i]);
    }
    if (topo->n_numa_nodes > 0)
        put(&t, "; %d NUMA node%s", topo->n_numa_nodes, topo->n_numa_nodes == 1 ? "" : "s");
    return text_result(&t);
}
