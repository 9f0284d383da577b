/*
 * split.c — train/val/test and k-fold splits (stratified, group-aware), resampling, class weights.
 * (placeholder: being written)
 */
#include "ops.h"

#include <string.h>

DM_API void dm_split_options_default(dm_split_options *opts) { if (opts) { memset(opts, 0, sizeof *opts); opts->struct_size = sizeof *opts; } }

DM_API dm_status dm_dataset_split(const dm_dataset *ds, const dm_split_options *opts, int32_t *assign, char **report_json)
{ (void)ds; (void)opts; (void)assign; (void)report_json; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_split: not implemented yet"); }

DM_API void dm_resample_options_default(dm_resample_options *opts) { if (opts) { memset(opts, 0, sizeof *opts); opts->struct_size = sizeof *opts; } }

DM_API dm_status dm_dataset_resample(const dm_dataset *ds, const dm_resample_options *opts, dm_dataset **out, char **report_json)
{ (void)ds; (void)opts; (void)out; (void)report_json; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_resample: not implemented yet"); }

DM_API dm_status dm_dataset_class_weights(const dm_dataset *ds, double *weights)
{ (void)ds; (void)weights; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_class_weights: not implemented yet"); }
