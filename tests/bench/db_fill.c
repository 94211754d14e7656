/* db_fill: fill a verdict store with synthetic rows, for benchmarks.
 *   db_fill DB [N]   N verdicts (default 100000) and N audit rows, each set in
 *                    one transaction; prints how long each took. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Distinct, well-spread 32-byte keys (a real store holds SHA-256 values). */
static void synthetic_sha(unsigned char sha[GK_SHA256_LEN], uint64_t i)
{
	uint64_t x = i * 0x9E3779B97F4A7C15ULL + 1;

	for (int b = 0; b < GK_SHA256_LEN; b += 8) {
		x ^= x >> 31;
		x *= 0xBF58476D1CE4E5B9ULL;
		x ^= x >> 29;
		memcpy(sha + b, &x, 8);
	}
	memcpy(sha, &i, sizeof(i)); /* guarantees uniqueness */
}

static int fill_verdicts(struct gk_db *db, long n)
{
	struct db_verdict v = { .verdict = GK_VERDICT_ALLOW, .source = GK_SOURCE_SCANNER,
				.detail = "clean" };

	if (db_begin(db) != 0)
		return -1;
	for (long i = 0; i < n; i++) {
		synthetic_sha(v.sha256, (uint64_t)i);
		v.verdict = i % 10 ? GK_VERDICT_ALLOW : GK_VERDICT_DENY;
		snprintf(v.path, sizeof(v.path), "/srv/bench/bin/tool-%ld", i);
		if (db_verdict_put(db, &v) != 0) {
			db_rollback(db);
			return -1;
		}
	}
	return db_commit(db);
}

static int fill_audit(struct gk_db *db, long n)
{
	unsigned char sha[GK_SHA256_LEN];
	char path[64];
	struct db_audit a = { .exe = "/usr/bin/bash", .path = path, .sha256 = sha,
			      .verdict = GK_VERDICT_ALLOW, .source = GK_SOURCE_SCANNER,
			      .detail = "", .latency_us = 40 };

	if (db_begin(db) != 0)
		return -1;
	for (long i = 0; i < n; i++) {
		synthetic_sha(sha, (uint64_t)i);
		snprintf(path, sizeof(path), "/srv/bench/bin/tool-%ld", i);
		a.pid = (int32_t)(1000 + i % 30000);
		if (db_audit_add(db, &a) != 0) {
			db_rollback(db);
			return -1;
		}
	}
	return db_commit(db);
}

int main(int argc, char **argv)
{
	char err[512];
	struct gk_db *db;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
	double t0, t1, t2;
	int rc = 1;

	if (argc < 2 || argc > 3 || n <= 0) {
		fprintf(stderr, "usage: db_fill DB [N]\n");
		return 2;
	}
	db = db_open(argv[1], err, sizeof(err));
	if (db == NULL) {
		fprintf(stderr, "db_fill: %s\n", err);
		return 1;
	}
	t0 = now_s();
	if (fill_verdicts(db, n) != 0)
		goto cleanup;
	t1 = now_s();
	if (fill_audit(db, n) != 0)
		goto cleanup;
	t2 = now_s();
	printf("verdicts: %ld in %.3f s (%.0f/s), total %lld\n", n, t1 - t0, n / (t1 - t0),
	       (long long)db_verdict_count(db));
	printf("audit:    %ld in %.3f s (%.0f/s), total %lld\n", n, t2 - t1, n / (t2 - t1),
	       (long long)db_audit_count(db));
	rc = 0;
cleanup:
	if (rc != 0)
		fprintf(stderr, "db_fill: %s\n", db_errmsg(db));
	db_close(db);
	return rc;
}
