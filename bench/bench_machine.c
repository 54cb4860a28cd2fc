/* `specdec bench`: the machine the run measures: the CPU's name, its topology and the default split of
 * the CPUs between draft and target. */
#include <stdio.h>
#include <string.h>

#include "bench_run.h"
#include "common/sd_common.h"

static void read_cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0 && strncmp(line, "Hardware", 8) != 0) continue;
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        colon += 1 + strspn(colon + 1, " \t");
        snprintf(buf, len, "%.*s", (int)strcspn(colon, "\n"), colon);
        break;
    }
    fclose(f);
}

int bs_detect_machine(machine *mc, char *err, size_t err_len) {
    read_cpu_model(mc->cpu_model, sizeof mc->cpu_model);
    sd_topology *topo = NULL;
    int rc = sd_topology_detect("/sys", &topo, err, err_len);
    if (rc < 0) return rc;
    mc->n_cpus = sd_topology_n_cpus(topo);
    sd_topology_describe(topo, mc->topology, sizeof mc->topology);
    mc->split = sd_topology_default_split(topo, &mc->draft_cpus, &mc->target_cpus);
    mc->clusters = cJSON_CreateArray();
    for (int i = 0; i < sd_topology_n_clusters(topo); i++) {
        const sd_cluster *c = sd_topology_cluster(topo, i);
        cJSON *j = cJSON_CreateObject();
        char list[512];
        cJSON_AddStringToObject(j, "type", sd_core_type_name(c->type));
        sd_cpuset_format(&c->cpus, list, sizeof list);
        cJSON_AddStringToObject(j, "cpus", list);
        cJSON_AddNumberToObject(j, "cores", c->cores.count);
        cJSON_AddNumberToObject(j, "threads_per_core", c->threads_per_core);
        cJSON_AddNumberToObject(j, "max_freq_khz", (double)c->max_freq_khz);
        cJSON_AddNumberToObject(j, "l2_bytes", (double)c->l2_bytes);
        cJSON_AddNumberToObject(j, "l3_bytes", (double)c->l3_bytes);
        cJSON_AddNumberToObject(j, "numa_node", c->numa_node);
        cJSON_AddItemToArray(mc->clusters, j);
    }
    sd_topology_free(topo);
    return SD_STATUS_OK;
}
