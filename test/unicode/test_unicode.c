/* test_unicode.c — checks the compiled tables (lib/tokenizer/bert_unicode_data.c)
 * against the reference's raw answers (bert_unicode_probe.tsv), for every code
 * point: flags, all three mappings, and combining classes. Both files come from
 * gen_bert_unicode.py, but through different emitters, so this catches a
 * table-building or lookup bug, and a stale table after the probe changes. */
#include "tokenizer/bert_unicode.h"
#include "../unit/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NCP 0x110000u

static uint8_t want_flags[NCP];
static uint8_t want_ccc[NCP];

typedef struct {
    uint32_t cp;
    uint32_t seq[4][8];
    int len[4];
} map_row;

static int parse_seq(char *field, uint32_t *out)
{
    if (strcmp(field, "-") == 0) return 0;
    int n = 0;
    for (char *tok = strtok(field, " "); tok && n < 8; tok = strtok(NULL, " ")) out[n++] = (uint32_t)strtoul(tok, NULL, 16);
    return n;
}

static int same_seq(const uint32_t *a, int na, const uint32_t *b, int nb)
{
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "bert_unicode_probe.tsv";
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    static map_row rows[8192];
    size_t n_rows = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || !line[0]) continue;
        char *fields[6] = {0};
        int nf = 0;
        for (char *p = line; nf < 6; nf++) {
            fields[nf] = p;
            char *tab = strchr(p, '\t');
            if (!tab) {
                nf++;
                break;
            }
            *tab = 0;
            p = tab + 1;
        }
        if (strcmp(fields[0], "flags") == 0 && nf == 4) {
            uint32_t a = (uint32_t)strtoul(fields[1], NULL, 16), b = (uint32_t)strtoul(fields[2], NULL, 16);
            for (uint32_t cp = a; cp <= b && cp < NCP; cp++) want_flags[cp] = (uint8_t)strtoul(fields[3], NULL, 16);
        } else if (strcmp(fields[0], "map") == 0 && nf == 6 && n_rows < 8192) {
            map_row *r = &rows[n_rows++];
            r->cp = (uint32_t)strtoul(fields[1], NULL, 16);
            for (int m = 0; m < 4; m++) r->len[m] = parse_seq(fields[2 + m], r->seq[m]);
        } else if (strcmp(fields[0], "ccc") == 0 && nf == 3) {
            want_ccc[strtoul(fields[1], NULL, 16) % NCP] = (uint8_t)atoi(fields[2]);
        } else {
            fprintf(stderr, "%s: bad line: %s\n", path, fields[0]);
            return 1;
        }
    }
    fclose(f);
    CHECK(n_rows > 4000); /* the probe found 4,717 stored mappings */

    size_t bad_flags = 0, bad_ccc = 0, bad_self = 0;
    for (uint32_t cp = 0; cp < NCP; cp++) {
        if (dmi_bert_uflags(cp) != want_flags[cp] && bad_flags++ < 10)
            fprintf(stderr, "U+%04X: flags %u, probe says %u\n", cp, dmi_bert_uflags(cp), want_flags[cp]);
        if (dmi_bert_ccc(cp) != want_ccc[cp]) bad_ccc++;
        if (!(want_flags[cp] & DMI_U_MAPPED)) {
            const uint32_t *seq;
            for (int m = 0; m < 4; m++)
                if (dmi_bert_umap(cp, m, &seq) != 1 || seq[0] != cp) bad_self++;
        }
    }
    CHECK(bad_flags == 0);
    CHECK(bad_ccc == 0);
    CHECK(bad_self == 0);

    size_t bad_maps = 0;
    for (size_t i = 0; i < n_rows; i++) {
        for (int m = 0; m < 4; m++) {
            const uint32_t *seq;
            int n = dmi_bert_umap(rows[i].cp, m, &seq);
            if (!same_seq(seq, n, rows[i].seq[m], rows[i].len[m]) && bad_maps++ < 10)
                fprintf(stderr, "U+%04X mode %d: table gives %d code points, probe %d\n", rows[i].cp, m, n,
                        rows[i].len[m]);
        }
    }
    CHECK(bad_maps == 0);

    /* Hangul syllables are computed, not stored: spot-check the algorithm
     * against NFD values from the Unicode standard (3.12). */
    const uint32_t *seq;
    CHECK(dmi_bert_umap(0xD4DB, DMI_MAP_STRIP, &seq) == 3 && seq[0] == 0x1111 && seq[1] == 0x1171 && seq[2] == 0x11B6);
    CHECK(dmi_bert_umap(0xAC00, DMI_MAP_BOTH, &seq) == 2 && seq[0] == 0x1100 && seq[1] == 0x1161);
    CHECK(dmi_bert_umap(0xAC00, DMI_MAP_LOWER, &seq) == 1 && seq[0] == 0xAC00);
    CHECK(dmi_bert_umap(0xAC01, DMI_MAP_NFD, &seq) == 3 && seq[2] == 0x11A8);
    CHECK(want_flags[0xAC00] & DMI_U_MAPPED);
    /* A few well-known answers, independent of the probe file. */
    CHECK(dmi_bert_uflags('a') == 0);
    CHECK(dmi_bert_uflags(' ') == DMI_U_SPACE);
    CHECK(dmi_bert_uflags('!') == DMI_U_PUNCT);
    CHECK(dmi_bert_uflags(0x4E2D) & DMI_U_CJK);
    CHECK(dmi_bert_uflags(0) & DMI_U_CONTROL);
    CHECK(dmi_bert_umap(0x00C9, DMI_MAP_BOTH, &seq) == 1 && seq[0] == 'e');       /* É */
    CHECK(dmi_bert_umap(0x0130, DMI_MAP_LOWER, &seq) == 2 && seq[1] == 0x0307);   /* İ */
    CHECK(dmi_bert_umap(0x00E9, DMI_MAP_NFD, &seq) == 2 && seq[1] == 0x0301);     /* é */
    CHECK(dmi_bert_ccc(0x0301) == 230 && (dmi_bert_uflags(0x0301) & DMI_U_MARK));
    CHECK(!(dmi_bert_uflags(0x0301) & DMI_U_REORDER)); /* stripped */
    printf("checked %u code points and %zu mappings\n", NCP, n_rows);
    return check_summary();
}
