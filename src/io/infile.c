/* infile.c - open an input file for a bounded read (see infile.h).
 *
 * POSIX for open, fstat and fcntl: C's fopen cannot tell a FIFO from a
 * file before it blocks on it.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/infile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a file that is not a regular one is, for the message. */
static const char *file_kind(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a file";
}

ld_status infile_too_large(const char *path, uint64_t size, char *err, size_t errlen)
{
    return ld_fail(err, errlen, LD_EINPUT, "%s: file is %llu bytes, more than the %llu-byte limit of an input file",
                   path, (unsigned long long)size, (unsigned long long)INFILE_MAX_BYTES);
}

/* Close fd and return st, keeping errno's message in err already made. */
static ld_status close_fail(int fd, ld_status st)
{
    close(fd);
    return st;
}

ld_status infile_open(const char *path, FILE **fp, uint64_t *size, char *err, size_t errlen)
{
    *fp = NULL;
    *size = 0;
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer. */
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return close_fail(fd, ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno)));
    if (S_ISDIR(sb.st_mode))
        return close_fail(fd, ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(EISDIR)));
    if (!S_ISREG(sb.st_mode))
        return close_fail(fd, ld_fail(err, errlen, LD_EINPUT,
                                      "%s: not a regular file (%s); inputs are read from regular files only",
                                      path, file_kind(sb.st_mode)));
    if (sb.st_size < 0 || (uint64_t)sb.st_size > INFILE_MAX_BYTES)
        return close_fail(fd, infile_too_large(path, (uint64_t)sb.st_size, err, errlen));
    const int flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
        return close_fail(fd, ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno)));
    FILE *f = fdopen(fd, "rb");
    if (f == NULL)
        return close_fail(fd, ld_fail(err, errlen, LD_EIO, "%s: %s", path, strerror(errno)));
    *fp = f;
    *size = (uint64_t)sb.st_size;
    return LD_OK;
}
