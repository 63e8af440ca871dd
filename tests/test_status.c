/* test_status.c - checked size arithmetic, the string copy, messages that
 * keep their end, and atomic file output. */
#define _POSIX_C_SOURCE 200809L /* setrlimit, sigaction */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "io/atomicio.h"
#include "io/utf8.h"
#include "status.h"
#include "test.h"

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fclose(f);
    return 1;
}

void test_status(void)
{
    size_t r = 0;
    CHECK(ld_mul_size(&r, 3, 7) == 0 && r == 21, "3*7 = %zu", r);
    CHECK(ld_mul_size(&r, SIZE_MAX / 2 + 1, 2) == -1, "SIZE_MAX overflow not detected");
    CHECK(ld_mul3_size(&r, 100000, 100000, 100000) == 0 || sizeof(size_t) < 8,
          "1e15 should fit in 64-bit size_t");
    CHECK(ld_mul3_size(&r, (size_t)1 << 30, (size_t)1 << 30, (size_t)1 << 30) == -1,
          "2^90 overflow not detected");
    CHECK(ld_add_size(&r, SIZE_MAX, 1) == -1, "add overflow not detected");
    CHECK(ld_exit_code(LD_EINPUT) == 2 && ld_exit_code(LD_EIO) == 1 && ld_exit_code(LD_OK) == 0,
          "exit codes");
    char *copy = ld_strdup("a/b.csv");
    CHECK(copy != NULL && strcmp(copy, "a/b.csv") == 0, "ld_strdup: '%s'", copy ? copy : "(null)");
    free(copy);

    /* A message too long for its buffer keeps its start and its end (the
     * reason), cut in the middle: a 4000-byte path, then a 2-byte-character
     * path (no character split), then buffers too small for both ends. */
    char msg[64], longp[4001];
    memset(longp, 'd', 4000);
    longp[4000] = '\0';
    CHECK(ld_fail(msg, sizeof msg, LD_EIO, "%s/losses.csv: %s", longp, "No space left on device") ==
              LD_EIO, "ld_fail returns its status");
    const char *reason = ": No space left on device";
    CHECK(strlen(msg) == sizeof msg - 1 && strncmp(msg, "dddd", 4) == 0 && strstr(msg, "...") != NULL &&
              strcmp(msg + strlen(msg) - strlen(reason), reason) == 0,
          "long message, middle cut: '%s'", msg);
    for (size_t i = 0; i + 1 < 4000; i += 2)
        memcpy(longp + i, "\xc3\xa9", 2); /* U+00E9 */
    for (size_t len = 8; len <= sizeof msg; len++) {
        ld_fail_msg(msg, len, LD_EIO, "%s: %s", longp, "File too large");
        CHECK(utf8_valid(msg, strlen(msg)) && strlen(msg) < len, "cut into %zu bytes: '%s'", len, msg);
    }
    ld_fail_msg(msg, 18, LD_EIO, "%s", "0123456789abcdefghij");
    CHECK(strcmp(msg, "0123456...defghij") == 0, "cut to 17 bytes: '%s'", msg);
    ld_fail_msg(msg, 5, LD_EIO, "%s", "0123456789");
    CHECK(strcmp(msg, "0123") == 0, "too small for both ends: the start, as snprintf: '%s'", msg);
    ld_fail_msg(msg, sizeof msg, LD_EIO, "%s: %s", "short.csv", "Is a directory");
    CHECK(strcmp(msg, "short.csv: Is a directory") == 0, "a message that fits is whole: '%s'", msg);

    char err[256];
    const char *dir = test_tmpdir("status");
    char *path = path_join(dir, "out.txt");
    CHECK(atomic_write_bytes(path, "hello\n", 6, err, sizeof err) == LD_OK, "write: %s", err);
    FILE *f = fopen(path, "rb");
    char buf[16] = {0};
    size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    CHECK(got == 6 && memcmp(buf, "hello\n", 6) == 0, "atomic write content");

    /* An aborted write leaves the old file intact and no temporary behind. */
    atomic_file af;
    CHECK(atomic_open(&af, path, err, sizeof err) == LD_OK, "open: %s", err);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", af.tmp_path);
    fputs("partial", af.fp);
    atomic_abort(&af);
    CHECK(!file_exists(tmp), "temporary %s left behind", tmp);
    f = fopen(path, "rb");
    got = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    CHECK(got == 6 && memcmp(buf, "hello\n", 6) == 0, "abort clobbered the old file");

    /* Writing into a missing directory fails with the path in the message. */
    char *bad = path_join(dir, "no/such/dir/x.txt");
    CHECK(atomic_write_bytes(bad, "x", 1, err, sizeof err) == LD_EIO && strstr(err, "no/such") != NULL,
          "expected EIO naming the path, got '%s'", err);
    free(bad);
    free(path);
}

/* 1 if s ends with tail. */
static int ends_with(const char *s, const char *tail)
{
    const size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* A write that fails part way (here a file-size limit of 100 bytes, with
 * SIGXFSZ ignored as main does): atomic_commit reports the real reason,
 * "File too large", not EIO, whether the failure is still in stdio's buffer
 * at commit or was dropped with it (4097 bytes: ferror set, nothing left for
 * fflush), and leaves no temporary file. A file under the limit is written. */
void test_status_write_errors(void)
{
    struct rlimit old, lim;
    struct sigaction ign, old_sa;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (getrlimit(RLIMIT_FSIZE, &old) != 0 || sigaction(SIGXFSZ, &ign, &old_sa) != 0) {
        CHECK(0, "getrlimit/sigaction: %s", strerror(errno));
        return;
    }
    lim = old;
    lim.rlim_cur = 100;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit: %s", strerror(errno));
    const char *dir = test_tmpdir("status_fsize");
    char *path = path_join(dir, "out.txt");
    char err[256], tmp[512];
    const size_t sizes[] = {50, 101, 4096, 4097, 5000, 8192, 100000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        atomic_file af;
        remove(path);
        if (atomic_open(&af, path, err, sizeof err) != LD_OK) {
            CHECK(0, "open: %s", err);
            continue;
        }
        snprintf(tmp, sizeof tmp, "%s", af.tmp_path);
        for (size_t i = 0; i < sizes[k]; i++)
            fputc('a', af.fp);
        err[0] = '\0';
        const ld_status st = atomic_commit(&af, err, sizeof err);
        FILE *t = fopen(tmp, "rb");
        CHECK(t == NULL, "%zu bytes: temporary %s left behind", sizes[k], tmp);
        if (t != NULL)
            fclose(t);
        if (sizes[k] <= 100)
            CHECK(st == LD_OK, "%zu bytes under the limit: %s", sizes[k], err);
        else
            CHECK(st == LD_EIO && ends_with(err, "out.txt: File too large"),
                  "%zu bytes over the limit: status %d, message '%s'", sizes[k], (int)st, err);
    }
    setrlimit(RLIMIT_FSIZE, &old);
    sigaction(SIGXFSZ, &old_sa, NULL);
    free(path);
}
