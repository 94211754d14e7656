/* Unit tests for db/: creating, opening, migrating and refusing files. */
#include <pthread.h>

#include "tests/unit/db_test_util.h"

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

	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 3);
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
	raw_exec(fx->path, "PRAGMA user_version = 4");
	before = slurp(fx->path, &len);
	assert_null(db_open(fx->path, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "schema version 4 is newer"));
	assert_file_unchanged(fx->path, before, len);
	free(before);
}

/* A store of schema 2 may hold digests of files a writer held open when
 * they were read: v3 drops them all, and nothing else. */
static void test_v2_store_loses_its_digests_only(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);

	db_close(db);
	raw_exec(fx->path, "INSERT INTO digests VALUES ('dev:1:2:fsid:0:1', 7, 8, 9, zeroblob(32), NULL);"
			   "INSERT INTO admin_rules VALUES (zeroblob(32), 1, 5, 'kept');"
			   "PRAGMA user_version = 2");
	db = open_ok(fx);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 3);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM digests"), 0);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM admin_rules"), 1);
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
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 3);
}

static bool exists(const char *dir, const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

/* A store closed cleanly and unchanged since is trusted without reading it,
 * once: the mark is used up. */
/* A second connection shares what the first one checked and writes; a
 * path that names another file by then is refused, naming the path. */
static void test_another_connection(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);
	struct gk_db *more = db_open_another(db, fx->err, sizeof(fx->err));
	char other[200];

	assert_non_null(more);
	assert_int_equal(db_audit_add(more, &(struct db_audit){ .pid = 7 }), 0);
	assert_int_equal(db_audit_count(db), 1);
	db_close(more);

	snprintf(other, sizeof(other), "%s.other", fx->path);
	struct gk_db *second = db_open(other, fx->err, sizeof(fx->err));
	assert_non_null(second);
	db_close(second);
	assert_int_equal(rename(other, fx->path), 0);
	assert_null(db_open_another(db, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, fx->path));
	assert_non_null(strstr(fx->err, "replaced since it was opened"));
	db_close(db);
}

static void test_clean_mark_skips_the_check_once(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);
	db_close(db);
	assert_int_equal(db_mark_clean(fx->path), 0);
	assert_true(exists(fx->dir, "gk.db.clean"));
	assert_int_equal(db_check(fx->path, fx->err, sizeof(fx->err)), 2);
	assert_false(exists(fx->dir, "gk.db.clean"));
	assert_int_equal(db_check(fx->path, fx->err, sizeof(fx->err)), 0);
}

/* Written after the mark (here: its header destroyed): the mark no longer
 * matches, the file is read and found damaged. */
static void test_clean_mark_void_once_written(void **state)
{
	struct fixture *fx = *state;
	db_close(open_ok(fx));
	assert_int_equal(db_mark_clean(fx->path), 0);
	FILE *f = fopen(fx->path, "r+");
	assert_non_null(f);
	assert_int_equal(fwrite("not a database!!", 1, 16, f), 16);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(db_check(fx->path, fx->err, sizeof(fx->err)), 1);
	assert_false(exists(fx->dir, "gk.db.clean"));
}

/* Damaged, or no database at all, and its header does not carry our
 * application_id: 3 (perhaps not ours), never 1, and the file is only read.
 * The same damage to a store of ours is 1. */
static void test_check_tells_files_not_ours(void **state)
{
	struct fixture *fx = *state;
	static const char text[] = "shopping: milk, eggs\n";
	char big[8192], *before;
	size_t len;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 131 + 7);
	for (int round = 0; round < 2; round++) {
		write_file(fx->path, round ? big : text, round ? sizeof(big) : strlen(text));
		before = slurp(fx->path, &len);
		assert_int_equal(db_check(fx->path, fx->err, sizeof(fx->err)), 3);
		assert_non_null(strstr(fx->err, "file is not a database"));
		assert_file_unchanged(fx->path, before, len);
		free(before);
	}
	/* Another program's database, its pages damaged: quick_check fails. */
	unlink(fx->path);
	raw_exec(fx->path, "PRAGMA journal_mode = DELETE; PRAGMA page_size = 1024;"
			   "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT);"
			   "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
			   "WHERE i < 2000) INSERT INTO photos (name) SELECT printf('%080d', i) FROM n");
	FILE *f = fopen(fx->path, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 3 * 1024, SEEK_SET), 0);
	memset(big, 0xa5, sizeof(big));
	assert_int_equal(fwrite(big, 1, sizeof(big), f), sizeof(big));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(db_check(fx->path, fx->err, sizeof(fx->err)), 3);
	assert_non_null(strstr(fx->err, "quick_check"));
	/* Ours, its pages damaged the same way: 1. */
	unlink(fx->path);
	db_close(open_ok(fx));
	struct gk_db *db = open_ok(fx);
	unsigned char sha[GK_SHA256_LEN] = { 0 };
	for (int i = 0; i < 2000; i++) {
		sha[0] = (unsigned char)i, sha[1] = (unsigned char)(i >> 8);
		assert_int_equal(db_admin_set(db, sha, GK_VERDICT_ALLOW, "/some/long/path/hint/x"), 0);
	}
	db_close(db);
	f = fopen(fx->path, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 4096, SEEK_SET), 0);
	assert_int_equal(fwrite(big, 1, sizeof(big), f), sizeof(big));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(db_check(fx->path, fx->err, sizeof(fx->err)), 1);
}

/* Still open elsewhere (its WAL holds what the file does not): no mark. */
static void test_clean_mark_refused_while_open(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);
	unsigned char sha[GK_SHA256_LEN] = { 7 };
	assert_int_equal(db_admin_set(db, sha, GK_VERDICT_ALLOW, "/x"), 0);
	assert_int_equal(db_mark_clean(fx->path), -1);
	assert_false(exists(fx->dir, "gk.db.clean"));
	db_close(db);
	assert_int_equal(db_check(fx->path, fx->err, sizeof(fx->err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_0600_wal_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_mode_ignores_strict_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_in_wal_mode_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_store_loses_its_digests_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_database_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_existing_file_is_initialised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_another_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_mark_skips_the_check_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_mark_void_once_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_mark_refused_while_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_tells_files_not_ours, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
