/* prepare_data.c — the data-quality pipeline in C: load a labelled file,
 * clean it, remove exact and near duplicates, split it 80/10/10 stratified
 * with duplicate clusters kept whole, and write train/val/test next to the
 * input, printing each step's report. Build against an installed library:
 *   cc prepare_data.c $(pkg-config --cflags --libs datamodel) -o prepare_data
 * Run: ./prepare_data reviews.csv out-dir */
#include <datamodel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library's message names the file, row or option at fault. */
static int fail(void)
{
    fprintf(stderr, "error: %s\n", dm_last_error());
    return 1;
}

/* The first ~300 bytes of a report, cut at a character boundary. */
static void print_report(const char *step, char *json)
{
    size_t len = strlen(json), cut = len < 300 ? len : 300;
    while (cut < len && (json[cut] & 0xC0) == 0x80) cut++;
    printf("%s: %.*s%s\n", step, (int)cut, json, cut < len ? "..." : "");
    dm_free(json);
}

/* Writes the rows of DS whose ASSIGN is PART to DIR/NAME.csv. */
static int write_part(const dm_dataset *ds, const int32_t *assign, int32_t part, const char *dir, const char *name)
{
    size_t n = dm_dataset_size(ds), k = 0;
    size_t *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows) return 1;
    for (size_t i = 0; i < n; i++)
        if (assign[i] == part) rows[k++] = i;
    dm_dataset *sub = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    int rc = dm_dataset_select(ds, rows, k, &sub) || dm_dataset_write(sub, path, DM_FORMAT_CSV) ? fail() : 0;
    if (!rc) printf("wrote %s (%zu rows)\n", path, k);
    dm_dataset_free(sub);
    free(rows);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_FILE OUT_DIR\n", argv[0]);
        return 2;
    }
    dm_dataset_options lo;
    dm_dataset_options_default(&lo);
    lo.bad_rows = DM_BAD_ROWS_SKIP; /* listed in the cleaning report instead of failing */
    dm_dataset *raw = NULL, *clean = NULL, *unique = NULL;
    char *report = NULL;
    if (dm_dataset_load(argv[1], &lo, &raw)) return fail();

    int rc = 1; /* a goto done is a library error, reported there */
    dm_clean_options co;
    dm_clean_options_default(&co); /* NFKC, HTML, control characters, whitespace; drop empty rows */
    co.min_chars = 3;
    if (dm_dataset_clean(raw, &co, &clean, &report)) goto done;
    print_report("clean", report);

    if (dm_dataset_dedup(clean, NULL, &unique, &report)) goto done; /* 5-grams, Jaccard 0.8 */
    print_report("dedup", report);

    dm_split_options so;
    dm_split_options_default(&so); /* 0.8 / 0.1 / 0.1, seed 42 */
    so.stratify = 1;
    so.group_by = DM_GROUP_NEAR_DUPLICATES;
    int32_t *assign = malloc((dm_dataset_size(unique) + 1) * sizeof *assign);
    if (!assign || dm_dataset_split(unique, &so, assign, &report)) {
        free(assign);
        goto done;
    }
    print_report("split", report);
    rc = write_part(unique, assign, 0, argv[2], "train") || write_part(unique, assign, 1, argv[2], "val") ||
         write_part(unique, assign, 2, argv[2], "test") ? 3 : 0; /* write_part reported it */
    free(assign);
done:
    if (rc == 1) fail();
    if (rc == 3) rc = 1;
    dm_dataset_free(unique);
    dm_dataset_free(clean);
    dm_dataset_free(raw);
    return rc;
}
