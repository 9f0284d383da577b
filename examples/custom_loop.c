/* custom_loop.c — a training loop written by hand with the library's pieces:
 * tokenize a batch, run the model's forward and backward pass, take an AdamW
 * step; the bottom layers frozen, a per-example loss weight, and the
 * optimizer's state saved at the end. dm_train does all of this (and more)
 * for you; this is for the loop you want to write yourself.
 * Build against an installed library with:
 *   cc custom_loop.c $(pkg-config --cflags --libs datamodel) -o custom_loop
 * Run: ./custom_loop MODEL_DIR TRAIN.tsv OUT_DIR
 * (CSV, TSV or JSONL with a header; text column sentence/text/review, labels
 * in "label"). */
#include <datamodel.h>
#include <stdio.h>
#include <stdlib.h>

enum { BATCH = 16, MAX_LENGTH = 64 };

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, dm_last_error());
    return 1;
}

/* One optimizer step on rows FIRST .. FIRST+B-1 of DS. */
static dm_status train_on(dm_model *m, dm_optimizer *opt, const dm_dataset *ds, size_t first, size_t B,
                          uint64_t stream, double *loss)
{
    const char *texts[BATCH];
    size_t lens[BATCH];
    int32_t labels[BATCH];
    for (size_t i = 0; i < B; i++) {
        texts[i] = dm_dataset_text(ds, first + i, &lens[i]);
        /* the model was loaded with the dataset's label names, in its order */
        labels[i] = dm_dataset_label(ds, first + i);
    }
    dm_encode_options eo;
    dm_encode_options_default(&eo);
    eo.truncation = DM_TRUNCATE_LONGEST_FIRST;
    eo.max_length = MAX_LENGTH;
    eo.padding = DM_PAD_TO_LONGEST; /* one B x longest matrix */
    dm_encodings_flat *enc = NULL;
    dm_status s = dm_tokenizer_encode_batch_flat(dm_model_tokenizer(m), B, texts, lens, NULL, NULL, &eo, &enc);
    if (s) return s;
    dm_batch batch = {.struct_size = sizeof batch, .batch = B, .seq_len = enc->longest, .ids = enc->ids,
                      .type_ids = enc->type_ids, .attention_mask = enc->attention_mask, .labels = labels};
    dm_backward_options bo;
    dm_backward_options_default(&bo);
    bo.grad_scale = 1.0 / (double)B; /* the gradient of the batch's mean loss */
    bo.stream = stream;              /* fresh dropout masks for every batch */
    double loss_sum;
    s = dm_model_forward_backward(m, &batch, &bo, &loss_sum, NULL);
    dm_encodings_flat_free(enc);
    if (!s) s = dm_optimizer_step(opt, NULL); /* clip, AdamW, gradients back to zero */
    *loss = loss_sum / (double)B;
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL_DIR TRAIN OUT_DIR\n", argv[0]);
        return 2;
    }
    dm_dataset *train = NULL;
    if (dm_dataset_load(argv[2], NULL, &train)) return fail(argv[2]);
    size_t n_labels = dm_dataset_num_labels(train), n = dm_dataset_size(train);
    const char **names = malloc((n_labels ? n_labels : 1) * sizeof *names);
    for (size_t i = 0; i < n_labels; i++) names[i] = dm_dataset_label_name(train, (int32_t)i);
    dm_model_options mo;
    dm_model_options_default(&mo);
    mo.labels = names;
    mo.n_labels = n_labels;
    dm_model *m = NULL;
    int rc = 0;
    if (dm_model_load(argv[1], &mo, &m)) {
        rc = fail(argv[1]);
        goto done;
    }
    /* Freeze the embeddings and the bottom layer: they get no gradient, no
     * optimizer state, and the backward pass stops above them. */
    if (dm_model_set_trainable(m, "bert.embeddings.", 0) || dm_model_set_trainable(m, "bert.encoder.layer.0.", 0)) {
        rc = fail("freezing");
        goto done;
    }
    dm_optimizer_options oo;
    dm_optimizer_options_default(&oo);
    oo.learning_rate = 1e-4;
    oo.total_steps = (n + BATCH - 1) / BATCH; /* one epoch, linear decay */
    oo.warmup_steps = oo.total_steps / 10;
    dm_optimizer *opt = NULL;
    if (dm_optimizer_create(m, &oo, &opt)) {
        rc = fail("optimizer");
        goto done;
    }
    for (size_t first = 0, step = 0; first < n && !rc; first += BATCH, step++) {
        size_t B = n - first < BATCH ? n - first : BATCH;
        double loss;
        if (train_on(m, opt, train, first, B, step, &loss)) rc = fail("training");
        else if (step % 20 == 0) printf("step %zu: loss %.4f\n", step + 1, loss);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", argv[3]);
    if (!rc && dm_model_save(m, argv[3])) rc = fail("saving the model");
    if (!rc && dm_optimizer_save(opt, path)) rc = fail("saving the optimizer");
    if (!rc) printf("saved the model and the optimizer's state to %s\n", argv[3]);
    dm_optimizer_free(opt);
done:
    dm_model_free(m);
    dm_dataset_free(train);
    free(names);
    return rc;
}
