/*
 * pii_ops.h — the operator step of anonymisation on its own, for the tests
 * and for callers that already hold a detection (pii_ops.c).
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

#endif
