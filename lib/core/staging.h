/*
 * staging.h — writing files and folders so that no reader, crash, full disk or
 * second writer ever leaves a half-written one behind.
 *
 * A file is written to a hidden sibling ".NAME.dm-tmp-PID-SEQ", flushed,
 * renamed over NAME, and its folder flushed. A folder is built the same way
 * in a hidden sibling and swapped with the old one in one step
 * (renameat2(RENAME_EXCHANGE); two renames where the file system has no
 * exchange). Entries of the old folder that the new content does not own (a
 * trainer's checkpoint-N folders, its log, a README) are carried into the new
 * folder before the swap, so they survive it.
 *
 * A writer that dies (kill -9, power loss) leaves hidden leftovers. Every
 * writer first tidies the folder it writes into: a leftover whose PID no
 * longer runs is removed, after putting back into place anything that was
 * being carried or swapped when its writer died. So leftovers never
 * accumulate and nothing of the user's is ever lost. (The "NAME.tmp.PID" files
 * of earlier versions are tidied too.)
 *
 * When the parent folder cannot be written (an output folder that is a mount
 * point, or whose parent belongs to another user), the new content is built
 * in a hidden folder inside the target and its files are renamed into place
 * one by one, config.json last; the model loader's label stamp (see
 * lib/model/model.c) then catches the one mix that would be silently wrong.
 */
#ifndef DM_STAGING_H
#define DM_STAGING_H

#include "core.h"

/* Whether an entry of an existing folder is replaced by the new content
 * (true) or carried over into it (false). NULL: every entry is replaced. */
typedef bool (*dmi_owned_fn)(const char *name);

typedef struct dmi_stage {
    char final[4096];  /* the folder being written */
    char tmp[4096];    /* where the new content is built: write into this */
    char parent[4096]; /* the folder holding FINAL */
    char base[1024];   /* FINAL's last component */
    bool in_place;     /* TMP is inside FINAL (the parent is not writable) */
} dmi_stage;

/* Tidies leftovers of dead writers around DIR, makes DIR's parent folders,
 * and creates the empty folder SG->tmp to write the new content into. */
dm_status dmi_stage_begin(dmi_stage *sg, const char *dir);

/* Puts SG->tmp in place as SG->final: flushes it, carries over the entries of
 * an existing SG->final that OWNED says are not replaced, swaps, removes the
 * old content and flushes the parent. On failure SG->final is as before and
 * SG->tmp is removed. */
dm_status dmi_stage_commit(dmi_stage *sg, dmi_owned_fn owned);

/* Removes SG->tmp (after a failure while building it). */
void dmi_stage_abort(dmi_stage *sg);

/* Removes the leftovers of dead writers in DIR (see above). Never fails:
 * what cannot be tidied now is tidied by a later writer. */
void dmi_tidy_leftovers(const char *dir);

/* The same for the folder holding PATH. */
void dmi_tidy_around(const char *path);

/* A fresh hidden sibling name for PATH: "DIR/.NAME.dm-tmp-PID-SEQ". */
dm_status dmi_tmp_sibling(const char *path, char *out, size_t cap);

/* Renames the flushed file TMP over PATH and flushes PATH's folder. */
dm_status dmi_commit_file(const char *tmp, const char *path);

/* Flushes a folder's entries to disk (fsync on the folder). */
dm_status dmi_fsync_dir(const char *dir);

/* Removes PATH and, for a folder, everything below it (links not followed). */
dm_status dmi_remove_tree(const char *path);

#endif
