/*
 * model.c — the dm_model handle: loading a Hugging Face BERT folder
 * (config.json, model.safetensors, tokenizer, sentence-transformers modules),
 * initialising a new classification head, saving a folder transformers opens,
 * and the forward pass on token ids.
 */
#include "model_internal.h"
#include "safetensors.h"
#include "../core/rng.h"
#include "../core/staging.h"
#include "../privacy/encrypt.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_INIT_STREAM 0x48454144ull /* "HEAD": the RNG stream of new heads */

static dm_status read_tokenizer_files(dm_model *m, const char *dir);
static dm_status read_privacy_file(dm_model *m, const char *dir);
static void permute_rows(float *x, const uint32_t *perm, size_t R, size_t K);

DM_API void dm_model_options_default(dm_model_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->seed = 42;
    opts->device = DM_DEVICE_AUTO;
}

long dmi_model_tensor_index(const dm_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return (long)i;
    return -1;
}

/* ------------------------------------------------------------------ concurrency */

static dm_status init_lock(dm_model *m)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0) return dmi_fail(DM_ERR_INTERNAL, "cannot make the model's lock");
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init(&m->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) return dmi_fail(DM_ERR_INTERNAL, "cannot make the model's lock");
    m->lock_ready = true;
    return DM_OK;
}

dm_status dmi_model_enter(dm_model *m, const char *what)
{
    pthread_mutex_lock(&m->lock);
    if (m->training && !pthread_equal(m->trainer, pthread_self())) {
        pthread_mutex_unlock(&m->lock);
        return dmi_fail(DM_ERR_BUSY, "%s: the model is being trained by another thread", what);
    }
    return DM_OK;
}

void dmi_model_leave(dm_model *m) { pthread_mutex_unlock(&m->lock); }

dm_status dmi_model_begin_training(dm_model *m, const void *owner)
{
    dm_status s = dmi_model_enter(m, "dm_train");
    if (s) return s;
    if (m->training) s = dmi_fail(DM_ERR_BUSY, "dm_train: the model is already being trained on this thread");
    else m->training = true, m->trainer = pthread_self(), m->training_owner = owner;
    dmi_model_leave(m);
    return s;
}

dm_status dmi_model_enter_as_trainer(dm_model *m, const void *owner, const char *what)
{
    pthread_mutex_lock(&m->lock);
    if (!m->training || m->training_owner != owner) {
        pthread_mutex_unlock(&m->lock);
        return dmi_fail(DM_ERR_BUSY, "%s: the model is being trained by another trainer", what);
    }
    if (m->in_trainer_call && !pthread_equal(m->trainer, pthread_self())) {
        pthread_mutex_unlock(&m->lock);
        return dmi_fail(DM_ERR_BUSY, "%s: the trainer is in use on another thread", what);
    }
    /* The thread driving the trainer now is the one whose model calls pass;
     * other threads' calls fail at once with DM_ERR_BUSY (the lock is not
     * held through the call, so they never wait for a whole run). */
    m->trainer = pthread_self();
    m->in_trainer_call++;
    pthread_mutex_unlock(&m->lock);
    return DM_OK;
}

void dmi_model_leave_trainer(dm_model *m)
{
    pthread_mutex_lock(&m->lock);
    m->in_trainer_call--;
    pthread_mutex_unlock(&m->lock);
}

void dmi_model_end_training(dm_model *m)
{
    pthread_mutex_lock(&m->lock);
    m->training = false;
    pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------ folder layout */

/* A sentence-transformers folder keeps the transformer in the folder of its
 * Transformer module (usually the root, in older models "0_Transformer") and
 * says how embeddings are pooled and whether they are normalised. */
static void read_sentence_transformers(dm_model *m, const char *dir, char *model_dir, size_t cap)
{
    char path[4096];
    snprintf(model_dir, cap, "%s", dir);
    m->st_pooling = DM_POOL_DEFAULT;
    if (dmi_path_join(path, sizeof path, dir, "modules.json")) return;
    json_t *mods = json_load_file(path, 0, NULL);
    if (!json_is_array(mods)) {
        json_decref(mods);
        return;
    }
    size_t i;
    json_t *mod;
    json_array_foreach(mods, i, mod) {
        const char *type = json_string_value(json_object_get(mod, "type"));
        const char *sub = json_string_value(json_object_get(mod, "path"));
        if (!type) continue;
        if (strstr(type, "models.Transformer") && sub && *sub) {
            char sub_dir[4096];
            if (!dmi_path_join(sub_dir, sizeof sub_dir, dir, sub) && dmi_is_dir(sub_dir) &&
                !dmi_path_join(path, sizeof path, sub_dir, "config.json") && dmi_is_file(path))
                snprintf(model_dir, cap, "%s", sub_dir);
        } else if (strstr(type, "models.Pooling") && sub) {
            char cfg[4096];
            if (dmi_path_join(path, sizeof path, dir, sub) || dmi_path_join(cfg, sizeof cfg, path, "config.json"))
                continue;
            json_t *pc = json_load_file(cfg, 0, NULL);
            if (json_is_true(json_object_get(pc, "pooling_mode_mean_tokens"))) m->st_pooling = DM_POOL_MEAN;
            else if (json_is_true(json_object_get(pc, "pooling_mode_cls_token"))) m->st_pooling = DM_POOL_CLS;
            else if (pc) m->st_pooling_unsupported = 1;
            json_decref(pc);
        } else if (strstr(type, "models.Normalize")) {
            m->st_normalize = 1;
        }
    }
    json_decref(mods);
    const char *where[2] = {model_dir, dir};
    for (int w = 0; w < 2; w++) {
        if (dmi_path_join(path, sizeof path, where[w], "sentence_bert_config.json") || !dmi_is_file(path))
            continue;
        json_t *sb = json_load_file(path, 0, NULL);
        json_t *len = json_object_get(sb, "max_seq_length");
        if (json_is_integer(len) && json_integer_value(len) > 0)
            m->st_max_seq_length = (size_t)json_integer_value(len);
        json_decref(sb);
        break;
    }
}

/* ------------------------------------------------------------------ labels */

static dm_status copy_labels(dm_model *m, const char *const *names, size_t n)
{
    m->labels = dmi_calloc(n, sizeof *m->labels);
    if (!m->labels) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        char fallback[32];
        const char *name = names ? names[i] : NULL;
        if (!name) {
            snprintf(fallback, sizeof fallback, "LABEL_%zu", i);
            name = fallback;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->labels[j], name) == 0)
                return dmi_fail(DM_ERR_INVALID_ARGUMENT, "label '%s' is given twice (ids %zu and %zu)", name, j, i);
        m->labels[i] = dmi_strndup(name, strlen(name));
        if (!m->labels[i]) return DM_ERR_NO_MEMORY;
    }
    return DM_OK;
}

/* Whether the names are Hugging Face's placeholders LABEL_0, LABEL_1, ...:
 * a head named so may be given real names in the same order. */
static bool placeholder_names(char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "LABEL_%zu", i);
        if (!names[i] || strcmp(names[i], want) != 0) return false;
    }
    return true;
}

static void join_labels(char *buf, size_t cap, const char *const *names, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at + 8 < cap; i++) {
        int k = snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", names[i] ? names[i] : "?");
        if (k < 0 || (size_t)k >= cap - at) {
            snprintf(buf + cap - 4, 4, "...");
            return;
        }
        at += (size_t)k;
    }
}

/* The position of NAME among NAMES, or -1. */
static long find_name(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0) return (long)i;
    return -1;
}

/* Labels asked for a trained head of the same size: the folder's names in
 * another order reorder the head's rows (each name keeps its weights); other
 * names over real (not LABEL_i) trained names are refused, since renaming a
 * trained head by position would silently swap what it predicts. */
static dm_status match_trained_names(dm_model *m, const dm_model_options *o, const char *dir)
{
    size_t L = m->dims.L;
    char *const *have = m->cfg.labels;
    if (m->cfg.n_labels != L || placeholder_names(have, L)) return DM_OK;
    bool same = true;
    for (size_t i = 0; i < L && same; i++) same = strcmp(o->labels[i], have[i]) == 0;
    if (same) return DM_OK;
    uint32_t *perm = dmi_malloc(L * sizeof *perm);
    if (!perm) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < L; i++) {
        long j = find_name(have, L, o->labels[i]);
        if (j < 0) {
            char a[256], b[256];
            join_labels(a, sizeof a, (const char *const *)have, L);
            join_labels(b, sizeof b, o->labels, L);
            free(perm);
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the classifier head is trained for the labels (%s); "
                            "the labels asked (%s) are not those: ask for a new head (new_head) to train one "
                            "for them, or rename the labels in config.json", dir, a, b);
        }
        perm[i] = (uint32_t)j;
    }
    m->head_perm = perm;
    return DM_OK;
}

/* How many labels, and their names: the options, else the checkpoint's head
 * and config, else Hugging Face's default of two. A config.json whose labels
 * do not match the head's rows is refused: the two files do not belong
 * together (a save cut short, or files of two models). */
static dm_status choose_labels(dm_model *m, const dm_model_options *o, size_t file_labels, const char *dir)
{
    if (o->labels && o->num_labels && o->num_labels != o->n_labels)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "num_labels is %zu but %zu label names are given",
                        o->num_labels, o->n_labels);
    size_t asked = o->labels ? o->n_labels : o->num_labels, n_cfg = m->cfg.n_labels;
    if (file_labels && n_cfg && n_cfg != file_labels && !asked && !o->new_head) {
        char names[256];
        join_labels(names, sizeof names, (const char *const *)m->cfg.labels, n_cfg);
        return dmi_fail(DM_ERR_PARSE, "%s: config.json names %zu labels (%s) but model.safetensors' classifier "
                        "has %zu rows: the files do not belong together (a save cut short, or files of two "
                        "models); ask for num_labels or new_head to start a new head", dir, n_cfg, names,
                        file_labels);
    }
    size_t L = asked ? asked : file_labels ? file_labels : (n_cfg ? n_cfg : 2);
    if (L < 2)
        return dmi_fail(DM_ERR_UNSUPPORTED, "a classifier needs at least 2 labels, %zu asked "
                        "(regression with 1 label is not supported)", L);
    m->dims.L = L;
    m->new_head = o->new_head || file_labels != L;
    if (!m->new_head && o->labels) {
        dm_status s = match_trained_names(m, o, dir);
        if (s) return s;
    }
    const char *const *names = o->labels;
    if (!names && n_cfg == L) names = (const char *const *)m->cfg.labels;
    return copy_labels(m, names, L);
}

/* model.safetensors as dm_model_save writes it records the label names in
 * its metadata ("dm_labels", a JSON array): a config.json listing the same
 * names in another order was not written with these weights (a save cut
 * short between the two files, or config.json reordered by hand), and
 * loading it would silently swap what the head predicts. */
static dm_status check_label_stamp(const dm_model *m, const dmi_safetensors *st, const char *file)
{
    const char *stamp = dmi_st_metadata(st, "dm_labels");
    size_t n = m->cfg.n_labels;
    if (!stamp || n == 0) return DM_OK;
    json_t *arr = json_loads(stamp, 0, NULL);
    bool permuted = false;
    if (json_is_array(arr) && json_array_size(arr) == n) {
        bool same = true, all_found = true;
        for (size_t i = 0; i < n; i++) {
            const char *name = json_string_value(json_array_get(arr, i));
            if (!name) all_found = false;
            else if (strcmp(name, m->cfg.labels[i]) != 0) same = false;
            if (name && find_name(m->cfg.labels, n, name) < 0) all_found = false;
        }
        permuted = !same && all_found;
    }
    dm_status s = DM_OK;
    if (permuted) {
        char a[256], b[256];
        join_labels(a, sizeof a, (const char *const *)m->cfg.labels, n);
        char *saved = json_dumps(arr, JSON_COMPACT);
        snprintf(b, sizeof b, "%s", saved ? saved : "?");
        free(saved);
        s = dmi_fail(DM_ERR_PARSE, "%s: config.json lists the labels as (%s) but the weights were saved with "
                     "the labels in the order %s: the folder mixes two saves (or config.json was reordered "
                     "by hand); save the model again to make them agree", file, a, b);
    }
    json_decref(arr);
    return s;
}

/* ------------------------------------------------------------------ weights */

/* The checkpoint's name for our tensor NAME: as is, without the "bert."
 * prefix (BertModel and sentence-transformers checkpoints), or with the
 * LayerNorm gamma/beta names of old TensorFlow conversions. */
static const dmi_st_tensor *find_tensor(const dmi_safetensors *st, const char *name)
{
    const dmi_st_tensor *t = dmi_st_find(st, name);
    if (t) return t;
    const char *bare = strncmp(name, "bert.", 5) == 0 ? name + 5 : NULL;
    if (bare && (t = dmi_st_find(st, bare))) return t;
    char old[128];
    const char *ln = strstr(name, "LayerNorm.");
    if (!ln) return NULL;
    const char *what = ln + strlen("LayerNorm.");
    const char *repl = strcmp(what, "weight") == 0 ? "gamma" : strcmp(what, "bias") == 0 ? "beta" : NULL;
    if (!repl) return NULL;
    snprintf(old, sizeof old, "%.*s%s", (int)(what - name), name, repl);
    if ((t = dmi_st_find(st, old))) return t;
    if (bare) {
        snprintf(old, sizeof old, "%.*s%s", (int)(what - bare), bare, repl);
        t = dmi_st_find(st, old);
    }
    return t;
}

static void format_shape(char *buf, size_t cap, const int64_t *shape, size_t ndim)
{
    size_t at = 0;
    at += (size_t)snprintf(buf + at, cap - at, "[");
    for (size_t i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < cap) snprintf(buf + at, cap - at, "]");
}

static dm_status check_shape(const dmi_bert_tensor *want, const dmi_st_tensor *t, const char *file)
{
    bool ok = t->ndim == want->ndim;
    for (size_t i = 0; ok && i < want->ndim; i++) ok = (size_t)t->shape[i] == want->shape[i];
    if (ok) return DM_OK;
    char found[128], expected[64];
    format_shape(found, sizeof found, t->shape, t->ndim);
    int64_t w[2] = {(int64_t)want->shape[0], (int64_t)want->shape[1]};
    format_shape(expected, sizeof expected, w, want->ndim);
    return dmi_fail(DM_ERR_RANGE, "%s: tensor '%s': expected shape %s (from config.json), found %s", file,
                    t->name, expected, found);
}

static void init_normal(float *x, size_t n, double std, dmi_rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(dmi_rng_normal(rng) * std);
}

/* Fills HOST (n_params floats) from the checkpoint; the pooler and the head
 * are initialised when absent (the head also when of another size). */
static dm_status load_weights(dm_model *m, const dmi_safetensors *st, const char *file, float *host,
                              uint64_t seed)
{
    dmi_rng rng;
    dmi_rng_init(&rng, seed, HEAD_INIT_STREAM);
    double std = m->cfg.initializer_range;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const dmi_bert_tensor *bt = &m->tensors[i];
        float *dst = host + bt->offset;
        bool is_bias = bt->ndim == 1;
        if (bt->group == 2 && m->new_head) {
            if (is_bias) memset(dst, 0, bt->numel * sizeof *dst);
            else init_normal(dst, bt->numel, std, &rng);
            continue;
        }
        const dmi_st_tensor *t = find_tensor(st, bt->name);
        if (!t && bt->group == 1) {
            m->new_pooler = 1;
            if (is_bias) memset(dst, 0, bt->numel * sizeof *dst);
            else init_normal(dst, bt->numel, std, &rng);
            continue;
        }
        if (!t)
            return dmi_fail(DM_ERR_NOT_FOUND, "%s: tensor '%s' (or '%s') is missing", file, bt->name,
                            strncmp(bt->name, "bert.", 5) == 0 ? bt->name + 5 : bt->name);
        dm_status s = check_shape(bt, t, file);
        if (!s) s = dmi_st_read_f32(st, t, dst);
        if (!s) s = dmi_check_finite(dst, bt->numel, file, t->name);
        if (s) return s;
        dmi_st_drop_pages(st, t);
        if (bt->group == 2 && m->head_perm) permute_rows(dst, m->head_perm, bt->shape[0], bt->ndim == 2 ? bt->shape[1] : 1);
    }
    return DM_OK;
}

dm_status dmi_check_finite(const float *x, size_t n, const char *file, const char *tensor)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && bad++ == 0) first = i;
    if (!bad) return DM_OK;
    return dmi_fail(DM_ERR_NUMERIC, "%s: tensor '%s' has %zu non-finite value%s of %zu (the first, at index %zu, "
                    "is %s)", file, tensor, bad, bad == 1 ? "" : "s", n, first, isnan(x[first]) ? "NaN" :
                    x[first] > 0 ? "+Inf" : "-Inf");
}

/* Rows of X (R x K) reordered: row i becomes old row PERM[i]. */
static void permute_rows(float *x, const uint32_t *perm, size_t R, size_t K)
{
    float *tmp = malloc(R * K * sizeof *tmp);
    if (!tmp) return; /* R x K is the head: a few KB */
    memcpy(tmp, x, R * K * sizeof *tmp);
    for (size_t i = 0; i < R; i++) memcpy(x + i * K, tmp + (size_t)perm[i] * K, K * sizeof *x);
    free(tmp);
}

/* The number of labels of the checkpoint's classifier (0 when it has none). */
static size_t checkpoint_labels(const dmi_safetensors *st, size_t C)
{
    const dmi_st_tensor *w = dmi_st_find(st, "classifier.weight");
    const dmi_st_tensor *b = dmi_st_find(st, "classifier.bias");
    if (!w || !b || w->ndim != 2 || (size_t)w->shape[1] != C || b->ndim != 1 || b->shape[0] != w->shape[0])
        return 0;
    return (size_t)w->shape[0];
}

static dm_status build_params(dm_model *m)
{
    dm_status st = dmi_bert_tensor_table(&m->dims, &m->tensors, &m->n_tensors, &m->n_params);
    if (!st) st = dmi_model_init_trainable(m);
    if (st) return st;
    m->params = m->be->ops->alloc(m->be, m->n_params * sizeof(float));
    if (!m->params) return dmi_fail_prefix(DM_ERR_NO_MEMORY, "model parameters (%zu floats)", m->n_params);
    return dmi_model_map_net(m);
}

dm_status dmi_model_map_net(dm_model *m)
{
    float **pp = dmi_malloc(m->n_tensors * sizeof *pp), **gp = dmi_malloc(m->n_tensors * sizeof *gp);
    dm_status s = pp && gp ? DM_OK : DM_ERR_NO_MEMORY;
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        pp[i] = m->params + m->tensors[i].offset;
        gp[i] = m->grads && m->trainable[i] ? m->grads + m->grad_offset[i] : NULL;
    }
    dmi_bert net = {0};
    if (!s) s = dmi_bert_map(&net, &m->dims, pp, gp, m->n_tensors);
    if (!s && m->params16) dmi_bert_set_bf16(&net, &m->dims, m->params, m->params16);
    if (!s) dmi_bert_unmap(&m->net), m->net = net; /* on failure the old views stay */
    free(pp), free(gp);
    return s;
}

dm_status dmi_model_get_params(const dm_model *m, float *host)
{
    return m->be->ops->download(m->be, host, m->params, m->n_params * sizeof(float));
}

dm_status dmi_model_set_params(dm_model *m, const float *host)
{
    m->params16_stale = true;
    return m->be->ops->upload(m->be, m->params, host, m->n_params * sizeof(float));
}

dm_status dmi_model_load_params(dm_model *m, const char *path)
{
    /* Checkpoints (resume, best.safetensors) are read plain only: no key
     * reaches them. An encrypted one is refused by name, not misread. */
    char enc[4096];
    bool enc_only = !dmi_is_file(path) && snprintf(enc, sizeof enc, "%s.enc", path) < (int)sizeof enc &&
                    dmi_is_file(enc);
    if (enc_only || dmi_is_encrypted_path(path))
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s%s: the weights are encrypted (dm encrypt), and training "
                        "checkpoints are read plain only: resume from a checkpoint whose weights are not "
                        "encrypted", path, enc_only ? ".enc" : "");
    dmi_safetensors *st;
    dm_status s = dmi_st_open(path, &st);
    if (s) return s;
    float *host = dmi_malloc(m->n_params * sizeof(float));
    if (!host) s = DM_ERR_NO_MEMORY;
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        const dmi_bert_tensor *bt = &m->tensors[i];
        const dmi_st_tensor *t = dmi_st_find(st, bt->name);
        if (!t) s = dmi_fail(DM_ERR_NOT_FOUND, "%s: tensor '%s' is missing", path, bt->name);
        if (!s) s = check_shape(bt, t, path);
        if (!s) s = dmi_st_read_f32(st, t, host + bt->offset);
        if (!s) s = dmi_check_finite(host + bt->offset, bt->numel, path, bt->name);
    }
    if (!s) s = dmi_model_set_params(m, host);
    free(host);
    dmi_st_close(st);
    return s;
}

/* ------------------------------------------------------------------ load */

static bool has_file(const char *dir, const char *name)
{
    char path[4096];
    return !dmi_path_join(path, sizeof path, dir, name) && dmi_is_file(path);
}

/* Opens the weights of DIR into *ST, their file's name into PATH (CAP bytes):
 * model.safetensors, or, encrypted (data at rest), model.safetensors.enc or a
 * model.safetensors starting with the "DMENC1" magic, decrypted in memory
 * with KEY. The handle borrows the plaintext (dmi_st_open_memory does not
 * copy): *PLAIN (NULL for a plain file) and *PLAIN_LEN are released with
 * dmi_free_plaintext, which wipes them, after dmi_st_close. */
static dm_status open_weights(const char *dir, const uint8_t *key, char *path, size_t cap, dmi_safetensors **st,
                              uint8_t **plain, size_t *plain_len)
{
    char enc[4096];
    *plain = NULL, *plain_len = 0;
    dm_status s = dmi_path_join(path, cap, dir, "model.safetensors");
    if (!s) s = dmi_path_join(enc, sizeof enc, dir, "model.safetensors.enc");
    if (s) return s;
    bool has_enc = dmi_is_file(enc);
    if (has_enc && dmi_is_file(path))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: both model.safetensors and model.safetensors.enc are in the "
                        "folder: remove one (after dm encrypt, remove the plain model.safetensors)", dir);
    if (has_enc) snprintf(path, cap, "%s", enc);
    bool encrypted = has_enc || dmi_is_encrypted_path(path);
    if (!key) {
        if (encrypted)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s is encrypted (dm encrypt): it needs its key "
                            "(dm_model_options.key, read with dm_read_key_file)", path);
        return dmi_st_open(path, st);
    }
    if (!encrypted)
        return dmi_fail(DM_ERR_AUTH, "%s: a key was given but the weights are not encrypted (they do not start "
                        "with \"DMENC1\"): a key promises an authenticated file; load it without a key, or "
                        "encrypt it with dm encrypt", path);
    char *data = NULL;
    size_t len = 0;
    bool mapped = false;
    if ((s = dmi_map_file(path, true, &data, &len, &mapped))) return s;
    s = dmi_decrypt_data("dm_model_load", path, data, len, key, plain, plain_len);
    dmi_unmap_file(data, len, mapped);
    if (s) return s;
    if ((s = dmi_st_open_memory(*plain, *plain_len, path, st))) {
        dmi_free_plaintext(*plain, *plain_len);
        *plain = NULL, *plain_len = 0;
    }
    return s;
}

/* Every file a model folder needs, all missing ones named at once; a
 * training checkpoint (it has trainer_state.json) is called one, so that a
 * checkpoint cut short is not reported as, say, a tokenizer problem. */
static dm_status check_complete(const char *dir)
{
    bool checkpoint = has_file(dir, "trainer_state.json");
    const char *missing[4];
    size_t n = 0;
    if (!has_file(dir, "config.json")) missing[n++] = "config.json";
    if (!has_file(dir, "model.safetensors") && !has_file(dir, "model.safetensors.enc"))
        missing[n++] = has_file(dir, "pytorch_model.bin") ? "model.safetensors (pytorch_model.bin is not read: "
                                                            "convert it with the safetensors package)"
                                                          : "model.safetensors";
    if (!has_file(dir, "tokenizer.json") && !has_file(dir, "vocab.txt"))
        missing[n++] = "tokenizer files (tokenizer.json or vocab.txt)";
    if (checkpoint && !has_file(dir, "optimizer.safetensors")) missing[n++] = "optimizer.safetensors";
    if (n == 0) return DM_OK;
    char list[1024] = "";
    for (size_t i = 0; i < n; i++) {
        strncat(list, i ? ", no " : "no ", sizeof list - strlen(list) - 1);
        strncat(list, missing[i], sizeof list - strlen(list) - 1);
    }
    if (checkpoint)
        return dmi_fail(DM_ERR_NOT_FOUND, "%s: an incomplete training checkpoint (%s): resume from another one",
                        dir, list);
    return dmi_fail(DM_ERR_NOT_FOUND, "%s: %s in the model folder", dir, list);
}

static dm_status load_into(dm_model *m, const char *dir, const dm_model_options *o)
{
    char model_dir[4096], path[4096];
    if (!dmi_is_dir(dir)) return dmi_fail(DM_ERR_IO, "%s: not a folder (a Hugging Face model folder is expected)", dir);
    read_sentence_transformers(m, dir, model_dir, sizeof model_dir);
    m->src_dir = dmi_strndup(model_dir, strlen(model_dir));
    if (!m->src_dir) return DM_ERR_NO_MEMORY;

    dm_status s = check_complete(model_dir);
    if (!s) s = dmi_path_join(path, sizeof path, model_dir, "config.json");
    if (!s) s = dmi_bert_config_load(path, &m->cfg);
    if (s) return s;

    if ((s = dm_tokenizer_load(model_dir, NULL, &m->tok))) return dmi_fail_prefix(s, "%s: tokenizer", model_dir);
    if ((s = read_tokenizer_files(m, model_dir))) return s;
    if ((s = read_privacy_file(m, model_dir))) return s;
    if (dm_tokenizer_vocab_size(m->tok) > m->cfg.vocab_size)
        return dmi_fail(DM_ERR_RANGE, "%s: the tokenizer has %zu ids but config.json's vocab_size is %zu",
                        model_dir, dm_tokenizer_vocab_size(m->tok), m->cfg.vocab_size);

    dmi_safetensors *st;
    uint8_t *plain; /* the decrypted weights of an encrypted file, which ST borrows */
    size_t plain_len;
    if ((s = open_weights(model_dir, o->key, path, sizeof path, &st, &plain, &plain_len))) return s;
    m->dims = dmi_bert_dims_from_config(&m->cfg, 0);
    s = check_label_stamp(m, st, path);
    if (!s) s = choose_labels(m, o, checkpoint_labels(st, m->cfg.hidden_size), model_dir);
    if (!s) s = dmi_bert_config_set_labels(&m->cfg, (const char *const *)m->labels, m->dims.L);
    if (!s) s = dmb_create(o->device, o->threads, &m->be);
    if (!s) s = build_params(m);
    /* A backend whose memory is the host's gets the weights in place; others
     * through a staging copy (one model's worth less of peak memory on the CPU). */
    dmb_caps caps = {0};
    if (!s) s = m->be->ops->caps(m->be, &caps);
    bool in_place = !s && caps.host_memory;
    float *host = s ? NULL : in_place ? m->params : dmi_malloc(m->n_params * sizeof(float));
    if (!s && !host) s = DM_ERR_NO_MEMORY;
    if (!s) s = load_weights(m, st, path, host, o->seed);
    if (!s && !in_place) s = dmi_model_set_params(m, host);
    if (!in_place) free(host);
    m->params16_stale = true;
    dmi_st_close(st);
    if (plain) dmi_free_plaintext(plain, plain_len);
    return s;
}

DM_API dm_status dm_model_load(const char *dir, const dm_model_options *opts, dm_model **out)
{
    if (!dir || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_load: NULL folder or output");
    dm_model_options o;
    dm_model_options_default(&o);
    if (opts && dmi_copy_options(&o, sizeof o, opts, "dm_model_options")) return DM_ERR_INVALID_ARGUMENT;
    if (o.threads < 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_options.threads must be >= 0 (0 = all cores), got %d",
                        o.threads);
    dm_model *m = dmi_calloc(1, sizeof *m);
    if (!m) return DM_ERR_NO_MEMORY;
    m->threads = o.threads;
    dm_status s = init_lock(m);
    if (!s) s = load_into(m, dir, &o);
    if (!s && o.precision != DM_PRECISION_FP32) s = dm_model_set_precision(m, (dm_precision)o.precision);
    if (s) {
        dm_model_free(m);
        return s;
    }
    *out = m;
    return DM_OK;
}

DM_API void dm_model_free(dm_model *m)
{
    if (!m) return;
    if (m->be) {
        dmi_model_free_grads(m);
        dmi_bert_acts_free(m->be, &m->infer);
        if (m->params16) m->be->ops->free(m->be, m->params16);
        if (m->lowp.scratch) m->be->ops->free(m->be, m->lowp.scratch);
        if (m->params) m->be->ops->free(m->be, m->params);
        dmb_destroy(m->be);
    }
    dmi_bert_unmap(&m->net);
    free(m->tensors);
    if (m->labels)
        for (size_t i = 0; i < m->dims.L; i++) free(m->labels[i]);
    free(m->labels);
    free(m->src_dir);
    free(m->privacy_json);
    for (size_t i = 0; i < DMI_TOKENIZER_FILES; i++) free(m->tok_files[i]);
    dm_tokenizer_free(m->tok);
    dmi_bert_config_free(&m->cfg);
    free(m->head_perm);
    free(m->trainable);
    free(m->grad_offset);
    if (m->lock_ready) pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ------------------------------------------------------------------ save */

/* The label names as a JSON array, stamped into model.safetensors' metadata
 * (see check_label_stamp). */
static char *labels_stamp(const dm_model *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < m->dims.L; i++) json_array_append_new(arr, json_string(m->labels[i]));
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!text) dmi_fail(DM_ERR_NO_MEMORY, "out of memory writing the label stamp");
    return text;
}

/* Weights that are not all finite are never written: a NaN in a saved model
 * would only surface later, as every prediction silently being label 0. */
static dm_status save_weights(const dm_model *m, const char *path)
{
    float *host = dmi_malloc(m->n_params * sizeof(float));
    if (!host) return DM_ERR_NO_MEMORY;
    dmi_st_out *outs = dmi_calloc(m->n_tensors, sizeof *outs);
    char *stamp = outs ? labels_stamp(m) : NULL;
    dm_status s = stamp ? dmi_model_get_params(m, host) : DM_ERR_NO_MEMORY;
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        const dmi_bert_tensor *t = &m->tensors[i];
        outs[i].name = t->name;
        outs[i].dtype = DMI_F32;
        outs[i].ndim = t->ndim;
        outs[i].shape[0] = (int64_t)t->shape[0];
        outs[i].shape[1] = (int64_t)t->shape[1];
        outs[i].data = host + t->offset;
        s = dmi_check_finite(host + t->offset, t->numel, "the model's weights", t->name);
    }
    const char *meta[4] = {"format", "pt", "dm_labels", stamp};
    if (!s) s = dmi_st_write(path, outs, m->n_tensors, meta, 2);
    free(stamp);
    free(outs);
    free(host);
    return s;
}

static const char *const tokenizer_files[DMI_TOKENIZER_FILES] = {"tokenizer.json", "vocab.txt",
                                                                   "tokenizer_config.json",
                                                                   "special_tokens_map.json"};

/* Keeps the folder's tokenizer files as loaded, so that saving writes what
 * was loaded even if the folder changes in between. */
static dm_status read_tokenizer_files(dm_model *m, const char *dir)
{
    for (size_t i = 0; i < DMI_TOKENIZER_FILES; i++) {
        char path[4096];
        dm_status s = dmi_path_join(path, sizeof path, dir, tokenizer_files[i]);
        if (!s && dmi_is_file(path)) s = dmi_read_file(path, &m->tok_files[i], &m->tok_file_lens[i]);
        if (s) return s;
    }
    return DM_OK;
}

/* privacy.json (a DP-SGD run's parameters and epsilon) is kept as loaded and
 * written again with the model: a copy of a private model stays labelled. */
static dm_status read_privacy_file(dm_model *m, const char *dir)
{
    char path[4096];
    size_t len;
    dm_status s = dmi_path_join(path, sizeof path, dir, "privacy.json");
    if (!s && dmi_is_file(path)) s = dmi_read_file(path, &m->privacy_json, &len);
    return s;
}

/* The tokenizer files byte for byte as they came, or, when the source had
 * none of them, written from the loaded tokenizer. */
static dm_status save_tokenizer(const dm_model *m, const char *dir)
{
    int written = 0;
    for (size_t i = 0; i < DMI_TOKENIZER_FILES; i++) {
        if (!m->tok_files[i]) continue;
        char dst[4096];
        dm_status s = dmi_path_join(dst, sizeof dst, dir, tokenizer_files[i]);
        if (!s) s = dmi_write_file_atomic(dst, m->tok_files[i], m->tok_file_lens[i]);
        if (s) return s;
        written++;
    }
    return written ? DM_OK : dm_tokenizer_save(m->tok, dir);
}

/* The files of a model folder that a save replaces. Anything else in an
 * existing folder (checkpoint-N folders, logs, a README, sentence-transformers
 * modules) is carried over into the new one. Weight files in other formats
 * are replaced too: left beside ours they would describe another model. */
static bool model_file(const char *name)
{
    static const char *const names[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                                        "pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5",
                                        "flax_model.msgpack", "tokenizer.json", "vocab.txt",
                                        "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                        "privacy.json", "model.safetensors.enc"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0) return true;
    size_t n = strlen(name);
    bool shard_st = strncmp(name, "model-", 6) == 0 && n > 12 && strcmp(name + n - 12, ".safetensors") == 0;
    bool shard_pt = strncmp(name, "pytorch_model-", 14) == 0 && n > 4 && strcmp(name + n - 4, ".bin") == 0;
    return shard_st || shard_pt;
}

dm_status dmi_model_write_files(const dm_model *m, const char *dir)
{
    char path[4096];
    dm_status s = dmi_path_join(path, sizeof path, dir, "model.safetensors");
    if (!s) s = save_weights(m, path);
    if (!s) s = save_tokenizer(m, dir);
    if (!s) s = dmi_path_join(path, sizeof path, dir, "config.json");
    if (!s) s = dmi_bert_config_save(&m->cfg, path);
    if (!s && m->privacy_json) s = dmi_path_join(path, sizeof path, dir, "privacy.json");
    if (!s && m->privacy_json) s = dmi_write_file_atomic(path, m->privacy_json, strlen(m->privacy_json));
    return s;
}

DM_API dm_status dm_model_save(const dm_model *m, const char *dir)
{
    if (!m || !dir) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_save: NULL model or folder");
    dm_model *mm = (dm_model *)m; /* the lock is not part of the model's value */
    dm_status s = dmi_model_enter(mm, "dm_model_save");
    if (s) return s;
    dmi_stage sg;
    s = dmi_stage_begin(&sg, dir);
    if (!s) {
        s = dmi_model_write_files(m, sg.tmp);
        if (!s) s = dmi_stage_commit(&sg, model_file);
        else dmi_stage_abort(&sg);
    }
    dmi_model_leave(mm);
    return s ? dmi_fail_prefix(s, "saving the model to %s", dir) : DM_OK;
}

/* ------------------------------------------------------------------ info */

DM_API dm_status dm_model_get_info(const dm_model *m, dm_model_info *info)
{
    if (!m || !info) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_get_info: NULL model or info");
    if (info->struct_size < sizeof(size_t))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_info: set struct_size to sizeof(dm_model_info)");
    dm_model_info full = {0};
    full.struct_size = sizeof full;
    full.vocab_size = m->dims.V;
    full.hidden_size = m->dims.C;
    full.num_layers = m->dims.layers;
    full.num_heads = m->dims.H;
    full.intermediate_size = m->dims.I;
    full.max_position_embeddings = m->dims.P;
    full.type_vocab_size = m->dims.TV;
    full.num_labels = m->dims.L;
    full.num_parameters = m->n_params;
    full.new_head = m->new_head;
    full.device = m->be->ops->device;
    full.backend_name = m->be->ops->name;
    pthread_mutex_lock(&((dm_model *)m)->lock); /* precision may be changing on another thread */
    full.precision = (int)m->precision;
    full.num_trainable_parameters = dmi_model_trainable_floats(m);
    full.memory_bytes = m->be->mem_used;
    full.memory_peak_bytes = m->be->mem_peak;
    pthread_mutex_unlock(&((dm_model *)m)->lock);
    size_t n = info->struct_size < sizeof full ? info->struct_size : sizeof full;
    memcpy(info, &full, n);
    info->struct_size = n;
    return DM_OK;
}

DM_API const char *dm_model_label_name(const dm_model *m, int32_t id)
{
    if (!m || id < 0 || (size_t)id >= m->dims.L) return NULL;
    return m->labels[id];
}

DM_API const dm_tokenizer *dm_model_tokenizer(const dm_model *m) { return m ? m->tok : NULL; }

DM_API dm_status dm_model_set_threads(dm_model *m, int threads)
{
    if (!m) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_set_threads: NULL model");
    if (threads < 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "threads must be >= 0 (0 = all cores), got %d", threads);
    dm_status s = dmi_model_enter(m, "dm_model_set_threads");
    if (s) return s;
    m->threads = threads;
    s = dmb_set_threads(m->be, threads);
    dmi_model_leave(m);
    return s;
}

/* ------------------------------------------------------------------ forward on ids */

static dm_status refresh_lowp(dm_model *m)
{
    dmb_backend *be = m->be;
    size_t wide = 3 * m->dims.C > m->dims.I ? 3 * m->dims.C : m->dims.I;
    size_t scratch = m->infer.max_B * m->infer.max_T * (wide > m->dims.C ? wide : m->dims.C);
    if (m->lowp.scratch) be->ops->free(be, m->lowp.scratch);
    m->lowp.scratch = be->ops->alloc(be, scratch * sizeof(uint16_t));
    if (!m->lowp.scratch) return DM_ERR_NO_MEMORY;
    if (!m->params16 || m->params16_stale) {
        if (!m->params16 && !(m->params16 = be->ops->alloc(be, m->n_params * sizeof(uint16_t))))
            return DM_ERR_NO_MEMORY;
        dm_status s = be->ops->to_bf16(be, m->params16, m->params, m->n_params);
        if (s) return s;
        m->params16_stale = false;
    }
    dmi_bert_set_bf16(&m->net, &m->dims, m->params, m->params16);
    m->infer.lowp = &m->lowp;
    return DM_OK;
}

dm_status dmi_model_infer_acts(dm_model *m, size_t B, size_t T)
{
    bool grow = !m->infer.block || B > m->infer.max_B || T > m->infer.max_T;
    if (grow) {
        size_t nb = B > m->infer.max_B ? B : m->infer.max_B;
        size_t nt = T > m->infer.max_T ? T : m->infer.max_T;
        dmi_bert_acts_free(m->be, &m->infer);
        dm_status s = dmi_bert_acts_alloc(m->be, &m->dims, nb, nt, false, &m->infer);
        if (s) return s;
    }
    if (m->precision != DM_PRECISION_BF16) {
        m->infer.lowp = NULL;
        return DM_OK;
    }
    if (grow || !m->lowp.scratch || m->params16_stale || !m->params16) return refresh_lowp(m);
    m->infer.lowp = &m->lowp;
    return DM_OK;
}

static dm_status set_precision(dm_model *m, dm_precision precision);

DM_API dm_status dm_model_set_precision(dm_model *m, dm_precision precision)
{
    if (!m) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_set_precision: NULL model");
    if (precision != DM_PRECISION_FP32 && precision != DM_PRECISION_BF16)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "precision %d is not a dm_precision", (int)precision);
    dm_status s = dmi_model_enter(m, "dm_model_set_precision");
    if (s) return s;
    s = set_precision(m, precision);
    dmi_model_leave(m);
    return s;
}

static dm_status set_precision(dm_model *m, dm_precision precision)
{
    if (precision == DM_PRECISION_BF16) {
        /* The backend says whether it has bfloat16 products, so that a CPU
         * without them fails here, not in the middle of a prediction. */
        dmb_caps caps;
        dm_status s = m->be->ops->caps(m->be, &caps);
        if (s) return s;
        if (!caps.bf16)
            return dmi_fail(DM_ERR_UNSUPPORTED, "the %s backend has no bfloat16 matrix products on this machine: "
                            "use float32 precision", m->be->ops->name);
        m->params16_stale = true;
    }
    m->precision = precision;
    return DM_OK;
}

static dm_status check_ids(const dm_model *m, size_t n, const int32_t *ids, const int32_t *types)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= m->dims.V)
            return dmi_fail(DM_ERR_RANGE, "ids[%zu] = %d is not a token id (vocab_size %zu)", i, ids[i], m->dims.V);
        if (types && (types[i] < 0 || (size_t)types[i] >= m->dims.TV))
            return dmi_fail(DM_ERR_RANGE, "type_ids[%zu] = %d is out of range (type_vocab_size %zu)", i, types[i],
                            m->dims.TV);
    }
    return DM_OK;
}

static dm_status forward(dm_model *m, size_t batch, size_t seq_len, const int32_t *ids, const int32_t *type_ids,
                         const uint8_t *attention_mask, float *logits, float *hidden, float *pooled);

DM_API dm_status dm_model_forward(dm_model *m, size_t batch, size_t seq_len, const int32_t *ids,
                                  const int32_t *type_ids, const uint8_t *attention_mask, float *logits,
                                  float *hidden, float *pooled)
{
    if (!m || !ids || !logits) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_forward: NULL model, ids or logits");
    dm_status s = dmi_model_enter(m, "dm_model_forward");
    if (s) return s;
    s = forward(m, batch, seq_len, ids, type_ids, attention_mask, logits, hidden, pooled);
    dmi_model_leave(m);
    return s;
}

static dm_status forward(dm_model *m, size_t batch, size_t seq_len, const int32_t *ids, const int32_t *type_ids,
                         const uint8_t *attention_mask, float *logits, float *hidden, float *pooled)
{
    if (batch == 0 || seq_len == 0) return dmi_fail(DM_ERR_RANGE, "dm_model_forward: empty batch (%zu x %zu)", batch, seq_len);
    if (seq_len > m->dims.P)
        return dmi_fail(DM_ERR_RANGE, "sequence length %zu exceeds max_position_embeddings %zu", seq_len, m->dims.P);
    size_t n = batch * seq_len;
    dm_status s = check_ids(m, n, ids, type_ids);
    if (s) return s;
    if ((s = dmi_model_infer_acts(m, batch, seq_len))) return s;
    dmi_bert_acts *a = &m->infer;
    float *mask = dmi_malloc(n * sizeof *mask);
    int32_t *types = type_ids ? NULL : dmi_calloc(n, sizeof *types);
    if (!mask || (!type_ids && !types)) {
        free(mask);
        free(types);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) mask[i] = attention_mask ? (attention_mask[i] != 0) : 1.0f;
    for (size_t b = 0; b < batch && !s; b++) {
        bool any = false;
        for (size_t t = 0; t < seq_len; t++) any |= mask[b * seq_len + t] != 0.0f;
        if (!any) s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "attention_mask of sequence %zu is all zeros", b);
    }
    const struct dmb_ops *o = m->be->ops;
    if (!s) s = o->upload(m->be, a->ids, ids, n * sizeof(int32_t));
    if (!s) s = o->upload(m->be, a->types, type_ids ? type_ids : types, n * sizeof(int32_t));
    if (!s) s = o->upload(m->be, a->key_mask, mask, n * sizeof(float));
    free(mask);
    free(types);
    if (!s) s = dmi_bert_forward(m->be, &m->dims, &m->net, a, batch, seq_len, NULL, NULL, 0.0f);
    if (!s) s = o->download(m->be, logits, a->logits, batch * m->dims.L * sizeof(float));
    if (!s) s = dmi_check_logits(logits, batch, m->dims.L, NULL, "dm_model_forward (sequence K)");
    if (!s && hidden) s = o->download(m->be, hidden, a->out, n * m->dims.C * sizeof(float));
    if (!s && pooled) s = o->download(m->be, pooled, a->pooled, batch * m->dims.C * sizeof(float));
    return s;
}
