/* replay.c - run a fuzz target on saved inputs, without libFuzzer.
 *
 * usage: fuzz_replay_<target> PATH...
 *
 * Linked with one tests/fuzz/fuzz_<target>.c, it calls that target's
 * LLVMFuzzerTestOneInput once per input file (a directory stands for every
 * regular file in it, in name order). Each input runs in a child process,
 * so an input that crashes or aborts (a broken invariant) fails alone and
 * is named. `make test` replays tests/fuzz/regress/<target>/ this way with
 * the ordinary compiler: every crash the fuzzers ever found stays fixed.
 * Ends with "<name>: N passed, M failed"; exits 1 if any failed.
 */
#define _POSIX_C_SOURCE 200809L /* fork, scandir, waitpid */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int passed = 0, failed = 0;

/* Read the whole file; NULL (and a message) if it cannot be read. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    if (buf == NULL)
        fprintf(stderr, "%s: out of memory\n", path);
    *size = n;
    return buf;
}

static void replay_one(const char *path)
{
    fflush(NULL);
    const pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        failed++;
        return;
    }
    if (pid == 0) {
        size_t size = 0;
        uint8_t *data = read_file(path, &size);
        if (data == NULL)
            exit(3);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        exit(0); /* exit, not _exit: LeakSanitizer checks at exit */
    }
    int ws = 0;
    if (waitpid(pid, &ws, 0) < 0) {
        perror("waitpid");
        failed++;
        return;
    }
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
        passed++;
    } else {
        failed++;
        if (WIFSIGNALED(ws))
            fprintf(stderr, "FAIL %s: killed by signal %d\n", path, WTERMSIG(ws));
        else
            fprintf(stderr, "FAIL %s: exit status %d\n", path, WEXITSTATUS(ws));
    }
}

static int regular_file(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static void replay_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        perror(path);
        failed++;
        return;
    }
    if (!S_ISDIR(sb.st_mode)) {
        replay_one(path);
        return;
    }
    struct dirent **names = NULL;
    const int n = scandir(path, &names, regular_file, alphasort);
    if (n < 0) {
        perror(path);
        failed++;
        return;
    }
    for (int i = 0; i < n; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
        if (stat(file, &sb) == 0 && S_ISREG(sb.st_mode))
            replay_one(file);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", name);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        replay_path(argv[i]);
    if (passed + failed == 0) {
        fprintf(stderr, "%s: no inputs\n", name);
        failed++;
    }
    printf("%s: %d passed, %d failed\n", name, passed, failed);
    return failed == 0 ? 0 : 1;
}
