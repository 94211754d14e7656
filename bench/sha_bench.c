/* sha_bench: SHA-256 of a file the way gatekeeperd hashes (OpenSSL EVP,
 * 1 MiB pread chunks into one buffer), against a `sha256sum FILE` process.
 *
 *   sha_bench FILE REPS [SHA256SUM]
 *
 * The two are interleaved rep by rep. sha256sum's time is wall time of
 * posix_spawn..waitpid, so it includes that process's start-up; the JSON
 * also carries the spawn time of `SHA256SUM --version` so a reader can
 * separate the two. Prints one JSON object; never judges the numbers. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scanner/scanner.h"   /* the daemon's own hashing, measured as it runs */

extern char **environ;

#define MAX_REPS 1000

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return v[(n - 1) / 2];
}

static double spawn_ms(const char *prog, const char *arg)
{
	char *argv[] = { (char *)prog, (char *)arg, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;
	int64_t t0 = now_ns();

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return (double)(now_ns() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	static double evp[MAX_REPS], cmd[MAX_REPS], startup[MAX_REPS];
	unsigned char sha[32];
	const char *tool = argc > 3 ? argv[3] : "/usr/bin/sha256sum";
	int reps = argc > 2 ? atoi(argv[2]) : 0, fd = -1, rc = 1;
	struct stat st;

	if (argc < 3 || argc > 4 || reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "usage: sha_bench FILE REPS(1-%d) [SHA256SUM]\n", MAX_REPS);
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "sha_bench: %s: %s\n", argv[1], strerror(errno));
		goto cleanup;
	}
	for (int i = 0; i < reps; i++) {
		int64_t t0 = now_ns();
		if (scanner_sha256_fd(fd, sha, NULL) < 0) {
			fprintf(stderr, "sha_bench: hashing %s failed\n", argv[1]);
			goto cleanup;
		}
		evp[i] = (double)(now_ns() - t0) / 1e6;
		cmd[i] = spawn_ms(tool, argv[1]);
		startup[i] = spawn_ms(tool, "--version");
		if (cmd[i] < 0 || startup[i] < 0) {
			fprintf(stderr, "sha_bench: %s failed\n", tool);
			goto cleanup;
		}
	}
	printf("{\"bytes\":%lld,\"reps\":%d,\"sha256\":\"", (long long)st.st_size, reps);
	for (int i = 0; i < 32; i++)
		printf("%02x", sha[i]);
	double e = median(evp, reps), c = median(cmd, reps);
	printf("\",\"evp_ms\":%.3f,\"sha256sum_ms\":%.3f,\"sha256sum_startup_ms\":%.3f,"
	       "\"evp_mb_s\":%.0f}\n", e, c, median(startup, reps), (double)st.st_size / 1e6 / (e / 1e3));
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}
