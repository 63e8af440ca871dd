/* atomicio.c - temporary-name-then-rename file output, mkdir -p, path joins.
 *
 * POSIX is needed for open, unlink and mkdir; the rest of the project is
 * plain C11.
 *
 * Temporary names end in a random part and are created with
 * O_CREAT|O_EXCL|O_NOFOLLOW: two processes never share one (two containers
 * on one volume can both be PID 1), and a name someone planted, a symlink
 * say, is never opened, let alone followed; another name is drawn instead.
 *
 * No fsync: the rename alone means that no other process, and no run killed
 * at any moment, sees a truncated file under a final name. fsync would add
 * only durability across a power failure, for files that a rerun
 * reproduces; what it would cost is in docs/performance.md. */
#define _POSIX_C_SOURCE 200809L
#include "io/atomicio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Random characters of a temporary name: 12 of 32, 60 bits. */
#define TMP_RANDOM_CHARS 12
/* Names drawn before giving up: each clash is someone else's file. */
#define TMP_ATTEMPTS 100

void (*atomicio_before_create)(const char *tmp_path) = NULL;

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

/* 64 random bits from /dev/urandom. Without it (a chroot with no /dev),
 * the clock, the counter and an address, mixed: guessable, but the name is
 * still created exclusively, so the worst a guesser can do is make us draw
 * again. */
static uint64_t random_bits(void)
{
    static uint64_t counter = 0;
    uint64_t r = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, &r, sizeof r);
        close(fd);
        if (got == (ssize_t)sizeof r)
            return r;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ++counter * 0x9E3779B97F4A7C15u +
        (uint64_t)(uintptr_t)&r;
    /* splitmix64's finaliser spreads the bits */
    r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9u;
    r = (r ^ (r >> 27)) * 0x94D049BB133111EBu;
    return r ^ (r >> 31);
}

/* Create "<path>.tmp.<random>" exclusively in af->tmp_path (sized for it);
 * the open descriptor, or -1 with errno set. */
static int create_tmp(atomic_file *af)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
    const size_t base = strlen(af->path);
    for (int attempt = 0; attempt < TMP_ATTEMPTS; attempt++) {
        uint64_t r = random_bits();
        memcpy(af->tmp_path, af->path, base);
        memcpy(af->tmp_path + base, ".tmp.", 5);
        for (int i = 0; i < TMP_RANDOM_CHARS; i++, r >>= 5)
            af->tmp_path[base + 5 + (size_t)i] = digits[r & 31u];
        af->tmp_path[base + 5 + TMP_RANDOM_CHARS] = '\0';
        if (atomicio_before_create != NULL)
            atomicio_before_create(af->tmp_path);
        /* 0666: the umask decides, as for any file a program creates */
        int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

ld_status atomic_open(atomic_file *af, const char *path, char *err, size_t errlen)
{
    af->fp = NULL;
    af->path = ld_strdup(path);
    af->tmp_path = malloc(strlen(path) + 5 + TMP_RANDOM_CHARS + 1);
    if (af->path == NULL || af->tmp_path == NULL) {
        free(af->path);
        free(af->tmp_path);
        af->path = af->tmp_path = NULL;
        return ld_fail(err, errlen, LD_ENOMEM, "%s: out of memory", path);
    }
    int fd = create_tmp(af);
    af->fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (af->fp == NULL) {
        /* the final name: the temporary one is random, and means nothing to the user */
        ld_status st = ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(af->tmp_path);
        }
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
