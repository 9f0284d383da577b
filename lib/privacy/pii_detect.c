/*
 * pii_detect.c — the dm_pii handle and entity detection (placeholder: being written).
 */
#include "datamodel.h"
#include "pii_impl.h"

#include <stdlib.h>
#include <string.h>

DM_API void dm_pii_options_default(dm_pii_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
}
DM_API dm_status dm_pii_create(const dm_pii_options *opts, dm_pii **out)
{ (void)opts; (void)out; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_create: not implemented yet"); }
DM_API void dm_pii_free(dm_pii *pii) { (void)pii; }
DM_API dm_status dm_pii_add_pattern(dm_pii *pii, const char *type, const char *pattern, double score,
                                    dm_pii_validator_fn validator, void *user, const char *const *context,
                                    size_t n_context)
{ (void)pii; (void)type; (void)pattern; (void)score; (void)validator; (void)user; (void)context; (void)n_context;
  return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_add_pattern: not implemented yet"); }
DM_API dm_status dm_pii_add_deny_list(dm_pii *pii, const char *type, const char *const *words, size_t n, double score)
{ (void)pii; (void)type; (void)words; (void)n; (void)score; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_add_deny_list: not implemented yet"); }
DM_API dm_status dm_pii_detect(const dm_pii *pii, const char *text, size_t len, dm_pii_entity **entities, size_t *n)
{ (void)pii; (void)text; (void)len; (void)entities; (void)n; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_detect: not implemented yet"); }
bool dmi_pii_knows_type(const dm_pii *pii, const char *type) { (void)pii; (void)type; return false; }
bool dmi_pii_valid_type_name(const char *type) { (void)type; return false; }
