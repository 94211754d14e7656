/* db schema: versioned by PRAGMA user_version, marked as ours by PRAGMA
 * application_id. Adding schema v2 is one more entry in `migrations`. */
#include <stdio.h>
#include <string.h>

#include "db/db_internal.h"

struct db_migration {
	int version;     /* user_version once this step has run */
	const char *sql; /* one or more statements, no values from outside */
};

static const struct db_migration migrations[] = {
	{ 1,
	  "CREATE TABLE admin_rules ("
	  "  sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32),"
	  "  verdict INTEGER NOT NULL CHECK (verdict IN (1, 2)),"
	  "  set_at_us INTEGER NOT NULL,"
	  "  path_hint TEXT"
	  ") WITHOUT ROWID;"
	  "CREATE TABLE verdicts ("
	  "  sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32),"
	  "  verdict INTEGER NOT NULL CHECK (verdict IN (1, 2)),"
	  "  source TEXT NOT NULL,"
	  "  detail TEXT NOT NULL DEFAULT '',"
	  "  path TEXT NOT NULL DEFAULT '',"
	  "  decided_at_us INTEGER NOT NULL,"
	  "  policy_sha256 TEXT NOT NULL DEFAULT ''"
	  ") WITHOUT ROWID;"
	  "CREATE TABLE audit ("
	  "  id INTEGER PRIMARY KEY,"
	  "  time_us INTEGER NOT NULL,"
	  "  pid INTEGER NOT NULL,"
	  "  exe TEXT,"
	  "  path TEXT,"
	  "  sha256 BLOB CHECK (sha256 IS NULL OR length(sha256) = 32),"
	  "  verdict INTEGER NOT NULL,"
	  "  source TEXT NOT NULL,"
	  "  detail TEXT,"
	  "  latency_us INTEGER NOT NULL,"
	  "  mode TEXT NOT NULL,"
	  "  would_deny INTEGER NOT NULL"
	  ");"
	  "CREATE INDEX audit_time_us ON audit (time_us);" },
	/* v2: the trust index (a package manager's files and recorded digests,
	 * refreshed per package when its lists change) and the digests of
	 * files, kept across restarts, keyed by what changes with the content. */
	{ 2,
	  "CREATE TABLE trust_sources ("
	  "  id INTEGER PRIMARY KEY,"
	  "  name TEXT NOT NULL UNIQUE,"
	  "  refreshed_at_us INTEGER NOT NULL DEFAULT 0,"
	  "  fingerprint TEXT NOT NULL DEFAULT ''"
	  ");"
	  "CREATE TABLE trust_packages ("
	  "  source INTEGER NOT NULL REFERENCES trust_sources (id),"
	  "  stem TEXT NOT NULL,"
	  "  version TEXT NOT NULL,"
	  "  list_mtime_ns INTEGER NOT NULL,"
	  "  list_size INTEGER NOT NULL,"
	  "  md5_mtime_ns INTEGER NOT NULL,"
	  "  md5_size INTEGER NOT NULL,"
	  "  n_files INTEGER NOT NULL,"
	  "  n_without_md5 INTEGER NOT NULL,"
	  "  PRIMARY KEY (source, stem)"
	  ") WITHOUT ROWID;"
	  "CREATE TABLE trust_files ("
	  "  source INTEGER NOT NULL,"
	  "  path TEXT NOT NULL,"
	  "  stem TEXT NOT NULL,"
	  "  md5 BLOB CHECK (md5 IS NULL OR length(md5) = 16),"
	  "  PRIMARY KEY (source, path, stem)"
	  ") WITHOUT ROWID;"
	  "CREATE INDEX trust_files_stem ON trust_files (source, stem);"
	  "CREATE TABLE digests ("
	  "  fs TEXT NOT NULL,"
	  "  ino INTEGER NOT NULL,"
	  "  ctime_ns INTEGER NOT NULL,"
	  "  size INTEGER NOT NULL,"
	  "  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),"
	  "  md5 BLOB CHECK (md5 IS NULL OR length(md5) = 16),"
	  "  PRIMARY KEY (fs, ino)"
	  ") WITHOUT ROWID;" },
	/* v3: digests are kept only of files nobody held open for writing when
	 * they were read (a close missed while the daemon was down cannot
	 * leave them stale); those kept before may not be such. */
	{ 3, "DELETE FROM digests;" },
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

int db_schema_latest(void)
{
	return migrations[N_MIGRATIONS - 1].version;
}

struct schema_state {
	int64_t app_id;
	int64_t version;
	int64_t objects; /* entries in sqlite_schema */
};

/* One statement, so one read transaction: the three values always come from
 * the same snapshot, even while another process is migrating the file. */
static const char state_sql[] =
	"SELECT (SELECT application_id FROM pragma_application_id),"
	" (SELECT user_version FROM pragma_user_version),"
	" (SELECT count(*) FROM sqlite_schema)";

static int read_state(sqlite3 *conn, const char *path, struct schema_state *st,
		      char *err, size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(conn, state_sql, -1, &stmt, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		st->app_id = sqlite3_column_int64(stmt, 0);
		st->version = sqlite3_column_int64(stmt, 1);
		st->objects = sqlite3_column_int64(stmt, 2);
		sqlite3_finalize(stmt);
		return 0;
	}
	/* NOTADB's own text ("file is not a database") is the clearest line. */
	snprintf(err, errlen, "%s: %s", path,
		 (rc & 0xff) == SQLITE_NOTADB ? sqlite3_errstr(SQLITE_NOTADB)
					      : sqlite3_errmsg(conn));
	sqlite3_finalize(stmt);
	return -1;
}

/* 0: usable (fresh or ours and not newer), -1: refused with err filled. */
static int judge_state(const struct schema_state *st, const char *path, char *err,
		       size_t errlen)
{
	int latest = db_schema_latest();

	if (st->app_id == 0 && st->version == 0 && st->objects == 0)
		return 0; /* empty file or empty database: ours to initialise */
	if (st->app_id != GK_DB_APPLICATION_ID) {
		snprintf(err, errlen,
			 "%s: not a gatekeeper database (application_id %#llx, "
			 "user_version %lld, %lld schema objects); refusing to touch it",
			 path, (unsigned long long)st->app_id, (long long)st->version,
			 (long long)st->objects);
		return -1;
	}
	if (st->version > latest) {
		snprintf(err, errlen,
			 "%s: schema version %lld is newer than this program knows (%d); "
			 "refusing to touch it",
			 path, (long long)st->version, latest);
		return -1;
	}
	if (st->version < 1) {
		snprintf(err, errlen, "%s: damaged gatekeeper database (schema version %lld)",
			 path, (long long)st->version);
		return -1;
	}
	return 0;
}

int db_schema_inspect(sqlite3 *conn, const char *path, char *err, size_t errlen)
{
	struct schema_state st;

	if (read_state(conn, path, &st, err, errlen) != 0)
		return -1;
	return judge_state(&st, path, err, errlen);
}

static int exec_or_fail(sqlite3 *conn, const char *sql, const char *path, const char *what,
			char *err, size_t errlen)
{
	if (sqlite3_exec(conn, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s: %s: %s", path, what, sqlite3_errmsg(conn));
	return -1;
}

/* Runs the migrations after `from`, inside the caller's transaction. */
static int apply_migrations(sqlite3 *conn, int64_t from, const char *path, char *err,
			    size_t errlen)
{
	char pragma[64];

	if (from == 0) {
		sqlite3_snprintf(sizeof(pragma), pragma, "PRAGMA application_id = %d",
				 GK_DB_APPLICATION_ID);
		if (exec_or_fail(conn, pragma, path, "schema setup", err, errlen) != 0)
			return -1;
	}
	for (size_t i = 0; i < N_MIGRATIONS; i++) {
		const struct db_migration *m = &migrations[i];

		if (m->version <= from)
			continue;
		if (exec_or_fail(conn, m->sql, path, "schema migration", err, errlen) != 0)
			return -1;
		/* The number comes from the table above, never from outside. */
		sqlite3_snprintf(sizeof(pragma), pragma, "PRAGMA user_version = %d",
				 m->version);
		if (exec_or_fail(conn, pragma, path, "schema migration", err, errlen) != 0)
			return -1;
	}
	return 0;
}

int db_schema_migrate(sqlite3 *conn, const char *path, char *err, size_t errlen)
{
	struct schema_state st;
	int ret = -1;

	/* IMMEDIATE: two processes opening a fresh file must not both migrate;
	 * the second waits (busy_timeout), then sees the new version. */
	if (exec_or_fail(conn, "BEGIN IMMEDIATE", path, "schema migration", err, errlen) != 0)
		return -1;
	if (read_state(conn, path, &st, err, errlen) != 0 ||
	    judge_state(&st, path, err, errlen) != 0)
		goto cleanup;
	if (st.version < db_schema_latest() &&
	    apply_migrations(conn, st.version, path, err, errlen) != 0)
		goto cleanup;
	if (exec_or_fail(conn, "COMMIT", path, "schema migration", err, errlen) != 0)
		goto cleanup;
	ret = 0;
cleanup:
	if (ret != 0 && sqlite3_get_autocommit(conn) == 0)
		sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}
