/*
 * test_safety.c — nothing silently wrong, nothing half-written, for models
 * and training (issue "trust first", items 1, 3, 4 and 6):
 *  - model folders are written whole: other files in them survive a save, a
 *    writer killed at any moment or two writers at once leave one complete
 *    model, and what a dead writer left behind is tidied by the next;
 *  - labels cannot silently flip: a config.json that does not belong to the
 *    weights is refused, labels asked in another order reorder the head,
 *    other names over a trained head are refused;
 *  - NaN/Inf weights are refused at load, non-finite logits at prediction,
 *    and no checkpoint or model is written with non-finite tensors;
 *  - training fails before the work when the output cannot be written;
 *    resuming refuses other data of the same size; the log never repeats
 *    steps; an incomplete checkpoint is called one.
 */
#include "datamodel.h"
#include "../unit/check.h"
#include "core/rng.h"
#include "core/staging.h"
#include "model/model_internal.h"
#include "model/safetensors.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp_dir[] = "/tmp/dm_test_safety_XXXXXX";
static char tiny[2048];
static const char *const names3[3] = {"negative", "neutral", "positive"};
static const char *const texts[4] = {"the boat was boring", "we enjoyed the garden", "salty bread on the roof",
                                     "my sister is wonderful"};
static const size_t lens[4] = {19, 21, 23, 22};

static const char *tmp_path(const char *name)
{
    static char paths[8][4096];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4096, "%s/%s", tmp_dir, name);
    return p;
}

static dm_model *load(const char *dir, const dm_model_options *extra)
{
    dm_model_options o;
    dm_model_options_default(&o);
    if (extra) o = *extra;
    o.device = DM_DEVICE_CPU;
    o.threads = 1;
    dm_model *m = NULL;
    if (dm_model_load(dir, &o, &m)) fprintf(stderr, "load %s: %s\n", dir, dm_last_error());
    return m;
}

static dm_model *load_labels(const char *dir, const char *const *labels, int new_head)
{
    dm_model_options o;
    dm_model_options_default(&o);
    o.labels = labels;
    o.n_labels = 3;
    o.new_head = new_head;
    return load(dir, &o);
}

/* The probability of each of the tiny model's label names for TEXTS, in the
 * order of NAMES3, whatever the model's own label order. */
static bool probs_by_name(dm_model *m, float out[4][3])
{
    float probs[4 * 3];
    if (dm_model_predict(m, 4, texts, lens, NULL, NULL, NULL, NULL, probs, NULL)) return false;
    for (int j = 0; j < 3; j++) {
        int k = -1;
        for (int l = 0; l < 3; l++)
            if (strcmp(dm_model_label_name(m, l), names3[j]) == 0) k = l;
        if (k < 0) return false;
        for (int i = 0; i < 4; i++) out[i][j] = probs[i * 3 + k];
    }
    return true;
}

static bool same_probs(float a[4][3], float b[4][3])
{
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            if (fabsf(a[i][j] - b[i][j]) > 1e-6f) return false;
    return true;
}

static long dead_pid(void)
{
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

/* Entries of DIR whose name contains NEEDLE. */
static int count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, needle)) n++;
    if (d) closedir(d);
    return n;
}

static bool exists(const char *dir, const char *name)
{
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

static void touch(const char *dir, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

static char *slurp(const char *dir, const char *name)
{
    char path[4200], *d = NULL;
    size_t n;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return dmi_read_file(path, &d, &n) ? NULL : d;
}

/* ------------------------------------------------------------------ folders written whole */

static void test_save_carries_other_files(void)
{
    dm_model *m = load(tiny, NULL);
    const char *out = tmp_path("carry");
    CHECK(dm_model_save(m, out) == DM_OK);
    /* What a trainer or a user keeps there, and stale model files. */
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/checkpoint-3", out);
    mkdir(sub, 0755);
    touch(sub, "trainer_state.json", "{}");
    touch(out, "README.md", "notes");
    touch(out, "pytorch_model.bin", "stale weights");
    touch(out, "added_tokens.json", "{}");
    CHECK(dm_model_save(m, out) == DM_OK);
    CHECK(exists(out, "README.md") && exists(out, "checkpoint-3/trainer_state.json"));
    CHECK(!exists(out, "pytorch_model.bin") && !exists(out, "added_tokens.json"));
    CHECK(exists(out, "config.json") && exists(out, "model.safetensors") && exists(out, "vocab.txt"));
    CHECK(count_entries(tmp_dir, ".dm-") == 0 && count_entries(out, ".dm-") == 0);
    dm_model *back = load(out, NULL);
    CHECK(back != NULL);
    dm_model_free(back);
    /* Saving into the working folder ("."): built inside it, renamed in place. */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(out) == 0);
    CHECK(dm_model_save(m, ".") == DM_OK);
    CHECK(chdir(cwd) == 0);
    CHECK(exists(out, "README.md") && count_entries(out, ".dm-") == 0);
    back = load(out, NULL);
    CHECK(back != NULL);
    dm_model_free(back);
    dm_model_free(m);
}

static void test_leftovers_are_tidied(void)
{
    dm_model *m = load(tiny, NULL);
    const char *parent = tmp_path("left"), *out = tmp_path("left/model");
    CHECK(dm_model_save(m, out) == DM_OK);
    long dead = dead_pid();
    char path[4200];
    /* A staged folder of a writer killed while writing it: removed. */
    snprintf(path, sizeof path, "%s/.model.dm-tmp-%ld-0", parent, dead);
    mkdir(path, 0755);
    touch(path, "model.safetensors", "half");
    /* A writer killed while carrying checkpoint-9 into its new folder: the
     * checkpoint goes back where it was. */
    snprintf(path, sizeof path, "%s/.model.dm-tmp-%ld-1", parent, dead);
    mkdir(path, 0755);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/checkpoint-9", path);
    mkdir(sub, 0755);
    touch(sub, "trainer_state.json", "{\"step\": 9}");
    snprintf(sub, sizeof sub, "%s/.model.dm-tmp-%ld-1.carry", parent, dead);
    FILE *f = fopen(sub, "wb"); /* not dmi_write_file_atomic: it would tidy the folder above first */
    if (f) fwrite("checkpoint-9\0", 1, 13, f), fclose(f);
    /* A folder moved aside by a two-rename swap cut in the middle. */
    char other[4200];
    snprintf(other, sizeof other, "%s/.other.dm-old-%ld-2", parent, dead);
    mkdir(other, 0755);
    touch(other, "config.json", "{}");
    /* A file of a killed atomic write; and one of a live writer (this
     * process), which must be left alone. */
    snprintf(path, sizeof path, ".config.json.dm-tmp-%ld-3", dead);
    touch(out, path, "{");
    snprintf(path, sizeof path, "vocab.txt.tmp.%ld", dead); /* what versions before 0.2 left */
    touch(out, path, "[PAD]");
    snprintf(path, sizeof path, "notes.tmp.%ld", dead); /* a user's file that only looks alike */
    touch(out, path, "mine");
    char live[256];
    snprintf(live, sizeof live, ".notes.dm-tmp-%ld-999999", (long)getpid());
    touch(parent, live, "busy");
    CHECK(dm_model_save(m, out) == DM_OK);
    CHECK(exists(out, "checkpoint-9/trainer_state.json"));
    CHECK(exists(parent, "other/config.json"));
    CHECK(exists(parent, live));
    CHECK(count_entries(parent, ".dm-") == 1 && count_entries(out, ".dm-") == 0);
    CHECK(count_entries(out, ".tmp.") == 1 && count_entries(out, "notes.tmp.") == 1);
    dm_model_free(m);
}

/* Saves A and B in turn to DIR until killed. */
static void save_forever(dm_model *a, dm_model *b, const char *dir)
{
    for (;;) {
        if (dm_model_save(a, dir) || dm_model_save(b, dir)) _exit(3);
    }
}

/* The same weights under two label orders; a writer killed at any moment
 * leaves a folder that loads and predicts each name as both do. Before
 * folders were written whole, a kill between config.json and the weights
 * left B's label order over A's head: every label swapped, no error. */
static void killed_writer(const char *src, const char *name, int rounds, int max_ms)
{
    static const char *const reversed[3] = {"positive", "neutral", "negative"};
    dm_model *a = load_labels(src, names3, 0), *b = load_labels(src, reversed, 0);
    float want[4][3], got[4][3];
    CHECK(a && b && probs_by_name(a, want) && probs_by_name(b, got) && same_probs(want, got));
    if (!a || !b) return;
    const char *dir = tmp_path(name);
    CHECK(dm_model_save(a, dir) == DM_OK);
    dmi_rng rng;
    dmi_rng_init(&rng, 5, 1);
    int kills = 0, loads = 0, right = 0;
    for (int round = 0; round < rounds; round++) {
        pid_t p = fork();
        if (p == 0) save_forever(a, b, dir);
        long ms = 1 + (long)dmi_rng_below(&rng, (uint64_t)max_ms);
        struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
        nanosleep(&ts, NULL);
        kill(p, SIGKILL);
        int status;
        waitpid(p, &status, 0);
        kills += WIFSIGNALED(status);
        dm_model *m = load(dir, NULL);
        loads += m != NULL;
        right += m && probs_by_name(m, got) && same_probs(want, got);
        dm_model_free(m);
    }
    printf("  killed writer (%s): %d kills, %d loads, %d with every label right\n", name, kills, loads, right);
    CHECK(kills == rounds && loads == rounds && right == rounds);
    CHECK(dm_model_save(a, dir) == DM_OK);
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".%s.dm-", name);
    CHECK(count_entries(tmp_dir, prefix) == 0 && count_entries(dir, ".dm-") == 0);
    dm_model_free(a), dm_model_free(b);
}

/* On the tiny model a save takes a few milliseconds; on MiniLM (90 MB of
 * weights) long enough that, before folders were written whole, about half
 * of such kills left a folder predicting every label swapped. */
static void test_killed_writer_never_mixes(void)
{
    killed_writer(tiny, "killed", 16, 40);
    const char *minilm = getenv("DM_MINILM_DIR");
    if (!minilm || !*minilm) {
        printf("SKIP killed writer on MiniLM: DM_MINILM_DIR is not set\n");
        return;
    }
    const char *base = tmp_path("minilm-3");
    dm_model_options o;
    dm_model_options_default(&o);
    o.labels = names3, o.n_labels = 3, o.threads = 1;
    dm_model *m = NULL;
    CHECK(dm_model_load(minilm, &o, &m) == DM_OK && dm_model_save(m, base) == DM_OK);
    dm_model_free(m);
    killed_writer(base, "killed-minilm", 6, 1500);
}

typedef struct writer_job {
    dm_model *m;
    const char *dir;
    int failures;
} writer_job;

static void *write_many(void *arg)
{
    writer_job *j = arg;
    for (int i = 0; i < 20; i++) j->failures += dm_model_save(j->m, j->dir) != DM_OK;
    return NULL;
}

/* Two writers at once (threads; separate processes behave the same): the
 * folder ends up one of the two, whole. */
static void test_two_writers(void)
{
    static const char *const reversed[3] = {"positive", "neutral", "negative"};
    dm_model *a = load(tiny, NULL), *b = load_labels(tiny, reversed, 0);
    const char *dir = tmp_path("two");
    writer_job ja = {a, dir, 0}, jb = {b, dir, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, write_many, &ja);
    pthread_create(&tb, NULL, write_many, &jb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("  two writers: %d and %d of 20 saves failed (a save may lose a race, never mix)\n", ja.failures,
           jb.failures);
    CHECK(ja.failures < 20 && jb.failures < 20);
    float want[4][3], got[4][3];
    dm_model *m = load(dir, NULL);
    CHECK(m && probs_by_name(a, want) && probs_by_name(m, got) && same_probs(want, got));
    CHECK(count_entries(tmp_dir, ".two.dm-") == 0 && count_entries(dir, ".dm-") == 0);
    dm_model_free(m), dm_model_free(a), dm_model_free(b);
}

/* ------------------------------------------------------------------ labels that cannot flip */

static void write_config_labels(const char *dir, const char *const *labels, size_t n)
{
    char *text = slurp(dir, "config.json");
    json_t *j = json_loads(text, 0, NULL), *id2label = json_object(), *label2id = json_object();
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "%zu", i);
        json_object_set_new(id2label, key, json_string(labels[i]));
        json_object_set_new(label2id, labels[i], json_integer((json_int_t)i));
    }
    json_object_set_new(j, "id2label", id2label);
    json_object_set_new(j, "label2id", label2id);
    char *out = json_dumps(j, JSON_INDENT(2));
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    dmi_write_file_atomic(path, out, strlen(out));
    free(out), free(text);
    json_decref(j);
}

static void test_labels_cannot_flip(void)
{
    dm_model *a = load(tiny, NULL), *m = NULL;
    float want[4][3], got[4][3];
    CHECK(probs_by_name(a, want));
    /* config.json reordered over weights saved with the other order. */
    const char *dir = tmp_path("flipped");
    CHECK(dm_model_save(a, dir) == DM_OK);
    static const char *const reversed[3] = {"positive", "neutral", "negative"};
    write_config_labels(dir, reversed, 3);
    CHECK_FAILS(dm_model_load(dir, NULL, &m), DM_ERR_PARSE, "the folder mixes two saves");
    /* config.json with another count of labels than the head has rows. */
    static const char *const two[2] = {"bad", "good"};
    write_config_labels(dir, two, 2);
    CHECK_FAILS(dm_model_load(dir, NULL, &m), DM_ERR_PARSE, "classifier has 3 rows");
    /* ... which asking for a new head of 2 labels resolves. */
    dm_model_options o;
    dm_model_options_default(&o);
    o.num_labels = 2;
    CHECK(dm_model_load(dir, &o, &m) == DM_OK);
    dm_model_free(m);
    /* Labels asked in another order: each name keeps its weights. */
    static const char *const shuffled[3] = {"positive", "negative", "neutral"};
    m = load_labels(tiny, shuffled, 0);
    CHECK(m && strcmp(dm_model_label_name(m, 0), "positive") == 0 && probs_by_name(m, got) && same_probs(want, got));
    const char *again = tmp_path("shuffled");
    CHECK(dm_model_save(m, again) == DM_OK);
    dm_model_free(m);
    m = load(again, NULL);
    CHECK(m && probs_by_name(m, got) && same_probs(want, got));
    dm_model_free(m);
    /* Other names over a trained head: refused, unless a new head is asked. */
    static const char *const other[3] = {"bad", "ok", "good"};
    o.num_labels = 0, o.labels = other, o.n_labels = 3;
    CHECK_FAILS(dm_model_load(tiny, &o, &m), DM_ERR_INVALID_ARGUMENT, "trained for the labels (negative, neutral");
    m = load_labels(tiny, other, 1);
    dm_model_info info = {.struct_size = sizeof info};
    CHECK(m && dm_model_get_info(m, &info) == DM_OK && info.new_head == 1);
    dm_model_free(m);
    /* A head named as transformers names unnamed ones may be named. */
    const char *unnamed = tmp_path("unnamed");
    CHECK(dm_model_save(a, unnamed) == DM_OK);
    static const char *const placeholders[3] = {"LABEL_0", "LABEL_1", "LABEL_2"};
    write_config_labels(unnamed, placeholders, 3);
    m = load_labels(unnamed, other, 0);
    dm_model_info info2 = {.struct_size = sizeof info2};
    CHECK(m && dm_model_get_info(m, &info2) == DM_OK && info2.new_head == 0);
    dm_model_free(m);
    dm_model_free(a);
}

/* ------------------------------------------------------------------ non-finite numbers */

/* The tiny model's tensors into DIR/model.safetensors, with tensor NAME's
 * values all set to VALUE (or only its element 3 when ONE). */
static void write_poisoned(const char *dir, const char *name, float value, bool one)
{
    dm_model *m = load(tiny, NULL);
    float *p = malloc(m->n_params * sizeof *p);
    dmi_model_get_params(m, p);
    dmi_st_out *outs = calloc(m->n_tensors, sizeof *outs);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const dmi_bert_tensor *t = &m->tensors[i];
        if (strcmp(t->name, name) == 0) {
            if (one) p[t->offset + 3] = value;
            else for (size_t k = 0; k < t->numel; k++) p[t->offset + k] = value;
        }
        outs[i] = (dmi_st_out){.name = t->name, .dtype = DMI_F32, .ndim = t->ndim, .data = p + t->offset};
        outs[i].shape[0] = (int64_t)t->shape[0];
        outs[i].shape[1] = (int64_t)t->shape[1];
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(dmi_st_write(path, outs, m->n_tensors, NULL, 0) == DM_OK);
    free(outs), free(p);
    dm_model_free(m);
}

static dm_dataset *small_task(size_t n, uint64_t seed)
{
    static const char *const cue[3] = {"boring", "market", "wonderful"};
    char **t = calloc(n, sizeof *t);
    size_t *l = calloc(n, sizeof *l);
    const char **y = calloc(n, sizeof *y);
    dmi_rng rng;
    dmi_rng_init(&rng, seed, 3);
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "the %s boat %s", cue[i % 3], dmi_rng_below(&rng, 2) ? "on the roof" : "of rain");
        t[i] = strdup(buf), l[i] = strlen(buf), y[i] = names3[i % 3];
    }
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.labels = names3, o.n_labels = 3;
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(n, (const char *const *)t, l, NULL, NULL, y, &o, &ds) == DM_OK);
    for (size_t i = 0; i < n; i++) free(t[i]);
    free(t), free(l), free(y);
    return ds;
}

static dm_train_options quick(void)
{
    dm_train_options o;
    dm_train_options_default(&o);
    o.epochs = 3, o.batch_size = 8, o.learning_rate = 1e-2, o.max_length = 16, o.threads = 1;
    return o;
}

static void test_non_finite(void)
{
    dm_model *m = NULL;
    /* A NaN among the weights: refused at load, naming the tensor. */
    const char *dir = tmp_path("nan-weights");
    dm_model *a = load(tiny, NULL);
    CHECK(dm_model_save(a, dir) == DM_OK);
    write_poisoned(dir, "bert.encoder.layer.1.output.dense.bias", NAN, true);
    CHECK_FAILS(dm_model_load(dir, NULL, &m), DM_ERR_NUMERIC,
                "tensor 'bert.encoder.layer.1.output.dense.bias' has 1 non-finite value of 48 (the first, at index 3, is NaN)");
    write_poisoned(dir, "classifier.weight", INFINITY, false);
    CHECK_FAILS(dm_model_load(dir, NULL, &m), DM_ERR_NUMERIC, "'classifier.weight' has 144 non-finite values");
    /* Finite weights whose products overflow: no prediction from NaN logits. */
    write_poisoned(dir, "classifier.weight", 3e38f, false);
    m = load(dir, NULL);
    int32_t labels[4];
    float logits[12];
    CHECK_FAILS(dm_model_predict(m, 4, texts, lens, NULL, NULL, NULL, NULL, NULL, labels), DM_ERR_NUMERIC,
                ": prediction: the logits are not finite");
    int32_t ids[4] = {2, 10, 11, 3};
    CHECK_FAILS(dm_model_forward(m, 1, 4, ids, NULL, NULL, logits, NULL, NULL), DM_ERR_NUMERIC, "not finite");
    dm_model_free(m);
    /* Non-finite weights in memory are never saved. */
    float *p = malloc(a->n_params * sizeof *p);
    dmi_model_get_params(a, p);
    p[a->tensors[5].offset] = NAN;
    dmi_model_set_params(a, p);
    const char *never = tmp_path("never-written");
    CHECK_FAILS(dm_model_save(a, never), DM_ERR_NUMERIC, a->tensors[5].name);
    CHECK(!exists(tmp_dir, "never-written") && count_entries(tmp_dir, ".never-written") == 0);
    free(p);
    dm_model_free(a);
    /* A learning rate of 1e300: the first update makes the weights infinite;
     * training stops there and no checkpoint holds them. */
    a = load(tiny, NULL);
    dm_dataset *train = small_task(24, 1);
    dm_train_options o = quick();
    o.learning_rate = 1e300;
    o.max_grad_norm = 0.0;
    o.output_dir = tmp_path("lr1e300");
    o.checkpoint_steps = 1;
    CHECK_FAILS(dm_train(a, train, NULL, &o, NULL), DM_ERR_NUMERIC, "step 1: the update made the weights non-finite");
    CHECK(!exists(o.output_dir, "checkpoint-1") && !exists(o.output_dir, "model.safetensors"));
    /* The model is left as the failed step made it: it refuses to predict. */
    CHECK_FAILS(dm_model_predict(a, 4, texts, lens, NULL, NULL, NULL, NULL, NULL, labels), DM_ERR_NUMERIC, "logits");
    dm_model_free(a);
    dm_dataset_free(train);
}

/* ------------------------------------------------------------------ failing early, resuming, the log */

static int count_calls(const dm_train_progress *p, void *user)
{
    (void)p;
    (*(int *)user)++;
    return 0;
}

static void test_fails_early(void)
{
    dm_model *m = load(tiny, NULL);
    dm_dataset *train = small_task(24, 1);
    dm_train_options o = quick();
    int calls = 0;
    o.callback = count_calls, o.callback_user = &calls;
    touch(tmp_dir, "plain-file", "x");
    o.output_dir = tmp_path("plain-file/out");
    CHECK_FAILS(dm_train(m, train, NULL, &o, NULL), DM_ERR_IO, "plain-file");
    CHECK(calls == 0);
    dm_model_free(m);
    dm_dataset_free(train);
}

static char *read_log(const char *path)
{
    char *d = NULL;
    size_t n;
    return dmi_read_file(path, &d, &n) ? NULL : d;
}

/* Training lines' steps in LOG: each of 1..LAST once, in order. */
static bool log_steps_once(const char *log, uint64_t last)
{
    uint64_t want = 1;
    for (const char *line = log; line && *line;) {
        const char *nl = strchr(line, '\n');
        json_t *j = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        if (!j) return false;
        if (json_object_get(j, "loss")) {
            if ((uint64_t)json_integer_value(json_object_get(j, "step")) != want++) {
                json_decref(j);
                return false;
            }
        }
        json_decref(j);
        line = nl ? nl + 1 : NULL;
    }
    return want == last + 1;
}

static void test_resume_checks_data_and_log(void)
{
    dm_dataset *train = small_task(48, 1), *other = small_task(48, 2);
    dm_model *m = load(tiny, NULL);
    dm_train_options o = quick();
    o.output_dir = tmp_path("resume");
    o.checkpoint_steps = 3;
    o.checkpoint_limit = 0;
    o.log_jsonl = tmp_path("resume.jsonl");
    CHECK(dm_train(m, train, NULL, &o, NULL) == DM_OK); /* 18 steps */
    dm_model_free(m);
    char *log = read_log(o.log_jsonl);
    CHECK(log && log_steps_once(log, 18));
    free(log);
    /* The run "killed" after step 10: its log also holds steps 10..18 and a
     * cut line; resuming from checkpoint-9 gives each step once. */
    FILE *f = fopen(o.log_jsonl, "a");
    fputs("{\"step\": 19, \"loss\": 1", f);
    fclose(f);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-9", o.output_dir);
    o.resume_from = ckpt;
    m = load(tiny, NULL);
    CHECK(dm_train(m, train, NULL, &o, NULL) == DM_OK);
    log = read_log(o.log_jsonl);
    CHECK(log && log_steps_once(log, 18));
    free(log);
    dm_model_free(m);
    /* Other data of the same row count, or the same rows in another order. */
    m = load(tiny, NULL);
    CHECK_FAILS(dm_train(m, other, NULL, &o, NULL), DM_ERR_INVALID_ARGUMENT,
                "the training data differ from that run's (the same 48 rows");
    size_t order[48];
    for (size_t i = 0; i < 48; i++) order[i] = 47 - i;
    dm_dataset *reordered = NULL;
    CHECK(dm_dataset_select(train, order, 48, &reordered) == DM_OK);
    CHECK_FAILS(dm_train(m, reordered, NULL, &o, NULL), DM_ERR_INVALID_ARGUMENT, "other contents or order");
    dm_model_free(m);
    /* A checkpoint cut short is called one, with everything it lacks. */
    char path[4300];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", ckpt);
    unlink(path);
    snprintf(path, sizeof path, "%s/vocab.txt", ckpt);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer.json", ckpt);
    unlink(path);
    CHECK_FAILS(dm_model_load(ckpt, NULL, &m), DM_ERR_NOT_FOUND,
                "an incomplete training checkpoint (no tokenizer files (tokenizer.json or vocab.txt), no "
                "optimizer.safetensors)");
    dm_dataset_free(train), dm_dataset_free(other), dm_dataset_free(reordered);
}

int main(void)
{
    const char *fixture_dir = getenv("DM_FIXTURE_DIR");
    if (!fixture_dir || !mkdtemp(tmp_dir)) {
        fprintf(stderr, "DM_FIXTURE_DIR is not set (meson sets it) or no temporary folder\n");
        return 1;
    }
    snprintf(tiny, sizeof tiny, "%s/tiny", fixture_dir);
    test_save_carries_other_files();
    test_leftovers_are_tidied();
    test_killed_writer_never_mixes();
    test_two_writers();
    test_labels_cannot_flip();
    test_non_finite();
    test_fails_early();
    test_resume_checks_data_and_log();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return check_summary();
}
