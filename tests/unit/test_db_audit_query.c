/* Unit tests for db/: reading the audit log (db_audit_query) by id, time,
 * outcome and path glob, in pages, and db_audit_last_id. */
#include "tests/unit/db_test_util.h"

#define T0 1764000000000000LL /* 2025-11-24, microseconds */

/* Six decisions, one second apart: what gatekeeper-ctl log reads. */
static const struct {
	const char *path;
	enum gk_verdict verdict;
	bool would_deny;
} rows[] = {
	{ "/w/a", GK_VERDICT_ALLOW, false },   /* id 1 */
	{ "/w/b", GK_VERDICT_DENY, false },    /* id 2 */
	{ "/w/sub/c", GK_VERDICT_ALLOW, true },/* id 3: monitor mode, would deny */
	{ "/v/d", GK_VERDICT_ALLOW, false },   /* id 4 */
	{ "/w/a", GK_VERDICT_DENY, false },    /* id 5 */
	{ NULL, GK_VERDICT_ALLOW, true },      /* id 6: fileless */
};

static void add_rows(struct gk_db *db)
{
	unsigned char sha[GK_SHA256_LEN];
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		fill_sha(sha, (unsigned)i);
		struct db_audit a = { .time_us = T0 + (int64_t)i * 1000000, .pid = (int32_t)i + 10,
				      .exe = "/bin/sh", .path = rows[i].path, .sha256 = sha,
				      .verdict = rows[i].verdict, .source = GK_SOURCE_DEFAULT,
				      .detail = "d", .latency_us = 7, .mode = GK_MODE_ENFORCE,
				      .would_deny = rows[i].would_deny };
		assert_int_equal(db_audit_add(db, &a), 0);
	}
}

struct seen {
	char ids[64];
	int stop_after;     /* 0: never stop */
	int n;
};

static int collect(void *ctx, int64_t id, const struct db_audit *a)
{
	struct seen *s = ctx;
	size_t len = strlen(s->ids);
	snprintf(s->ids + len, sizeof(s->ids) - len, "%s%lld", len ? " " : "", (long long)id);
	assert_int_equal(a->pid, (int32_t)id + 9);
	assert_non_null(a->sha256);
	assert_string_equal(a->exe, "/bin/sh");
	return s->stop_after && ++s->n >= s->stop_after;
}

/* The ids a filter yields, as "1 2 3". */
static const char *query(struct gk_db *db, struct db_audit_filter f, struct seen *s)
{
	*s = (struct seen){ .stop_after = s->stop_after };
	if (!f.limit)
		f.limit = 100;
	assert_true(db_audit_query(db, &f, collect, s) >= 0);
	return s->ids;
}

static void test_query_filters(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);
	struct seen s = { 0 };
	assert_int_equal(db_audit_last_id(db), 0);
	add_rows(db);
	assert_int_equal(db_audit_last_id(db), 6);
	assert_string_equal(query(db, (struct db_audit_filter){ 0 }, &s), "1 2 3 4 5 6");
	assert_string_equal(query(db, (struct db_audit_filter){ .match = DB_AUDIT_ALLOWED }, &s), "1 4");
	assert_string_equal(query(db, (struct db_audit_filter){ .match = DB_AUDIT_DENIED }, &s), "2 5");
	assert_string_equal(query(db, (struct db_audit_filter){ .match = DB_AUDIT_WOULD_DENY }, &s), "3 6");
	assert_string_equal(query(db, (struct db_audit_filter){ .path_glob = "/w/*" }, &s), "1 2 3 5");
	assert_string_equal(query(db, (struct db_audit_filter){ .path_glob = "/w/?" }, &s), "1 2 5");
	assert_string_equal(query(db, (struct db_audit_filter){ .since_us = T0 + 2000000,
								.until_us = T0 + 4000000 }, &s), "3 4 5");
	assert_string_equal(query(db, (struct db_audit_filter){ .after_id = 4 }, &s), "5 6");
	assert_string_equal(query(db, (struct db_audit_filter){ .after_id = 1, .limit = 2 }, &s), "2 3");
	assert_string_equal(query(db, (struct db_audit_filter){ .match = DB_AUDIT_DENIED,
								.path_glob = "/w/a" }, &s), "5");
	db_close(db);
}

static void test_query_callback_stops(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);
	struct seen s = { .stop_after = 2 };
	add_rows(db);
	assert_string_equal(query(db, (struct db_audit_filter){ 0 }, &s), "1 2");
	/* the statement was reset: the next query starts afresh */
	s.stop_after = 0;
	assert_string_equal(query(db, (struct db_audit_filter){ .after_id = 5 }, &s), "6");
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_query_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_callback_stops, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
