/* Unit tests for db/: pruning the audit log (db_audit_prune) by age and by
 * row count, in batches, and its failure when the database is locked. */
#include "tests/unit/db_test_util.h"

#define T0 1764000000000000LL /* 2025-11-24, microseconds */
#define DAY_US 86400000000LL

/* Adds n rows, one second apart from T0 + first_s seconds, in one transaction. */
static void add_rows(struct gk_db *db, int n, int64_t first_s)
{
	assert_int_equal(db_begin(db), 0);
	for (int i = 0; i < n; i++) {
		struct db_audit a = { .time_us = T0 + (first_s + i) * 1000000LL, .pid = i + 1,
				      .verdict = GK_VERDICT_ALLOW };

		assert_int_equal(db_audit_add(db, &a), 0);
	}
	assert_int_equal(db_commit(db), 0);
}

static void test_prune_by_age(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);

	add_rows(db, 20, 0);
	/* strictly older than the bound: rows 0..9 go, the one at the bound stays */
	assert_int_equal(db_audit_prune(db, T0 + 10 * 1000000LL, -1), 10);
	assert_int_equal(db_audit_count(db), 10);
	assert_int_equal(db_audit_prune(db, T0 + 10 * 1000000LL, -1), 0);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "SELECT min(time_us) FROM audit"), T0 + 10 * 1000000LL);
}

static void test_prune_by_count_keeps_newest(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);

	add_rows(db, 25, 0);
	assert_int_equal(db_audit_prune(db, 0, 10), 15);
	assert_int_equal(db_audit_count(db), 10);
	assert_int_equal(db_audit_prune(db, 0, 10), 0);
	assert_int_equal(db_audit_prune(db, 0, 100), 0);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "SELECT min(pid) FROM audit"), 16);
	assert_int_equal(raw_int(fx->path, "SELECT max(pid) FROM audit"), 25);
}

/* Newest means most recently added: a clock stepped back does not make the
 * latest rows look old to the count bound. */
static void test_prune_count_follows_insertion_order(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);

	add_rows(db, 5, 1000);
	add_rows(db, 5, 0); /* added later, stamped earlier */
	assert_int_equal(db_audit_prune(db, 0, 5), 5);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "SELECT max(time_us) FROM audit"), T0 + 4 * 1000000LL);
}

static void test_prune_both_bounds(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);

	add_rows(db, 30, 0);
	/* age removes 0..4, then count keeps the newest 20 of the 25 left */
	assert_int_equal(db_audit_prune(db, T0 + 5 * 1000000LL, 20), 10);
	assert_int_equal(db_audit_count(db), 20);
	/* a bound that removes nothing, the other everything beyond 3 */
	assert_int_equal(db_audit_prune(db, T0 - DAY_US, 3), 17);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "SELECT min(pid) FROM audit"), 28);
}

static void test_prune_no_bounds_and_zero(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);

	assert_int_equal(db_audit_prune(db, T0, 0), 0); /* empty table */
	add_rows(db, 7, 0);
	assert_int_equal(db_audit_prune(db, 0, -1), 0);
	assert_int_equal(db_audit_prune(db, -5, -1), 0);
	assert_int_equal(db_audit_count(db), 7);
	assert_int_equal(db_audit_prune(db, 0, 0), 7);
	assert_int_equal(db_audit_count(db), 0);
	db_close(db);
}

/* More rows than one DELETE batch takes, by age and by count. */
static void test_prune_many_rows_in_batches(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);

	add_rows(db, 26000, 0);
	assert_int_equal(db_audit_prune(db, T0 + 21000 * 1000000LL, -1), 21000);
	assert_int_equal(db_audit_count(db), 5000);
	assert_int_equal(db_audit_prune(db, 0, 1000), 4000);
	assert_int_equal(db_audit_count(db), 1000);
	db_close(db);
	assert_int_equal(raw_int(fx->path, "SELECT min(pid) FROM audit"), 25001);
}

/* Inside the caller's transaction, pruning is part of it. */
static void test_prune_in_caller_transaction(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *db = open_ok(fx);

	add_rows(db, 12, 0);
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_audit_prune(db, 0, 2), 10);
	assert_int_equal(db_rollback(db), 0);
	assert_int_equal(db_audit_count(db), 12);
	db_close(db);
}

static void test_prune_locked_fails_cleanly(void **state)
{
	struct fixture *fx = *state;
	struct gk_db *a = open_ok(fx);
	struct gk_db *b = open_ok(fx);

	add_rows(a, 4, 0);
	assert_int_equal(db_begin(a), 0);
	/* Waits busy_timeout, then reports one line. */
	assert_int_equal(db_audit_prune(b, T0 + DAY_US, -1), -1);
	assert_non_null(strstr(db_errmsg(b), "audit: prune by age"));
	assert_null(strchr(db_errmsg(b), '\n'));
	assert_int_equal(db_commit(a), 0);
	assert_int_equal(db_audit_count(b), 4);
	assert_int_equal(db_audit_prune(b, T0 + DAY_US, -1), 4);
	db_close(a);
	db_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prune_by_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_by_count_keeps_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_count_follows_insertion_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_prune_both_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_no_bounds_and_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_many_rows_in_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_in_caller_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_locked_fails_cleanly, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
