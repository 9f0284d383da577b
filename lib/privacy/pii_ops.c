/*
 * pii_ops.c — operators, keys, anonymisation, decryption, datasets (placeholder: being written).
 */
#include "datamodel.h"
#include "pii_impl.h"

#include <stdlib.h>
#include <string.h>

dm_status dmi_pii_ops_create(dmi_pii_ops **out) { *out = NULL; return DM_OK; }
void dmi_pii_ops_free(dmi_pii_ops *ops) { (void)ops; }
DM_API void dm_pii_operator_config_default(dm_pii_operator_config *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
}
DM_API dm_status dm_pii_set_operator(dm_pii *pii, const char *type, const dm_pii_operator_config *cfg)
{ (void)pii; (void)type; (void)cfg; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_set_operator: not implemented yet"); }
DM_API dm_status dm_pii_set_key(dm_pii *pii, const uint8_t *key, size_t len)
{ (void)pii; (void)key; (void)len; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_set_key: not implemented yet"); }
DM_API dm_status dm_pii_load_key_file(dm_pii *pii, const char *path)
{ (void)pii; (void)path; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_load_key_file: not implemented yet"); }
DM_API dm_status dm_pii_anonymize(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len,
                                  dm_pii_entity **entities, size_t *n)
{ (void)pii; (void)text; (void)len; (void)out; (void)out_len; (void)entities; (void)n;
  return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_anonymize: not implemented yet"); }
DM_API dm_status dm_pii_decrypt(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len)
{ (void)pii; (void)text; (void)len; (void)out; (void)out_len; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_pii_decrypt: not implemented yet"); }
DM_API dm_status dm_dataset_anonymize(const dm_dataset *ds, const dm_pii *pii, const char *audit_path,
                                      dm_dataset **out, char **report_json)
{ (void)ds; (void)pii; (void)audit_path; (void)out; (void)report_json;
  return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_anonymize: not implemented yet"); }
