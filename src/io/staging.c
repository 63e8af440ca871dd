/* staging.c - stage a result set in the output directory, swap it in whole,
 * and finish a swap that a crash cut short (see staging.h).
 *
 * Everything below works on directory descriptors (openat, renameat,
 * fstatat with AT_SYMLINK_NOFOLLOW), so no path is followed through a
 * symlink and nothing is allocated while a swap is under way.
 *
 * Linux: renameat2(RENAME_EXCHANGE) replaces a directory without a moment
 * when its name is missing; where the C library or the file system lacks it,
 * the old directory is moved aside first, and for that moment the name is
 * missing. flock on a directory: where the file system refuses it (some NFS
 * mounts), runs in one directory are not serialised, and the staging
 * directories that dead runs left are not cleared, because a live run's
 * cannot be told from a dead one's.
 */
#define _GNU_SOURCE /* renameat2, flock */
#include "io/staging.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomicio.h"

staging_test_hooks staging_test = {NULL, 0};

#define WORK "new"          /* in the staging directory: the set being written */
#define JOURNAL "journal"   /* in the staging directory: the swap has started */
#define JOURNAL_HEAD "lora_demo journal 1\n"
#define MAX_NAME 64         /* an entry's name, with its NUL */
#define MAX_INPUTS 8
#define WALK_DEPTH 3        /* adapters/lora_r1/adapter_config.json is 2 below */
#define REMOVE_DEPTH 6      /* stage/new/adapters/lora_r1/file is 4 below */
#define STAGE_NAME_LEN (sizeof STAGING_PREFIX - 1 + 6)
/* A journal's longest text: the head, and per entry op, inode, name. */
#define JOURNAL_MAX (sizeof JOURNAL_HEAD + (size_t)STAGING_MAX_ENTRIES * (MAX_NAME + 24))

/* One step of a swap: 'f' rename a file in, 'd' exchange a directory (ino:
 * the staged one's), 'r' remove an entry the run did not write. */
typedef struct {
    char op;
    unsigned long long ino;
    char name[MAX_NAME];
} journal_line;

typedef struct {
    journal_line line[STAGING_MAX_ENTRIES];
    size_t n;
} journal;

/* "/" between dir and a name, unless dir already ends with one. */
static const char *sep(const char *dir)
{
    size_t n = strlen(dir);
    return n > 0 && dir[n - 1] == '/' ? "" : "/";
}

/* flock, again after a signal. 0, or -1 with errno. */
static int lock(int fd, int how)
{
    int rc;
    do
        rc = flock(fd, how);
    while (rc != 0 && errno == EINTR);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* walking an entry's directory */

typedef struct walker walker;
struct walker {
    const char *dir;                 /* the output directory, for messages */
    const staging_entry *entry;
    /* called for everything below the entry; rel starts with the entry's name */
    ld_status (*visit)(const walker *w, int fd, const char *name, const char *rel,
                       const struct stat *lsb, char *err, size_t errlen);
    const struct stat *inputs;       /* identity walk: the inputs, by device and inode */
    const staging_input *labels;
    size_t n_inputs;
};

/* Visit everything in parent_fd/name (rel: its path below the output
 * directory), depth first, not following symlinks. */
static ld_status walk(const walker *w, int parent_fd, const char *name, const char *rel, int depth,
                      char *err, size_t errlen)
{
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        ld_status st = ld_fail(err, errlen, LD_EIO, "%s%s%s: %s", w->dir, sep(w->dir), rel,
                               strerror(errno));
        if (fd >= 0)
            close(fd);
        return st;
    }
    ld_status st = LD_OK;
    for (struct dirent *e; st == LD_OK && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[512];
        struct stat sb;
        int len = snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
        if (len < 0 || (size_t)len >= sizeof sub)
            st = ld_fail(err, errlen, LD_EIO, "%s%s%s/%s: name too long", w->dir, sep(w->dir), rel,
                         e->d_name);
        else if (fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            st = ld_fail(err, errlen, LD_EIO, "%s%s%s: %s", w->dir, sep(w->dir), sub,
                         strerror(errno));
        else
            st = w->visit(w, fd, e->d_name, sub, &sb, err, errlen);
        if (st == LD_OK && S_ISDIR(sb.st_mode) && depth > 0)
            st = walk(w, fd, e->d_name, sub, depth - 1, err, errlen);
    }
    closedir(d);
    return st;
}

/* The swap deletes the old directory with everything in it: only what the
 * program writes may be there. */
static ld_status visit_owned(const walker *w, int fd, const char *name, const char *rel,
                             const struct stat *lsb, char *err, size_t errlen)
{
    (void)fd;
    (void)name;
    const char *inner = rel + strlen(w->entry->name) + 1;
    if (w->entry->owns != NULL && w->entry->owns(inner, S_ISDIR(lsb->st_mode)))
        return LD_OK;
    return ld_fail(err, errlen, LD_EIO,
                   "%s%s%s: not written by lora_demo, and this run replaces %s%s%s whole; "
                   "move it away first",
                   w->dir, sep(w->dir), rel, w->dir, sep(w->dir), w->entry->name);
}

/* LD_EINPUT if the file sb is one of the inputs; out is where it is. */
static ld_status match_inputs(const walker *w, const struct stat *sb, const char *out, char *err,
                              size_t errlen)
{
    for (size_t i = 0; i < w->n_inputs; i++) {
        if (w->labels[i].path == NULL || w->inputs[i].st_dev != sb->st_dev ||
            w->inputs[i].st_ino != sb->st_ino)
            continue;
        if (strcmp(w->labels[i].path, out) == 0)
            return ld_fail(err, errlen, LD_EINPUT,
                           "%s: %s is an output of this run, which would replace it; "
                           "write to another output directory",
                           w->labels[i].label, out);
        return ld_fail(err, errlen, LD_EINPUT,
                       "%s: %s is the file %s, an output of this run, which would replace it; "
                       "write to another output directory",
                       w->labels[i].label, w->labels[i].path, out);
    }
    return LD_OK;
}

static ld_status visit_inputs(const walker *w, int fd, const char *name, const char *rel,
                              const struct stat *lsb, char *err, size_t errlen)
{
    (void)lsb;
    struct stat sb;
    char out[1024];
    snprintf(out, sizeof out, "%s%s%s", w->dir, sep(w->dir), rel);
    if (fstatat(fd, name, &sb, 0) != 0) /* a dangling symlink: not an input */
        return LD_OK;
    return match_inputs(w, &sb, out, err, errlen);
}

ld_status staging_check_inputs(const char *dir, const staging_entry *set, size_t n,
                               const staging_input *inputs, size_t n_inputs, char *err,
                               size_t errlen)
{
    struct stat in_sb[MAX_INPUTS];
    staging_input labels[MAX_INPUTS];
    if (n_inputs > MAX_INPUTS)
        return ld_fail(err, errlen, LD_ESTATE, "staging: more than %d inputs", MAX_INPUTS);
    for (size_t i = 0; i < n_inputs; i++) {
        labels[i] = inputs[i];
        if (labels[i].path != NULL && stat(labels[i].path, &in_sb[i]) != 0)
            labels[i].path = NULL; /* not there: nothing of ours can be it */
    }
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) /* no directory yet: nothing in it to replace */
        return LD_OK;
    walker w = {dir, NULL, visit_inputs, in_sb, labels, n_inputs};
    ld_status st = LD_OK;
    for (size_t i = 0; i < n && st == LD_OK; i++) {
        struct stat sb;
        w.entry = &set[i];
        if (fstatat(dir_fd, set[i].name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (set[i].is_dir && S_ISDIR(sb.st_mode))
            st = walk(&w, dir_fd, set[i].name, set[i].name, WALK_DEPTH, err, errlen);
        else
            st = visit_inputs(&w, dir_fd, set[i].name, set[i].name, &sb, err, errlen);
    }
    close(dir_fd);
    return st;
}

/* ------------------------------------------------------------------------ */
/* checks */

/* Every entry can be replaced: a file entry is not a directory, a
 * directory entry is a directory of its own (not a symlink) holding only
 * what it owns. */
static ld_status check_set(const staging *s, char *err, size_t errlen)
{
    walker w = {s->dir, NULL, visit_owned, NULL, NULL, 0};
    for (size_t i = 0; i < s->n; i++) {
        const staging_entry *e = &s->set[i];
        struct stat sb;
        ld_status st = LD_OK;
        w.entry = e;
        if (fstatat(s->dir_fd, e->name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                st = ld_fail(err, errlen, LD_EIO, "%s%s%s: %s", s->dir, sep(s->dir), e->name,
                             strerror(errno));
        } else if (!e->is_dir && S_ISDIR(sb.st_mode)) {
            st = ld_fail(err, errlen, LD_EIO, "%s%s%s: %s", s->dir, sep(s->dir), e->name,
                         strerror(EISDIR));
        } else if (e->is_dir && S_ISLNK(sb.st_mode)) {
            st = ld_fail(err, errlen, LD_EIO, "%s%s%s: a symbolic link, not a directory", s->dir,
                         sep(s->dir), e->name);
        } else if (e->is_dir && !S_ISDIR(sb.st_mode)) {
            st = ld_fail(err, errlen, LD_EIO, "%s%s%s: %s", s->dir, sep(s->dir), e->name,
                         strerror(ENOTDIR));
        } else if (e->is_dir) {
            st = walk(&w, s->dir_fd, e->name, e->name, WALK_DEPTH, err, errlen);
        }
        if (st != LD_OK)
            return st;
    }
    return LD_OK;
}

/* ------------------------------------------------------------------------ */
/* removing a staging directory */

static int remove_tree(int parent_fd, const char *name, int depth);

/* Remove everything in the directory fd (which this closes). Entries are
 * removed while the directory is read, so read it again until a pass
 * finds nothing. 0, or -1 with errno. */
static int remove_contents(int fd, int depth)
{
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    int rc = 0, removed = 1;
    for (int pass = 0; rc == 0 && removed && pass < 4; pass++) {
        removed = 0;
        rewinddir(d);
        for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            rc = remove_tree(fd, e->d_name, depth);
            removed = 1;
        }
    }
    closedir(d);
    return rc;
}

/* rm -r parent_fd/name, never following a symlink. 0, or -1 with errno. */
static int remove_tree(int parent_fd, const char *name, int depth)
{
    struct stat sb;
    if (fstatat(parent_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(sb.st_mode))
        return unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    if (depth <= 0) {
        errno = ENOTEMPTY;
        return -1;
    }
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || remove_contents(fd, depth - 1) != 0)
        return -1;
    return unlinkat(parent_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

/* Remove the staging directory dir_fd/name, open as stage_fd: the journal
 * first, so that a crash half-way leaves a staging directory without one,
 * which the next run simply removes. */
static int clear_stage(int dir_fd, int stage_fd, const char *name)
{
    if (unlinkat(stage_fd, JOURNAL, 0) != 0 && errno != ENOENT)
        return -1;
    int fd = openat(stage_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || remove_contents(fd, REMOVE_DEPTH) != 0)
        return -1;
    return unlinkat(dir_fd, name, AT_REMOVEDIR);
}

/* ------------------------------------------------------------------------ */
/* the journal and the swap */

/* 1 if name can be an entry's: not empty, no '/', not "." or "..", fits. */
static int valid_name(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n < MAX_NAME && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

static ld_status write_journal(const staging *s, const journal *j, char *err, size_t errlen)
{
    char buf[JOURNAL_MAX];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s", JOURNAL_HEAD);
    for (size_t i = 0; i < j->n; i++) {
        const journal_line *l = &j->line[i];
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%c %llu %s\n", l->op, l->ino, l->name);
    }
    int fd = openat(s->stage_fd, JOURNAL ".tmp", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
    ssize_t put = fd >= 0 ? write(fd, buf, len) : -1;
    int failed = put != (ssize_t)len;
    int saved = put < 0 ? errno : ENOSPC; /* a short write: the disk is full */
    if (fd >= 0 && close(fd) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (!failed && renameat(s->stage_fd, JOURNAL ".tmp", s->stage_fd, JOURNAL) != 0) {
        failed = 1;
        saved = errno;
    }
    if (failed)
        return ld_fail(err, errlen, LD_EIO, "%s%s%s/%s: %s", s->dir, sep(s->dir), s->stage_name,
                       JOURNAL, strerror(saved));
    return LD_OK;
}

/* Parse a journal's text (NUL-terminated). 0, or -1 if it is not one. */
static int parse_journal(char *text, journal *j)
{
    j->n = 0;
    if (strncmp(text, JOURNAL_HEAD, sizeof JOURNAL_HEAD - 1) != 0)
        return -1;
    char *line = text + sizeof JOURNAL_HEAD - 1;
    for (char *end; *line != '\0'; line = end + 1) {
        end = strchr(line, '\n');
        if (end == NULL || j->n == STAGING_MAX_ENTRIES)
            return -1;
        *end = '\0';
        journal_line *l = &j->line[j->n++];
        char *name = NULL;
        l->op = line[0];
        l->ino = line[1] == ' ' ? strtoull(line + 2, &name, 10) : 0;
        if ((l->op != 'f' && l->op != 'd' && l->op != 'r') || name == NULL || *name != ' ' ||
            !valid_name(name + 1))
            return -1;
        memcpy(l->name, name + 1, strlen(name + 1) + 1);
    }
    return 0;
}

/* The journal of the staging directory stage_fd: 1 read, 0 none, -1 unreadable. */
static int read_journal(int stage_fd, journal *j)
{
    char text[JOURNAL_MAX + 1];
    int fd = openat(stage_fd, JOURNAL, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got < 0 || (size_t)got == sizeof text - 1)
        return -1;
    text[got] = '\0';
    return parse_journal(text, j) == 0 ? 1 : -1;
}

/* Put the staged directory new_fd/name in place of dir_fd/name. */
static int swap_dir(int dir_fd, int stage_fd, int new_fd, const char *name)
{
    struct stat sb;
    if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? renameat(new_fd, name, dir_fd, name) : -1;
#ifdef RENAME_EXCHANGE
    if (!staging_test.no_exchange) {
        if (renameat2(new_fd, name, dir_fd, name, RENAME_EXCHANGE) == 0)
            return 0;
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -1;
    }
#endif
    /* No exchange here: the old one aside, then the new one in. */
    char old[MAX_NAME + 8];
    snprintf(old, sizeof old, "old.%s", name);
    if (renameat(dir_fd, name, stage_fd, old) != 0)
        return -1;
    return renameat(new_fd, name, dir_fd, name);
}

/* One step, done or not: a staged file still in new/ has not been renamed
 * in; a staged directory whose inode is not the journal's is the old one,
 * which the exchange put there. 0, or -1 with errno. */
static int swap_one(int dir_fd, int stage_fd, int new_fd, const journal_line *l)
{
    struct stat sb;
    if (l->op == 'r')
        return unlinkat(dir_fd, l->name, 0) == 0 || errno == ENOENT ? 0 : -1;
    if (new_fd < 0 || fstatat(new_fd, l->name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return new_fd < 0 || errno == ENOENT ? 0 : -1;
    if (l->op == 'f')
        return renameat(new_fd, l->name, dir_fd, l->name);
    if ((unsigned long long)sb.st_ino != l->ino)
        return 0;
    return swap_dir(dir_fd, stage_fd, new_fd, l->name);
}

/* Do (or finish) every step of the journal, in order. */
static ld_status replay(int dir_fd, int stage_fd, const journal *j, const char *dir, char *err,
                        size_t errlen)
{
    int new_fd = openat(stage_fd, WORK, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (new_fd < 0 && errno != ENOENT)
        return ld_fail(err, errlen, LD_EIO, "%s: cannot finish an earlier run's swap: %s", dir,
                       strerror(errno));
    ld_status st = LD_OK;
    for (size_t i = 0; i < j->n && st == LD_OK; i++) {
        if (staging_test.before_step != NULL)
            staging_test.before_step(j->line[i].name);
        if (swap_one(dir_fd, stage_fd, new_fd, &j->line[i]) != 0)
            st = ld_fail(err, errlen, LD_EIO,
                         "%s%s%s: %s; the swap of the results is unfinished, and the next run "
                         "in %s finishes it",
                         dir, sep(dir), j->line[i].name, strerror(errno), dir);
    }
    if (new_fd >= 0)
        close(new_fd);
    if (st == LD_OK && staging_test.before_step != NULL)
        staging_test.before_step(NULL);
    return st;
}

/* ------------------------------------------------------------------------ */
/* what earlier runs left */

/* Finish the swap of a dead run's staging directory, if it had started,
 * and remove the directory. A live run's (locked) is left alone. */
static ld_status recover_one(const staging *s, const char *name, char *err, size_t errlen)
{
    int fd = openat(s->dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return LD_OK; /* not a directory: not ours */
    if (lock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return LD_OK;
    }
    journal j;
    ld_status st = LD_OK;
    int has = read_journal(fd, &j);
    if (has < 0)
        st = ld_fail(err, errlen, LD_EIO, "%s%s%s/%s: unreadable; remove %s%s%s to go on", s->dir,
                     sep(s->dir), name, JOURNAL, s->dir, sep(s->dir), name);
    else if (has > 0)
        st = replay(s->dir_fd, fd, &j, s->dir, err, errlen);
    if (st == LD_OK && clear_stage(s->dir_fd, fd, name) != 0)
        st = ld_fail(err, errlen, LD_EIO, "%s%s%s: %s", s->dir, sep(s->dir), name, strerror(errno));
    close(fd);
    return st;
}

static ld_status recover_all(const staging *s, char *err, size_t errlen)
{
    int fd = openat(s->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return ld_fail(err, errlen, LD_EIO, "%s: %s", s->dir, strerror(errno));
    }
    ld_status st = LD_OK;
    for (struct dirent *e; st == LD_OK && (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, STAGING_PREFIX, sizeof STAGING_PREFIX - 1) == 0 &&
            strlen(e->d_name) == STAGE_NAME_LEN)
            st = recover_one(s, e->d_name, err, errlen);
    closedir(d);
    return st;
}

/* ------------------------------------------------------------------------ */
/* begin, commit, abort */

static void release(staging *s)
{
    if (s->stage_fd >= 0)
        close(s->stage_fd); /* and with it the lock */
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    free(s->dir);
    free(s->work);
    s->dir = s->work = NULL;
    s->dir_fd = s->stage_fd = -1;
}

/* The staging directory, locked, with new/ and an empty directory in it
 * for each directory entry. */
static ld_status make_stage(staging *s, char *err, size_t errlen)
{
    char *stage = path_join(s->dir, STAGING_PREFIX "XXXXXX");
    if (stage == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    if (mkdtemp(stage) == NULL) {
        ld_status st = ld_fail(err, errlen, LD_EIO, "%s: cannot write there: %s", s->dir,
                               strerror(errno));
        free(stage);
        return st;
    }
    snprintf(s->stage_name, sizeof s->stage_name, "%s", strrchr(stage, '/') + 1);
    s->stage_fd = openat(s->dir_fd, s->stage_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    s->work = path_join(stage, WORK);
    free(stage);
    if (s->stage_fd >= 0)
        lock(s->stage_fd, LOCK_EX | LOCK_NB); /* fails only where there are no locks */
    int new_fd = -1;
    if (s->stage_fd < 0 || mkdirat(s->stage_fd, WORK, 0777) != 0 ||
        (new_fd = openat(s->stage_fd, WORK, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return ld_fail(err, errlen, LD_EIO, "%s: cannot write there: %s", s->dir, strerror(errno));
    ld_status st = s->work == NULL ? ld_fail(err, errlen, LD_ENOMEM, "out of memory") : LD_OK;
    for (size_t i = 0; i < s->n && st == LD_OK; i++)
        if (s->set[i].is_dir && mkdirat(new_fd, s->set[i].name, 0777) != 0)
            st = ld_fail(err, errlen, LD_EIO, "%s: cannot write there: %s", s->dir,
                         strerror(errno));
    close(new_fd);
    return st;
}

ld_status staging_begin(staging *s, const char *dir, const staging_entry *set, size_t n,
                        char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->dir_fd = s->stage_fd = -1;
    if (n > STAGING_MAX_ENTRIES)
        return ld_fail(err, errlen, LD_ESTATE, "staging: more than %d entries", STAGING_MAX_ENTRIES);
    for (size_t i = 0; i < n; i++)
        if (!valid_name(set[i].name))
            return ld_fail(err, errlen, LD_ESTATE, "staging: bad entry name '%s'", set[i].name);
    memcpy(s->set, set, n * sizeof *set);
    s->n = n;
    ld_status st = make_dirs(dir, err, errlen);
    if (st != LD_OK)
        return st;
    s->dir = ld_strdup(dir);
    if (s->dir == NULL)
        return ld_fail(err, errlen, LD_ENOMEM, "out of memory");
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        st = ld_fail(err, errlen, LD_EIO, "%s: %s", dir, strerror(errno));
    } else {
        /* Under the directory's lock, so that no other run is half-way
         * through a swap, or sees our staging directory before it is locked. */
        const int locked = lock(s->dir_fd, LOCK_EX) == 0;
        if (locked)
            st = recover_all(s, err, errlen);
        if (st == LD_OK)
            st = check_set(s, err, errlen);
        if (st == LD_OK)
            st = make_stage(s, err, errlen);
        if (locked)
            lock(s->dir_fd, LOCK_UN);
    }
    if (st != LD_OK)
        staging_abort(s);
    return st;
}

/* The journal of this run's swap: every entry in order, with the inode of
 * each staged directory; an entry not written is to be removed. */
static ld_status plan(const staging *s, journal *j, char *err, size_t errlen)
{
    int new_fd = openat(s->stage_fd, WORK, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (new_fd < 0)
        return ld_fail(err, errlen, LD_EIO, "%s: %s", s->work, strerror(errno));
    ld_status st = LD_OK;
    j->n = s->n;
    for (size_t i = 0; i < s->n && st == LD_OK; i++) {
        journal_line *l = &j->line[i];
        struct stat sb;
        memcpy(l->name, s->set[i].name, strlen(s->set[i].name) + 1);
        l->op = s->set[i].is_dir ? 'd' : 'f';
        l->ino = 0;
        if (fstatat(new_fd, l->name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT || s->set[i].is_dir)
                st = ld_fail(err, errlen, LD_EIO, "%s/%s: %s", s->work, l->name, strerror(errno));
            l->op = 'r';
        } else if (s->set[i].is_dir) {
            l->ino = (unsigned long long)sb.st_ino;
        }
    }
    close(new_fd);
    return st;
}

ld_status staging_commit(staging *s, char *err, size_t errlen)
{
    journal j;
    /* Held until release: one swap at a time in a directory. */
    lock(s->dir_fd, LOCK_EX);
    /* Again: while the run trained, someone may have put a file in the way. */
    ld_status st = check_set(s, err, errlen);
    if (st == LD_OK)
        st = plan(s, &j, err, errlen);
    if (st == LD_OK)
        st = write_journal(s, &j, err, errlen);
    if (st != LD_OK) {
        staging_abort(s);
        return st;
    }
    st = replay(s->dir_fd, s->stage_fd, &j, s->dir, err, errlen);
    if (st == LD_OK && clear_stage(s->dir_fd, s->stage_fd, s->stage_name) != 0)
        st = ld_fail(err, errlen, LD_EIO, "%s%s%s: the results are in place, but this could not "
                                          "be removed: %s",
                     s->dir, sep(s->dir), s->stage_name, strerror(errno));
    release(s);
    return st;
}

void staging_abort(staging *s)
{
    if (s->stage_fd >= 0)
        clear_stage(s->dir_fd, s->stage_fd, s->stage_name);
    release(s);
}

void staging_unstage_message(const staging *s, char *msg)
{
    /* s->work is s->dir, a '/' and the staging part: keep s->dir's text
     * (less its trailing slashes) and drop the rest. */
    char *at = s->work != NULL ? strstr(msg, s->work) : NULL;
    if (at == NULL)
        return;
    size_t d = strlen(s->dir);
    while (d > 0 && s->dir[d - 1] == '/')
        d--;
    const char *rest = at + strlen(s->work);
    memmove(at + d, rest, strlen(rest) + 1);
}
