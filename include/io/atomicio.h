/* atomicio.h - write a file under a temporary name, rename it into place.
 *
 * Every output of lora_demo goes through this, so a run that is killed or
 * fails never leaves a truncated file under a final name:
 *
 *     atomic_file af;
 *     if (atomic_open(&af, "results/losses.csv", err, errlen) != LD_OK) ...;
 *     fprintf(af.fp, ...);
 *     st = atomic_commit(&af, err, errlen);   // flush, close, rename (no fsync: atomicio.c)
 *
 * On any failure before commit, atomic_abort() closes and unlinks the
 * temporary file. atomic_commit() always releases the handle, success or not.
 */
#ifndef LORA_DEMO_ATOMICIO_H
#define LORA_DEMO_ATOMICIO_H

#include <stdio.h>

#include "status.h"

typedef struct {
    FILE *fp;          /* write here between open and commit */
    char *path;        /* final name (owned copy) */
    char *tmp_path;    /* "<path>.tmp.<12 random characters>", created exclusively (owned) */
} atomic_file;

ld_status atomic_open(atomic_file *af, const char *path, char *err, size_t errlen);
ld_status atomic_commit(atomic_file *af, char *err, size_t errlen);
void atomic_abort(atomic_file *af);

/* Tests only (NULL in the program): called with each temporary name just
 * before it is created, so a test can plant something there first. */
extern void (*atomicio_before_create)(const char *tmp_path);

/* Write len bytes of buf to path atomically. */
ld_status atomic_write_bytes(const char *path, const void *buf, size_t len,
                             char *err, size_t errlen);

/* mkdir -p for dir (mode 0777 & ~umask). LD_EIO with path and strerror on failure. */
ld_status make_dirs(const char *dir, char *err, size_t errlen);

/* Join dir and name into a newly malloc'd "dir/name"; NULL on allocation failure. */
char *path_join(const char *dir, const char *name);

#endif /* LORA_DEMO_ATOMICIO_H */
