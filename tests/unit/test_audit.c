/* The audit writer as an object (struct audit_writer, owned by gk_daemon):
 * stop without start, a start that fails, start/stop/start, rows that reach
 * the store across restarts, rows kept while another connection holds the
 * store's lock, drops counted when it stops while still locked, and
 * audit_sync: what was queued before it is stored when it returns, whether
 * one record (the writer still gathering) or more than a batch. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <time.h>

#include "gatekeeper/gatekeeperd.h"

struct fx {
	struct gk_daemon d;
	char dir[64], path[128];
};

static int setup(void **state)
{
	static const char text[] = "mode: enforce\nwatch:\n  - /tmp\ndefault: allow\n";
	struct gk_policy_errors errs = { 0 };
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/gk-test-audit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/gk.db", f->dir);
	f->d.opt.db_path = f->path;
	char err[256];
	if (!(f->d.db = db_open(f->path, err, sizeof(err))))   /* the daemon's, checked */
		return -1;
	f->d.policy = policy_parse("test.yaml", text, sizeof(text) - 1, &errs);
	if (!f->d.policy)
		return -1;
	pthread_rwlock_init(&f->d.policy_lock, NULL);
	log_init(true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];
	policy_free(f->d.policy);
	db_close(f->d.db);
	pthread_rwlock_destroy(&f->d.policy_lock);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void submit_n(struct gk_daemon *d, int n)
{
	for (int i = 0; i < n; i++) {
		struct db_audit a = { .time_us = gk_now_us(), .pid = 100 + i, .exe = "/bin/sh",
				      .path = "/tmp/x", .verdict = GK_VERDICT_ALLOW,
				      .source = GK_SOURCE_DEFAULT, .detail = "",
				      .mode = GK_MODE_ENFORCE };
		audit_submit(d, &a, AUDIT_EXEC);
	}
}

static int64_t rows(const char *path)
{
	char err[256];
	struct gk_db *db = db_open(path, err, sizeof(err));
	assert_non_null(db);
	int64_t n = db_audit_count(db);
	db_close(db);
	return n;
}

static void test_stop_without_start(void **state)
{
	struct fx *f = *state;
	audit_stop(&f->d);        /* never started: nothing to do, no crash */
	assert_null(f->d.audit);
	submit_n(&f->d, 3);       /* no writer: dropped and counted, never blocks */
	assert_int_equal(atomic_load(&f->d.stats.audit_dropped), 3);
}

/* A record the queue cannot take (here: no writer) is counted, and a
 * refusal still gets its log line; an allow the policy does not log does
 * not. */
static void test_dropped_denial_keeps_its_log_line(void **state)
{
	struct fx *f = *state;
	char out[160], line[1024] = "";
	snprintf(out, sizeof(out), "%s/stderr", f->dir);
	fflush(stderr);
	int saved = dup(2), fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	f->d.policy->audit.log_allows = false;
	struct db_audit a = { .time_us = gk_now_us(), .pid = 7, .exe = "/bin/sh",
			      .path = "/tmp/refused", .verdict = GK_VERDICT_DENY,
			      .source = GK_SOURCE_DEFAULT, .detail = "", .mode = GK_MODE_ENFORCE };
	audit_submit(&f->d, &a, AUDIT_EXEC);
	a.path = "/tmp/allowed";
	a.verdict = GK_VERDICT_ALLOW;
	audit_submit(&f->d, &a, AUDIT_EXEC);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	FILE *in = fopen(out, "r");
	assert_non_null(in);
	size_t n = fread(line, 1, sizeof(line) - 1, in);
	fclose(in);
	line[n] = '\0';
	assert_int_equal(atomic_load(&f->d.stats.audit_dropped), 2);
	assert_non_null(strstr(line, "path=/tmp/refused "));
	assert_non_null(strstr(line, "verdict=deny"));
	assert_null(strstr(line, "/tmp/allowed"));
}

static void test_failed_start_leaves_nothing(void **state)
{
	struct fx *f = *state;
	char gone[200], cmd[240], err[256];
	snprintf(gone, sizeof(gone), "%s/gone", f->dir);
	assert_int_equal(mkdir(gone, 0700), 0);
	snprintf(gone, sizeof(gone), "%s/gone/gk.db", f->dir);
	struct gk_db *store = db_open(gone, err, sizeof(err)), *kept = f->d.db;
	assert_non_null(store);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s/gone'", f->dir);
	assert_int_equal(system(cmd), 0);
	f->d.db = store;          /* its file is gone: no second connection to it */
	assert_int_equal(audit_start(&f->d), -1);
	assert_null(f->d.audit);
	audit_stop(&f->d);
	audit_stop(&f->d);
	f->d.db = kept;
	db_close(store);
}

static void test_start_stop_start(void **state)
{
	struct fx *f = *state;
	assert_int_equal(audit_start(&f->d), 0);
	assert_non_null(f->d.audit);
	submit_n(&f->d, 10);
	audit_stop(&f->d);        /* stores what is queued before it returns */
	assert_null(f->d.audit);
	assert_int_equal(rows(f->path), 10);
	assert_int_equal(audit_start(&f->d), 0);
	submit_n(&f->d, 5);
	audit_stop(&f->d);
	assert_int_equal(rows(f->path), 15);
	audit_stop(&f->d);        /* twice: still safe */
	assert_int_equal(atomic_load(&f->d.stats.audit_dropped), 0);
}

static void test_sync_stores_what_was_queued(void **state)
{
	struct fx *f = *state;
	assert_int_equal(audit_start(&f->d), 0);
	audit_sync(&f->d);        /* nothing queued: returns at once */
	submit_n(&f->d, 1);
	audit_sync(&f->d);
	assert_int_equal(rows(f->path), 1);
	submit_n(&f->d, 1500);    /* three transactions' worth */
	audit_sync(&f->d);
	assert_int_equal(rows(f->path), 1501);
	/* gathered, not lost: without a sync they are stored all the same */
	submit_n(&f->d, 7);
	for (int i = 0; i < 200 && rows(f->path) < 1508; i++)
		usleep(10000);
	assert_int_equal(rows(f->path), 1508);
	audit_stop(&f->d);
	assert_int_equal(atomic_load(&f->d.stats.audit_dropped), 0);
}

/* Another connection holds the write lock, as another process would. */
static sqlite3 *lock_store(const char *path)
{
	sqlite3 *conn = NULL;
	assert_int_equal(sqlite3_open(path, &conn), SQLITE_OK);
	assert_int_equal(sqlite3_exec(conn, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	return conn;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

static void test_locked_store_keeps_rows(void **state)
{
	struct fx *f = *state;
	assert_int_equal(audit_start(&f->d), 0);
	submit_n(&f->d, 1);
	audit_sync(&f->d);                   /* the schema exists, one row stored */
	sqlite3 *lock = lock_store(f->path);
	submit_n(&f->d, 7);
	sleep_ms(2500);                      /* at least one refused attempt */
	assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lock);
	int64_t n = 0;
	for (int i = 0; i < 100 && n < 8; i++) {
		sleep_ms(100);
		n = rows(f->path);
	}
	assert_int_equal(n, 8);              /* kept and retried, none lost */
	audit_stop(&f->d);
	assert_int_equal(atomic_load(&f->d.stats.audit_dropped), 0);
}

static void test_stop_while_locked_counts_drops(void **state)
{
	struct fx *f = *state;
	assert_int_equal(audit_start(&f->d), 0);
	submit_n(&f->d, 1);
	audit_sync(&f->d);
	sqlite3 *lock = lock_store(f->path);
	submit_n(&f->d, 3);
	sleep_ms(300);
	audit_stop(&f->d);                   /* one last try, then the rest is counted */
	assert_null(f->d.audit);
	assert_int_equal(atomic_load(&f->d.stats.audit_dropped), 3);
	sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(lock);
	assert_int_equal(rows(f->path), 1);
}

int main(void)
{
	/* The dropped-record test reads its log line from stderr: never let a
	 * journal stream (a run under systemd) take it. */
	unsetenv("JOURNAL_STREAM");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stop_without_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_denial_keeps_its_log_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_start_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_stop_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_stores_what_was_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked_store_keeps_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_locked_counts_drops, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
