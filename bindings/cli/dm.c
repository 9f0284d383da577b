/*
 * dm — the libdatamodel command line tool: main and the command table.
 *
 *   dm tokenize, decode, tokenizer train|info|lookup|save   (dm_tokenize.c)
 *   dm init, train                                          (dm_train_cmd.c)
 *   dm eval, predict, embed, forward                        (dm_infer.c)
 *   dm metrics                                              (dm_metrics.c)
 *   dm model info                                           (dm_model.c)
 *   dm profile, clean, dedup, conflicts, split,             (dm_data.c)
 *      resample, class-weights, augment
 *   dm redact                                               (dm_redact.c)
 *   dm dp epsilon|noise|audit|norms                         (dm_dp.c, dm_dp_norms.c)
 *   dm encrypt, decrypt, keygen                             (dm_crypt.c)
 *   dm help [COMMAND], dm --version
 *
 * Every command is one row of the table below: its name, its function, its
 * help text and its lines in `dm help`. What the commands share (errors,
 * arguments, output files, the line reader, the UTF-8 check, the progress
 * bar, the block stream) is toolkit.c's. Ctrl-C sets a flag that the
 * library's progress callbacks return, so work stops cleanly. Exit codes: 0
 * success, 1 failure (message on stderr), 2 usage error, 130 interrupted.
 */
#include "commands.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int cmd_help(int argc, char **argv);

/* A line of `dm help`: LABEL (NULL: the command's name) and what it does;
 * TEXT may go on over several lines. */
typedef struct {
    const char *label, *text;
} summary_line;

typedef struct {
    const char *name; /* dm NAME */
    int (*run)(int argc, char **argv);
    const char *help; /* dm help NAME, dm NAME --help (NULL: none) */
    summary_line summary[4];
} command;

/* In the order `dm help` lists them. */
static const command commands[] = {
    {"tokenize", cmd_tokenize, help_tokenize, {{NULL, "encode texts (one per line) with a Hugging Face tokenizer"}}},
    {"decode", cmd_decode, help_decode, {{NULL, "turn lines of token ids back into text"}}},
    {"tokenizer", cmd_tokenizer, help_tokenizer,
     {{"tokenizer train", "learn a WordPiece vocabulary from text files"},
      {"tokenizer info", "vocabulary size and special tokens of a tokenizer"},
      {"tokenizer lookup", "token -> id, or id -> token"},
      {"tokenizer save", "write a tokenizer as vocab.txt + tokenizer.json + tokenizer_config.json"}}},
    {"init", cmd_init, help_init, {{NULL, "a model folder with a new classification head"}}},
    {"train", cmd_train, help_train, {{NULL, "fine-tune a classifier on labelled CSV/TSV/JSONL data"}}},
    {"eval", cmd_eval, help_eval, {{NULL, "classification report of a model on labelled data"}}},
    {"metrics", cmd_metrics, help_metrics,
     {{NULL, "classification report of predictions made elsewhere (a CSV/TSV/JSONL file)"}}},
    {"predict", cmd_predict, help_predict, {{NULL, "label and probability of each text (one per line)"}}},
    {"embed", cmd_embed, help_embed, {{NULL, "sentence embedding of each text (one per line)"}}},
    {"forward", cmd_forward, help_forward, {{NULL, "logits (and hidden states) of lines of token ids"}}},
    {"model", cmd_model, help_model, {{"model info", "labels, sizes and backend of a model folder"}}},
    {"profile", cmd_profile, help_profile,
     {{NULL, "what a data set holds: classes, lengths, duplicates, conflicts (JSON, HTML)"}}},
    {"clean", cmd_clean, help_clean,
     {{NULL, "normalise texts (NFKC, HTML, control characters, spaces), drop bad rows"}}},
    {"dedup", cmd_dedup, help_dedup, {{NULL, "remove exact and near duplicates (MinHash LSH)"}}},
    {"conflicts", cmd_conflicts, help_conflicts, {{NULL, "texts that carry different labels; keep, drop or vote"}}},
    {"split", cmd_split, help_split,
     {{NULL, "train/val/test or K folds: stratified, grouped, with a leakage check"}}},
    {"resample", cmd_resample, help_resample, {{NULL, "over- or under-sample to balance the classes"}}},
    {"class-weights", cmd_class_weights, help_class_weights, {{NULL, "balanced class weights, as scikit-learn's"}}},
    {"augment", cmd_augment, help_augment,
     {{NULL, "new rows by EDA (synonyms, insertion, swap, deletion) and typos"}}},
    {"redact", cmd_redact, help_redact,
     {{NULL, "find personal data (emails, phones, cards, IDs, ...) and redact, mask,\n"
             "hash or encrypt it, in lines or a data set"}}},
    {"dp", cmd_dp, help_dp,
     {{"dp epsilon", "the (epsilon, delta) that DP-SGD training spends (Opacus' RDP accountant)"},
      {"dp noise", "the noise multiplier that keeps DP-SGD training within a privacy budget"},
      {"dp audit", "the epsilon a one-run canary audit certifies (Steinke, Nasr and Jagielski)"},
      {"dp norms", "each example's gradient norm under a model: choosing DP-SGD's clipping norm"}}},
    {"encrypt", cmd_encrypt, help_encrypt,
     {{NULL, "encrypt a dataset or model file with a key file (XChaCha20-Poly1305 secretstream)"}}},
    {"decrypt", cmd_decrypt, help_decrypt, {{NULL, "decrypt a file written by dm encrypt, refusing tampered ones"}}},
    {"keygen", cmd_keygen, help_keygen, {{NULL, "write a new random key file (mode 0600)"}}},
    {"help", cmd_help, NULL, {{"help [COMMAND]", "this text, or a command's"}}},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* "  LABEL             TEXT", the text's further lines indented to match. */
static void print_summary(FILE *f, const command *c)
{
    for (size_t k = 0; k < sizeof c->summary / sizeof c->summary[0] && c->summary[k].text; k++) {
        fprintf(f, "  %-17s ", c->summary[k].label ? c->summary[k].label : c->name);
        for (const char *t = c->summary[k].text; *t; t++) {
            fputc(*t, f);
            if (*t == '\n') fprintf(f, "%20s", "");
        }
        fputc('\n', f);
    }
}

static void print_main_help(FILE *f)
{
    fputs("usage: dm COMMAND [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < N_COMMANDS; i++) print_summary(f, &commands[i]);
    fputs("\noptions for every command: -h/--help; dm --version prints the library version.\n", f);
}

static int cmd_help(int argc, char **argv)
{
    const char *topic = argc > 1 ? argv[1] : NULL;
    if (!topic) {
        print_main_help(stdout);
        return 0;
    }
    const command *c = find_command(topic);
    if (!c || !c->help) return usage_error("no help for '%s'", topic);
    fputs(c->help, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART; /* reads go on; the flag is polled between blocks */
    sigaction(SIGINT, &sa, NULL);
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("dm (libdatamodel) %s\n", dm_version());
        return 0;
    }
    if (is_opt(name, "-h", "--help")) return cmd_help(argc - 1, argv + 1);
    const command *c = find_command(name);
    if (!c) return usage_error("unknown command '%s'", name);
    return c->run(argc - 1, argv + 1);
}
