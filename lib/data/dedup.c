/*
 * dedup.c — exact and MinHash-LSH near-duplicate detection, leakage across splits, label conflicts.
 * (placeholder: being written)
 */
#include "ops.h"

#include <string.h>

DM_API void dm_dedup_options_default(dm_dedup_options *opts) { if (opts) { memset(opts, 0, sizeof *opts); opts->struct_size = sizeof *opts; } }

DM_API dm_status dm_dataset_dedup(const dm_dataset *ds, const dm_dedup_options *opts, dm_dataset **out, char **report_json)
{ (void)ds; (void)opts; (void)out; (void)report_json; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_dedup: not implemented yet"); }

DM_API dm_status dm_dataset_leakage(const dm_dataset *ds, const int32_t *assign, size_t n_parts, const dm_dedup_options *opts, uint64_t *cross_pairs, char **report_json)
{ (void)ds; (void)assign; (void)n_parts; (void)opts; (void)cross_pairs; (void)report_json; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_leakage: not implemented yet"); }

DM_API dm_status dm_dataset_conflicts(const dm_dataset *ds, dm_conflict_policy policy, dm_dataset **out, char **report_json)
{ (void)ds; (void)policy; (void)out; (void)report_json; return dmi_fail(DM_ERR_UNSUPPORTED, "dm_dataset_conflicts: not implemented yet"); }

dm_status dmi_dedup_normalize(const char *text, size_t len, char **out, size_t *out_len)
{ (void)text; (void)len; (void)out; (void)out_len; return dmi_fail(DM_ERR_UNSUPPORTED, "dmi_dedup_normalize: not implemented yet"); }

dm_status dmi_dedup_clusters(const dm_dataset *ds, const dm_dedup_options *o, size_t *cluster, uint64_t *exact_rows, uint64_t *near_rows, uint64_t *near_pairs)
{ (void)ds; (void)o; (void)cluster; (void)exact_rows; (void)near_rows; (void)near_pairs; return dmi_fail(DM_ERR_UNSUPPORTED, "dmi_dedup_clusters: not implemented yet"); }
