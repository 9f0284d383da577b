/*
 * profile.c — dataset profile as JSON and as a self-contained HTML report.
 * (placeholder: being written)
 */
#include "ops.h"

#include <string.h>

DM_API void dm_profile_options_default(dm_profile_options *opts) { if (opts) { memset(opts, 0, sizeof *opts); opts->struct_size = sizeof *opts; } }

DM_API dm_status dm_dataset_profile(const dm_dataset *ds, const dm_profile_options *opts, char **json)
{ (void)ds; (void)opts; (void)json; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_profile: not implemented yet"); }

DM_API dm_status dm_profile_html(const char *profile_json, size_t len, char **html, size_t *html_len)
{ (void)profile_json; (void)len; (void)html; (void)html_len; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_profile_html: not implemented yet"); }
