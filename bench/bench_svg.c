/* Minimal SVG charts for `specdec bench`: bars and lines with axes, ticks, a legend and a title. Text
 * is XML-escaped so labels from files cannot break the document. */
#include <math.h>
#include <stdio.h>

#include "bench_run.h"
#include "common/sd_common.h"

/* Canvas and plot area, in SVG user units (pixels). */
#define W 760.0
#define H 440.0
#define LEFT 70.0
#define RIGHT 190.0 /* room for the legend */
#define TOP 45.0
#define BOTTOM 95.0 /* room for rotated bar labels */

static const char *const COLORS[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                     "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define N_COLORS (int)(sizeof COLORS / sizeof COLORS[0])

static void put_escaped(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t') fputc(*s, f);
        }
    }
}

static void text(FILE *f, double x, double y, const char *anchor, int size, const char *extra,
                 const char *s) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size,
            extra ? extra : "");
    put_escaped(f, s);
    fputs("</text>\n", f);
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about 5 ticks over span. */
static double tick_step(double span) {
    if (!(span > 0)) return 1;
    double raw = span / 5, p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

typedef struct axis {
    double lo, hi;
} axis;

static double map_y(axis a, double v) {
    return TOP + (H - TOP - BOTTOM) * (1 - (v - a.lo) / (a.hi - a.lo));
}

static void begin(FILE *f, const char *title) {
    fprintf(
        f,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
        "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
        W, H, W, H);
    text(f, (LEFT + W - RIGHT) / 2, 25, "middle", 16, " font-weight=\"bold\"", title);
}

/* Horizontal grid lines with labels, the axes and the y label. */
static void y_axis(FILE *f, axis a, const char *y_label) {
    double step = tick_step(a.hi - a.lo);
    for (double v = ceil(a.lo / step) * step; v <= a.hi + step * 1e-6; v += step) {
        double y = map_y(a, v);
        char label[32];
        snprintf(label, sizeof label, "%g", fabs(v) < step * 1e-6 ? 0.0 : v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, y,
                W - RIGHT, y);
        text(f, LEFT - 6, y + 4, "end", 11, NULL, label);
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", LEFT, TOP, LEFT,
            H - BOTTOM);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", LEFT, H - BOTTOM,
            W - RIGHT, H - BOTTOM);
    char rot[96];
    snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.1f %.1f)\"", 18.0, (TOP + H - BOTTOM) / 2);
    text(f, 18, (TOP + H - BOTTOM) / 2, "middle", 12, rot, y_label);
}

static int finish(FILE *f, const char *path, char *err, size_t err_len) {
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return sd_error(err, err_len, SD_STATUS_IO, "cannot write %s", path);
    return SD_STATUS_OK;
}

/* Axis range covering the finite values and `extra` (NaN: ignored), starting at 0 when all are >= 0. */
static axis range_of(const double *v, int n, double extra) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
    if (isfinite(extra)) lo = fmin(lo, extra), hi = fmax(hi, extra);
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (lo > 0) lo = 0;
    if (hi <= lo) hi = lo + 1;
    double step = tick_step(hi - lo);
    return (axis){floor(lo / step) * step, ceil(hi * 1.05 / step) * step};
}

int bs_svg_bars(const char *path, const char *title, const char *y_label, const char *const *labels,
                const double *values, int n, double rule, char *err, size_t err_len) {
    FILE *f = fopen(path, "w");
    if (!f) return sd_error(err, err_len, SD_STATUS_IO, "cannot create %s", path);
    begin(f, title);
    axis a = range_of(values, n, rule);
    y_axis(f, a, y_label);
    double slot = (W - RIGHT - LEFT) / (n > 0 ? n : 1), bar = slot * 0.6;
    for (int i = 0; i < n; i++) {
        double x = LEFT + slot * i + (slot - bar) / 2, v = isfinite(values[i]) ? values[i] : 0;
        double y0 = map_y(a, 0), y1 = map_y(a, v);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x,
                fmin(y0, y1), bar, fabs(y0 - y1), COLORS[i % N_COLORS]);
        char label[32];
        snprintf(label, sizeof label, "%.2f", v);
        text(f, x + bar / 2, fmin(y0, y1) - 4, "middle", 11, NULL, label);
        char rot[96];
        double lx = x + bar / 2, ly = H - BOTTOM + 14;
        snprintf(rot, sizeof rot, " transform=\"rotate(-30 %.1f %.1f)\"", lx, ly);
        text(f, lx, ly, "end", 11, rot, labels[i]);
    }
    if (isfinite(rule)) {
        double y = map_y(a, rule);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-dasharray=\"6 "
                "4\"/>\n",
                LEFT, y, W - RIGHT, y);
    }
    return finish(f, path, err, err_len);
}

int bs_svg_lines(const char *path, const char *title, const char *x_label, const char *y_label,
                 const double *x, int n_x, const bs_series *series, int n_series, double y_min, double y_max,
                 char *err, size_t err_len) {
    FILE *f = fopen(path, "w");
    if (!f) return sd_error(err, err_len, SD_STATUS_IO, "cannot create %s", path);
    begin(f, title);
    axis a = {0, 1};
    if (isfinite(y_min) && isfinite(y_max)) {
        a = (axis){y_min, y_max};
    } else {
        double lo = INFINITY, hi = -INFINITY;
        for (int s = 0; s < n_series; s++)
            for (int i = 0; i < n_x; i++)
                if (isfinite(series[s].y[i])) lo = fmin(lo, series[s].y[i]), hi = fmax(hi, series[s].y[i]);
        double both[2] = {lo, hi};
        a = range_of(both, 2, NAN);
    }
    y_axis(f, a, y_label);
    double x_lo = n_x > 0 ? x[0] : 0, x_hi = n_x > 0 ? x[n_x - 1] : 1;
    if (x_hi <= x_lo) x_hi = x_lo + 1;
    double pw = W - RIGHT - LEFT - 20;
#define MAP_X(v) (LEFT + 10 + pw * ((v)-x_lo) / (x_hi - x_lo))
    for (int i = 0; i < n_x; i++) {
        char label[32];
        snprintf(label, sizeof label, "%g", x[i]);
        text(f, MAP_X(x[i]), H - BOTTOM + 16, "middle", 11, NULL, label);
    }
    text(f, (LEFT + W - RIGHT) / 2, H - BOTTOM + 38, "middle", 12, NULL, x_label);
    for (int s = 0; s < n_series; s++) {
        const char *color = COLORS[s % N_COLORS];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
                series[s].dashed ? " stroke-dasharray=\"6 4\"" : "");
        for (int i = 0; i < n_x; i++)
            if (isfinite(series[s].y[i]))
                fprintf(f, "%.1f,%.1f ", MAP_X(x[i]), map_y(a, fmax(a.lo, fmin(a.hi, series[s].y[i]))));
        fputs("\"/>\n", f);
        for (int i = 0; i < n_x && !series[s].dashed; i++)
            if (isfinite(series[s].y[i]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", MAP_X(x[i]),
                        map_y(a, fmax(a.lo, fmin(a.hi, series[s].y[i]))), color);
        double ly = TOP + 10 + 18.0 * s, lx = W - RIGHT + 15;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>\n", lx, ly - 4,
                color);
        text(f, lx + 20, ly, "start", 11, NULL, series[s].name);
    }
#undef MAP_X
    return finish(f, path, err, err_len);
}

/* ---- The charts of `specdec bench` ---- */

int bs_write_verify_svg(const char *dir, const costs *c, char *err, size_t err_len) {
    double x[SD_MAX_DRAFT_LEN + 1], rel[SD_MAX_DRAFT_LEN + 1], fast[SD_MAX_DRAFT_LEN + 1],
        roof[SD_MAX_DRAFT_LEN + 1], lin[SD_MAX_DRAFT_LEN + 1];
    for (int i = 0; i < c->n_max; i++) {
        x[i] = i + 1;
        rel[i] = c->t_v[i] / c->t_v[0];
        fast[i] = c->t_v_min[i] / c->t_v_min[0];
        roof[i] = bs_roofline_ratio(c, i + 1);
        lin[i] = i + 1;
    }
    bs_series s[4] = {{"measured t_v(n)/t_v(1)", rel, 0},
                      {"fastest sample", fast, 0},
                      {"roofline bound", roof, 1},
                      {"n single passes", lin, 1}};
    char path[4096];
    snprintf(path, sizeof path, "%s/verify_cost.svg", dir);
    return bs_svg_lines(path, "Cost of a batched target pass of n tokens", "tokens in the pass (n)",
                        "time relative to n = 1", x, c->n_max, s, 4, NAN, NAN, err, err_len);
}

int bs_write_charts(const bench *b, const mode_agg *agg, char *err, size_t err_len) {
    char path[4096];
    const char *labels[BS_MAX_MODES];
    double sp[BS_MAX_MODES];
    for (int m = 0; m < b->n_modes; m++)
        labels[m] = b->modes[m].name, sp[m] = agg[m].speedup_median;
    snprintf(path, sizeof path, "%s/speedup.svg", b->o.out_dir);
    int rc = bs_svg_bars(path, "Decode speed-up over plain (median over prompts)", "speed-up (x)", labels, sp,
                         b->n_modes, 1.0, err, err_len);
    if (rc < 0) return rc;
    int n_pos = 1;
    for (int m = 1; m < b->n_modes; m++)
        while (n_pos < SD_MAX_DRAFT_LEN && agg[m].all.drafted_at[n_pos] > 0)
            n_pos++;
    double x[SD_MAX_DRAFT_LEN], ys[BS_MAX_MODES][SD_MAX_DRAFT_LEN];
    bs_series series[BS_MAX_MODES];
    int n_series = 0;
    for (int i = 0; i < n_pos; i++)
        x[i] = i + 1;
    for (int m = 1; m < b->n_modes; m++) {
        for (int i = 0; i < n_pos; i++)
            ys[n_series][i] = bs_ratio(agg[m].all.accepted_at[i], agg[m].all.drafted_at[i]);
        series[n_series] = (bs_series){b->modes[m].name, ys[n_series], 0};
        n_series++;
    }
    snprintf(path, sizeof path, "%s/acceptance.svg", b->o.out_dir);
    rc = bs_svg_lines(path, "Acceptance by draft position", "draft position", "accepted / proposed", x, n_pos,
                      series, n_series, 0.0, 1.0, err, err_len);
    if (rc < 0) return rc;
    return b->cost.have ? bs_write_verify_svg(b->o.out_dir, &b->cost, err, err_len) : SD_STATUS_OK;
}
