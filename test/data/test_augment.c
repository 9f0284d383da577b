/*
 * test_augment.c — dm_dataset_augment: EDA's four operations on fixed
 * sentences (outputs pinned: they follow from the Philox seed), WordNet
 * lookups (Debian wordnet-base in /usr/share/wordnet; skipped with a note
 * when absent), the synonyms file, case and punctuation, Han text,
 * character noise, ids and source ids, unchanged copies, determinism across
 * thread counts, every bad-input path, cancelling, and a run over the first
 * 2000 rows of SST-2 and ChnSentiCorp ($DATA, default SRCROOT/../shared/data;
 * skipped with a note when absent).
 */
#include "datamodel.h"
#include "data/dataset_internal.h"
#include "core/utf8.h"

#include "../unit/check.h"

#include <jansson.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/dm_test_augment_XXXXXX";
static char synonyms[1024]; /* the fixture synonyms file */
static int have_wordnet;
static char wn_dir[600]; /* the hand-made WordNet folder */

static const char *tmp_path(const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    return p;
}

static const char *write_tmp(const char *name, const char *data, size_t len)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) return path;
    fwrite(data, 1, len, f);
    fclose(f);
    return path;
}

/* A dataset of N texts, labels "pos"/"neg" alternating. */
static dm_dataset *make(size_t n, const char *const *texts)
{
    const char *labels[64];
    for (size_t i = 0; i < n && i < 64; i++) labels[i] = i % 2 ? "neg" : "pos";
    dm_dataset *ds = NULL;
    dm_status st = dm_dataset_from_texts(n, texts, NULL, NULL, NULL, labels, NULL, &ds);
    CHECK(st == DM_OK);
    return ds;
}

static const char *text_of(const dm_dataset *ds, size_t i)
{
    size_t len;
    const char *t = dm_dataset_text(ds, i, &len);
    return t ? t : "(null)";
}

static const char *source_of(const dm_dataset *ds, size_t i)
{
    size_t n = dmi_dataset_num_columns(ds);
    const char *c = dmi_dataset_cell(ds, i, n - 1, NULL, NULL);
    return c ? c : "(null)";
}

/* Augments one TEXT with OPTS; the copies' texts (without the original) are
 * written into OUT (up to CAP), returns how many. */
static size_t copies_of(const char *text, const dm_augment_options *o, const char **out, size_t cap,
                        dm_dataset **keep)
{
    dm_dataset *ds = make(1, &text), *aug = NULL;
    dm_status st = dm_dataset_augment(ds, o, &aug, NULL);
    if (st) fprintf(stderr, "augment failed: %s\n", dm_last_error());
    CHECK(st == DM_OK);
    size_t n = 0;
    for (size_t i = 0; aug && i < dm_dataset_size(aug); i++)
        if (strcmp(source_of(aug, i), "") != 0 && n < cap) out[n++] = text_of(aug, i);
    dm_dataset_free(ds);
    *keep = aug;
    return n;
}

static void dump(const char *what, const char *const *t, size_t n)
{
    printf("%s:\n", what);
    for (size_t i = 0; i < n; i++) printf("  [%zu] %s\n", i, t[i]);
}

static int valid_utf8(const char *s) { return dmi_utf8_invalid_at(s, strlen(s)) == strlen(s); }

/* ---------------------------------------------------------------- options */

static void test_options(void)
{
    dm_augment_options o;
    memset(&o, 0x55, sizeof o);
    dm_augment_options_default(&o);
    CHECK(o.struct_size == sizeof o && o.ops == DM_AUGMENT_EDA && o.n == 4);
    CHECK(o.alpha_sr == 0.1 && o.alpha_ri == 0.1 && o.alpha_rs == 0.1 && o.alpha_rd == 0.1);
    CHECK(o.char_rate == 0.05 && o.wordnet_dir == NULL && o.synonyms_path == NULL);
    CHECK(o.keep_original == 1 && o.seed == 42 && o.progress == NULL && o.progress_user == NULL);
    dm_augment_options_default(NULL); /* no crash */
}

static void test_bad_args(void)
{
    const char *t = "the quick brown fox";
    dm_dataset *ds = make(1, &t), *out = (dm_dataset *)1;
    char *rep = (char *)1;
    dm_augment_options o;
    CHECK_FAILS(dm_dataset_augment(NULL, NULL, &out, NULL), DM_ERR_INVALID_ARGUMENT, "NULL dataset");
    CHECK(out == NULL);
    CHECK_FAILS(dm_dataset_augment(ds, NULL, NULL, &rep), DM_ERR_INVALID_ARGUMENT, "NULL out");
    CHECK(rep == NULL);
    dm_augment_options_default(&o);
    o.struct_size = 0;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "struct_size");
    dm_augment_options_default(&o), o.ops = 0;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "ops is 0; expected");
    dm_augment_options_default(&o), o.ops = 4;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "ops is 4");
    dm_augment_options_default(&o), o.ops = 7;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "ops is 7");
    dm_augment_options_default(&o), o.n = 0;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "n is 0; expected 1 to 10000");
    dm_augment_options_default(&o), o.n = 10001;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "n is 10001");
    dm_augment_options_default(&o), o.alpha_sr = -0.1;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "alpha_sr is -0.1; expected a share in [0, 1]");
    dm_augment_options_default(&o), o.alpha_ri = 1.5;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "alpha_ri is 1.5");
    dm_augment_options_default(&o), o.alpha_rs = 0.0 / 0.0;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "alpha_rs is");
    dm_augment_options_default(&o), o.alpha_rd = 2;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "alpha_rd is 2");
    dm_augment_options_default(&o), o.alpha_sr = o.alpha_ri = o.alpha_rs = o.alpha_rd = 0;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "every EDA alpha");
    o.ops = DM_AUGMENT_CHARS; /* EDA alphas do not matter then */
    CHECK(dm_dataset_augment(ds, &o, &out, NULL) == DM_OK);
    dm_dataset_free(out);
    dm_augment_options_default(&o), o.ops = DM_AUGMENT_CHARS, o.char_rate = 0;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "char_rate is 0; expected a share in (0, 1]");
    dm_augment_options_default(&o), o.char_rate = 1.01;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "char_rate is 1.01");
    dm_augment_options_default(&o), o.keep_original = 2;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "keep_original is 2");
    dm_dataset_free(ds);
}


/* Compares the copies with WANT (N_WANT of them), printing what came out on
 * a mismatch so that a deliberate change can be re-pinned. */
static void expect_copies(const char *what, const char *const *got, size_t n, const char *const *want, size_t n_want)
{
    int ok = n == n_want;
    for (size_t i = 0; ok && i < n; i++) ok = strcmp(got[i], want[i]) == 0;
    CHECK(ok);
    if (!ok) dump(what, got, n);
}

#define N_OF(a) (sizeof(a) / sizeof *(a))

static const char *const fox = "The quick brown fox jumps over the lazy dog, doesn't it?";

/* One EDA operation at a time on a fixed sentence, synonyms from the file
 * only (wordnet_dir ""): outputs pinned. */
static void test_eda_ops(void)
{
    dm_augment_options o;
    const char *out[64];
    dm_dataset *keep;
    double *alpha[4] = {&o.alpha_sr, &o.alpha_ri, &o.alpha_rs, &o.alpha_rd};
    static const char *const want[4][3] = {
        {"The quick brown fox leaps over the idle dog, doesn't it?",
         "The speedy brown fox jumps over the lazy hound, doesn't it?",
         "The quick brown fox jumps over the idle hound, doesn't it?"},
        {"The speedy quick brown fox jumps over the fast lazy dog, doesn't it?",
         "The quick brown fox jumps leaps over the jumps lazy dog, doesn't it?",
         "The quick brown fox jumps over jumps the leaps lazy dog, doesn't it?"},
        {"quick The lazy fox jumps over the brown dog, doesn't it?",
         "The quick brown fox lazy jumps the over dog, doesn't it?",
         "jumps quick brown fox The over lazy the dog, doesn't it?"},
        {"over dog, it?",
         "The quick brown fox jumps over, doesn't it?",
         "quick brown fox jumps over lazy,?"},
    };
    static const char *const names[4] = {"sr", "ri", "rs", "rd"};
    for (int op = 0; op < 4; op++) {
        dm_augment_options_default(&o);
        o.synonyms_path = synonyms, o.wordnet_dir = "", o.n = 3;
        for (int a = 0; a < 4; a++) *alpha[a] = a == op ? (op == 3 ? 0.3 : 0.2) : 0;
        size_t n = copies_of(fox, &o, out, 64, &keep);
        expect_copies(names[op], out, n, want[op], 3);
        dm_dataset_free(keep);
    }
}


/* Whether SET (N strings) holds S. */
static int has(const char *const *set, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i], s) == 0) return 1;
    return 0;
}

/* Every synonym replacement of a one-word TEXT over 120 copies. */
static size_t replacements(const char *text, const char *wordnet_dir, const char *syn_path, const char **out,
                           size_t cap, dm_dataset **keep)
{
    dm_augment_options o;
    dm_augment_options_default(&o);
    o.alpha_ri = o.alpha_rs = o.alpha_rd = 0;
    o.n = 120;
    o.wordnet_dir = wordnet_dir, o.synonyms_path = syn_path;
    return copies_of(text, &o, out, cap, keep);
}

static void test_wordnet(void)
{
    if (!have_wordnet) return;
    const char *out[128];
    dm_dataset *keep;
    size_t n = replacements("quick", NULL, NULL, out, 128, &keep);
    CHECK(n == 120 && has(out, n, "speedy") && has(out, n, "fast") && has(out, n, "nimble"));
    CHECK(!has(out, n, "quick"));
    dm_dataset_free(keep);
    n = replacements("good", NULL, NULL, out, 128, &keep);
    CHECK(has(out, n, "well") && has(out, n, "respectable") && has(out, n, "beneficial") && !has(out, n, "good"));
    dm_dataset_free(keep);
    /* morphology: "movies" finds movie's synsets; "movie" itself is no synonym */
    n = replacements("movies", NULL, NULL, out, 128, &keep);
    CHECK(has(out, n, "film") && has(out, n, "picture show") && !has(out, n, "movie"));
    dm_dataset_free(keep);
    /* the exception lists: "geese" -> goose's synsets */
    n = replacements("geese", NULL, NULL, out, 128, &keep);
    CHECK(n > 0 && !has(out, n, "goose") && !has(out, n, "geese"));
    CHECK(has(out, n, "jackass") || has(out, n, "fathead") || has(out, n, "goof"));
    dm_dataset_free(keep);
    /* case carried over */
    n = replacements("Quick", NULL, NULL, out, 128, &keep);
    CHECK(has(out, n, "Speedy") && !has(out, n, "speedy"));
    dm_dataset_free(keep);
    n = replacements("QUICK", NULL, NULL, out, 128, &keep);
    CHECK(has(out, n, "SPEEDY") && !has(out, n, "Speedy"));
    dm_dataset_free(keep);
    /* stop words and words WordNet lacks are left alone */
    n = replacements("the", NULL, NULL, out, 128, &keep);
    CHECK(n == 0);
    dm_dataset_free(keep);
    n = replacements("qwzxv", NULL, NULL, out, 128, &keep);
    CHECK(n == 0);
    dm_dataset_free(keep);
    /* the synonyms file comes first: "quick" only gets "fast" and "speedy" */
    n = replacements("quick", NULL, synonyms, out, 128, &keep);
    int only_file = n == 120;
    for (size_t i = 0; i < n; i++) only_file &= !strcmp(out[i], "fast") || !strcmp(out[i], "speedy");
    CHECK(only_file && has(out, n, "fast") && has(out, n, "speedy"));
    dm_dataset_free(keep);
}

/* A tiny hand-made WordNet folder: the parser, and its errors. */
static void test_fake_wordnet(void)
{
    const char *head = "  1 This software and database is being provided to you, the LICENSEE, by\n";
    char noun[1024];
    snprintf(noun, sizeof noun,
             "%s00001740 03 n 02 gizmo 0 gadget 0 000 | a device\n"
             "00001741 03 n 01 Widget_Thing 0 000 | one word only\n",
             head);
    snprintf(wn_dir, sizeof wn_dir, "%s", tmp_path("wn"));
    mkdir(wn_dir, 0755);
    write_tmp("wn/data.noun", noun, strlen(noun));
    write_tmp("wn/data.verb", head, strlen(head));
    const char *adj = "00002000 00 s 02 shiny(a) 0 glossy(ip) 0 000 | bright\n";
    write_tmp("wn/data.adj", adj, strlen(adj));
    write_tmp("wn/data.adv", "", 0);
    const char *out[128];
    dm_dataset *keep;
    size_t n = replacements("Gizmo", wn_dir, NULL, out, 128, &keep);
    CHECK(n == 120 && has(out, n, "Gadget") && !has(out, n, "gadget"));
    dm_dataset_free(keep);
    n = replacements("gizmos", wn_dir, NULL, out, 128, &keep); /* noun rule s -> "" */
    CHECK(n == 120 && has(out, n, "gadget"));
    dm_dataset_free(keep);
    n = replacements("shiny", wn_dir, NULL, out, 128, &keep); /* adjective markers stripped */
    CHECK(n == 120 && has(out, n, "glossy"));
    dm_dataset_free(keep);

    dm_augment_options o;
    dm_augment_options_default(&o);
    dm_dataset *ds = make(1, &fox), *aug;
    o.wordnet_dir = tmp_path("nowhere");
    CHECK_FAILS(dm_dataset_augment(ds, &o, &aug, NULL), DM_ERR_IO, "nowhere\" is not a folder");
    CHECK_FAILS(dm_dataset_augment(ds, &o, &aug, NULL), DM_ERR_IO, "Debian's wordnet-base");
    /* only sr and ri look words up: rs and rd need no WordNet */
    o.alpha_sr = o.alpha_ri = 0;
    CHECK(dm_dataset_augment(ds, &o, &aug, NULL) == DM_OK);
    dm_dataset_free(aug);
    dm_augment_options_default(&o);
    o.wordnet_dir = wn_dir;
    unlink(tmp_path("wn/data.verb"));
    CHECK_FAILS(dm_dataset_augment(ds, &o, &aug, NULL), DM_ERR_IO, "wn/data.verb: no such file");
    CHECK_FAILS(dm_dataset_augment(ds, &o, &aug, NULL), DM_ERR_IO, "wordnet-base");
    write_tmp("wn/data.verb", head, strlen(head));
    const char *bad[] = {"00001740 03 x 01 thing 0 000 |\n", "00001740 03 n zz thing 0 000 |\n",
                         "00001740 03 n 02 thing 0\n", "00001740 03 n 01 thing\n", "garbage\n"};
    const char *needles[] = {"line 2: expected a synset type", "line 2: expected a word count",
                             "line 2: expected a word", "line 2: expected a lex_id", "line 2: expected a synset offset"};
    for (size_t i = 0; i < N_OF(bad); i++) {
        snprintf(noun, sizeof noun, "%s%s", head, bad[i]);
        write_tmp("wn/data.noun", noun, strlen(noun));
        CHECK_FAILS(dm_dataset_augment(ds, &o, &aug, NULL), DM_ERR_PARSE, needles[i]);
        CHECK_FAILS(dm_dataset_augment(ds, &o, &aug, NULL), DM_ERR_PARSE, "wn/data.noun");
    }
    /* Han text never reads WordNet */
    const char *zh = "这家酒店很好";
    dm_dataset *dz = make(1, &zh);
    o.wordnet_dir = tmp_path("nowhere");
    CHECK(dm_dataset_augment(dz, &o, &aug, NULL) == DM_OK);
    dm_dataset_free(aug);
    dm_dataset_free(dz);
    dm_dataset_free(ds);
}

static void test_synonyms_file_errors(void)
{
    dm_augment_options o;
    dm_augment_options_default(&o);
    o.wordnet_dir = "";
    dm_dataset *ds = make(1, &fox), *aug;
    o.synonyms_path = tmp_path("missing.txt");
    CHECK_FAILS(dm_dataset_augment(ds, &o, &aug, NULL), DM_ERR_IO, "missing.txt");
    const char bad[] = "good fine\nbad \xff\xfe poor\n";
    o.synonyms_path = write_tmp("bad.txt", bad, sizeof bad - 1);
    CHECK_FAILS(dm_dataset_augment(ds, &o, &aug, NULL), DM_ERR_UTF8, "bad.txt: line 2: invalid UTF-8 at byte 5");
    /* BOM, CRLF, comments, tabs, '_' for a space */
    const char good[] = "\xEF\xBB\xBF# comment\r\n  # indented comment\r\nquick\tnew_york  fast\r\n\r\nlonely\n";
    o.synonyms_path = write_tmp("good.txt", good, sizeof good - 1);
    const char *out[128];
    dm_dataset *keep;
    size_t n = replacements("quick", "", o.synonyms_path, out, 128, &keep);
    CHECK(n == 120 && has(out, n, "new york") && has(out, n, "fast") && !has(out, n, "quick"));
    dm_dataset_free(keep);
    n = replacements("lonely", "", o.synonyms_path, out, 128, &keep);
    CHECK(n == 0);
    dm_dataset_free(keep);
    dm_dataset_free(ds);
}

/* Characters EDA must leave where they are: everything but letters, digits,
 * apostrophes and spaces, in order. */
static void punctuation(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') && *s != ' ' &&
            *s != '\'')
            out[n++] = *s;
    out[n] = '\0';
}

static void test_punctuation_and_case(void)
{
    const char *text = "Well, \"Bob\" (the builder) said: it's great -- really great; isn't it? Yes!";
    dm_augment_options o;
    dm_augment_options_default(&o);
    o.n = 40, o.synonyms_path = synonyms, o.wordnet_dir = ""; /* WordNet has "bang-up" */
    o.alpha_sr = o.alpha_ri = o.alpha_rs = o.alpha_rd = 0.3;
    const char *out[64];
    dm_dataset *keep;
    size_t n = copies_of(text, &o, out, 64, &keep);
    char want[64], got[64];
    punctuation(text, want, sizeof want);
    int all_kept = n >= 25;
    for (size_t i = 0; i < n; i++) {
        punctuation(out[i], got, sizeof got);
        if (strcmp(got, want) || strstr(out[i], "  ") || out[i][0] == ' ') printf("punctuation or space moved: [%s]\n", out[i]);
        all_kept &= strcmp(got, want) == 0 && strstr(out[i], "  ") == NULL && out[i][0] != ' ';
    }
    CHECK(all_kept);
    dm_dataset_free(keep);
    /* white space is kept as it was: leading, trailing, tabs */
    const char *spaced = "  lazy\tdog  ";
    o.alpha_ri = o.alpha_rs = o.alpha_rd = 0, o.alpha_sr = 1, o.n = 1, o.wordnet_dir = "";
    n = copies_of(spaced, &o, out, 64, &keep);
    CHECK(n == 1 && (!strcmp(out[0], "  idle\thound  ")));
    dm_dataset_free(keep);
}

static void test_han(void)
{
    const char *text = "这家酒店的服务员很好，服务也好。";
    dm_augment_options o;
    const char *out[64];
    dm_dataset *keep;
    double *alpha[4] = {&o.alpha_sr, &o.alpha_ri, &o.alpha_rs, &o.alpha_rd};
    static const char *const want[4][3] = {
        {"这家酒店的侍者很很棒，服务也很棒。",
         "这家宾馆的服务员很很棒，服务也很棒。",
         "这家酒店的服务员很很棒，服侍也很棒。"},
        {"这宾馆家酒店的服务员很侍者好，服务也好。",
         "这家酒店的服务侍者很棒员很好，服务也好。",
         "这家酒店的服宾馆务服侍员很好，服务也好。"},
        {"家这酒好的服务员很店，服务也好。",
         "这家酒店的好务服很员，服务也好。",
         "务家酒店的服这员服好，很务也好。"},
        {"家的服员很好，服务也好。",
         "这家酒店的服员好，服务也好。",
         "家酒店的服务员很，服务也好。"},
    };
    static const char *const names[4] = {"han sr", "han ri", "han rs", "han rd"};
    for (int op = 0; op < 4; op++) {
        dm_augment_options_default(&o);
        o.synonyms_path = synonyms, o.n = 3;
        for (int a = 0; a < 4; a++) *alpha[a] = a == op ? 0.2 : 0;
        size_t n = copies_of(text, &o, out, 64, &keep);
        expect_copies(names[op], out, n, want[op], 3);
        dm_dataset_free(keep);
    }
    /* 好 <-> 不错 both ways; 服务员 matched before 服务 */
    dm_augment_options_default(&o);
    o.synonyms_path = synonyms, o.alpha_ri = o.alpha_rs = o.alpha_rd = 0, o.n = 30;
    size_t n = copies_of("很好", &o, out, 64, &keep);
    CHECK(n == 30 && has(out, n, "很不错") && has(out, n, "很很棒"));
    dm_dataset_free(keep);
    n = copies_of("不错", &o, out, 64, &keep);
    CHECK(n == 30 && has(out, n, "好") && has(out, n, "很棒"));
    dm_dataset_free(keep);
    n = copies_of("服务员", &o, out, 64, &keep);
    CHECK(n == 30 && has(out, n, "侍者") && !has(out, n, "服侍员"));
    dm_dataset_free(keep);
    /* no synonyms file: sr leaves Han text alone, ri repeats a character */
    o.synonyms_path = NULL;
    n = copies_of("服务员", &o, out, 64, &keep);
    CHECK(n == 0);
    dm_dataset_free(keep);
    o.alpha_sr = 0, o.alpha_ri = 0.1, o.n = 4;
    n = copies_of("服务员", &o, out, 64, &keep);
    CHECK(n == 4);
    for (size_t i = 0; i < n; i++)
        CHECK(!strcmp(out[i], "服服务员") || !strcmp(out[i], "服务务员") || !strcmp(out[i], "服务员员"));
    dm_dataset_free(keep);
}

static void test_chars(void)
{
    const char *texts[] = {"Café au lait, naïve résumé? 東京は大きい 😀 ok", "这家酒店的服务员很好，服务也好。", "A"};
    dm_dataset *ds = make(3, texts), *aug;
    dm_augment_options o;
    dm_augment_options_default(&o);
    o.ops = DM_AUGMENT_CHARS, o.n = 50, o.char_rate = 0.2;
    char *rep;
    CHECK(dm_dataset_augment(ds, &o, &aug, &rep) == DM_OK);
    int ok = 1;
    for (size_t i = 0; i < dm_dataset_size(aug); i++) {
        const char *t = text_of(aug, i);
        ok &= valid_utf8(t) && strlen(t) > 0;
        const char *src = source_of(aug, i);
        size_t row = src[0] ? (size_t)atoi(src) - 1 : 99;
        if (src[0]) ok &= dm_dataset_label(aug, i) == dm_dataset_label(ds, row) && strcmp(t, texts[row]) != 0;
        if (src[0] && row == 1) ok &= strlen(t) <= strlen(texts[1]); /* Han: swaps and deletions only */
        if (src[0] && row == 2) ok &= strlen(t) == 1 && strchr("qwszQWSZ", t[0]) != NULL; /* typos only */
    }
    CHECK(ok);
    json_t *j = json_loads(rep, 0, NULL);
    CHECK(j && json_integer_value(json_object_get(json_object_get(j, "ops"), "chars")) + 3 ==
                   (json_int_t)dm_dataset_size(aug));
    CHECK(j && json_integer_value(json_object_get(json_object_get(j, "ops"), "sr")) == 0);
    json_decref(j);
    dm_free(rep);
    dm_dataset_free(aug);
    /* both: copies alternate EDA, CHARS */
    o.ops = DM_AUGMENT_EDA | DM_AUGMENT_CHARS, o.n = 8, o.wordnet_dir = "", o.synonyms_path = synonyms;
    const char *out[64];
    dm_dataset *keep;
    size_t n = copies_of(fox, &o, out, 64, &keep);
    CHECK(n >= 6);
    dm_dataset_free(keep);
    CHECK(dm_dataset_augment(ds, &o, &aug, &rep) == DM_OK);
    j = json_loads(rep, 0, NULL);
    json_t *ops = json_object_get(j, "ops");
    CHECK(json_integer_value(json_object_get(ops, "chars")) == 12); /* 4 per row, never unchanged */
    CHECK(json_integer_value(json_object_get(ops, "sr")) + json_integer_value(json_object_get(ops, "ri")) +
              json_integer_value(json_object_get(ops, "rs")) + json_integer_value(json_object_get(ops, "rd")) +
              json_integer_value(json_object_get(j, "unchanged")) ==
          12);
    json_decref(j);
    dm_free(rep);
    dm_dataset_free(aug);
    dm_dataset_free(ds);
}

static void test_ids_and_report(void)
{
    const char *texts[] = {"the lazy dog sleeps", "?!", "the quick fox"};
    dm_dataset *ds = make(3, texts), *aug;
    dm_augment_options o;
    dm_augment_options_default(&o);
    o.synonyms_path = synonyms, o.wordnet_dir = "", o.alpha_rs = o.alpha_ri = o.alpha_rd = 0, o.n = 2;
    char *rep;
    CHECK(dm_dataset_augment(ds, &o, &aug, &rep) == DM_OK);
    /* row 1 (2 copies), row 2 (no words: both copies unchanged), row 3 (2 copies) */
    CHECK(dm_dataset_size(aug) == 7);
    static const char *const ids[] = {"1", "1#aug1", "1#aug2", "2", "3", "3#aug1", "3#aug2"};
    static const char *const srcs[] = {"", "1", "1", "", "", "3", "3"};
    for (size_t i = 0; i < 7 && i < dm_dataset_size(aug); i++) {
        CHECK(strcmp(dm_dataset_id(aug, i), ids[i]) == 0);
        CHECK(strcmp(source_of(aug, i), srcs[i]) == 0);
    }
    CHECK(strcmp(dmi_dataset_column_name(aug, dmi_dataset_num_columns(aug) - 1), "source_id") == 0);
    CHECK(strcmp(dm_dataset_label_name(aug, dm_dataset_label(aug, 2)), "pos") == 0);
    CHECK(strcmp(dm_dataset_label_name(aug, dm_dataset_label(aug, 3)), "neg") == 0);
    CHECK(strcmp(text_of(aug, 0), texts[0]) == 0 && strcmp(text_of(aug, 3), texts[1]) == 0);
    CHECK(strcmp(rep, "{\"rows_in\":3,\"rows_out\":7,\"ops\":{\"sr\":4,\"ri\":0,\"rs\":0,\"rd\":0,\"chars\":0},"
                      "\"unchanged\":2}") == 0);
    dm_free(rep);
    dm_dataset_free(aug);
    /* keep_original 0: copies only */
    o.keep_original = 0;
    CHECK(dm_dataset_augment(ds, &o, &aug, NULL) == DM_OK);
    CHECK(dm_dataset_size(aug) == 4 && strcmp(dm_dataset_id(aug, 0), "1#aug1") == 0);
    dm_dataset_free(aug);
    dm_dataset_free(ds);
    /* an id column travels: copies get "<id>#aug<k>" */
    const char csv[] = "id,text,label\nrev-7,the lazy dog,1\n";
    CHECK(dmi_dataset_load_memory(csv, sizeof csv - 1, DM_FORMAT_CSV, NULL, "t.csv", &ds) == DM_OK);
    o.keep_original = 1;
    CHECK(dm_dataset_augment(ds, &o, &aug, NULL) == DM_OK);
    CHECK(dm_dataset_size(aug) == 3 && strcmp(dm_dataset_id(aug, 1), "rev-7#aug1") == 0);
    CHECK(strcmp(source_of(aug, 2), "rev-7") == 0);
    dm_dataset_free(aug);
    dm_dataset_free(ds);
    /* texts without a character to change: every copy unchanged */
    const char *blank[] = {"", "   ", "\t \n", "...", "42 !"};
    ds = make(5, blank);
    o.ops = DM_AUGMENT_EDA | DM_AUGMENT_CHARS, o.n = 4, o.alpha_sr = o.alpha_ri = o.alpha_rs = o.alpha_rd = 0.5;
    o.synonyms_path = "";
    CHECK(dm_dataset_augment(ds, &o, &aug, &rep) == DM_OK);
    CHECK(dm_dataset_size(aug) == 5 && strstr(rep, "\"unchanged\":20}") != NULL);
    dm_free(rep);
    dm_dataset_free(aug);
    dm_dataset_free(ds);
    /* an empty dataset */
    CHECK(dm_dataset_from_texts(0, NULL, NULL, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_augment(ds, NULL, &aug, &rep) == DM_OK && dm_dataset_size(aug) == 0);
    CHECK(strstr(rep, "\"rows_in\":0,\"rows_out\":0") != NULL);
    dm_free(rep);
    dm_dataset_free(aug);
    dm_dataset_free(ds);
}

static char *serialize(const dm_dataset *ds)
{
    char *s = NULL;
    size_t len;
    CHECK(dmi_dataset_serialize(ds, DM_FORMAT_JSONL, "t", &s, &len) == DM_OK);
    return s;
}

static int calls;
static int count_calls(uint64_t done, uint64_t total, void *user)
{
    (void)user;
    calls++;
    return done > total;
}
static int cancel_now(uint64_t done, uint64_t total, void *user)
{
    (void)done, (void)total, (void)user;
    return 1;
}

static void test_determinism_and_cancel(void)
{
    const char *texts[40];
    for (int i = 0; i < 40; i++)
        texts[i] = i % 3 == 0 ? "The quick brown fox jumps over the lazy dog again and again."
                   : i % 3 == 1 ? "这家酒店的服务员很好，服务也好。"
                                : "A good movie, a really GOOD movie: quick and clever.";
    dm_dataset *ds = make(40, texts), *a1, *a2, *a3;
    dm_augment_options o;
    dm_augment_options_default(&o);
    o.ops = 3, o.n = 6, o.synonyms_path = synonyms;
    if (!have_wordnet) o.wordnet_dir = "";
    omp_set_num_threads(1);
    CHECK(dm_dataset_augment(ds, &o, &a1, NULL) == DM_OK);
    omp_set_num_threads(4);
    CHECK(dm_dataset_augment(ds, &o, &a2, NULL) == DM_OK);
    o.seed = 43;
    CHECK(dm_dataset_augment(ds, &o, &a3, NULL) == DM_OK);
    char *s1 = serialize(a1), *s2 = serialize(a2), *s3 = serialize(a3);
    CHECK(s1 && s2 && strcmp(s1, s2) == 0);
    CHECK(s1 && s3 && strcmp(s1, s3) != 0);
    free(s1), free(s2), free(s3);
    dm_dataset_free(a1), dm_dataset_free(a2), dm_dataset_free(a3);
    /* copy K does not depend on n */
    o.seed = 42, o.n = 3;
    CHECK(dm_dataset_augment(ds, &o, &a1, NULL) == DM_OK);
    o.n = 5;
    CHECK(dm_dataset_augment(ds, &o, &a2, NULL) == DM_OK);
    CHECK(strcmp(dm_dataset_id(a1, 1), dm_dataset_id(a2, 1)) == 0 && strcmp(text_of(a1, 1), text_of(a2, 1)) == 0);
    dm_dataset_free(a1), dm_dataset_free(a2);
    /* progress and cancel */
    o.progress = count_calls;
    calls = 0;
    CHECK(dm_dataset_augment(ds, &o, &a1, NULL) == DM_OK && calls >= 1);
    dm_dataset_free(a1);
    o.progress = cancel_now;
    a1 = (dm_dataset *)1;
    CHECK_FAILS(dm_dataset_augment(ds, &o, &a1, NULL), DM_ERR_CANCELLED, "cancelled by the progress callback");
    CHECK(a1 == NULL);
    dm_dataset_free(ds);
}

/* ---------------------------------------------------------------- real data */

static void run_real(const char *path, const dm_dataset_options *lo, const char *syn)
{
    dm_dataset *full, *ds, *aug;
    if (dm_dataset_load(path, lo, &full) != DM_OK) {
        printf("note: %s not loaded (%s): skipped\n", path, dm_last_error());
        return;
    }
    size_t n = dm_dataset_size(full) < 2000 ? dm_dataset_size(full) : 2000;
    size_t *rows = malloc(n * sizeof *rows);
    for (size_t i = 0; i < n; i++) rows[i] = i;
    CHECK(dm_dataset_select(full, rows, n, &ds) == DM_OK);
    free(rows);
    dm_augment_options o;
    dm_augment_options_default(&o);
    o.synonyms_path = syn;
    if (!have_wordnet) o.wordnet_dir = "";
    char *rep = NULL;
    dm_status st = dm_dataset_augment(ds, &o, &aug, &rep);
    CHECK(st == DM_OK);
    if (!st) {
        printf("%s (first %zu rows): %s\n", path, n, rep);
        int ok = 1;
        size_t shown = 0;
        const char *source_text = "";
        for (size_t i = 0; i < dm_dataset_size(aug); i++) {
            ok &= valid_utf8(text_of(aug, i));
            const char *src = source_of(aug, i);
            if (!src[0]) source_text = text_of(aug, i);
            else if (shown < 3 && i > 40 * shown && strlen(source_text) < 300) {
                printf("  %s: %s\n  %s: %s\n", src, source_text, dm_dataset_id(aug, i), text_of(aug, i));
                shown++;
            }
        }
        CHECK(ok && dm_dataset_size(aug) > n);
        dm_free(rep);
        dm_dataset_free(aug);
    }
    dm_dataset_free(ds);
    dm_dataset_free(full);
}

static void test_real_data(const char *root)
{
    char data[600], path[700];
    const char *env = getenv("DATA");
    snprintf(data, sizeof data, "%s", env ? env : "");
    if (!env) snprintf(data, sizeof data, "%s/../shared/data", root ? root : ".");
    dm_dataset_options lo;
    dm_dataset_options_default(&lo);
    snprintf(path, sizeof path, "%s/sst2/train.tsv", data);
    run_real(path, &lo, NULL);
    snprintf(path, sizeof path, "%s/chnsenticorp_htl/ChnSentiCorp_htl_all.csv", data);
    run_real(path, &lo, synonyms);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 1;
    const char *root = getenv("SRCROOT");
    snprintf(synonyms, sizeof synonyms, "%s/test/data/fixtures/augment_synonyms.txt", root ? root : ".");
    struct stat st;
    have_wordnet = stat("/usr/share/wordnet/data.noun", &st) == 0;
    if (!have_wordnet) printf("note: /usr/share/wordnet missing (Debian wordnet-base): WordNet checks skipped\n");
    test_options();
    test_bad_args();
    test_eda_ops();
    test_wordnet();
    test_fake_wordnet();
    test_synonyms_file_errors();
    test_punctuation_and_case();
    test_han();
    test_chars();
    test_ids_and_report();
    test_determinism_and_cancel();
    test_real_data(root);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) return 1;
    return check_summary();
}
