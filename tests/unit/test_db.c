/* Unit tests for db/: the SQLite verdict store and audit log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"

struct fixture {
	char dir[64];
	char path[128]; /* dir/gk.db, not created by setup */
	char err[512];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/gk-test-db-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/gk.db", fx->dir);
	*state = fx;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int rc = nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(fx);
	return rc;
}

static void fill_sha(unsigned char sha[GK_SHA256_LEN], unsigned seed)
{
	for (int i = 0; i < GK_SHA256_LEN; i++)
		sha[i] = (unsigned char)(seed * 31 + (unsigned)i * 7);
	memcpy(sha, &seed, sizeof(seed));
}

static struct gk_db *open_ok(struct fixture *fx)
{
	struct gk_db *db = db_open(fx->path, fx->err, sizeof(fx->err));

	if (db == NULL)
		fail_msg("db_open: %s", fx->err);
	return db;
}

/* Runs one statement through SQLite directly, as another program would. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *conn = NULL;

	assert_int_equal(sqlite3_open(path, &conn), SQLITE_OK);
	assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(conn);
}

static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	long long v;

	assert_int_equal(sqlite3_open(path, &conn), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(conn, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(conn);
	return v;
}

/* The whole file, for "nothing was modified" checks. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void assert_file_unchanged(const char *path, const char *before, size_t before_len)
{
	size_t len;
	char *now = slurp(path, &len);

	assert_int_equal(len, before_len);
	assert_memory_equal(now, before, len);
	free(now);
}

static void test_open_creates_0600_wal_schema(void **state)
{
	struct fixture *fx = *state;
	mode_t old = umask(0);
	struct gk_db *db = db_open(fx->path, fx->err, sizeof(fx->err));
	struct stat st;

	umask(old);
	assert_non_null(db);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(db_verdict_count(db), 0);
	assert_int_equal(db_audit_count(db), 0);
	db_close(db);

	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(fx->path, "PRAGMA application_id"), 0x474B4442);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM sqlite_schema "
					   "WHERE name = 'audit_time_us'"), 1);
}

static void test_open_mode_ignores_strict_umask(void **state)
{
	struct fixture *fx = *state;
	mode_t old = umask(0277);
	struct gk_db *db = db_open(fx->path, fx->err, sizeof(fx->err));
	char wal[160];
	struct stat st;

	umask(old);
	assert_non_null(db);
	assert_int_equal(db_audit_add(db, &(struct db_audit){ .pid = 1 }), 0);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(wal, sizeof(wal), "%s-wal", fx->path);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	db_close(db);
}

static void test_reopen_keeps_data(void **state)
{
	struct fixture *fx = *state;
	unsigned char sha[GK_SHA256_LEN];
	struct db_verdict v = { .verdict = GK_VERDICT_DENY, .source = GK_SOURCE_SCANNER };
	struct db_verdict got;
	enum gk_verdict admin;
	struct gk_db *db = open_ok(fx);

	fill_sha(sha, 1);
	memcpy(v.sha256, sha, sizeof(sha));
	assert_int_equal(db_verdict_put(db, &v), 0);
	assert_int_equal(db_admin_set(db, sha, GK_VERDICT_ALLOW, "/bin/true"), 0);
	db_close(db);

	db = open_ok(fx);
	assert_int_equal(db_verdict_get(db, sha, &got), 0);
	assert_int_equal(got.verdict, GK_VERDICT_DENY);
	assert_int_equal(db_admin_get(db, sha, &admin, NULL), 0);
	assert_int_equal(admin, GK_VERDICT_ALLOW);
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 1);
	db_close(db);
}

static void test_admin_set_get_clear(void **state)
{
	struct fixture *fx = *state;
	unsigned char sha[GK_SHA256_LEN], other[GK_SHA256_LEN];
	enum gk_verdict verdict = GK_VERDICT_UNKNOWN;
	int64_t at = 0;
	struct gk_db *db = open_ok(fx);

	fill_sha(sha, 7);
	fill_sha(other, 8);
	assert_int_equal(db_admin_get(db, sha, &verdict, &at), 1);
	assert_int_equal(db_admin_set(db, sha, GK_VERDICT_DENY, "/t/x"), 0);
	assert_int_equal(db_admin_get(db, sha, &verdict, &at), 0);
	assert_int_equal(verdict, GK_VERDICT_DENY);
	assert_true(at > 1700000000LL * 1000000);
	assert_int_equal(db_admin_get(db, other, &verdict, &at), 1);
	assert_int_equal(db_admin_clear(db, other), 1);
	assert_int_equal(db_admin_clear(db, sha), 0);
	assert_int_equal(db_admin_get(db, sha, &verdict, &at), 1);
	assert_int_equal(db_admin_clear(db, sha), 1);
	db_close(db);
}

static void test_admin_latest_replaces(void **state)
{
	struct fixture *fx = *state;
	unsigned char sha[GK_SHA256_LEN];
	enum gk_verdict verdict;
	int64_t first, second;
	struct gk_db *db = open_ok(fx);

	fill_sha(sha, 9);
	assert_int_equal(db_admin_set(db, sha, GK_VERDICT_ALLOW, NULL), 0);
	assert_int_equal(db_admin_get(db, sha, &verdict, &first), 0);
	assert_int_equal(verdict, GK_VERDICT_ALLOW);
	usleep(2000);
	assert_int_equal(db_admin_set(db, sha, GK_VERDICT_DENY, "/t/y"), 0);
	assert_int_equal(db_admin_get(db, sha, &verdict, &second), 0);
	assert_int_equal(verdict, GK_VERDICT_DENY);
	assert_true(second > first);
	assert_int_equal(db_admin_set(db, sha, GK_VERDICT_ALLOW, NULL), 0);
	assert_int_equal(db_admin_get(db, sha, &verdict, NULL), 0);
	assert_int_equal(verdict, GK_VERDICT_ALLOW);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM admin_rules"), 1);
}

static void test_admin_rejects_bad_input(void **state)
{
	struct fixture *fx = *state;
	unsigned char sha[GK_SHA256_LEN];
	struct gk_db *db = open_ok(fx);

	fill_sha(sha, 3);
	assert_int_equal(db_admin_set(db, sha, GK_VERDICT_UNKNOWN, NULL), -1);
	assert_non_null(strstr(db_errmsg(db), "allow or deny"));
	assert_non_null(strstr(db_errmsg(db), fx->path));
	assert_int_equal(db_admin_set(db, sha, (enum gk_verdict)7, NULL), -1);
	assert_int_equal(db_admin_set(db, NULL, GK_VERDICT_DENY, NULL), -1);
	assert_int_equal(db_admin_get(db, sha, NULL, NULL), 1);
	db_close(db);
}

struct walk {
	unsigned seen;
	unsigned denies;
	unsigned stop_after;
};

static int count_rule(void *ctx, const unsigned char sha[GK_SHA256_LEN], enum gk_verdict v)
{
	struct walk *w = ctx;

	assert_non_null(sha);
	w->seen++;
	w->denies += v == GK_VERDICT_DENY;
	return w->stop_after && w->seen == w->stop_after ? 42 : 0;
}

static int nested_walk(void *ctx, const unsigned char sha[GK_SHA256_LEN], enum gk_verdict v)
{
	struct walk w = { 0 };

	(void)sha;
	(void)v;
	return db_admin_foreach(ctx, count_rule, &w) == -1 ? 7 : 0;
}

static void test_admin_foreach(void **state)
{
	struct fixture *fx = *state;
	unsigned char sha[GK_SHA256_LEN];
	struct walk w = { 0 };
	struct gk_db *db = open_ok(fx);

	assert_int_equal(db_admin_foreach(db, count_rule, &w), 0);
	assert_int_equal(w.seen, 0);
	for (unsigned i = 0; i < 10; i++) {
		fill_sha(sha, 100 + i);
		assert_int_equal(db_admin_set(db, sha, i % 3 ? GK_VERDICT_ALLOW
							  : GK_VERDICT_DENY, NULL), 0);
	}
	assert_int_equal(db_admin_foreach(db, count_rule, &w), 0);
	assert_int_equal(w.seen, 10);
	assert_int_equal(w.denies, 4);

	w = (struct walk){ .stop_after = 3 };
	assert_int_equal(db_admin_foreach(db, count_rule, &w), 42);
	assert_int_equal(w.seen, 3);
	/* Stopping early left the statement ready for the next walk. */
	w = (struct walk){ 0 };
	assert_int_equal(db_admin_foreach(db, count_rule, &w), 0);
	assert_int_equal(w.seen, 10);

	assert_int_equal(db_admin_foreach(db, nested_walk, db), 7);
	assert_non_null(strstr(db_errmsg(db), "nested"));
	db_close(db);
}

static void test_verdict_put_get_replace(void **state)
{
	struct fixture *fx = *state;
	struct db_verdict v = {
		.verdict = GK_VERDICT_DENY,
		.source = GK_SOURCE_POLICY_PATH,
		.detail = "rule 3 (line 12)",
		.path = "/srv/bin/tool",
		.decided_at_us = 1764000000000000LL,
		.policy_sha256 = "ab12",
	};
	struct db_verdict got;
	struct gk_db *db = open_ok(fx);

	fill_sha(v.sha256, 11);
	assert_int_equal(db_verdict_get(db, v.sha256, &got), 1);
	assert_int_equal(db_verdict_put(db, &v), 0);
	assert_int_equal(db_verdict_get(db, v.sha256, &got), 0);
	assert_memory_equal(got.sha256, v.sha256, GK_SHA256_LEN);
	assert_int_equal(got.verdict, GK_VERDICT_DENY);
	assert_int_equal(got.source, GK_SOURCE_POLICY_PATH);
	assert_string_equal(got.detail, "rule 3 (line 12)");
	assert_string_equal(got.path, "/srv/bin/tool");
	assert_int_equal(got.decided_at_us, 1764000000000000LL);
	assert_string_equal(got.policy_sha256, "ab12");

	v.verdict = GK_VERDICT_ALLOW;
	v.source = GK_SOURCE_SCANNER;
	snprintf(v.detail, sizeof(v.detail), "clean");
	snprintf(v.path, sizeof(v.path), "/srv/bin/tool2");
	v.decided_at_us = 0; /* "now" */
	v.policy_sha256[0] = '\0';
	assert_int_equal(db_verdict_put(db, &v), 0);
	assert_int_equal(db_verdict_count(db), 1);
	assert_int_equal(db_verdict_get(db, v.sha256, &got), 0);
	assert_int_equal(got.verdict, GK_VERDICT_ALLOW);
	assert_int_equal(got.source, GK_SOURCE_SCANNER);
	assert_string_equal(got.detail, "clean");
	assert_string_equal(got.path, "/srv/bin/tool2");
	assert_true(got.decided_at_us > 1764000000000000LL);
	assert_string_equal(got.policy_sha256, "");

	v.verdict = GK_VERDICT_UNKNOWN;
	assert_int_equal(db_verdict_put(db, &v), -1);
	assert_int_equal(db_verdict_get(db, v.sha256, &got), 0);
	assert_int_equal(got.verdict, GK_VERDICT_ALLOW);
	db_close(db);
}

static void test_verdict_unknown_source_reads_none(void **state)
{
	struct fixture *fx = *state;
	struct db_verdict v = { .verdict = GK_VERDICT_ALLOW, .source = GK_SOURCE_ADMIN };
	struct db_verdict got;
	struct gk_db *db = open_ok(fx);

	fill_sha(v.sha256, 12);
	assert_int_equal(db_verdict_put(db, &v), 0);
	db_close(db);
	raw_exec(fx->path, "UPDATE verdicts SET source = 'from-the-future'");
	db = open_ok(fx);
	assert_int_equal(db_verdict_get(db, v.sha256, &got), 0);
	assert_int_equal(got.source, GK_SOURCE_NONE);
	db_close(db);
}

static void test_audit_add_count(void **state)
{
	struct fixture *fx = *state;
	unsigned char sha[GK_SHA256_LEN];
	struct db_audit full = {
		.time_us = 1764000000000001LL,
		.pid = 123,
		.exe = "/usr/bin/bash",
		.path = "/t/x",
		.sha256 = sha,
		.verdict = GK_VERDICT_DENY,
		.source = GK_SOURCE_ADMIN,
		.detail = "",
		.latency_us = 41,
		.mode = GK_MODE_MONITOR,
		.would_deny = true,
	};
	struct db_audit sparse = { .pid = 5, .verdict = GK_VERDICT_ALLOW };
	struct gk_db *db = open_ok(fx);

	fill_sha(sha, 13);
	assert_int_equal(db_audit_add(db, &full), 0);
	assert_int_equal(db_audit_add(db, &sparse), 0);
	assert_int_equal(db_audit_count(db), 2);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM audit WHERE pid = 123 AND "
					   "exe = '/usr/bin/bash' AND path = '/t/x' AND "
					   "length(sha256) = 32 AND verdict = 2 AND "
					   "source = 'admin' AND latency_us = 41 AND "
					   "mode = 'monitor' AND would_deny = 1 AND "
					   "time_us = 1764000000000001"), 1);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM audit WHERE pid = 5 AND "
					   "exe IS NULL AND sha256 IS NULL AND "
					   "mode = 'enforce' AND would_deny = 0 AND "
					   "time_us > 1764000000000001"), 1);
}

static void test_batch_in_transaction(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *writer = open_ok(fx);
	struct gk_db *reader = open_ok(fx);
	struct db_verdict v = { .verdict = GK_VERDICT_ALLOW, .source = GK_SOURCE_DEFAULT };

	assert_int_equal(db_begin(writer), 0);
	for (unsigned i = 0; i < 2000; i++) {
		fill_sha(v.sha256, i);
		assert_int_equal(db_verdict_put(writer, &v), 0);
		assert_int_equal(db_audit_add(writer, &(struct db_audit){ .pid = (int)i }), 0);
	}
	assert_int_equal(db_verdict_count(writer), 2000);
	assert_int_equal(db_verdict_count(reader), 0);
	assert_int_equal(db_begin(writer), -1); /* no nesting */
	assert_int_equal(db_commit(writer), 0);
	assert_int_equal(db_verdict_count(reader), 2000);
	assert_int_equal(db_audit_count(reader), 2000);

	assert_int_equal(db_begin(writer), 0);
	fill_sha(v.sha256, 99999);
	assert_int_equal(db_verdict_put(writer, &v), 0);
	assert_int_equal(db_rollback(writer), 0);
	assert_int_equal(db_verdict_count(writer), 2000);

	assert_int_equal(db_commit(writer), -1);
	assert_non_null(strstr(db_errmsg(writer), "commit"));
	db_close(reader);
	db_close(writer);
}

static void test_two_connections(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *writer = open_ok(fx);
	struct gk_db *reader = open_ok(fx);
	unsigned char sha[GK_SHA256_LEN];
	enum gk_verdict verdict;
	struct db_verdict v = { .verdict = GK_VERDICT_DENY, .source = GK_SOURCE_ADMIN };
	struct db_verdict got;

	fill_sha(sha, 21);
	memcpy(v.sha256, sha, sizeof(sha));
	/* Autocommit writes are visible to the other connection at once. */
	assert_int_equal(db_admin_set(writer, sha, GK_VERDICT_DENY, NULL), 0);
	assert_int_equal(db_admin_get(reader, sha, &verdict, NULL), 0);
	assert_int_equal(verdict, GK_VERDICT_DENY);
	/* A reader is not blocked by an open write transaction (WAL). */
	assert_int_equal(db_begin(writer), 0);
	assert_int_equal(db_verdict_put(writer, &v), 0);
	assert_int_equal(db_verdict_get(reader, sha, &got), 1);
	assert_int_equal(db_commit(writer), 0);
	assert_int_equal(db_verdict_get(reader, sha, &got), 0);
	assert_int_equal(got.verdict, GK_VERDICT_DENY);
	db_close(writer);
	db_close(reader);
}

static void test_second_writer_gets_busy_error(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *a = open_ok(fx);
	struct gk_db *b = open_ok(fx);
	unsigned char sha[GK_SHA256_LEN];

	fill_sha(sha, 22);
	assert_int_equal(db_begin(a), 0);
	/* Waits busy_timeout, then fails cleanly rather than hanging. */
	assert_int_equal(db_admin_set(b, sha, GK_VERDICT_DENY, NULL), -1);
	assert_non_null(strstr(db_errmsg(b), "locked"));
	assert_null(strchr(db_errmsg(b), '\n'));
	assert_int_equal(db_commit(a), 0);
	assert_int_equal(db_admin_set(b, sha, GK_VERDICT_DENY, NULL), 0);
	db_close(a);
	db_close(b);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);
	char *before;
	size_t len;

	db_close(db);
	raw_exec(fx->path, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 99");
	before = slurp(fx->path, &len);
	assert_null(db_open(fx->path, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, fx->path));
	assert_non_null(strstr(fx->err, "schema version 99 is newer"));
	assert_file_unchanged(fx->path, before, len);
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 99);
	free(before);
}

static void test_newer_schema_in_wal_mode_refused(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);
	char *before;
	size_t len;

	db_close(db);
	raw_exec(fx->path, "PRAGMA user_version = 2");
	before = slurp(fx->path, &len);
	assert_null(db_open(fx->path, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "schema version 2 is newer"));
	assert_file_unchanged(fx->path, before, len);
	free(before);
}

static void test_garbage_file_refused(void **state)
{
	struct fixture *fx = *state;
	static const char small[] = "hello, I am not a database\n";
	char big[8192], expect[256];
	size_t len;
	char *before;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 131 + 7);
	snprintf(expect, sizeof(expect), "%s: file is not a database", fx->path);
	for (int round = 0; round < 2; round++) {
		write_file(fx->path, round ? big : small, round ? sizeof(big) : strlen(small));
		before = slurp(fx->path, &len);
		assert_null(db_open(fx->path, fx->err, sizeof(fx->err)));
		assert_string_equal(fx->err, expect);
		assert_file_unchanged(fx->path, before, len);
		free(before);
	}
}

static void test_foreign_database_refused(void **state)
{
	struct fixture *fx = *state;
	char *before;
	size_t len;

	raw_exec(fx->path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)");
	before = slurp(fx->path, &len);
	assert_null(db_open(fx->path, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "not a gatekeeper database"));
	assert_file_unchanged(fx->path, before, len);
	free(before);
}

static void test_unusable_paths(void **state)
{
	struct fixture *fx = *state;
	char path[256];

	snprintf(path, sizeof(path), "%s/missing/gk.db", fx->dir);
	assert_null(db_open(path, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, path));
	assert_non_null(strstr(fx->err, "No such file or directory"));

	write_file(fx->path, "", 0);
	snprintf(path, sizeof(path), "%s/gk.db/inner.db", fx->dir);
	assert_null(db_open(path, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "Not a directory"));

	assert_null(db_open(fx->dir, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "not a regular file"));

	/* Permission bits only bind non-root runs; root gets through them. */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro", fx->dir);
		assert_int_equal(mkdir(path, 0500), 0);
		snprintf(path, sizeof(path), "%s/ro/gk.db", fx->dir);
		assert_null(db_open(path, fx->err, sizeof(fx->err)));
		assert_non_null(strstr(fx->err, "Permission denied"));
		assert_int_equal(chmod(fx->path, 0400), 0);
		assert_null(db_open(fx->path, fx->err, sizeof(fx->err)));
		assert_non_null(strstr(fx->err, "cannot open for writing"));
	}

	assert_null(db_open("", fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "empty"));
	assert_string_equal(db_errmsg(NULL), "no database");
}

struct opener {
	const char *path;
	unsigned seed;
	int failures;
};

static void *open_and_write(void *arg)
{
	struct opener *o = arg;
	char err[512];
	struct gk_db *db = db_open(o->path, err, sizeof(err));
	struct db_verdict v = { .verdict = GK_VERDICT_ALLOW, .source = GK_SOURCE_DEFAULT };

	if (db == NULL) {
		fprintf(stderr, "# %s\n", err);
		o->failures++;
		return NULL;
	}
	if (db_begin(db) != 0)
		o->failures++;
	for (unsigned i = 0; i < 200 && o->failures == 0; i++) {
		fill_sha(v.sha256, o->seed * 1000 + i);
		o->failures += db_verdict_put(db, &v) != 0;
	}
	if (db_commit(db) != 0)
		o->failures++;
	db_close(db);
	return NULL;
}

/* Threads of one process opening a fresh file together: one creates and
 * migrates it, none loses another's locks or rows. */
static void test_concurrent_first_open(void **state)
{
	struct fixture *fx = *state;
	struct opener openers[6];
	pthread_t threads[6];
	struct gk_db *db;

	for (unsigned i = 0; i < 6; i++) {
		openers[i] = (struct opener){ .path = fx->path, .seed = i + 1 };
		assert_int_equal(pthread_create(&threads[i], NULL, open_and_write, &openers[i]),
				 0);
	}
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(openers[i].failures, 0);
	}
	db = open_ok(fx);
	assert_int_equal(db_verdict_count(db), 1200);
	db_close(db);
}

static void test_empty_existing_file_is_initialised(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db;

	write_file(fx->path, "", 0);
	db = open_ok(fx);
	assert_int_equal(db_verdict_count(db), 0);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_0600_wal_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_mode_ignores_strict_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_set_get_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_latest_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_rejects_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdict_put_get_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdict_unknown_source_reads_none, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_add_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_writer_gets_busy_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_in_wal_mode_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_existing_file_is_initialised, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
