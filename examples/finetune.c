/* finetune.c — fine-tune a pretrained BERT on a labelled file, evaluate it,
 * save it, and classify a sentence. Build against an installed library with:
 *   cc finetune.c $(pkg-config --cflags --libs datamodel) -o finetune
 * Run: ./finetune MODEL_DIR TRAIN.tsv DEV.tsv OUT_DIR "a sentence to classify"
 * (CSV, TSV or JSONL with a header; text column sentence/text/review, labels
 * in "label"). */
#include <datamodel.h>
#include <stdio.h>
#include <string.h>

static int report_failure(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, dm_last_error());
    return 1;
}

/* Called after every optimizer step and evaluation; returning non-zero stops. */
static int show_progress(const dm_train_progress *p, void *user)
{
    (void)user;
    if (p->evaluated)
        printf("step %llu/%llu: validation accuracy %.4f\n", (unsigned long long)p->step,
               (unsigned long long)p->total_steps, p->val_accuracy);
    else if (p->step % 50 == 0)
        printf("step %llu/%llu: loss %.4f, %.1f examples/s\n", (unsigned long long)p->step,
               (unsigned long long)p->total_steps, p->loss, p->examples_per_sec);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL_DIR TRAIN DEV OUT_DIR TEXT\n", argv[0]);
        return 2;
    }
    dm_dataset *train = NULL, *dev = NULL;
    if (dm_dataset_load(argv[2], NULL, &train) || dm_dataset_load(argv[3], NULL, &dev))
        return report_failure("loading data");

    /* The training data's label names become the new head's labels. */
    size_t n_labels = dm_dataset_num_labels(train);
    const char *labels[64];
    for (size_t i = 0; i < n_labels && i < 64; i++) labels[i] = dm_dataset_label_name(train, (int32_t)i);
    dm_model_options mo;
    dm_model_options_default(&mo);
    mo.labels = labels;
    mo.n_labels = n_labels;
    dm_model *model = NULL;
    if (dm_model_load(argv[1], &mo, &model)) return report_failure("loading the model");

    dm_train_options to;
    dm_train_options_default(&to);
    to.epochs = 1;
    to.learning_rate = 1e-4;
    to.warmup_ratio = 0.1;
    to.max_length = 64;
    to.output_dir = argv[4]; /* the final (best) model is saved there */
    to.callback = show_progress;
    dm_train_result res = {.struct_size = sizeof res};
    if (dm_train(model, train, dev, &to, &res)) return report_failure("training");
    printf("%llu steps in %.0f s; best validation accuracy %.4f\n", (unsigned long long)res.steps, res.seconds,
           res.best_val_metric);

    dm_eval_report *report = NULL;
    char *text = NULL;
    size_t len;
    if (dm_model_evaluate(model, dev, NULL, &report) || dm_eval_report_text(report, 4, &text, &len))
        return report_failure("evaluating");
    fputs(text, stdout);
    dm_free(text);
    dm_eval_report_free(report);

    const char *sentence = argv[5];
    size_t sentence_len = strlen(sentence);
    float probs[64];
    int32_t label;
    if (n_labels > 64 || dm_model_predict(model, 1, &sentence, &sentence_len, NULL, NULL, NULL, NULL, probs, &label))
        return report_failure("predicting");
    printf("\"%s\" -> %s (%.3f)\n", sentence, dm_model_label_name(model, label), probs[label]);

    dm_model_free(model);
    dm_dataset_free(train);
    dm_dataset_free(dev);
    return 0;
}
