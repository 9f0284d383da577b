/*
 * commands.h — the commands of the dm tool and their help texts, for the
 * command table of dm.c. Each command is int cmd_NAME(argc, argv) with
 * argv[0] the command's name; its help text is what `dm help NAME` and
 * `dm NAME --help` print.
 */
#ifndef DM_CLI_COMMANDS_H
#define DM_CLI_COMMANDS_H

#include "toolkit.h"

/* dm_tokenize.c: tokenize, decode, tokenizer train|info|lookup|save */
int cmd_tokenize(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
extern const char help_tokenize[], help_decode[], help_tokenizer[];

/* dm_train_cmd.c: init, train */
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
extern const char help_init[], help_train[];

/* dm_infer.c: eval, predict, embed, forward */
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_forward(int argc, char **argv);
extern const char help_eval[], help_predict[], help_embed[], help_forward[];

/* dm_metrics.c: metrics */
int cmd_metrics(int argc, char **argv);
extern const char help_metrics[];

/* dm_model.c: model info */
int cmd_model(int argc, char **argv);
extern const char help_model[];

/* dm_data.c: profile, clean, dedup, conflicts, split, resample, class-weights, augment */
int cmd_profile(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_dedup(int argc, char **argv);
int cmd_conflicts(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_resample(int argc, char **argv);
int cmd_class_weights(int argc, char **argv);
int cmd_augment(int argc, char **argv);
extern const char help_profile[], help_clean[], help_dedup[], help_conflicts[], help_split[], help_resample[],
    help_class_weights[], help_augment[];

/* dm_redact.c: redact */
int cmd_redact(int argc, char **argv);
extern const char help_redact[];

/* dm_dp.c: dp epsilon|noise|audit; dm_dp_norms.c: dp norms */
int cmd_dp(int argc, char **argv);
extern const char help_dp[];
int cmd_dp_norms(int argc, char **argv);
extern const char help_dp_norms[];

/* dm_crypt.c: encrypt, decrypt, keygen; and the --key FILE option of the
 * commands that load datasets: key_option reads the key file into O->key
 * (OPT_NOT_MINE, 0, or an exit code with its message); read_key_option
 * reads PATH into the tool's one data key and points *KEY at it. */
int cmd_encrypt(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
extern const char help_encrypt[], help_decrypt[], help_keygen[];
int key_option(args_t *a, const char *arg, dm_dataset_options *o);
int read_key_option(const char *path, const uint8_t **key);
/* --model-key FILE, the key of a model folder's encrypted weights, into
 * O->key (a key of its own: a run may take --key too). */
int model_key_option(args_t *a, const char *arg, dm_model_options *o);

#endif /* DM_CLI_COMMANDS_H */
