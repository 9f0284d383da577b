/*
 * pii_impl.h — the layout of a dm_pii, shared by the files of lib/privacy:
 * the recognisers (pii_detect.c, recognizers.c) and the operators, key and
 * dataset anonymisation (pii_ops.c). Each side keeps its own state behind
 * its own opaque pointer.
 */
#ifndef DM_PRIVACY_PII_IMPL_H
#define DM_PRIVACY_PII_IMPL_H

#include "../core/core.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dmi_pii_detector dmi_pii_detector; /* pii_detect.c */
typedef struct dmi_pii_ops dmi_pii_ops;           /* pii_ops.c */

struct dm_pii {
    dm_pii_options o;
    dmi_pii_detector *det;
    dmi_pii_ops *ops;
    /* Uses (detect, anonymize, decrypt) share it; configuring takes it
     * exclusively without waiting: DM_ERR_BUSY while another thread uses the
     * handle, never a configuration half-seen by a detection. */
    pthread_rwlock_t lock;
    bool lock_ready;
};

/* A use of PII (shared: any number of threads at once). */
void dmi_pii_use_begin(const dm_pii *pii);
void dmi_pii_use_end(const dm_pii *pii);
/* A change of PII's configuration: DM_ERR_BUSY (naming WHAT) while another
 * thread uses it. */
dm_status dmi_pii_configure_begin(dm_pii *pii, const char *what);
void dmi_pii_configure_end(dm_pii *pii);

/* ---- pii_detect.c (dm_pii_create and dm_pii_free live there too) */

/* Whether TYPE names a type this handle can report (built-in and enabled, or
 * added by a user recogniser). */
bool dmi_pii_knows_type(const dm_pii *pii, const char *type);
/* Whether TYPE is a well-formed type name: [A-Z0-9_]+, at most 64 bytes. */
bool dmi_pii_valid_type_name(const char *type);
/* dm_pii_detect without the handle's lock: the caller holds it. */
dm_status dmi_pii_detect(const dm_pii *pii, const char *text, size_t len, dm_pii_entity **entities, size_t *n);

/* ---- pii_ops.c */

dm_status dmi_pii_ops_create(dmi_pii_ops **out);
void dmi_pii_ops_free(dmi_pii_ops *ops);

#endif
