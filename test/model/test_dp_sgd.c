/*
 * test_dp_sgd.c — DP-SGD on the tiny random BERT, on whichever backend the
 * environment picks (meson runs it on cpu-onednn and cpu-ref; the emulated
 * CUDA build on cuda-emu too):
 *  - each example's gradient norm from the norm pass equals the norm of its
 *    gradient computed alone (an ordinary backward pass per example);
 *  - the clipped sum equals sum_i clip_i g_i of those per-example gradients,
 *    and with no clipping it is the ordinary backward pass bit for bit;
 *  - the noise: its moments, reproducible under a seed, fresh without;
 *  - the trainer: epsilon within the budget, privacy.json, an exact resume,
 *    the refusals (resume across DP and non-DP, bad options).
 * The PyTorch comparison of the norms is test/privacy/test_dp_norms.c.
 */
#include "datamodel.h"
#include "../unit/check.h"
#include "model/model_internal.h"
#include "privacy/dp_sgd.h"
#include "tiny_task.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[] = "/tmp/dm_test_dp_XXXXXX";
static char tiny[2048];

static const char *tmp_path(const char *name)
{
    static char paths[8][4096];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4096, "%s/%s", tmp_dir, name);
    return p;
}

static dm_model *load_tiny(void)
{
    dm_model_options o;
    dm_model_options_default(&o);
    o.device = DM_DEVICE_AUTO; /* DM_BACKEND picks cpu-ref or cuda-emu */
    o.num_labels = 3;
    dm_model *m = NULL;
    if (dm_model_load(tiny, &o, &m)) fprintf(stderr, "load: %s\n", dm_last_error());
    return m;
}

/* ------------------------------------------------------------------ a batch */

enum { B = 5, T = 9 };

typedef struct batch_data {
    int32_t ids[B * T], types[B * T], labels[B];
    uint8_t mask[B * T];
    float weights[B];
    dm_batch b;
} batch_data;

/* Rows of different lengths (padding), repeated ids, a second token type, a
 * row without a label and unequal weights. */
static void make_batch(batch_data *d, size_t vocab)
{
    static const int lens[B] = {9, 4, 7, 2, 6};
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            d->mask[i] = t < lens[b];
            d->ids[i] = t < lens[b] ? (int32_t)((b * 7 + t * 3 + (t % 3 == 0 ? 0 : b)) % (int)(vocab - 5) + 5) : 0;
            if (t == 5 && lens[b] > 5) d->ids[i] = d->ids[b * T + 1]; /* a repeated id */
            d->types[i] = b == 2 && t >= 3 ? 1 : 0;
        }
        d->labels[b] = b == 3 ? -1 : b % 3;
        d->weights[b] = b == 1 ? 0.5f : b == 4 ? 2.0f : 1.0f;
    }
    d->b = (dm_batch){.struct_size = sizeof d->b, .batch = B, .seq_len = T, .ids = d->ids, .type_ids = d->types,
                      .attention_mask = d->mask, .labels = d->labels, .weights = d->weights};
}

/* The model's whole gradient (trainable tensors, in table order). */
static float *all_grads(dm_model *m, size_t *n)
{
    size_t total = 0, k = dm_model_num_tensors(m);
    dm_tensor_info ti = {.struct_size = sizeof ti};
    for (size_t i = 0; i < k; i++)
        if (!dm_model_tensor_info(m, i, &ti) && ti.trainable) total += ti.numel;
    float *g = calloc(total ? total : 1, sizeof *g);
    size_t at = 0;
    for (size_t i = 0; i < k; i++) {
        if (dm_model_tensor_info(m, i, &ti) || !ti.trainable) continue;
        CHECK(dm_model_get_grad(m, ti.name, g + at, ti.numel) == DM_OK);
        at += ti.numel;
    }
    *n = total;
    return g;
}

/* Example i's gradient alone: the same row (same padding) as a batch of one. */
static float *one_example_grad(dm_model *m, const batch_data *d, int i, size_t *n)
{
    dm_batch one = d->b;
    one.batch = 1;
    one.ids = d->ids + i * T, one.type_ids = d->types + i * T, one.attention_mask = d->mask + i * T;
    one.labels = d->labels + i, one.weights = d->weights + i;
    dm_backward_options bo;
    dm_backward_options_default(&bo);
    bo.dropout = 0.0;
    CHECK(dm_model_zero_grad(m) == DM_OK);
    CHECK(dm_model_forward_backward(m, &one, &bo, NULL, NULL) == DM_OK);
    return all_grads(m, n);
}

static double norm_of(const float *g, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

/* Max |a - b| over max |b|: the error relative to the vector's scale. */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0 ? d / s : d;
}

static void test_norms_and_clipping(bool frozen)
{
    dm_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    if (frozen) {
        CHECK(dm_model_set_trainable(m, "bert.embeddings.", 0) == DM_OK);
        CHECK(dm_model_set_trainable(m, "bert.encoder.layer.0.", 0) == DM_OK);
    }
    dm_model_info info = {.struct_size = sizeof info};
    CHECK(dm_model_get_info(m, &info) == DM_OK);
    batch_data d;
    make_batch(&d, info.vocab_size);
    dm_backward_options bo;
    dm_backward_options_default(&bo);
    bo.dropout = 0.0;
    float norms[B];
    CHECK(dm_dp_example_norms(m, &d.b, &bo, norms) == DM_OK);

    /* Each example's gradient alone, and its norm. Tolerance 1e-5: both are
     * float32 gradients of the same products, summed in other orders. */
    float *g[B];
    size_t n = 0;
    double worst = 0.0;
    for (int i = 0; i < B; i++) {
        g[i] = one_example_grad(m, &d, i, &n);
        double want = norm_of(g[i], n);
        double err = want > 0 ? fabs(norms[i] - want) / want : fabs(norms[i]);
        worst = fmax(worst, err);
        if (i == 3) CHECK(norms[i] == 0.0f); /* no label: no loss */
    }
    printf("per-example norms (%s): worst relative error %.3g\n", frozen ? "frozen bottom" : "all trained", worst);
    CHECK(worst < 1e-5);

    /* The clipped sum, C the median norm: sum_i min(1, C / (n_i + 1e-6)) g_i, scaled. */
    float sorted[B];
    memcpy(sorted, norms, sizeof sorted);
    for (int i = 0; i < B; i++)
        for (int j = i + 1; j < B; j++)
            if (sorted[j] < sorted[i]) { float x = sorted[i]; sorted[i] = sorted[j]; sorted[j] = x; }
    dm_dp_options po;
    dm_dp_options_default(&po);
    po.max_grad_norm = sorted[B / 2];
    po.noise_multiplier = 1.0;
    po.sample_rate = 0.1;
    bo.grad_scale = 0.25;
    float *want = calloc(n, sizeof *want);
    for (int i = 0; i < B; i++) {
        double c = fmin(1.0, po.max_grad_norm / ((double)norms[i] + 1e-6));
        for (size_t k = 0; k < n; k++) want[k] += (float)(0.25 * c * g[i][k]);
    }
    /* Book-keeping (the kept output gradients scaled per example), then the
     * second backward pass over clip-weighted losses it falls back to when
     * memory is short: both the sum of the clipped per-example gradients. */
    float *got[2] = {NULL, NULL};
    for (int two_pass = 0; two_pass < 2; two_pass++) {
        dm_dp *dp = NULL;
        CHECK(dm_dp_create(&po, &dp) == DM_OK);
        if (!dp) break;
        dp->two_pass = two_pass;
        float norms2[B];
        double loss = 0.0;
        CHECK(dm_model_zero_grad(m) == DM_OK);
        CHECK(dm_dp_forward_backward(dp, m, &d.b, &bo, &loss, norms2) == DM_OK);
        CHECK(memcmp(norms, norms2, sizeof norms) == 0);
        CHECK(loss > 0.0);
        CHECK(two_pass || m->bk.block != NULL); /* book-keeping did run */
        size_t n2;
        got[two_pass] = all_grads(m, &n2);
        double err = rel_diff(got[two_pass], want, n);
        printf("clipped sum (%s): relative error %.3g\n", two_pass ? "two passes" : "book-keeping", err);
        CHECK(n2 == n && err < 1e-5);
        dm_dp_info di = {.struct_size = sizeof di};
        CHECK(dm_dp_get_info(dp, &di) == DM_OK);
        uint64_t want_clipped = 0;
        for (int i = 0; i < B; i++) want_clipped += i != 3 && po.max_grad_norm / ((double)norms[i] + 1e-6) < 1.0;
        CHECK(di.examples == B - 1 && di.clipped == want_clipped && want_clipped >= 2);
        dm_dp_free(dp);
    }
    /* The two ways differ only in where each clip factor rounds in. */
    if (got[0] && got[1]) {
        double err = rel_diff(got[0], got[1], n);
        printf("book-keeping vs two passes: relative difference %.3g\n", err);
        CHECK(err < 1e-6);
    }
    free(got[0]), free(got[1]), free(want);
    for (int i = 0; i < B; i++) free(g[i]);
    dm_model_free(m);
}

/* No clipping (C huge): the ordinary backward pass, bit for bit, dropout on
 * (the same masks in both passes). */
static void test_unclipped_is_plain_backward(void)
{
    dm_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    dm_model_info info = {.struct_size = sizeof info};
    CHECK(dm_model_get_info(m, &info) == DM_OK);
    batch_data d;
    make_batch(&d, info.vocab_size);
    dm_backward_options bo;
    dm_backward_options_default(&bo);
    bo.dropout = 0.1;
    bo.stream = 3;
    bo.grad_scale = 0.5;
    double l1 = 0, l2 = 0;
    CHECK(dm_model_zero_grad(m) == DM_OK);
    CHECK(dm_model_forward_backward(m, &d.b, &bo, &l1, NULL) == DM_OK);
    size_t n;
    float *plain = all_grads(m, &n);
    dm_dp_options po;
    dm_dp_options_default(&po);
    po.max_grad_norm = 1e30;
    po.noise_multiplier = 1.0;
    po.sample_rate = 0.5;
    dm_dp *dp = NULL;
    CHECK(dm_dp_create(&po, &dp) == DM_OK);
    CHECK(dm_model_zero_grad(m) == DM_OK);
    CHECK(dm_dp_forward_backward(dp, m, &d.b, &bo, &l2, NULL) == DM_OK);
    float *dpg = all_grads(m, &n);
    CHECK(memcmp(plain, dpg, n * sizeof *plain) == 0);
    CHECK(l1 == l2);
    free(plain), free(dpg);
    dm_dp_free(dp);
    dm_model_free(m);
}

/* ------------------------------------------------------------------ noise */

static float *noise_of(dm_model *m, uint64_t seed, int steps, size_t *n)
{
    dm_dp_options po;
    dm_dp_options_default(&po);
    po.max_grad_norm = 2.0;
    po.noise_multiplier = 1.5;
    po.sample_rate = 0.01;
    po.noise_seed = seed;
    dm_dp *dp = NULL;
    CHECK(dm_dp_create(&po, &dp) == DM_OK);
    for (int i = 0; i < steps; i++) {
        CHECK(dm_model_zero_grad(m) == DM_OK);
        CHECK(dm_dp_add_noise(dp, m, 0.5) == DM_OK);
    }
    dm_dp_info di = {.struct_size = sizeof di};
    CHECK(dm_dp_get_info(dp, &di) == DM_OK);
    CHECK(di.steps == (uint64_t)steps && di.epsilon > 0);
    dm_dp_free(dp);
    return all_grads(m, n);
}

static void test_noise(void)
{
    dm_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    size_t n;
    float *a = noise_of(m, 7, 1, &n), *b = noise_of(m, 7, 1, &n), *c = noise_of(m, 7, 2, &n);
    float *d = noise_of(m, 0, 1, &n), *e = noise_of(m, 0, 1, &n);
    CHECK(memcmp(a, b, n * sizeof *a) == 0);  /* a seed: the same stream */
    CHECK(memcmp(a, c, n * sizeof *a) != 0);  /* another step: other noise */
    CHECK(memcmp(d, e, n * sizeof *d) != 0);  /* keyed from the OS: fresh */
    /* Moments: std 0.5 x 1.5 x 2 = 1.5. With n values the sample mean is
     * within 6 std / sqrt(n) and the sample std within 6 / sqrt(2n) relative
     * (six standard errors: never fails by chance in practice). */
    double s = 0, s2 = 0, s4 = 0;
    for (size_t i = 0; i < n; i++) s += d[i], s2 += (double)d[i] * d[i], s4 += pow(d[i], 4);
    double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n / (var * var);
    printf("noise: %zu values, mean %.4g, std %.6g (want 1.5), kurtosis %.4g (want 3)\n", n, mean, sqrt(var), kurt);
    CHECK(fabs(mean) < 6 * 1.5 / sqrt((double)n));
    CHECK(fabs(sqrt(var) / 1.5 - 1) < 6 / sqrt(2.0 * n));
    CHECK(fabs(kurt - 3) < 0.1);
    free(a), free(b), free(c), free(d), free(e);
    dm_model_free(m);
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_options(void)
{
    dm_dp *dp = NULL;
    dm_dp_options o;
    dm_dp_options_default(&o);
    o.sample_rate = 0.01, o.steps = 100;
    o.target_epsilon = -1;
    CHECK_FAILS(dm_dp_create(&o, &dp), DM_ERR_INVALID_ARGUMENT, "epsilon");
    o.target_epsilon = 0;
    CHECK_FAILS(dm_dp_create(&o, &dp), DM_ERR_INVALID_ARGUMENT, "target epsilon");
    o.target_epsilon = 1;
    o.delta = 1.0;
    CHECK_FAILS(dm_dp_create(&o, &dp), DM_ERR_INVALID_ARGUMENT, "delta");
    o.delta = 1e-5, o.sample_rate = 1.5;
    CHECK_FAILS(dm_dp_create(&o, &dp), DM_ERR_INVALID_ARGUMENT, "sample rate");
    o.sample_rate = 0.01, o.max_grad_norm = 0;
    CHECK_FAILS(dm_dp_create(&o, &dp), DM_ERR_INVALID_ARGUMENT, "max_grad_norm");
    o.max_grad_norm = 1, o.steps = 0;
    CHECK_FAILS(dm_dp_create(&o, &dp), DM_ERR_INVALID_ARGUMENT, "planned steps");
    o.steps = 1000000, o.sample_rate = 1.0, o.target_epsilon = 1e-9;
    CHECK_FAILS(dm_dp_create(&o, &dp), DM_ERR_RANGE, "too small a budget");
    CHECK(dp == NULL);
    CHECK_FAILS(dm_dp_create(NULL, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    dm_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    batch_data d;
    make_batch(&d, 50);
    CHECK_FAILS(dm_dp_example_norms(m, &d.b, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "NULL norms");
    dm_batch empty = d.b;
    empty.seq_len = 0;
    float norms[B];
    CHECK_FAILS(dm_dp_example_norms(m, &empty, NULL, norms), DM_ERR_RANGE, "empty batch");
    CHECK_FAILS(dm_dp_forward_backward(NULL, m, &d.b, NULL, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "NULL dp");
    dm_dp_options_default(&o);
    o.noise_multiplier = 1, o.sample_rate = 0.1;
    CHECK(dm_dp_create(&o, &dp) == DM_OK);
    CHECK_FAILS(dm_dp_add_noise(dp, m, 0.0), DM_ERR_INVALID_ARGUMENT, "grad_scale");
    CHECK_FAILS(dm_dp_add_noise(dp, NULL, 1.0), DM_ERR_INVALID_ARGUMENT, "NULL");
    dm_dp_info info = {0};
    CHECK_FAILS(dm_dp_get_info(dp, &info), DM_ERR_INVALID_ARGUMENT, "struct_size");
    dm_dp_free(dp);
    dm_model_free(m);
}

/* ------------------------------------------------------------------ the trainer */

static dm_train_options dp_options(void)
{
    dm_train_options o;
    dm_train_options_default(&o);
    o.epochs = 4;
    o.batch_size = 8;
    o.grad_accum = 2; /* expected batch 16 */
    o.learning_rate = 1e-2;
    o.max_length = 32;
    o.threads = 2;
    o.dp_epsilon = 8.0;
    o.dp_max_grad_norm = 0.5;
    o.dp_noise_seed = 11;
    return o;
}

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) fprintf(stderr, "%s: %s\n", path, e.text);
    return j;
}

static void test_trainer(dm_dataset *train)
{
    /* A whole run: 60 rows, L = 16, 3 steps an epoch, 12 steps. */
    dm_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    dm_train_options o = dp_options();
    o.output_dir = tmp_path("run");
    o.checkpoint_steps = 6;
    o.checkpoint_limit = 0;
    o.log_jsonl = tmp_path("run.jsonl");
    dm_train_result r = {.struct_size = sizeof r};
    CHECK(dm_train(m, train, NULL, &o, &r) == DM_OK);
    CHECK(r.steps == 12);
    json_t *p = load_json(tmp_path("run/privacy.json"));
    CHECK(p != NULL);
    double eps = json_number_value(json_object_get(p, "epsilon"));
    printf("DP trainer: %llu steps, epsilon %.4f (target 8), sigma %.4f\n", (unsigned long long)r.steps, eps,
           json_number_value(json_object_get(p, "noise_multiplier")));
    CHECK(eps > 7.0 && eps <= 8.0);
    CHECK(json_integer_value(json_object_get(p, "steps")) == 12);
    CHECK(json_number_value(json_object_get(p, "sample_rate")) == 16.0 / 60.0);
    CHECK(json_number_value(json_object_get(p, "max_grad_norm")) == 0.5);
    json_decref(p);
    /* the log has the epsilon of each step */
    FILE *f = fopen(tmp_path("run.jsonl"), "r");
    char line[2048];
    int with_eps = 0;
    while (f && fgets(line, sizeof line, f)) with_eps += strstr(line, "\"dp_epsilon\"") != NULL;
    if (f) fclose(f);
    CHECK(with_eps == 12);
    CHECK(access(tmp_path("run/checkpoint-6/privacy.json"), F_OK) == 0);

    /* Resumed from step 6 with the same seed: the same weights, bit for bit. */
    dm_model *m2 = load_tiny();
    dm_train_options o2 = dp_options();
    o2.output_dir = tmp_path("resumed");
    o2.resume_from = tmp_path("run/checkpoint-6");
    CHECK(dm_train(m2, train, NULL, &o2, NULL) == DM_OK);
    float *a = malloc(m->n_params * sizeof *a), *b = malloc(m->n_params * sizeof *b);
    dmi_model_get_params(m, a);
    dmi_model_get_params(m2, b);
    CHECK(memcmp(a, b, m->n_params * sizeof *a) == 0);
    free(a), free(b);

    /* Resuming across DP and non-DP is refused. */
    dm_train_options plain;
    dm_train_options_default(&plain);
    plain.epochs = 4, plain.batch_size = 8, plain.grad_accum = 2, plain.max_length = 32;
    plain.output_dir = tmp_path("plain");
    plain.resume_from = tmp_path("run/checkpoint-6");
    CHECK_FAILS(dm_train(m2, train, NULL, &plain, NULL), DM_ERR_INVALID_ARGUMENT, "trained with DP-SGD");
    plain.resume_from = NULL;
    plain.max_steps = 2, plain.checkpoint_steps = 2;
    CHECK(dm_train(m2, train, NULL, &plain, NULL) == DM_OK);
    CHECK(access(tmp_path("plain/privacy.json"), F_OK) != 0); /* no DP: no record */
    dm_train_options o3 = dp_options();
    o3.output_dir = tmp_path("resumed2");
    o3.resume_from = tmp_path("plain/checkpoint-2");
    CHECK_FAILS(dm_train(m2, train, NULL, &o3, NULL), DM_ERR_INVALID_ARGUMENT, "trained without DP-SGD");
    dm_model_free(m2);
    dm_model_free(m);
}

static void test_trainer_budget_and_bad_options(dm_dataset *train)
{
    dm_model *m = load_tiny();
    CHECK(m != NULL);
    if (!m) return;
    /* A noise multiplier and a budget: the run stops when the next step would overspend it. */
    dm_train_options o = dp_options();
    o.dp_noise = 0.8;
    o.dp_epsilon = 6.0;
    o.epochs = 40;
    dm_train_result r = {.struct_size = sizeof r};
    CHECK(dm_train(m, train, NULL, &o, &r) == DM_OK);
    double e_at = 0, e_next = 0;
    CHECK(dm_dp_epsilon(0.8, 16.0 / 60.0, r.steps, 1e-5, &e_at, NULL) == DM_OK);
    CHECK(dm_dp_epsilon(0.8, 16.0 / 60.0, r.steps + 1, 1e-5, &e_next, NULL) == DM_OK);
    printf("budget 6 at sigma 0.8: stopped after %llu steps (epsilon %.4f; one more: %.4f)\n",
           (unsigned long long)r.steps, e_at, e_next);
    CHECK(r.steps > 0 && r.steps < 120 && e_at <= 6.0 && e_next > 6.0);

    o = dp_options();
    o.dp_epsilon = -1;
    CHECK_FAILS(dm_train(m, train, NULL, &o, NULL), DM_ERR_INVALID_ARGUMENT, "dp_epsilon");
    o = dp_options();
    o.dp_delta = 0;
    CHECK_FAILS(dm_train(m, train, NULL, &o, NULL), DM_ERR_INVALID_ARGUMENT, "dp_delta");
    o = dp_options();
    o.dp_max_grad_norm = 0;
    CHECK_FAILS(dm_train(m, train, NULL, &o, NULL), DM_ERR_INVALID_ARGUMENT, "dp_max_grad_norm");
    o = dp_options();
    o.batch_size = 64; /* q = 64 / 60 */
    o.grad_accum = 1;
    CHECK_FAILS(dm_train(m, train, NULL, &o, NULL), DM_ERR_INVALID_ARGUMENT, "sample rate would be");
    o = dp_options();
    o.dp_noise = 0.3;
    o.dp_epsilon = 0.01;
    CHECK_FAILS(dm_train(m, train, NULL, &o, NULL), DM_ERR_RANGE, "even one step");
    o = dp_options();
    o.precision = DM_PRECISION_BF16;
    CHECK_FAILS(dm_train(m, train, NULL, &o, NULL), DM_ERR_UNSUPPORTED, "float32 only");
    dm_model_free(m);
}

int main(void)
{
    const char *fixture_dir = getenv("DM_FIXTURE_DIR");
    if (!fixture_dir || !mkdtemp(tmp_dir)) {
        fprintf(stderr, "DM_FIXTURE_DIR is not set (meson sets it) or no temporary folder\n");
        return 1;
    }
    snprintf(tiny, sizeof tiny, "%s/tiny", fixture_dir);
    dm_model *probe = load_tiny();
    dm_model_info info = {.struct_size = sizeof info};
    CHECK(probe && dm_model_get_info(probe, &info) == DM_OK);
    printf("backend %s\n", probe ? info.backend_name : "?");
    dm_model_free(probe);
    test_norms_and_clipping(false);
    test_norms_and_clipping(true);
    test_unclipped_is_plain_backward();
    test_noise();
    test_bad_options();
    static const char *const names[3] = {"negative", "neutral", "positive"};
    dm_dataset *train = make_task(60, 1, names);
    CHECK(train != NULL);
    test_trainer(train);
    test_trainer_budget_and_bad_options(train);
    dm_dataset_free(train);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return check_summary();
}
