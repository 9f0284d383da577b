/*
 * test_device.c — the model on the CUDA backend against the CPU: inference
 * logits, 20 AdamW steps of training (dropout on: the masks are the same
 * Philox draws on both), and checkpoints that move between the devices.
 *
 * The subject is backend "cuda-emu" in a -Demulate_cuda=true build (every
 * kernel of kernels/ run on the CPU through the emulation layer, with the
 * model's device paths: its memory is not host memory), or "cuda" on a GPU
 * (scripts/gpu-check.sh); the oracle is cpu-ref. Without either it exits 77
 * (meson's "skipped"), saying why.
 *
 * Tolerances (float32 throughout on both sides): logits 1e-5 absolute (the
 * tiny model's logits are O(1); the kernels sum in other orders than cpu-ref's
 * double sums: ~1e-7 per op, a few ops deep); training losses 1e-4 relative
 * per step (the GPU criterion; float differences grow over 20 steps
 * of lr 3e-3 but stay ~1e-6 here); bfloat16 inference 2e-2 absolute. After
 * training, the models are compared by their logits (1e-4), not weight by
 * weight: AdamW moves a weight whose gradient is float noise by ~lr per
 * step in the noise's direction (m / sqrt(v) is O(1) whatever the
 * gradient's size), so single weights may differ by ~1e-3 (printed) while
 * the models agree.
 */
#include "datamodel.h"
#include "../unit/check.h"
#include "model/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tiny[2048];
static char tmp_dir[] = "/tmp/dm_test_device_XXXXXX";
static const char *subject_backend; /* "cuda-emu" or "cuda" */

static const char *tmp_path(const char *name)
{
    static char paths[8][4096];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4096, "%s/%s", tmp_dir, name);
    return p;
}

/* The oracle (cpu-ref) or the subject, chosen by DM_BACKEND at load. */
static dm_model *load_on(int subject, const char *dir, dm_precision precision)
{
    setenv("DM_BACKEND", subject ? subject_backend : "cpu-ref", 1);
    dm_model_options o;
    dm_model_options_default(&o);
    o.device = subject ? DM_DEVICE_CUDA : DM_DEVICE_CPU;
    o.precision = precision;
    o.threads = 2;
    dm_model *m = NULL;
    if (dm_model_load(dir, &o, &m)) fprintf(stderr, "load on %s: %s\n", subject ? subject_backend : "cpu-ref",
                                            dm_last_error());
    unsetenv("DM_BACKEND");
    return m;
}

static const char *const texts[] = {"the old boat was wonderful", "salty bread on the roof", "my sister is with apples",
                                    "we enjoyed this and that", "stale rain", "blue market street garden of the old "
                                                                              "boat and my favourite bread"};
#define N_TEXTS (sizeof texts / sizeof *texts)

/* The worst |logit difference| of two models on the texts. */
static double logit_diff(dm_model *x, dm_model *y)
{
    float a[N_TEXTS * 3], b[N_TEXTS * 3];
    size_t lens[N_TEXTS];
    for (size_t i = 0; i < N_TEXTS; i++) lens[i] = strlen(texts[i]);
    dm_status sa = dm_model_predict(x, N_TEXTS, texts, lens, NULL, NULL, NULL, a, NULL, NULL);
    if (sa) fprintf(stderr, "predict: %s\n", dm_last_error());
    dm_status sb = dm_model_predict(y, N_TEXTS, texts, lens, NULL, NULL, NULL, b, NULL, NULL);
    if (sb) fprintf(stderr, "predict: %s\n", dm_last_error());
    CHECK(sa == DM_OK && sb == DM_OK);
    if (sa || sb) return INFINITY;
    double worst = 0;
    for (size_t i = 0; i < N_TEXTS * 3; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

static void test_inference(dm_precision precision, double tol)
{
    dm_model *ref = load_on(0, tiny, precision), *dev = load_on(1, tiny, precision);
    CHECK(ref && dev);
    if (!ref || !dev) return;
    dm_model_info info = {.struct_size = sizeof info};
    CHECK(dm_model_get_info(dev, &info) == DM_OK && strcmp(info.backend_name, subject_backend) == 0);
    double worst = logit_diff(ref, dev);
    printf("  inference %s: worst |logit diff| %.3g (tolerance %.g)\n",
           precision == DM_PRECISION_BF16 ? "bf16" : "fp32", worst, tol);
    CHECK(worst <= tol);
    dm_model_free(ref);
    dm_model_free(dev);
}

/* ------------------------------------------------------------------ training */

static dm_dataset *make_task(size_t n)
{
    static const char *const cues[3] = {"boring", "market", "wonderful"}, *const names[3] = {"negative", "neutral",
                                                                                               "positive"};
    static const char *const filler[] = {"the", "old", "boat", "blue", "my", "sister", "is", "with", "of", "rain"};
    char **t = calloc(n, sizeof *t);
    const char **labels = calloc(n, sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        char buf[256] = "";
        size_t words = 3 + (i * 7) % 9;
        for (size_t w = 0; w < words; w++) {
            strcat(buf, w ? " " : "");
            strcat(buf, w == (i * 5) % words ? cues[i % 3] : filler[(i * 3 + w * 11) % 10]);
        }
        t[i] = strdup(buf);
        labels[i] = names[i % 3];
    }
    dm_dataset *ds = NULL;
    if (dm_dataset_from_texts(n, (const char *const *)t, NULL, NULL, NULL, labels, NULL, &ds))
        fprintf(stderr, "dataset: %s\n", dm_last_error());
    for (size_t i = 0; i < n; i++) free(t[i]);
    free(t), free(labels);
    return ds;
}

typedef struct losses {
    double v[64];
    int n;
} losses;

static int keep_loss(const dm_train_progress *p, void *user)
{
    losses *l = user;
    if (!p->evaluated && l->n < 64) l->v[l->n++] = p->loss;
    return 0;
}

static dm_train_options options(losses *l)
{
    dm_train_options o;
    dm_train_options_default(&o);
    o.epochs = 1;
    o.max_steps = 20;
    o.batch_size = 8;
    o.learning_rate = 3e-3;
    o.warmup_steps = 2;
    o.max_length = 32;
    o.dropout = 0.1;
    o.callback = keep_loss;
    o.callback_user = l;
    return o;
}

static double worst_param_diff(const dm_model *a, const dm_model *b)
{
    float *x = malloc(a->n_params * sizeof *x), *y = malloc(b->n_params * sizeof *y);
    double worst = a->n_params == b->n_params ? 0 : INFINITY;
    if (x && y && a->n_params == b->n_params && !dmi_model_get_params(a, x) && !dmi_model_get_params(b, y))
        for (size_t i = 0; i < a->n_params; i++) worst = fmax(worst, fabs((double)x[i] - y[i]));
    free(x), free(y);
    return worst;
}

static void test_training(const dm_dataset *train, dm_precision precision, double loss_tol)
{
    dm_model *ref = load_on(0, tiny, DM_PRECISION_FP32), *dev = load_on(1, tiny, DM_PRECISION_FP32);
    CHECK(ref && dev);
    if (!ref || !dev) return;
    losses lr = {0}, ld = {0};
    dm_train_options o = options(&lr);
    o.epochs = 3;
    o.precision = precision;
    CHECK(dm_train(ref, train, NULL, &o, NULL) == DM_OK);
    o.callback_user = &ld;
    dm_status s = dm_train(dev, train, NULL, &o, NULL);
    if (s) fprintf(stderr, "train on %s: %s\n", subject_backend, dm_last_error());
    CHECK(s == DM_OK);
    CHECK(lr.n == 20 && ld.n == 20);
    double worst = 0;
    for (int i = 0; i < lr.n && i < ld.n; i++) worst = fmax(worst, fabs(lr.v[i] - ld.v[i]) / fabs(lr.v[i]));
    double pd = worst_param_diff(ref, dev), ld_ = logit_diff(ref, dev);
    printf("  training %s, 20 AdamW steps with dropout: losses %.4f -> %.4f; worst relative loss diff %.3g "
           "(tolerance %.g); then worst |logit diff| %.3g (tolerance %.g), worst |weight diff| %.3g\n",
           precision == DM_PRECISION_BF16 ? "bf16" : "fp32", lr.v[0], lr.v[lr.n - 1], worst, loss_tol, ld_,
           loss_tol, pd);
    CHECK(worst <= loss_tol);
    CHECK(ld_ <= loss_tol);
    dm_model_free(ref);
    dm_model_free(dev);
}

/* A checkpoint written on one device resumes on the other: the run ends as
 * the uninterrupted run on the first device did (within float differences). */
static void test_checkpoint_moves(const dm_dataset *train, int from_subject)
{
    const char *name = from_subject ? "from_dev" : "from_cpu";
    dm_model *full = load_on(from_subject, tiny, DM_PRECISION_FP32);
    CHECK(full != NULL);
    if (!full) return;
    losses l = {0};
    dm_train_options o = options(&l);
    o.epochs = 2;
    o.max_steps = 10;
    o.output_dir = tmp_path(name);
    o.checkpoint_steps = 5;
    CHECK(dm_train(full, train, NULL, &o, NULL) == DM_OK);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-5", tmp_path(name));
    dm_model *resumed = load_on(!from_subject, ckpt, DM_PRECISION_FP32);
    CHECK(resumed != NULL);
    if (!resumed) {
        dm_model_free(full);
        return;
    }
    o.output_dir = NULL;
    o.checkpoint_steps = 0;
    o.resume_from = ckpt;
    dm_status s = dm_train(resumed, train, NULL, &o, NULL);
    if (s) fprintf(stderr, "resume: %s\n", dm_last_error());
    CHECK(s == DM_OK);
    double pd = worst_param_diff(full, resumed), ld_ = logit_diff(full, resumed);
    printf("  checkpoint of step 5 written on %s, resumed on %s: at step 10 worst |logit diff| %.3g (tolerance "
           "1e-4), worst |weight diff| %.3g\n", from_subject ? subject_backend : "cpu-ref",
           from_subject ? "cpu-ref" : subject_backend, ld_, pd);
    CHECK(ld_ <= 1e-4);
    dm_model_free(full);
    dm_model_free(resumed);
}

int main(void)
{
    const char *fixture_dir = getenv("DM_FIXTURE_DIR");
    if (!fixture_dir || !mkdtemp(tmp_dir)) {
        fprintf(stderr, "DM_FIXTURE_DIR is not set (meson sets it) or no temporary folder\n");
        return 1;
    }
    snprintf(tiny, sizeof tiny, "%s/tiny", fixture_dir);
    subject_backend = DM_CUDA_EMU ? "cuda-emu" : "cuda";
    dm_model *probe = load_on(1, tiny, DM_PRECISION_FP32);
    if (!probe) {
        printf("SKIP: backend %s cannot run here: %s\n", subject_backend, dm_last_error());
        rmdir(tmp_dir);
        return 77;
    }
    dm_model_free(probe);
    printf("device parity: %s against cpu-ref on the tiny BERT fixture\n", subject_backend);
    test_inference(DM_PRECISION_FP32, 1e-5);
    test_inference(DM_PRECISION_BF16, 2e-2);
    dm_dataset *train = make_task(48);
    CHECK(train != NULL);
    if (train) {
        test_training(train, DM_PRECISION_FP32, 1e-4);
        test_training(train, DM_PRECISION_BF16, 2e-2);
        test_checkpoint_moves(train, 1);
        test_checkpoint_moves(train, 0);
    }
    dm_dataset_free(train);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return check_summary();
}
