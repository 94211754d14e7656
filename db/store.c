/* db store: admin rules, verdicts and the audit log, each call one prepared
 * statement, bound, stepped and reset. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "db/db_internal.h"

static bool verdict_is_final(enum gk_verdict v)
{
	return v == GK_VERDICT_ALLOW || v == GK_VERDICT_DENY;
}

/* A string that may be NULL, as TEXT or NULL; SQLITE_STATIC is safe because
 * every statement is reset and unbound before the call returns. */
static int bind_text_or_null(sqlite3_stmt *stmt, int col, const char *s, size_t max)
{
	if (s == NULL)
		return sqlite3_bind_null(stmt, col);
	return sqlite3_bind_text(stmt, col, s, (int)strnlen(s, max), SQLITE_STATIC);
}

static int bind_sha(sqlite3_stmt *stmt, int col, const unsigned char *sha)
{
	if (sha == NULL)
		return sqlite3_bind_null(stmt, col);
	return sqlite3_bind_blob(stmt, col, sha, GK_SHA256_LEN, SQLITE_STATIC);
}

static void copy_column_text(sqlite3_stmt *stmt, int col, char *out, size_t outlen)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);

	snprintf(out, outlen, "%s", text ? (const char *)text : "");
}

/* One write statement, already bound: step it, reset it. */
static int step_write(struct gk_db *db, sqlite3_stmt *stmt, int bind_rc, const char *what)
{
	int ret = 0;

	if (bind_rc != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE)
		ret = db_fail(db, what);
	db_stmt_done(stmt);
	return ret;
}

static int64_t count_rows(struct gk_db *db, enum db_stmt id, const char *what)
{
	sqlite3_stmt *stmt = db_stmt(db, id);
	if (!stmt)
		return -1;
	int64_t n = -1;

	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	else
		db_fail(db, what);
	db_stmt_done(stmt);
	return n;
}

int db_admin_set(struct gk_db *db, const unsigned char sha[GK_SHA256_LEN],
		 enum gk_verdict verdict, const char *path_hint)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_ADMIN_SET);
	if (!stmt)
		return -1;
	int rc;

	if (sha == NULL)
		return db_fail_plain(db, "admin rule: no SHA-256 given");
	if (!verdict_is_final(verdict))
		return db_fail_plain(db, "admin rule: verdict must be allow or deny");
	rc = bind_sha(stmt, 1, sha);
	rc = rc ? rc : sqlite3_bind_int(stmt, 2, (int)verdict);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 3, db_now_us());
	rc = rc ? rc : bind_text_or_null(stmt, 4, path_hint, 4096);
	return step_write(db, stmt, rc, "admin rule: set");
}

int db_admin_clear(struct gk_db *db, const unsigned char sha[GK_SHA256_LEN])
{
	sqlite3_stmt *stmt = db_stmt(db, ST_ADMIN_CLEAR);
	if (!stmt)
		return -1;

	if (sha == NULL)
		return db_fail_plain(db, "admin rule: no SHA-256 given");
	if (step_write(db, stmt, bind_sha(stmt, 1, sha), "admin rule: clear") != 0)
		return -1;
	return sqlite3_changes(db->conn) > 0 ? 0 : 1;
}

int db_admin_get(struct gk_db *db, const unsigned char sha[GK_SHA256_LEN],
		 enum gk_verdict *verdict, int64_t *set_at_us)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_ADMIN_GET);
	if (!stmt)
		return -1;
	int rc, ret = -1;

	if (sha == NULL)
		return db_fail_plain(db, "admin rule: no SHA-256 given");
	if (bind_sha(stmt, 1, sha) != SQLITE_OK) {
		db_fail(db, "admin rule: get");
		goto cleanup;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		ret = 1;
	} else if (rc != SQLITE_ROW) {
		db_fail(db, "admin rule: get");
	} else if (!verdict_is_final(sqlite3_column_int(stmt, 0))) {
		db_fail_plain(db, "admin rule: stored verdict is invalid");
	} else {
		if (verdict)
			*verdict = (enum gk_verdict)sqlite3_column_int(stmt, 0);
		if (set_at_us)
			*set_at_us = sqlite3_column_int64(stmt, 1);
		ret = 0;
	}
cleanup:
	db_stmt_done(stmt);
	return ret;
}

/* Reads one row of ST_ADMIN_ALL. 0 ok, -1 a damaged row. */
static int admin_row(sqlite3_stmt *stmt, const unsigned char **sha, enum gk_verdict *verdict)
{
	*sha = sqlite3_column_blob(stmt, 0);
	*verdict = (enum gk_verdict)sqlite3_column_int(stmt, 1);
	if (*sha == NULL || sqlite3_column_bytes(stmt, 0) != GK_SHA256_LEN ||
	    !verdict_is_final(*verdict))
		return -1;
	return 0;
}

int db_admin_foreach(struct gk_db *db,
		     int (*fn)(void *ctx, const unsigned char sha[GK_SHA256_LEN],
			       enum gk_verdict verdict),
		     void *ctx)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_ADMIN_ALL);
	if (!stmt)
		return -1;
	const unsigned char *sha;
	enum gk_verdict verdict;
	int rc, ret = 0;

	/* The statement is shared: a nested walk would restart the outer one. */
	if (sqlite3_stmt_busy(stmt))
		return db_fail_plain(db, "admin rules: nested walk over the same connection");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (admin_row(stmt, &sha, &verdict) != 0) {
			ret = db_fail_plain(db, "admin rules: stored row is invalid");
			goto cleanup;
		}
		ret = fn(ctx, sha, verdict);
		if (ret != 0)
			goto cleanup;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(db, "admin rules: list");
cleanup:
	db_stmt_done(stmt);
	return ret;
}

int db_verdict_put(struct gk_db *db, const struct db_verdict *v)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_VERDICT_PUT);
	if (!stmt)
		return -1;
	const char *source = gk_source_name(v->source);
	int rc;

	if (!verdict_is_final(v->verdict))
		return db_fail_plain(db, "verdict: must be allow or deny");
	rc = bind_sha(stmt, 1, v->sha256);
	rc = rc ? rc : sqlite3_bind_int(stmt, 2, (int)v->verdict);
	rc = rc ? rc : sqlite3_bind_text(stmt, 3, source ? source : "none", -1, SQLITE_STATIC);
	rc = rc ? rc : bind_text_or_null(stmt, 4, v->detail, sizeof(v->detail));
	rc = rc ? rc : bind_text_or_null(stmt, 5, v->path, sizeof(v->path));
	rc = rc ? rc : sqlite3_bind_int64(stmt, 6, v->decided_at_us ? v->decided_at_us
								     : db_now_us());
	rc = rc ? rc : bind_text_or_null(stmt, 7, v->policy_sha256, sizeof(v->policy_sha256));
	return step_write(db, stmt, rc, "verdict: put");
}

static int verdict_row(sqlite3_stmt *stmt, struct db_verdict *out)
{
	int verdict = sqlite3_column_int(stmt, 0);
	const char *source = (const char *)sqlite3_column_text(stmt, 1);

	if (!verdict_is_final(verdict))
		return -1;
	out->verdict = (enum gk_verdict)verdict;
	/* A name this build does not know (written by a newer one) reads as NONE. */
	out->source = gk_source_from_name(source ? source : "");
	copy_column_text(stmt, 2, out->detail, sizeof(out->detail));
	copy_column_text(stmt, 3, out->path, sizeof(out->path));
	out->decided_at_us = sqlite3_column_int64(stmt, 4);
	copy_column_text(stmt, 5, out->policy_sha256, sizeof(out->policy_sha256));
	return 0;
}

int db_verdict_get(struct gk_db *db, const unsigned char sha[GK_SHA256_LEN],
		   struct db_verdict *out)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_VERDICT_GET);
	if (!stmt)
		return -1;
	int rc, ret = -1;

	if (sha == NULL)
		return db_fail_plain(db, "verdict: no SHA-256 given");
	if (bind_sha(stmt, 1, sha) != SQLITE_OK) {
		db_fail(db, "verdict: get");
		goto cleanup;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		ret = 1;
	} else if (rc != SQLITE_ROW) {
		db_fail(db, "verdict: get");
	} else {
		memset(out, 0, sizeof(*out));
		memcpy(out->sha256, sha, GK_SHA256_LEN);
		ret = verdict_row(stmt, out) == 0 ? 0
						   : db_fail_plain(db, "verdict: stored row is invalid");
	}
cleanup:
	db_stmt_done(stmt);
	return ret;
}

int64_t db_verdict_count(struct gk_db *db)
{
	return count_rows(db, ST_VERDICT_COUNT, "verdict: count");
}

int db_audit_add(struct gk_db *db, const struct db_audit *a)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_AUDIT_ADD);
	if (!stmt)
		return -1;
	const char *source = gk_source_name(a->source);
	const char *mode = gk_mode_name(a->mode);
	int rc;

	rc = sqlite3_bind_int64(stmt, 1, a->time_us ? a->time_us : db_now_us());
	rc = rc ? rc : sqlite3_bind_int(stmt, 2, a->pid);
	rc = rc ? rc : bind_text_or_null(stmt, 3, a->exe, 4096);
	rc = rc ? rc : bind_text_or_null(stmt, 4, a->path, 4096);
	rc = rc ? rc : bind_sha(stmt, 5, a->sha256);
	rc = rc ? rc : sqlite3_bind_int(stmt, 6, (int)a->verdict);
	rc = rc ? rc : sqlite3_bind_text(stmt, 7, source ? source : "none", -1, SQLITE_STATIC);
	rc = rc ? rc : bind_text_or_null(stmt, 8, a->detail, 4096);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 9, a->latency_us);
	rc = rc ? rc : sqlite3_bind_text(stmt, 10, mode ? mode : "", -1, SQLITE_STATIC);
	rc = rc ? rc : sqlite3_bind_int(stmt, 11, a->would_deny ? 1 : 0);
	return step_write(db, stmt, rc, "audit: add");
}

int64_t db_audit_count(struct gk_db *db)
{
	return count_rows(db, ST_AUDIT_COUNT, "audit: count");
}

int64_t db_audit_last_id(struct gk_db *db)
{
	return count_rows(db, ST_AUDIT_LAST_ID, "audit: last id");
}

/* Rows per DELETE: small enough that a writer waiting on the lock (busy
 * timeout 2 s) gets in between batches. */
#define AUDIT_PRUNE_BATCH 10000

/* Runs a bound delete-up-to-?2-rows statement until it deletes fewer than a
 * batch; adds what it deleted to *deleted. */
static int prune_batches(struct gk_db *db, enum db_stmt id, int64_t bound, int64_t *deleted,
			 const char *what)
{
	sqlite3_stmt *stmt = db_stmt(db, id);
	if (!stmt)
		return -1;

	for (;;) {
		int rc = sqlite3_bind_int64(stmt, 1, bound);
		int64_t n;

		rc = rc ? rc : sqlite3_bind_int(stmt, 2, AUDIT_PRUNE_BATCH);
		if (step_write(db, stmt, rc, what) != 0)
			return -1;
		n = sqlite3_changes64(db->conn);
		*deleted += n;
		if (n < AUDIT_PRUNE_BATCH)
			return 0;
	}
}

/* The id of the newest row beyond the max_rows newest: 0 found, 1 none. */
static int nth_newest_id(struct gk_db *db, int64_t max_rows, int64_t *id)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_AUDIT_NTH_NEWEST);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_int64(stmt, 1, max_rows);
	int ret = -1;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(stmt, 0);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		db_fail(db, "audit: prune");
	}
	db_stmt_done(stmt);
	return ret;
}

int db_audit_prune(struct gk_db *db, int64_t older_than_us, int64_t max_rows)
{
	int64_t deleted = 0, upto = 0;
	int found;

	if (older_than_us > 0 &&
	    prune_batches(db, ST_AUDIT_PRUNE_AGE, older_than_us, &deleted, "audit: prune by age"))
		return -1;
	if (max_rows >= 0) {
		found = nth_newest_id(db, max_rows, &upto);
		if (found < 0 || (found == 0 && prune_batches(db, ST_AUDIT_PRUNE_UPTO, upto,
							      &deleted, "audit: prune by count")))
			return -1;
	}
	return deleted > INT_MAX ? INT_MAX : (int)deleted;
}

int64_t db_audit_query(struct gk_db *db, const struct db_audit_filter *f,
		       int (*fn)(void *ctx, int64_t id, const struct db_audit *a), void *ctx)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_AUDIT_QUERY);
	if (!stmt)
		return -1;
	int64_t n = 0;
	int rc = sqlite3_bind_int64(stmt, 1, f->after_id);

	rc = rc ? rc : sqlite3_bind_int64(stmt, 2, f->since_us);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 3, f->until_us > 0 ? f->until_us : INT64_MAX);
	rc = rc ? rc : sqlite3_bind_int(stmt, 4, (int)f->match);
	rc = rc ? rc : bind_text_or_null(stmt, 5, f->path_glob, 4096);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 6, f->limit);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	for (; rc == SQLITE_ROW; rc = sqlite3_step(stmt)) {
		const void *sha = sqlite3_column_blob(stmt, 5);
		struct db_audit a = {
			.time_us = sqlite3_column_int64(stmt, 1),
			.pid = sqlite3_column_int(stmt, 2),
			.exe = (const char *)sqlite3_column_text(stmt, 3),
			.path = (const char *)sqlite3_column_text(stmt, 4),
			.sha256 = sha && sqlite3_column_bytes(stmt, 5) == GK_SHA256_LEN ? sha : NULL,
			.verdict = (enum gk_verdict)sqlite3_column_int(stmt, 6),
			.source = gk_source_from_name((const char *)sqlite3_column_text(stmt, 7)),
			.detail = (const char *)sqlite3_column_text(stmt, 8),
			.latency_us = (uint32_t)sqlite3_column_int64(stmt, 9),
			.mode = sqlite3_column_text(stmt, 10) &&
					!strcmp((const char *)sqlite3_column_text(stmt, 10), "monitor")
				? GK_MODE_MONITOR : GK_MODE_ENFORCE,
			.would_deny = sqlite3_column_int(stmt, 11) != 0,
		};
		n++;
		if (fn(ctx, sqlite3_column_int64(stmt, 0), &a)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		db_fail(db, "audit: query");
		db_stmt_done(stmt);
		return -1;
	}
	db_stmt_done(stmt);
	return n;
}
