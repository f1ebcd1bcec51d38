/* forkserver.c - one tshark start-up for many captures (tests only).
 *
 * Preloaded into tshark by tests/lib/mqttlens.py (Tshark.run_batch).  Almost
 * all of a test's tshark run is Wireshark's start-up (relocating
 * libwireshark, registering every dissector and field, reading
 * preferences); dissecting one of our captures costs a few milliseconds.
 * So tshark starts once, with the arguments common to a batch, and when it
 * is about to open its capture (its first wtap_open_offline()), the process
 * forks one child per capture of the batch.  Each child is the process
 * tshark would have been had it been started on that capture alone: it
 * opens that capture instead, writes to its own stdout and stderr, and
 * runs to its end.  The parent only waits for the children, records how
 * each one ended, and exits; it never dissects anything.  Children fork
 * from the parent in the state before any capture was opened, so nothing
 * of one capture's dissection can reach another's.
 *
 * MQTTLENS_FORK_JOBS names a file of one job per line: the capture's path,
 * a tab, and the job's folder (absolute).  The child runs in that folder
 * (so a relative --export-objects folder lands in it) and writes its
 * output to "stdout" and "stderr" there; the parent writes "status": the
 * exit code, or 128 + the signal that ended it.  MQTTLENS_FORK_PARALLEL
 * children run at once (default 1).
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ws_version.h>
#include <wiretap/wtap.h>

/* The last parameter is a gboolean in 4.0 and a bool in 4.4 and 4.6 (4.2,
 * untried here, is taken to be the first with bool): the definition below
 * must match the installed header's declaration, which the build checks. */
#if WIRESHARK_VERSION_MAJOR > 4 || (WIRESHARK_VERSION_MAJOR == 4 && WIRESHARK_VERSION_MINOR >= 2)
typedef bool random_flag;
#else
typedef gboolean random_flag;
#endif

typedef wtap *(*open_offline_fn)(const char *, unsigned int, int *, char **, random_flag);

struct job {
    char *capture;
    char *folder;
    pid_t pid;
};

static int is_child;

static void die(const char *what)
{
    fprintf(stderr, "forkserver: %s: %s\n", what, strerror(errno));
    _exit(125);
}

/* Jobs of the file, or NULL; *count is set to their number. */
static struct job *read_jobs(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(path);
    struct job *jobs = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t len = 0;
    while (getline(&line, &len, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            jobs = realloc(jobs, cap * sizeof *jobs);
            if (!jobs)
                die("realloc");
        }
        jobs[n].capture = strdup(line);
        jobs[n].folder = strdup(tab + 1);
        jobs[n].pid = 0;
        n++;
    }
    free(line);
    fclose(f);
    *count = n;
    return jobs;
}

static void redirect(int fd, const char *folder, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || dup2(out, fd) < 0)
        die(path);
    close(out);
}

static void write_status(const struct job *job, int status)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/status", job->folder);
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
             : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
    fprintf(f, "%d\n", code);
    fclose(f);
}

/* In the child: become tshark on this job's capture. */
static void become(const struct job *job)
{
    is_child = 1;
    if (chdir(job->folder) != 0)
        die(job->folder);
    redirect(STDOUT_FILENO, job->folder, "stdout");
    redirect(STDERR_FILENO, job->folder, "stderr");
}

/* Waits for one child and records it; returns 0 when none is left. */
static int reap(struct job *jobs, size_t n)
{
    int status;
    pid_t pid = wait(&status);
    if (pid < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].pid == pid)
            write_status(&jobs[i], status);
    return 1;
}

/* In the parent: run every job, at most `parallel` at once, then exit.
 * Returns only in a child, with the capture it is to open. */
static const char *serve(struct job *jobs, size_t n, long parallel)
{
    long running = 0;
    fflush(NULL);
    for (size_t i = 0; i < n; i++) {
        if (running >= parallel && reap(jobs, n))
            running--;
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            become(&jobs[i]);
            return jobs[i].capture;
        }
        jobs[i].pid = pid;
        running++;
    }
    while (reap(jobs, n))
        ;
    _exit(0);
}

wtap *wtap_open_offline(const char *filename, unsigned int type, int *err, char **err_info,
                        random_flag do_random)
{
    static open_offline_fn real;
    if (!real)
        real = (open_offline_fn)dlsym(RTLD_NEXT, "wtap_open_offline");
    const char *jobs_file = getenv("MQTTLENS_FORK_JOBS");
    if (!is_child && jobs_file && *jobs_file) {
        const char *p = getenv("MQTTLENS_FORK_PARALLEL");
        long parallel = p ? strtol(p, NULL, 10) : 1;
        size_t n = 0;
        struct job *jobs = read_jobs(jobs_file, &n);
        unsetenv("MQTTLENS_FORK_JOBS");
        filename = serve(jobs, n, parallel > 0 ? parallel : 1);
    }
    return real(filename, type, err, err_info, do_random);
}

/* At its end tshark frees everything it registered (epan_cleanup()); in a
 * child that is most of its time, since every page it frees was shared with
 * the parent and is copied first.  The process ends right after, so a child
 * skips it: what it printed and its exit code are the same. */
void epan_cleanup(void);
void epan_cleanup(void)
{
    static void (*real)(void);
    if (is_child)
        return;
    if (!real)
        real = (void (*)(void))dlsym(RTLD_NEXT, "epan_cleanup");
    real();
}
