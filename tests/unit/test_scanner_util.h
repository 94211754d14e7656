/* Helpers shared by the scanner unit tests: a scratch directory made per
 * test, files written into it, and a scanner log that tests can read. */
#ifndef GK_TEST_SCANNER_UTIL_H
#define GK_TEST_SCANNER_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scanner/scanner.h"

/* The EICAR test string, assembled at run time so that no file of the
 * repository carries it whole. */
static inline void eicar_string(char *out, size_t size)
{
	snprintf(out, size, "%s%s%s", "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
		 "EICAR-STANDARD-ANTIVIRUS", "-TEST-FILE!$H+H*");
}

static inline char *scratch_dir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[512];
	snprintf(tmpl, sizeof(tmpl), "%s/gk-scanner-XXXXXX", base && base[0] ? base : "/tmp");
	char *dir = mkdtemp(tmpl);
	/* the scanner process reads its databases as its own, unprivileged user */
	if (dir)
		chmod(dir, 0755);
	return dir ? strdup(dir) : NULL;
}

/* gatekeeper-scand of the build tree the test binary comes from
 * (BUILD/tests/NAME -> BUILD/gatekeeper-scand). */
static inline const char *test_scand_path(void)
{
	static char path[4200];
	return scanner_path_from_self("../gatekeeper-scand", path, sizeof(path)) == 0 ? path : NULL;
}

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void scratch_remove(char *dir)
{
	if (dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* Write len bytes (or a string when len is (size_t)-1) to dir/name,
 * replacing it atomically (as freshclam does), and return the full path. */
static inline char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
	if (len == (size_t)-1)
		len = strlen(data);
	char path[1024], tmp[1100];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, name) >= (int)sizeof(tmp))
		return NULL;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return NULL;
	size_t n = fwrite(data, 1, len, f);
	if (fclose(f) != 0 || n != len || rename(tmp, path) != 0)
		return NULL;
	return strdup(path);
}

static inline void sha256_hex_of(const void *data, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static inline int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static inline void scan_path(struct scanner *s, const char *path, struct scan_result *r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r->status = SCAN_ERROR;
		snprintf(r->detail, sizeof(r->detail), "test: cannot open %s", path);
		return;
	}
	scanner_scan_fd(s, fd, NULL, r);
	close(fd);
}

/* The scanner log, kept so that tests can look for a line. */
static pthread_mutex_t test_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char test_log[8192];

/* A scanner process's stderr comes here too (relayed by the daemon's side):
 * a sanitizer's report in it is echoed where the runners look for one. */
static inline void test_logger(void *ctx, enum scanner_log_level level, const char *msg)
{
	(void)ctx;
	(void)level;
	if (strstr(msg, "Sanitizer") || strstr(msg, "runtime error:"))
		fprintf(stderr, "%s\n", msg);
	pthread_mutex_lock(&test_log_lock);
	size_t len = strlen(test_log);
	if (len + strlen(msg) + 2 < sizeof(test_log))
		snprintf(test_log + len, sizeof(test_log) - len, "%s\n", msg);
	pthread_mutex_unlock(&test_log_lock);
}

/* How many times needle is in the log. */
static inline size_t test_log_count(const char *needle)
{
	size_t n = 0;
	pthread_mutex_lock(&test_log_lock);
	for (const char *p = test_log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	pthread_mutex_unlock(&test_log_lock);
	return n;
}

static inline bool test_log_has(const char *needle)
{
	return test_log_count(needle) > 0;
}

static inline void test_log_clear(void)
{
	pthread_mutex_lock(&test_log_lock);
	test_log[0] = '\0';
	pthread_mutex_unlock(&test_log_lock);
}

#endif
