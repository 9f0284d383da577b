/* tokenize.c — load a tokenizer, encode a sentence pair, print ids and the
 * text each token came from. Build against an installed library with:
 *   cc tokenize.c $(pkg-config --cflags --libs datamodel) -o tokenize
 * Run: ./tokenize path/to/model-folder "First sentence." "Second one." */
#include <datamodel.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER TEXT [PAIR]\n", argv[0]);
        return 2;
    }
    dm_tokenizer *tok = NULL;
    if (dm_tokenizer_load(argv[1], NULL, &tok) != DM_OK) {
        fprintf(stderr, "error: %s\n", dm_last_error());
        return 1;
    }
    dm_encode_options opts;
    dm_encode_options_default(&opts);
    opts.truncation = DM_TRUNCATE_LONGEST_FIRST;
    opts.max_length = 128;

    const char *pair = argc > 3 ? argv[3] : NULL;
    dm_encoding *enc = NULL;
    dm_status st = dm_tokenizer_encode(tok, argv[2], strlen(argv[2]), pair, pair ? strlen(pair) : 0, &opts, &enc);
    if (st != DM_OK) {
        fprintf(stderr, "error: %s\n", dm_last_error());
        dm_tokenizer_free(tok);
        return 1;
    }
    for (size_t i = 0; i < enc->length; i++) {
        const char *src = enc->type_ids[i] == 0 || !pair ? argv[2] : pair;
        uint32_t from = enc->offsets[2 * i], to = enc->offsets[2 * i + 1];
        printf("%6d  %-12s type=%d  \"%.*s\"\n", enc->ids[i], enc->tokens[i], enc->type_ids[i], (int)(to - from),
               src + from);
    }
    dm_encoding_free(enc);
    dm_tokenizer_free(tok);
    return 0;
}
