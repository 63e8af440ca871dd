/* atomicio.c - temporary-name-then-rename file output, mkdir -p, path joins.
 *
 * POSIX is needed for getpid, unlink and mkdir; the rest of the project is
 * plain C11.
 *
 * No fsync: the rename alone means that no other process, and no run killed
 * at any moment, sees a truncated file under a final name. fsync would add
 * only durability across a power failure, for files that a rerun
 * reproduces; what it would cost is in docs/performance.md. */
#define _POSIX_C_SOURCE 200809L
#include "io/atomicio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    int slash = (a > 0 && dir[a - 1] != '/');
    char *p = malloc(a + (size_t)slash + b + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, a);
    if (slash)
        p[a] = '/';
    memcpy(p + a + (size_t)slash, name, b);
    p[a + (size_t)slash + b] = '\0';
    return p;
}

ld_status atomic_open(atomic_file *af, const char *path, char *err, size_t errlen)
{
    af->fp = NULL;
    af->path = ld_strdup(path);
    size_t n = strlen(path) + 32;
    af->tmp_path = malloc(n);
    if (af->path == NULL || af->tmp_path == NULL) {
        free(af->path);
        free(af->tmp_path);
        af->path = af->tmp_path = NULL;
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (af->fp == NULL) {
        ld_status st = ld_fail(err, errlen, LD_EIO, "%s: %s", af->tmp_path, strerror(errno));
        free(af->path);
        free(af->tmp_path);
        af->path = af->tmp_path = NULL;
        return st;
    }
    return LD_OK;
}

static void release(atomic_file *af)
{
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    af->fp = NULL;
}

void atomic_abort(atomic_file *af)
{
    if (af->fp != NULL)
        fclose(af->fp);
    if (af->tmp_path != NULL)
        unlink(af->tmp_path);
    release(af);
}

/* Why the writes to fp failed, for a stream whose error flag is set but
 * whose fflush had nothing left to write: stdio keeps the flag, not the
 * errno (glibc drops the buffer that failed). One more byte, written to the
 * temporary file that is deleted anyway, asks the file system again: a full
 * disk says ENOSPC, a file-size limit EFBIG. EIO if that write succeeds. */
static int write_errno(FILE *fp)
{
    errno = 0;
    if (fputc('\n', fp) != EOF && fflush(fp) == 0)
        return EIO;
    return errno != 0 ? errno : EIO;
}

ld_status atomic_commit(atomic_file *af, char *err, size_t errlen)
{
    /* fflush first: it writes what is still buffered, so a stream that
     * failed earlier usually fails again here, and errno says why (the
     * message names the real reason, not EIO). */
    int saved = 0;
    errno = 0;
    if (fflush(af->fp) != 0)
        saved = errno != 0 ? errno : EIO;
    else if (ferror(af->fp))
        saved = write_errno(af->fp);
    errno = 0;
    if (fclose(af->fp) != 0 && saved == 0)
        saved = errno != 0 ? errno : EIO;
    af->fp = NULL;
    if (saved == 0 && rename(af->tmp_path, af->path) != 0)
        saved = errno != 0 ? errno : EIO;
    const int failed = saved != 0;
    if (failed) {
        ld_status st = ld_fail(err, errlen, LD_EIO, "%s: %s", af->path, strerror(saved));
        unlink(af->tmp_path);
        release(af);
        return st;
    }
    release(af);
    return LD_OK;
}

ld_status atomic_write_bytes(const char *path, const void *buf, size_t len,
                             char *err, size_t errlen)
{
    atomic_file af;
    ld_status st = atomic_open(&af, path, err, errlen);
    if (st != LD_OK)
        return st;
    if (len > 0 && fwrite(buf, 1, len, af.fp) != len) {
        st = ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno));
        atomic_abort(&af);
        return st;
    }
    return atomic_commit(&af, err, errlen);
}

ld_status make_dirs(const char *dir, char *err, size_t errlen)
{
    char *p = ld_strdup(dir);
    if (p == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", dir);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            ld_status st = ld_fail(err, errlen, LD_EIO, "%s: %s", p, strerror(errno));
            free(p);
            return st;
        }
        p[i] = c;
    }
    struct stat sb;
    ld_status st = LD_OK;
    if (stat(dir, &sb) != 0)
        st = ld_fail(err, errlen, LD_EIO, "%s: %s", dir, strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        st = ld_fail(err, errlen, LD_EIO, "%s: %s", dir, strerror(ENOTDIR));
    if (st != LD_OK) {
        free(p);
        return st;
    }
    free(p);
    return LD_OK;
}
