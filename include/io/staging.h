/* staging.h - a run's result set, written aside and swapped in whole.
 *
 * atomicio.h makes each file whole; this makes the set whole. A run writes
 * every file of its set into a private staging directory inside the output
 * directory (same file system, so renames work), and only when all of them
 * are written does it swap them in, one rename per entry, summary.json
 * last. A run that fails before that leaves the previous set as it was:
 *
 *     staging s;
 *     staging_check_inputs(dir, set, n, inputs, n_inputs, ...);  // LD_EINPUT: an input would be replaced
 *     staging_begin(&s, dir, set, n, ...);    // before training: dir checked, s.work created
 *     ...write the files into s.work...
 *     staging_commit(&s, ...);                // or staging_abort(&s) on any failure
 *
 * The staging directory is DIR/.lora_demo.XXXXXX (mkdtemp), holding new/
 * (s.work) and, once the swap starts, journal: every entry and, for a
 * directory, the inode of the one staged, so that a swap a crash cut short
 * can be told apart entry by entry (a directory is swapped with
 * RENAME_EXCHANGE, after which the staged name holds the old one). The
 * next staging_begin in the same directory finishes such a swap before it
 * does anything else, and removes staging directories of runs that died
 * before their swap. A live run holds a flock on its staging directory, so
 * no other run touches it; the swap itself and that recovery hold a flock on
 * the output directory, so two runs never interleave their swaps.
 *
 * Entries: a file is replaced by rename(2). A directory (weights/,
 * adapters/) is replaced whole, so nothing of an earlier run stays inside
 * it; since the old one is then deleted, it may hold only what `owns` says
 * the program writes, or staging_begin refuses (LD_EIO). An entry of the set
 * that the run does not write into s.work is removed from the output
 * directory, so that no earlier run's file stays under this run's name.
 * Nothing else in the output directory is touched.
 * docs/faults.md says what a reader of the directory sees, and when.
 */
#ifndef LORA_DEMO_STAGING_H
#define LORA_DEMO_STAGING_H

#include <stddef.h>

#include "status.h"

#define STAGING_MAX_ENTRIES 16

/* Staging directories are ".lora_demo." followed by mkdtemp's 6 characters. */
#define STAGING_PREFIX ".lora_demo."

typedef struct {
    const char *name; /* a name in the output directory: "losses.csv", "weights" */
    int is_dir;       /* 1: a directory, replaced whole */
    /* is_dir only: 1 if the program writes rel ("lora_r1", a directory, or
     * "lora_r1/adapter_config.json") inside it. */
    int (*owns)(const char *rel, int is_dir);
} staging_entry;

typedef struct {
    char *dir;     /* the output directory, as given */
    char *work;    /* DIR/.lora_demo.XXXXXX/new: write the set here */
    int dir_fd;    /* the output directory */
    int stage_fd;  /* the staging directory, flock'd while the run lives */
    char stage_name[32];
    staging_entry set[STAGING_MAX_ENTRIES];
    size_t n;
} staging;

/* An input file of the run, by the option that names it. path NULL: unused. */
typedef struct {
    const char *label; /* "--data" */
    const char *path;
} staging_input;

/* LD_EINPUT if an input is (by device and inode: a symlink or a hard link
 * too) a file that the set would replace or remove in dir. Writes nothing. */
ld_status staging_check_inputs(const char *dir, const staging_entry *set, size_t n,
                               const staging_input *inputs, size_t n_inputs, char *err,
                               size_t errlen);

/* Create dir if needed, finish or clear what earlier runs left there, check
 * that every entry can be replaced (a file entry is not a directory; a
 * directory entry is a directory holding only what it owns), and create the
 * staging directory with s->work and an empty directory in it for each
 * directory entry. LD_EIO naming the path on failure; s is then released. */
ld_status staging_begin(staging *s, const char *dir, const staging_entry *set, size_t n,
                        char *err, size_t errlen);

/* Check again, then swap the set into dir and remove the staging
 * directory. Always releases s. A failure before the swap starts leaves dir
 * as it was; one during it leaves the journal for the next run to finish. */
ld_status staging_commit(staging *s, char *err, size_t errlen);

/* Remove the staging directory; dir is as it was before staging_begin. */
void staging_abort(staging *s);

/* Replace s->work at the start of a message by s->dir, so that an error
 * names the file the user knows ("results/losses.csv"). */
void staging_unstage_message(const staging *s, char *msg);

/* Tests only (zeros in the program). */
typedef struct {
    /* before each entry a swap puts in place, and with NULL before the
     * staging directory is removed */
    void (*before_step)(const char *name);
    int no_exchange; /* act as on a file system without RENAME_EXCHANGE */
} staging_test_hooks;
extern staging_test_hooks staging_test;

#endif /* LORA_DEMO_STAGING_H */
