/*
 * clean.c — dm_dataset_clean: Unicode/HTML/whitespace cleaning and row filters.
 * (placeholder: being written)
 */
#include "ops.h"

#include <string.h>

DM_API void dm_clean_options_default(dm_clean_options *opts) { if (opts) { memset(opts, 0, sizeof *opts); opts->struct_size = sizeof *opts; } }

DM_API dm_status dm_dataset_clean(const dm_dataset *ds, const dm_clean_options *opts, dm_dataset **out, char **report_json)
{ (void)ds; (void)opts; (void)out; (void)report_json; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_clean: not implemented yet"); }
