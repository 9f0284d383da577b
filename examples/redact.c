/* redact.c — anonymise lines of text: e-mail addresses and phone numbers
 * become keyed pseudonyms, card numbers are masked but for their last four
 * digits, everything else the detector finds becomes <TYPE>. Build against an
 * installed library:
 *   cc redact.c $(pkg-config --cflags --libs datamodel) -o redact
 * Run: openssl rand -hex 32 > key.hex; ./redact key.hex < notes.txt */
#include <datamodel.h>
#include <stdio.h>
#include <string.h>

static int set_op(dm_pii *pii, const char *type, dm_pii_operator op)
{
    dm_pii_operator_config c;
    dm_pii_operator_config_default(&c); /* mask '*', keep_last 4, hash_chars 8 */
    c.op = op;
    return dm_pii_set_operator(pii, type, &c) != DM_OK;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s KEY_FILE < text\n", argv[0]);
        return 2;
    }
    dm_pii *pii = NULL;
    if (dm_pii_create(NULL, &pii) || dm_pii_load_key_file(pii, argv[1]) ||
        set_op(pii, "EMAIL_ADDRESS", DM_PII_HASH) || set_op(pii, "PHONE_NUMBER", DM_PII_HASH) ||
        set_op(pii, "CREDIT_CARD", DM_PII_MASK)) {
        fprintf(stderr, "error: %s\n", dm_last_error());
        dm_pii_free(pii);
        return 1;
    }
    char line[65536];
    int rc = 0;
    for (size_t n = 1; fgets(line, sizeof line, stdin); n++) {
        size_t len = strcspn(line, "\n");
        char *out = NULL;
        size_t out_len = 0;
        if (dm_pii_anonymize(pii, line, len, &out, &out_len, NULL, NULL) != DM_OK) {
            fprintf(stderr, "line %zu: %s\n", n, dm_last_error());
            rc = 1;
            continue;
        }
        printf("%s\n", out);
        dm_free(out);
    }
    dm_pii_free(pii);
    return rc;
}
