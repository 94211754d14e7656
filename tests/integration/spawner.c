/* spawner: exec helper for the host-kernel integration suite.
 *
 *   spawner exec PATH
 *       execv(PATH). On failure prints "errno=NAME" and exits 126, so the
 *       suite can tell EPERM (a gatekeeper deny) from any other failure.
 *   spawner parallel LISTFILE TIMEOUT_MS
 *       Forks one child per line of LISTFILE (a path), holds them all on a
 *       pipe barrier, releases them at once so their execs race, and prints
 *       one line per child: "INDEX PATH RESULT" where RESULT is "ran:STATUS",
 *       "errno:NAME", "signal:N" or "hung". Children still running at the
 *       deadline are killed (and reported hung). Exits 0 if no child hung.
 *   spawner loop DURATION_MS PATH...
 *       Execs the PATHs in turn, one at a time, for DURATION_MS; an exec
 *       that has not finished after 10 s is killed and counted hung. Prints
 *       up to 5 lines "fail PATH RESULT" and then
 *       "execs=N ok=N failed=N hung=N". Exits 0 if every exec ran and
 *       exited 0.
 *
 * Why a C program: the parallel test needs hundreds of execs released at the
 * same instant and a precise errno for each, which a shell cannot give. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 4096
#define EXEC_FAIL_BASE 200 /* child exit status = EXEC_FAIL_BASE + errno */

struct child {
	pid_t pid;
	char *path;
	char result[64];
	int done;
};

static int exec_one(const char *path)
{
	char *argv[] = { (char *)path, NULL };

	execv(path, argv);
	const char *name = strerrorname_np(errno);
	printf("errno=%s\n", name ? name : "unknown");
	return 126;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t read_list(const char *file, struct child *kids)
{
	FILE *f = fopen(file, "r");
	char line[4096];
	size_t n = 0;

	if (!f) {
		perror(file);
		exit(2);
	}
	while (n < MAX_CHILDREN && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		kids[n].path = strdup(line);
		if (!kids[n].path)
			exit(2);
		n++;
	}
	fclose(f);
	return n;
}

static void describe(struct child *c, int status)
{
	if (WIFSIGNALED(status)) {
		snprintf(c->result, sizeof(c->result), "signal:%d", WTERMSIG(status));
	} else if (WEXITSTATUS(status) > EXEC_FAIL_BASE) {
		const char *name = strerrorname_np(WEXITSTATUS(status) - EXEC_FAIL_BASE);
		snprintf(c->result, sizeof(c->result), "errno:%s", name ? name : "unknown");
	} else {
		snprintf(c->result, sizeof(c->result), "ran:%d", WEXITSTATUS(status));
	}
	c->done = 1;
}

static void spawn_all(struct child *kids, size_t n, int barrier[2])
{
	for (size_t i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			strcpy(kids[i].result, "fork-failed");
			kids[i].done = 1;
			continue;
		}
		if (pid == 0) {
			char byte;
			char *argv[] = { kids[i].path, NULL };

			close(barrier[1]);
			/* EOF on the barrier is the start signal for every child. */
			if (read(barrier[0], &byte, 1) < 0)
				_exit(EXEC_FAIL_BASE + errno);
			close(barrier[0]);
			execv(kids[i].path, argv);
			_exit(EXEC_FAIL_BASE + errno);
		}
		kids[i].pid = pid;
	}
}

static size_t reap_until(struct child *kids, size_t n, int64_t deadline)
{
	size_t left = 0;

	for (size_t i = 0; i < n; i++)
		left += !kids[i].done;
	while (left > 0 && now_ms() < deadline) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0) {
			struct timespec pause = { 0, 5 * 1000 * 1000 };
			nanosleep(&pause, NULL);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (kids[i].pid == pid && !kids[i].done) {
				describe(&kids[i], status);
				left--;
				break;
			}
		}
	}
	return left;
}

static int run_parallel(const char *list, int timeout_ms)
{
	static struct child kids[MAX_CHILDREN];
	int barrier[2];
	size_t n = read_list(list, kids);

	if (pipe(barrier) != 0) {
		perror("pipe");
		return 2;
	}
	spawn_all(kids, n, barrier);
	close(barrier[0]);
	close(barrier[1]);

	size_t hung = reap_until(kids, n, now_ms() + timeout_ms);
	for (size_t i = 0; i < n; i++) {
		if (!kids[i].done && kids[i].pid > 0) {
			kill(kids[i].pid, SIGKILL);
			waitpid(kids[i].pid, NULL, 0);
			strcpy(kids[i].result, "hung");
		}
		printf("%zu %s %s\n", i, kids[i].path, kids[i].result);
	}
	return hung ? 1 : 0;
}

/* One exec of path, waited for up to limit_ms: "ran:N", "errno:NAME",
 * "signal:N" or "hung". */
static void exec_waited(char *path, int64_t limit_ms, char *out, size_t size)
{
	struct child c = { .path = path };
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(out, size, "fork-failed");
		return;
	}
	if (pid == 0) {
		char *argv[] = { path, NULL };
		execv(path, argv);
		_exit(EXEC_FAIL_BASE + errno);
	}
	for (int64_t end = now_ms() + limit_ms;;) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			describe(&c, status);
			snprintf(out, size, "%s", c.result);
			return;
		}
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			snprintf(out, size, "hung");
			return;
		}
		struct timespec pause = { 0, 200 * 1000 };
		nanosleep(&pause, NULL);
	}
}

static int run_loop(int duration_ms, char **paths, int n)
{
	unsigned long execs = 0, ok = 0, failed = 0, hung = 0;
	char result[64];

	for (int64_t end = now_ms() + duration_ms; now_ms() < end; execs++) {
		char *path = paths[execs % (unsigned long)n];
		exec_waited(path, 10000, result, sizeof(result));
		if (!strcmp(result, "ran:0")) {
			ok++;
			continue;
		}
		if (!strcmp(result, "hung"))
			hung++;
		else
			failed++;
		if (failed + hung <= 5)
			printf("fail %s %s\n", path, result);
	}
	printf("execs=%lu ok=%lu failed=%lu hung=%lu\n", execs, ok, failed, hung);
	return failed || hung ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "exec") == 0)
		return exec_one(argv[2]);
	if (argc == 4 && strcmp(argv[1], "parallel") == 0)
		return run_parallel(argv[2], atoi(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "loop") == 0)
		return run_loop(atoi(argv[2]), argv + 3, argc - 3);
	fprintf(stderr, "usage: spawner exec PATH | spawner parallel LISTFILE TIMEOUT_MS |"
			" spawner loop DURATION_MS PATH...\n");
	return 2;
}
