/*
 * profile_html.c — a dataset profile (the JSON of dm_dataset_profile,
 * profile.c) drawn as one self-contained HTML page (dm_profile_html): tiles
 * of the headline numbers, class balance and script bars, length
 * histograms, duplicate clusters, label conflicts, the cleaning funnel and
 * skipped rows, as inline SVG and CSS, no script and nothing fetched. The
 * page is built from the JSON alone, so a profile saved earlier can be drawn
 * again.
 */
#include "ops.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Text from the data, escaped for HTML text and attribute values. C0
 * controls other than TAB and newlines become spaces. */
static void html_esc(dmi_buf *b, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: rep = (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F ? " " : NULL;
        }
        if (!rep) continue;
        dmi_buf_append(b, s + start, i - start);
        dmi_buf_puts(b, rep);
        start = i + 1;
    }
    dmi_buf_append(b, s + start, len - start);
}

static void html_esc_str(dmi_buf *b, const char *s) { html_esc(b, s, strlen(s)); }

/* At most MAX code points of S, escaped, with "…" when cut. */
static void html_esc_cut(dmi_buf *b, const char *s, size_t len, size_t max)
{
    size_t i = 0, cps = 0;
    while (i < len && cps < max) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        cps++;
    }
    html_esc(b, s, i);
    if (i < len) dmi_buf_puts(b, "\xE2\x80\xA6");
}

/* A whole number with thousands separators ("62,774"). */
static void html_count(dmi_buf *b, double v)
{
    if (!isfinite(v)) {
        dmi_buf_puts(b, "\xE2\x80\x94");
        return;
    }
    char digits[32], out[48];
    snprintf(digits, sizeof digits, "%.0f", fabs(v));
    size_t n = strlen(digits), o = 0;
    if (v < 0) out[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    dmi_buf_puts(b, out);
}

/* A measure: whole numbers as counts, others with one or two decimals. */
static void html_num(dmi_buf *b, double v)
{
    if (isfinite(v) && v == floor(v)) html_count(b, v);
    else if (isfinite(v)) dmi_buf_printf(b, fabs(v) < 10 ? "%.2f" : "%.1f", v);
    else dmi_buf_puts(b, "\xE2\x80\x94");
}

static void html_pct(dmi_buf *b, double part, double whole)
{
    double p = whole > 0 ? 100.0 * part / whole : 0;
    if (p > 0 && p < 0.01) dmi_buf_puts(b, "&lt;0.01%");
    else dmi_buf_printf(b, p > 0 && p < 0.1 ? "%.2f%%" : "%.1f%%", p);
}

static bool get_number(const json_t *obj, const char *key, double *v)
{
    json_t *x = json_object_get(obj, key);
    if (!json_is_number(x)) return false;
    *v = json_number_value(x);
    return true;
}

static double number_or(const json_t *obj, const char *key, double fallback)
{
    double v;
    return get_number(obj, key, &v) ? v : fallback;
}

/* The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k, whole)
 * of at least V: an axis tick step. */
static double nice_step(double v)
{
    if (v <= 1) return 1;
    double p = pow(10, floor(log10(v)));
    static const double m[] = {1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (m[i] * p >= v && m[i] * p == floor(m[i] * p)) return m[i] * p;
    return 10 * p;
}

static const char *const class_colors[] = {"#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2",
                                           "#b279a2", "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac"};

static const char html_style[] =
    ":root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f3f5f8;--card:#fff;--accent:#4c78a8}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"
    "\"Segoe UI\",Roboto,\"Helvetica Neue\",\"Noto Sans\",\"Noto Sans CJK SC\",\"PingFang SC\","
    "\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",Arial,sans-serif}"
    "main{max-width:1180px;margin:0 auto;padding:24px}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;"
    "margin:0 0 16px;box-shadow:0 1px 2px rgba(31,35,40,.05)}"
    "h1{font-size:24px;margin:0 0 2px;overflow-wrap:anywhere}"
    "h2{font-size:16px;margin:0 0 12px}"
    ".sub,.muted{color:var(--muted)}.sub{margin:0;overflow-wrap:anywhere}"
    ".tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(118px,1fr));gap:10px;margin-top:14px}"
    ".tile{background:var(--bg);border-radius:8px;padding:8px 12px}"
    ".tile .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}"
    ".tile .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}"
    ".tile .p{color:var(--muted);font-size:12px;margin-left:4px}"
    "table{border-collapse:collapse;width:100%;margin-top:8px}"
    "th,td{text-align:left;padding:6px 8px;border-top:1px solid var(--line);vertical-align:top}"
    "th{color:var(--muted);font-weight:600;font-size:12px;border-top:0}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.ids{max-width:220px;overflow-wrap:anywhere;color:var(--muted);font-size:12px}"
    "td.ex div{overflow-wrap:anywhere}td.ex div+div{margin-top:4px;padding-top:4px;border-top:1px dashed var(--line)}"
    "svg{display:block;width:100%;height:auto}"
    "svg text{font-family:inherit;font-size:12px;fill:#1f2328}"
    "svg .ax{fill:var(--muted)}"
    ".legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin-top:10px}"
    ".sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}"
    ".note{font-size:12px;color:var(--muted);margin:8px 0 0}"
    "footer{color:var(--muted);font-size:12px;text-align:center;padding:4px 0 16px}";

static void tile(dmi_buf *b, const char *key, const json_t *root, const char *field, double rows)
{
    double v;
    bool have = get_number(root, field, &v);
    dmi_buf_printf(b, "<div class=\"tile\"><div class=\"k\">%s</div><div class=\"v\">", key);
    if (have) html_count(b, v);
    else dmi_buf_puts(b, "\xE2\x80\x94");
    if (have && rows > 0 && strcmp(field, "rows") != 0) {
        dmi_buf_puts(b, "<span class=\"p\">");
        html_pct(b, v, rows);
        dmi_buf_puts(b, "</span>");
    }
    dmi_buf_puts(b, "</div></div>");
}

static void html_header(dmi_buf *b, const json_t *root, double rows)
{
    const char *title = json_string_value(json_object_get(root, "title"));
    dmi_buf_puts(b, "<header class=\"card\"><h1>");
    html_esc_str(b, title ? title : "Dataset profile");
    dmi_buf_puts(b, "</h1><p class=\"sub\">");
    json_t *cols = json_object_get(root, "columns"), *labels = json_object_get(root, "labels");
    if (json_array_size(cols)) {
        dmi_buf_puts(b, "Columns: ");
        for (size_t i = 0; i < json_array_size(cols); i++) {
            const char *c = json_string_value(json_array_get(cols, i));
            if (i) dmi_buf_puts(b, ", ");
            html_esc_cut(b, c ? c : "", c ? strlen(c) : 0, 40);
        }
    }
    size_t nl = json_array_size(labels);
    dmi_buf_printf(b, " \xC2\xB7 %zu label%s", nl, nl == 1 ? "" : "s");
    double ratio;
    if (get_number(root, "imbalance_ratio", &ratio)) {
        dmi_buf_puts(b, " \xC2\xB7 imbalance ");
        html_num(b, ratio);
        dmi_buf_puts(b, " : 1 (largest / smallest class)");
    }
    dmi_buf_puts(b, "</p><div class=\"tiles\">");
    tile(b, "Rows", root, "rows", rows);
    dmi_buf_printf(b, "<div class=\"tile\"><div class=\"k\">Labels</div><div class=\"v\">%zu</div></div>", nl);
    dmi_buf_puts(b, "<div class=\"tile\"><div class=\"k\">Imbalance</div><div class=\"v\">");
    if (get_number(root, "imbalance_ratio", &ratio)) {
        html_num(b, ratio);
        dmi_buf_puts(b, "<span class=\"p\">: 1</span>");
    } else {
        dmi_buf_puts(b, "\xE2\x80\x94");
    }
    dmi_buf_puts(b, "</div></div>");
    tile(b, "Empty texts", root, "empty", rows);
    tile(b, "Exact dups", root, "exact_duplicates", rows);
    tile(b, "Near dups", root, "near_duplicates", rows);
    tile(b, "Conflicts", root, "conflicts", 0);
    tile(b, "Skipped rows", root, "skipped", 0);
    dmi_buf_puts(b, "</div></header>");
}

enum { CHART_W = 1100, MAX_CLASS_BARS = 60 };

/* One horizontal bar: label, bar, "count (pct)". */
static void hbar(dmi_buf *b, double y, const char *label, size_t label_len, double v, double scale, double total,
                 const char *color, double label_w, double bar_w)
{
    double w = scale > 0 ? v / scale * bar_w : 0;
    if (v > 0 && w < 1) w = 1;
    dmi_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", label_w - 10, y + 15);
    html_esc_cut(b, label, label_len, 28);
    dmi_buf_printf(b, "<title>");
    html_esc(b, label, label_len);
    dmi_buf_printf(b, "</title></text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"20\" rx=\"3\" "
                      "fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
                   label_w, y + 1, w, color, label_w + w + 8, y + 15);
    html_count(b, v);
    if (total > 0) {
        dmi_buf_puts(b, " <tspan class=\"ax\">(");
        html_pct(b, v, total);
        dmi_buf_puts(b, ")</tspan>");
    }
    dmi_buf_puts(b, "</text>");
}

static void html_classes(dmi_buf *b, const json_t *root)
{
    json_t *labels = json_object_get(root, "labels"), *per = json_object_get(root, "per_class");
    size_t nl = json_array_size(labels);
    double unl = number_or(root, "unlabelled", 0), total = unl, largest = unl;
    dmi_buf_puts(b, "<section class=\"card\"><h2>Class balance</h2>");
    if (nl == 0) {
        dmi_buf_puts(b, "<p class=\"muted\">No labels.</p></section>");
        return;
    }
    for (size_t i = 0; i < nl; i++) {
        const char *name = json_string_value(json_array_get(labels, i));
        double c = number_or(per, name ? name : "", 0);
        total += c;
        if (c > largest) largest = c;
    }
    size_t shown = nl < MAX_CLASS_BARS ? nl : MAX_CLASS_BARS;
    size_t bars = shown + (unl > 0);
    dmi_buf_printf(b, "<svg viewBox=\"0 0 %d %zu\" role=\"img\" aria-label=\"class balance\">", CHART_W,
                   bars * 28 + 4);
    for (size_t i = 0; i < shown; i++) {
        const char *name = json_string_value(json_array_get(labels, i));
        if (!name) name = "";
        hbar(b, (double)i * 28 + 2, name, strlen(name), number_or(per, name, 0), largest, total,
             class_colors[i % 10], 220, 720);
    }
    if (unl > 0) hbar(b, (double)shown * 28 + 2, "(unlabelled)", 12, unl, largest, total, "#bab0ac", 220, 720);
    dmi_buf_puts(b, "</svg>");
    if (shown < nl) dmi_buf_printf(b, "<p class=\"note\">Showing the first %zu of %zu labels.</p>", shown, nl);
    dmi_buf_puts(b, "</section>");
}

/* The x of value V on a histogram with edges E[0..NB], bins BW wide from X0. */
static double hist_x(double v, const double *e, size_t nb, double x0, double bw)
{
    if (v <= e[0]) return x0;
    for (size_t i = 0; i < nb; i++) {
        if (v <= e[i + 1] || i + 1 == nb) {
            double span = e[i + 1] - e[i];
            double f = span > 0 ? (v - e[i]) / span : 0;
            if (f > 1) f = 1;
            return x0 + ((double)i + f) * bw;
        }
    }
    return x0 + (double)nb * bw;
}

static void html_histogram(dmi_buf *b, const json_t *stats, const char *title, const char *unit)
{
    json_t *hist = json_object_get(stats, "histogram");
    json_t *je = json_object_get(hist, "edges"), *jc = json_object_get(hist, "counts");
    size_t nb = json_array_size(jc);
    dmi_buf_printf(b, "<section class=\"card\"><h2>%s</h2>", title);
    if (nb == 0 || json_array_size(je) != nb + 1) {
        dmi_buf_puts(b, "<p class=\"muted\">No rows.</p></section>");
        return;
    }
    double *e = malloc((nb + 1) * sizeof *e), *c = malloc(nb * sizeof *c);
    if (!e || !c) {
        free(e), free(c);
        b->failed = true;
        return;
    }
    double cmax = 0;
    for (size_t i = 0; i <= nb; i++) e[i] = json_number_value(json_array_get(je, i));
    for (size_t i = 0; i < nb; i++) {
        c[i] = json_number_value(json_array_get(jc, i));
        if (c[i] > cmax) cmax = c[i];
    }
    bool tail = json_is_true(json_object_get(hist, "tail_bin"));
    const double ml = 64, mr = 16, mt = 40, plot_h = 200, mb = 40;
    double plot_w = CHART_W - ml - mr, bw = plot_w / (double)nb, ymax = 4 * nice_step(cmax / 4);
    dmi_buf_printf(b, "<svg viewBox=\"0 0 %d %.0f\" role=\"img\" aria-label=\"%s\">", CHART_W, mt + plot_h + mb,
                   title);
    for (int k = 0; k <= 4; k++) { /* grid lines and counts */
        double y = mt + plot_h - plot_h * k / 4.0;
        dmi_buf_printf(b, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", ml,
                       ml + plot_w, y, y, k ? "#eceff3" : "#8c959f");
        dmi_buf_printf(b, "<text class=\"ax\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", ml - 8, y + 4);
        html_count(b, ymax * k / 4.0);
        dmi_buf_puts(b, "</text>");
    }
    for (size_t i = 0; i < nb; i++) {
        double h = c[i] / ymax * plot_h;
        bool is_tail = tail && i + 1 == nb;
        dmi_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                       ml + (double)i * bw + 1, mt + plot_h - h, bw > 3 ? bw - 2 : bw, h,
                       is_tail ? "#a7bfd9" : "#4c78a8");
        html_num(b, e[i]);
        dmi_buf_puts(b, i + 1 == nb ? "\xE2\x80\x93" : " to <");
        html_num(b, e[i + 1]);
        dmi_buf_printf(b, " %s: ", unit);
        html_count(b, c[i]);
        dmi_buf_puts(b, "</title></rect>");
    }
    size_t every = (nb + 1 + 11) / 12; /* at most ~12 axis labels */
    for (size_t i = 0; i <= nb; i += every) {
        if (tail && i == nb - 1 && i % every) continue;
        dmi_buf_printf(b, "<text class=\"ax\" x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">",
                       ml + (double)i * bw, mt + plot_h + 16);
        html_num(b, e[i]);
        dmi_buf_puts(b, "</text>");
    }
    if (nb % every) { /* always label the last edge (the maximum with a tail bin) */
        dmi_buf_printf(b, "<text class=\"ax\" x=\"%.1f\" y=\"%.0f\" text-anchor=\"end\">", ml + plot_w,
                       mt + plot_h + 16);
        html_num(b, e[nb]);
        dmi_buf_puts(b, "</text>");
    }
    dmi_buf_printf(b, "<text class=\"ax\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s%s</text>",
                   ml + plot_w / 2, mt + plot_h + 34, unit, tail ? " (last bar: the long tail up to the maximum)" : "");
    static const struct {
        const char *key, *color;
        double label_y;
    } marks[] = {{"p50", "#e45756", 14}, {"p95", "#f58518", 28}};
    for (size_t m = 0; m < 2; m++) {
        double v;
        if (!get_number(stats, marks[m].key, &v)) continue;
        double x = hist_x(v, e, nb, ml, bw);
        dmi_buf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
                          "stroke-width=\"2\" stroke-dasharray=\"5 3\"/>",
                       x, x, marks[m].label_y - 4, mt + plot_h, marks[m].color);
        bool right = x > ml + plot_w - 120;
        dmi_buf_printf(b, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"%s\" style=\"fill:%s;font-weight:600\">%s = ",
                       right ? x - 5 : x + 5, marks[m].label_y, right ? "end" : "start", marks[m].color,
                       marks[m].key);
        html_num(b, v);
        dmi_buf_puts(b, "</text>");
    }
    dmi_buf_puts(b, "</svg><table><tr>");
    static const char *const keys[] = {"min", "p5", "p25", "p50", "p75", "p95", "p99", "max", "mean"};
    for (size_t k = 0; k < 9; k++) dmi_buf_printf(b, "<th class=\"n\">%s</th>", keys[k]);
    dmi_buf_puts(b, "</tr><tr>");
    for (size_t k = 0; k < 9; k++) {
        dmi_buf_puts(b, "<td class=\"n\">");
        html_num(b, number_or(stats, keys[k], NAN));
        dmi_buf_puts(b, "</td>");
    }
    dmi_buf_puts(b, "</tr></table></section>");
    free(e);
    free(c);
}

static void html_scripts(dmi_buf *b, const json_t *root)
{
    static const struct {
        const char *key, *name, *color;
    } scripts[] = {{"latin", "Latin", "#4c78a8"},   {"han", "Han", "#e45756"},
                   {"cyrillic", "Cyrillic", "#54a24b"}, {"arabic", "Arabic", "#eeca3b"},
                   {"hangul", "Hangul", "#b279a2"},  {"kana", "Kana", "#f58518"},
                   {"other", "Other", "#bab0ac"}};
    json_t *sc = json_object_get(root, "scripts");
    double letters = number_or(root, "letters", 0), sum = 0;
    for (size_t i = 0; i < 7; i++) sum += number_or(sc, scripts[i].key, 0);
    dmi_buf_puts(b, "<section class=\"card\"><h2>Script mix <span class=\"muted\" style=\"font-weight:400\">"
                    "(share of letters");
    if (letters > 0) {
        dmi_buf_puts(b, ", ");
        html_count(b, letters);
        dmi_buf_puts(b, " in all");
    }
    dmi_buf_puts(b, ")</span></h2>");
    if (!(sum > 0)) {
        dmi_buf_puts(b, "<p class=\"muted\">No letters.</p></section>");
        return;
    }
    dmi_buf_printf(b, "<svg viewBox=\"0 0 %d 28\" role=\"img\" aria-label=\"script mix\">", CHART_W);
    double x = 0;
    for (size_t i = 0; i < 7; i++) {
        double share = number_or(sc, scripts[i].key, 0) / sum;
        if (!(share > 0)) continue;
        double w = share * CHART_W;
        dmi_buf_printf(b, "<rect x=\"%.1f\" y=\"2\" width=\"%.1f\" height=\"24\" fill=\"%s\"><title>%s ", x,
                       w < 1 ? 1 : w, scripts[i].color, scripts[i].name);
        html_pct(b, share, 1);
        dmi_buf_puts(b, "</title></rect>");
        x += w;
    }
    dmi_buf_puts(b, "</svg><div class=\"legend\">");
    for (size_t i = 0; i < 7; i++) {
        double share = number_or(sc, scripts[i].key, 0) / sum;
        if (!(share > 0)) continue;
        dmi_buf_printf(b, "<span><span class=\"sw\" style=\"background:%s\"></span>%s ", scripts[i].color,
                       scripts[i].name);
        html_pct(b, share, 1);
        dmi_buf_puts(b, "</span>");
    }
    dmi_buf_puts(b, "</div></section>");
}

static void html_duplicates(dmi_buf *b, const json_t *root, double rows)
{
    dmi_buf_puts(b, "<section class=\"card\"><h2>Duplicates</h2><div class=\"tiles\" style=\"margin-top:0\">");
    tile(b, "Exact duplicates", root, "exact_duplicates", rows);
    tile(b, "Near duplicates", root, "near_duplicates", rows);
    tile(b, "Near pairs", root, "near_pairs", 0);
    tile(b, "Clusters", root, "duplicate_cluster_count", 0);
    dmi_buf_puts(b, "</div>");
    if (!json_is_number(json_object_get(root, "near_duplicates")))
        dmi_buf_puts(b, "<p class=\"note\">Near duplicates were not searched for.</p>");
    json_t *cl = json_object_get(root, "duplicate_clusters");
    size_t n = json_array_size(cl);
    if (n == 0) {
        dmi_buf_puts(b, "<p class=\"muted\">No duplicate clusters.</p></section>");
        return;
    }
    dmi_buf_printf(b, "<p class=\"note\">Rows counted as duplicates are those after the first of each cluster. "
                      "The %zu largest clusters:</p>",
                   n);
    dmi_buf_puts(b, "<table><tr><th class=\"n\" style=\"width:36px\">#</th><th class=\"n\" style=\"width:56px\">Rows</th>"
                    "<th style=\"width:200px\">Ids</th><th>Examples</th></tr>");
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cl, i), *ids = json_object_get(c, "ids"), *ex = json_object_get(c, "examples");
        dmi_buf_printf(b, "<tr><td class=\"n\">%zu</td><td class=\"n\">", i + 1);
        html_count(b, number_or(c, "size", 0));
        dmi_buf_puts(b, "</td><td class=\"ids\">");
        for (size_t j = 0; j < json_array_size(ids); j++) {
            json_t *id = json_array_get(ids, j);
            if (j) dmi_buf_puts(b, ", ");
            if (json_is_string(id)) html_esc_cut(b, json_string_value(id), json_string_length(id), 40);
        }
        if (json_array_size(ids) < number_or(c, "size", 0)) dmi_buf_puts(b, ", \xE2\x80\xA6");
        dmi_buf_puts(b, "</td><td class=\"ex\">");
        for (size_t j = 0; j < json_array_size(ex); j++) {
            json_t *t = json_array_get(ex, j);
            dmi_buf_puts(b, "<div>");
            if (json_is_string(t)) html_esc_cut(b, json_string_value(t), json_string_length(t), 300);
            dmi_buf_puts(b, "</div>");
        }
        dmi_buf_puts(b, "</td></tr>");
    }
    dmi_buf_puts(b, "</table></section>");
}

static void html_conflicts(dmi_buf *b, const json_t *root)
{
    dmi_buf_puts(b, "<section class=\"card\"><h2>Label conflicts</h2>");
    double c, r;
    if (!get_number(root, "conflicts", &c)) {
        dmi_buf_puts(b, "<p class=\"muted\">No labels.</p></section>");
        return;
    }
    dmi_buf_puts(b, "<p><b>");
    html_count(b, c);
    dmi_buf_printf(b, "</b> text%s carr%s more than one label", c == 1 ? "" : "s", c == 1 ? "ies" : "y");
    if (get_number(root, "rows_in_conflict", &r)) {
        dmi_buf_puts(b, " (");
        html_count(b, r);
        dmi_buf_puts(b, " rows)");
    }
    dmi_buf_puts(b, ", comparing texts after NFKC, case folding and whitespace collapsing.</p></section>");
}

static void html_funnel(dmi_buf *b, const json_t *clean)
{
    if (!json_is_object(clean)) return;
    double in = number_or(clean, "rows_in", NAN), out = number_or(clean, "rows_out", NAN);
    json_t *dropped = json_object_get(clean, "dropped");
    dmi_buf_puts(b, "<section class=\"card\"><h2>Cleaning funnel</h2>");
    if (!isfinite(in) || !isfinite(out)) {
        dmi_buf_puts(b, "<p class=\"muted\">The cleaning report has no rows_in / rows_out.</p></section>");
        return;
    }
    size_t steps = 2;
    const char *key;
    json_t *v;
    json_object_foreach(dropped, key, v) steps += json_is_number(v) && json_number_value(v) > 0;
    dmi_buf_printf(b, "<svg viewBox=\"0 0 %d %zu\" role=\"img\" aria-label=\"cleaning funnel\">", CHART_W,
                   steps * 28 + 4);
    double left = in, y = 2;
    hbar(b, y, "rows in", 7, in, in, 0, "#4c78a8", 260, 680);
    json_object_foreach(dropped, key, v) {
        if (!json_is_number(v) || json_number_value(v) <= 0) continue;
        double d = json_number_value(v);
        left -= d;
        y += 28;
        dmi_buf_printf(b, "<text x=\"250\" y=\"%.1f\" text-anchor=\"end\">after ", y + 15);
        html_esc_cut(b, key, strlen(key), 24);
        dmi_buf_puts(b, " <tspan class=\"ax\">(\xE2\x88\x92");
        html_count(b, d);
        dmi_buf_puts(b, ")</tspan></text>");
        hbar(b, y, "", 0, left < 0 ? 0 : left, in, in, "#a7bfd9", 260, 680);
    }
    y += 28;
    hbar(b, y, "rows out", 8, out, in, in, "#54a24b", 260, 680);
    dmi_buf_puts(b, "</svg>");
    json_t *changed = json_object_get(clean, "changed");
    if (json_object_size(changed)) {
        dmi_buf_puts(b, "<table><tr><th>Cleaning step</th><th class=\"n\">Rows changed</th></tr>");
        json_object_foreach(changed, key, v) {
            dmi_buf_puts(b, "<tr><td>");
            html_esc_str(b, key);
            dmi_buf_puts(b, "</td><td class=\"n\">");
            html_count(b, json_is_number(v) ? json_number_value(v) : NAN);
            dmi_buf_puts(b, "</td></tr>");
        }
        dmi_buf_puts(b, "</table>");
    }
    dmi_buf_puts(b, "</section>");
}

static void html_skipped(dmi_buf *b, const json_t *root)
{
    json_t *rows = json_object_get(root, "skipped_rows");
    double total = number_or(root, "skipped", (double)json_array_size(rows));
    if (total <= 0 && json_array_size(rows) == 0) return;
    dmi_buf_puts(b, "<section class=\"card\"><h2>Rows skipped on load</h2>");
    dmi_buf_puts(b, "<table><tr><th class=\"n\">Line</th><th>Reason</th></tr>");
    size_t n = json_array_size(rows) < 50 ? json_array_size(rows) : 50;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(rows, i), *reason = json_object_get(r, "reason");
        dmi_buf_puts(b, "<tr><td class=\"n\">");
        html_count(b, number_or(r, "line", NAN));
        dmi_buf_puts(b, "</td><td>");
        if (json_is_string(reason)) html_esc_cut(b, json_string_value(reason), json_string_length(reason), 300);
        dmi_buf_puts(b, "</td></tr>");
    }
    dmi_buf_puts(b, "</table>");
    if (total > (double)n) {
        dmi_buf_puts(b, "<p class=\"note\">Showing ");
        html_count(b, (double)n);
        dmi_buf_puts(b, " of ");
        html_count(b, total);
        dmi_buf_puts(b, " skipped rows.</p>");
    }
    dmi_buf_puts(b, "</section>");
}

DM_API dm_status dm_profile_html(const char *profile_json, size_t len, char **html, size_t *html_len)
{
    if (html) *html = NULL;
    if (html_len) *html_len = 0;
    if (!profile_json) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_profile_html: profile_json is NULL");
    if (!html) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_profile_html: html is NULL");
    json_error_t err;
    json_t *root = json_loadb(profile_json, len, JSON_ALLOW_NUL, &err); /* as texts may */
    if (!root)
        return dmi_fail(DM_ERR_PARSE, "dm_profile_html: profile_json: line %d, column %d: %s", err.line,
                        err.column, err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return dmi_fail(DM_ERR_PARSE, "dm_profile_html: profile_json: expected a JSON object "
                                      "(dm_dataset_profile's output)");
    }
    double rows = number_or(root, "rows", 0);
    const char *title = json_string_value(json_object_get(root, "title"));
    dmi_buf b = {0};
    dmi_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                     "<meta name=\"referrer\" content=\"no-referrer\"><title>");
    html_esc_str(&b, title ? title : "Dataset profile");
    dmi_buf_printf(&b, "</title><style>%s</style></head><body><main>", html_style);
    html_header(&b, root, rows);
    html_classes(&b, root);
    json_t *chars = json_object_get(root, "length_chars"), *tokens = json_object_get(root, "length_tokens");
    if (json_is_object(chars)) html_histogram(&b, chars, "Text length in characters", "characters");
    if (json_is_object(tokens)) html_histogram(&b, tokens, "Text length in tokens", "tokens");
    html_scripts(&b, root);
    html_duplicates(&b, root, rows);
    html_conflicts(&b, root);
    html_funnel(&b, json_object_get(root, "clean"));
    html_skipped(&b, root);
    dmi_buf_puts(&b, "<footer>Made by libdatamodel (dm_dataset_profile, dm_profile_html).</footer>"
                     "</main></body></html>\n");
    json_decref(root);
    dm_status st = dmi_buf_finish(&b, html, html_len);
    return st == DM_OK ? DM_OK : dmi_fail(st, "dm_profile_html: out of memory");
}
