/* exec_lat: wall-clock latency of whole commands (posix_spawn + waitpid),
 * for the booted-system benchmark (bench/sys-guest.sh).
 *
 *   exec_lat NAME repeat N WARMUP PROG [ARG...]
 *       run PROG [ARG...] WARMUP times untimed, then N times timed;
 *   exec_lat NAME each FILE
 *       FILE: one command a line, words separated by spaces (no quoting);
 *       each is run once, timed: the first exec of programs not run before.
 *
 * stdin, stdout and stderr of the commands are /dev/null. Prints one JSON
 * object: n, failed (spawn errors: an exec refused counts here), nonzero
 * (commands that ran but exited non-zero: still timed), min/median/p90/max
 * and total in microseconds. Never judges the numbers; exits 1 only on bad
 * usage or when nothing could be timed. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define MAX_SAMPLES 100000
#define MAX_WORDS 32

static int64_t samples[MAX_SAMPLES];
static size_t n_samples;
static long failed, nonzero;
static char first_failure[200];

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One run of argv; timed when timed. */
static void run(char *const argv[], int timed)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = 0;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int64_t t0 = now_ns();
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	if (rc == 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	int64_t dt = now_ns() - t0;
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		if (!failed++)
			snprintf(first_failure, sizeof(first_failure), "%s: %s", argv[0], strerror(rc));
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		nonzero++;
	if (timed && n_samples < MAX_SAMPLES)
		samples[n_samples++] = dt;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double pct_us(int p)
{
	size_t i = (n_samples - 1) * (size_t)p / 100;
	return (double)samples[i] / 1e3;
}

static int run_each(const char *file)
{
	FILE *f = fopen(file, "re");
	char *line = NULL, *argv[MAX_WORDS + 1];
	size_t cap = 0;

	if (!f) {
		fprintf(stderr, "exec_lat: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		int n = 0;
		char *save = NULL;
		for (char *w = strtok_r(line, " \t\n", &save); w && n < MAX_WORDS;
		     w = strtok_r(NULL, " \t\n", &save))
			argv[n++] = w;
		if (n == 0 || argv[0][0] == '#')
			continue;
		argv[n] = NULL;
		run(argv, 1);
	}
	free(line);
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	const char *usage = "usage: exec_lat NAME repeat N WARMUP PROG [ARG...] | exec_lat NAME each FILE\n";
	double total = 0;

	if (argc < 4) {
		fputs(usage, stderr);
		return 1;
	}
	if (!strcmp(argv[2], "repeat") && argc >= 6) {
		char *end1, *end2;
		long n = strtol(argv[3], &end1, 10), w = strtol(argv[4], &end2, 10);
		if (*end1 || *end2 || n < 1 || n > MAX_SAMPLES || w < 0) {
			fprintf(stderr, "exec_lat: N '%s' or WARMUP '%s' out of range\n", argv[3], argv[4]);
			return 1;
		}
		for (long i = 0; i < w; i++)
			run(argv + 5, 0);
		for (long i = 0; i < n; i++)
			run(argv + 5, 1);
	} else if (!strcmp(argv[2], "each") && argc == 4) {
		if (run_each(argv[3]) < 0)
			return 1;
	} else {
		fputs(usage, stderr);
		return 1;
	}
	for (size_t i = 0; i < n_samples; i++)
		total += (double)samples[i] / 1e3;
	qsort(samples, n_samples, sizeof(samples[0]), cmp_i64);
	printf("{\"name\":\"%s\",\"n\":%zu,\"failed\":%ld,\"nonzero\":%ld,\"first_failure\":\"%s\"",
	       argv[1], n_samples, failed, nonzero, first_failure);
	if (n_samples)
		printf(",\"min_us\":%.1f,\"median_us\":%.1f,\"p90_us\":%.1f,\"max_us\":%.1f,"
		       "\"total_us\":%.1f", pct_us(0), pct_us(50), pct_us(90), pct_us(100), total);
	printf("}\n");
	return n_samples ? 0 : 1;
}
