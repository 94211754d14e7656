/* Unit tests for db/: admin rules, verdicts, audit log, transactions and
 * two connections on one file. Opening and refusing files: test_db_open.c. */
#include "tests/unit/db_test_util.h"

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
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 3);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_set_get_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_latest_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_rejects_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdict_put_get_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdict_unknown_source_reads_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_add_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_writer_gets_busy_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
