/*
 * pii_ops.h — the operator step of anonymisation on its own, for the tests
 * and for callers that already hold a detection, and the calls on one text
 * without the handle's lock, for the batches (pii_batch.c) that take it once
 * (pii_ops.c).
 */
#ifndef DM_PRIVACY_PII_OPS_H
#define DM_PRIVACY_PII_OPS_H

#include "pii_impl.h"

/* TEXT (LEN bytes) with each of the N entities ENTS (in order, not
 * overlapping, inside TEXT) passed through its type's operator: *OUT is
 * malloc'd, NUL-terminated, *OUT_LEN bytes (may be NULL). Fails like
 * dm_pii_anonymize when an operator needs a key and none is set, and with
 * DM_ERR_INVALID_ARGUMENT for entities out of order or out of TEXT. */
dm_status dmi_pii_apply(const dm_pii *pii, const char *text, size_t len, const dm_pii_entity *ents, size_t n,
                        char **out, size_t *out_len);

/* The name of OP as the CLI spells it ("replace", "redact", "mask", "hash",
 * "encrypt", "keep"), or NULL when OP is out of range. */
const char *dmi_pii_operator_name(dm_pii_operator op);

/* The operator config TYPE gets: its own, else the handle's default. */
const dm_pii_operator_config *dmi_pii_operator_of(const dm_pii *pii, const char *type);

/* Fails when an operator that needs the key is configured and none is set
 * (FN names the calling function in the message). */
dm_status dmi_pii_check_key(const dm_pii *pii, const char *fn);
/* Whether a key is set. */
bool dmi_pii_has_key(const dm_pii *pii);

/* dm_pii_anonymize and dm_pii_decrypt without the handle's lock: the caller
 * holds it (dmi_pii_use_begin). */
dm_status dmi_pii_anonymize(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len,
                            dm_pii_entity **entities, size_t *n);
dm_status dmi_pii_decrypt(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len);

#endif
