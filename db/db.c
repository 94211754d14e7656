/* db: connection lifecycle, statements, errors and transactions. The rows
 * themselves are read and written in store.c; the schema lives in schema.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db/db_internal.h"

#define DB_BUSY_TIMEOUT_MS 2000

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_ADMIN_SET] =
		"INSERT INTO admin_rules (sha256, verdict, set_at_us, path_hint) "
		"VALUES (?1, ?2, ?3, ?4) ON CONFLICT (sha256) DO UPDATE SET "
		"verdict = excluded.verdict, set_at_us = excluded.set_at_us, "
		"path_hint = excluded.path_hint",
	[ST_ADMIN_CLEAR] = "DELETE FROM admin_rules WHERE sha256 = ?1",
	[ST_ADMIN_GET] = "SELECT verdict, set_at_us FROM admin_rules WHERE sha256 = ?1",
	[ST_ADMIN_ALL] = "SELECT sha256, verdict FROM admin_rules ORDER BY sha256",
	[ST_VERDICT_PUT] =
		"INSERT OR REPLACE INTO verdicts (sha256, verdict, source, detail, path, "
		"decided_at_us, policy_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_VERDICT_GET] =
		"SELECT verdict, source, detail, path, decided_at_us, policy_sha256 "
		"FROM verdicts WHERE sha256 = ?1",
	[ST_VERDICT_COUNT] = "SELECT count(*) FROM verdicts",
	[ST_AUDIT_ADD] =
		"INSERT INTO audit (time_us, pid, exe, path, sha256, verdict, source, "
		"detail, latency_us, mode, would_deny) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_AUDIT_COUNT] = "SELECT count(*) FROM audit",
	/* "Newest" is the order rows were added (id), which a clock step back
	 * cannot reorder; the age bound uses time_us and its index. */
	[ST_AUDIT_NTH_NEWEST] = "SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?1",
	[ST_AUDIT_PRUNE_AGE] =
		"DELETE FROM audit WHERE id IN "
		"(SELECT id FROM audit WHERE time_us < ?1 LIMIT ?2)",
	[ST_AUDIT_PRUNE_UPTO] =
		"DELETE FROM audit WHERE id IN "
		"(SELECT id FROM audit WHERE id <= ?1 ORDER BY id LIMIT ?2)",
	[ST_TRUST_SOURCE_GET] = "SELECT id, refreshed_at_us, fingerprint FROM trust_sources WHERE name = ?1",
	[ST_TRUST_SOURCE_ADD] = "INSERT INTO trust_sources (name) VALUES (?1)",
	[ST_TRUST_SOURCE_REFRESHED] = "UPDATE trust_sources SET refreshed_at_us = ?2, fingerprint = ?3 WHERE id = ?1",
	[ST_TRUST_PKG_ALL] =
		"SELECT stem, version, list_mtime_ns, list_size, md5_mtime_ns, md5_size, "
		"n_files, n_without_md5 FROM trust_packages WHERE source = ?1",
	[ST_TRUST_PKG_PUT] =
		"INSERT OR REPLACE INTO trust_packages (source, stem, version, list_mtime_ns, "
		"list_size, md5_mtime_ns, md5_size, n_files, n_without_md5) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_TRUST_PKG_DELETE] = "DELETE FROM trust_packages WHERE source = ?1 AND stem = ?2",
	[ST_TRUST_FILES_CLEAR] = "DELETE FROM trust_files WHERE source = ?1 AND stem = ?2",
	[ST_TRUST_FILE_ADD] =
		"INSERT OR REPLACE INTO trust_files (source, path, stem, md5) VALUES (?1, ?2, ?3, ?4)",
	[ST_TRUST_LOOKUP] =
		"SELECT f.stem, p.version, f.md5 FROM trust_files f JOIN trust_packages p "
		"ON p.source = f.source AND p.stem = f.stem WHERE f.source = ?1 AND f.path = ?2",
	[ST_TRUST_TOTALS] =
		/* a package's conffiles (their own row) are among its listed paths */
		"SELECT coalesce(sum(stem NOT LIKE '%#conffiles'), 0), "
		"coalesce(sum(CASE WHEN stem LIKE '%#conffiles' THEN 0 ELSE n_files END), 0), "
		"max(0, coalesce(sum(n_without_md5), 0) - "
		"coalesce(sum(CASE WHEN stem LIKE '%#conffiles' THEN n_files ELSE 0 END), 0)), "
		"(SELECT refreshed_at_us FROM trust_sources WHERE id = ?1) "
		"FROM trust_packages WHERE source = ?1",
	[ST_TRUST_PATHS] =
		"SELECT DISTINCT path FROM trust_files WHERE source = ?1 AND md5 IS NOT NULL",
	[ST_DIGEST_GET] =
		"SELECT sha256, md5 FROM digests WHERE fs = ?1 AND ino = ?2 AND ctime_ns = ?3 "
		"AND size = ?4",
	[ST_DIGEST_PUT] =
		"INSERT OR REPLACE INTO digests (fs, ino, ctime_ns, size, sha256, md5) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* identities from ?1 up to ?2: a prefix's range, on the key's index */
	[ST_DIGEST_FORGET_FS] =
		"DELETE FROM digests WHERE fs >= ?1 AND fs < ?2",
	[ST_DIGEST_FORGET_INODE] =
		"DELETE FROM digests WHERE fs = ?1 AND ino = ?2",
	/* identities from before they began with "dev:" (uuid:, fsid:) */
	[ST_DIGEST_FORGET_OLD_KEYS] =
		"DELETE FROM digests WHERE fs < 'dev:' OR fs >= 'dev;'",
	/* ?5: 0 any, 1 allowed (and enforce would too), 2 denied, 3 would-deny */
	[ST_AUDIT_QUERY] =
		"SELECT id, time_us, pid, exe, path, sha256, verdict, source, detail, "
		"latency_us, mode, would_deny FROM audit "
		"WHERE id > ?1 AND time_us >= ?2 AND time_us <= ?3 "
		"AND (?4 = 0 OR (?4 = 1 AND verdict = 1 AND would_deny = 0) "
		"OR (?4 = 2 AND verdict = 2) OR (?4 = 3 AND would_deny = 1)) "
		"AND (?5 IS NULL OR path GLOB ?5) ORDER BY id LIMIT ?6",
	[ST_AUDIT_LAST_ID] = "SELECT coalesce(max(id), 0) FROM audit",
};

/* Closing any fd of a file drops every POSIX lock this process holds on it,
 * SQLite's included. Our one raw open()/close() of the database file (to
 * create it 0600) therefore runs under this lock, and only on a file that
 * did not exist, so no connection of ours can hold a lock on it yet. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

int db_fail(struct gk_db *db, const char *what)
{
	snprintf(db->errmsg, sizeof(db->errmsg), "%s: %s: %s", db->path, what,
		 sqlite3_errmsg(db->conn));
	return -1;
}

int db_fail_plain(struct gk_db *db, const char *what)
{
	snprintf(db->errmsg, sizeof(db->errmsg), "%s: %s", db->path, what);
	return -1;
}

void db_stmt_done(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

int64_t db_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Create the file 0600 whatever the umask, or check that it is a regular
 * file. SQLite gives its -wal and -shm files the same mode. */
static int ensure_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret = -1;

	if (stat(path, &st) == 0) {
		if (S_ISREG(st.st_mode))
			return 0;
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&create_lock);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (errno == EEXIST) /* someone else created it just now */
			ret = 0;
		else
			snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		goto cleanup;
	}
	if (fchmod(fd, 0600) != 0) {
		snprintf(err, errlen, "%s: cannot set mode 0600: %s", path, strerror(errno));
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&create_lock);
	return ret;
}

/* journal_mode=WAL is stored in the file. Switching takes an exclusive
 * lock, and SQLite answers BUSY at once (no busy handler) when another
 * process is opening the same fresh file, so retry for the busy timeout. */
static int enable_wal(struct gk_db *db)
{
	const struct timespec pause = { .tv_nsec = 5 * 1000 * 1000 };
	sqlite3_stmt *stmt = NULL;
	const char *mode = NULL;
	int rc, ret = -1;

	if (sqlite3_prepare_v2(db->conn, "PRAGMA journal_mode = WAL", -1, &stmt, NULL) !=
	    SQLITE_OK) {
		db_fail(db, "cannot enable WAL");
		goto cleanup;
	}
	for (int waited_ms = 0;; waited_ms += 5) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			break;
		if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= DB_BUSY_TIMEOUT_MS) {
			db_fail(db, "cannot enable WAL");
			goto cleanup;
		}
		sqlite3_reset(stmt);
		nanosleep(&pause, NULL);
	}
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		db_fail_plain(db, "cannot enable WAL (the filesystem may not support it)");
		goto cleanup;
	}
	ret = 0;
cleanup:
	sqlite3_finalize(stmt);
	return ret;
}

/* Per-connection settings. */
static int configure(struct gk_db *db)
{
	if (enable_wal(db) != 0)
		return -1;
	if (sqlite3_exec(db->conn, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(db->conn, "PRAGMA trusted_schema = OFF", NULL, NULL, NULL) !=
		    SQLITE_OK)
		return db_fail(db, "cannot configure connection");
	return 0;
}

/* Prepared on first use, not at open: a connection runs a few of the
 * statements, and each prepare parses its SQL (5 connections by 30 were a
 * quarter of the daemon's start-up instructions; at boot under an
 * emulator, tenths of a second). */
sqlite3_stmt *db_stmt(struct gk_db *db, enum db_stmt id)
{
	if (!db->stmt[id] && sqlite3_prepare_v3(db->conn, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
						&db->stmt[id], NULL) != SQLITE_OK) {
		db_fail(db, "cannot prepare statement");
		return NULL;
	}
	return db->stmt[id];
}

/* The connection, writable, and the file it opened (by device and inode). */
static int connect_only(struct gk_db *db, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	struct stat st;

	if (sqlite3_open_v2(db->path, &db->conn, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db->path,
			 db->conn ? sqlite3_errmsg(db->conn) : "out of memory");
		return -1;
	}
	if (sqlite3_db_readonly(db->conn, "main") == 1) {
		snprintf(err, errlen, "%s: cannot open for writing", db->path);
		return -1;
	}
	if (stat(db->path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", db->path, strerror(errno));
		return -1;
	}
	db->dev = st.st_dev;
	db->ino = st.st_ino;
	sqlite3_busy_timeout(db->conn, DB_BUSY_TIMEOUT_MS);
	return 0;
}

static int connect_file(struct gk_db *db, char *err, size_t errlen)
{
	if (connect_only(db, err, errlen) != 0)
		return -1;
	/* Inspect before anything writes: a refused file stays as it was. */
	if (db_schema_inspect(db->conn, db->path, err, errlen) != 0)
		return -1;
	if (configure(db) != 0 ||
	    db_schema_migrate(db->conn, db->path, db->errmsg, sizeof(db->errmsg)) != 0) {
		snprintf(err, errlen, "%s", db->errmsg);
		return -1;
	}
	return 0;
}

struct gk_db *db_open(const char *path, char *err, size_t errlen)
{
	struct gk_db *db = NULL;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "database path is empty");
		return NULL;
	}
	if (ensure_file(path, err, errlen) != 0)
		return NULL;
	db = calloc(1, sizeof(*db));
	if (db == NULL || (db->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	if (connect_file(db, err, errlen) != 0)
		goto fail;
	return db;
fail:
	db_close(db);
	return NULL;
}

struct gk_db *db_open_another(const struct gk_db *checked, char *err, size_t errlen)
{
	struct gk_db *db = calloc(1, sizeof(*db));

	if (db == NULL || (db->path = strdup(checked->path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", checked->path);
		goto fail;
	}
	if (connect_only(db, err, errlen) != 0)
		goto fail;
	if (db->dev != checked->dev || db->ino != checked->ino) {
		snprintf(err, errlen, "%s: replaced since it was opened and checked", db->path);
		goto fail;
	}
	if (configure(db) != 0) {
		snprintf(err, errlen, "%s", db->errmsg);
		goto fail;
	}
	return db;
fail:
	db_close(db);
	return NULL;
}

/* The clean mark, PATH.clean, names the store file as its last user left
 * it: device, inode, size, mtime and ctime, with no WAL left behind.
 * SQLite changes the file only by writing it (which moves mtime and ctime)
 * or through the WAL, and ctime cannot be set back; so while the mark
 * matches, the file is the one that was sound when it was closed. */
static void clean_mark_path(const char *path, char *out, size_t size)
{
	snprintf(out, size, "%s.clean", path);
}

static int clean_fingerprint(const char *path, char *out, size_t size)
{
	struct stat st, wal;
	char wal_path[4200];
	snprintf(wal_path, sizeof(wal_path), "%s-wal", path);
	if (stat(path, &st) != 0)
		return -1;
	if (stat(wal_path, &wal) == 0 && wal.st_size > 0) {
		errno = EBUSY;   /* someone still has it open, or a crash left it */
		return -1;
	}
	snprintf(out, size, "gatekeeper-store-closed 1 %ju %ju %jd %jd.%09ld %jd.%09ld\n",
		 (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (intmax_t)st.st_size,
		 (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (intmax_t)st.st_ctim.tv_sec,
		 st.st_ctim.tv_nsec);
	return 0;
}

/* Any later write must move the ctime: wait until the clock that stamps
 * it has passed the file's (at most one tick of the coarse clock). */
static void wait_past_ctime(const char *path)
{
	struct stat st;
	struct timespec now;
	for (int i = 0; i < 100 && stat(path, &st) == 0; i++) {
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
		if (now.tv_sec > st.st_ctim.tv_sec ||
		    (now.tv_sec == st.st_ctim.tv_sec && now.tv_nsec > st.st_ctim.tv_nsec))
			return;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
}

int db_mark_clean(const char *path)
{
	char fp[200], mark[4200], tmp[4220];
	wait_past_ctime(path);
	if (clean_fingerprint(path, fp, sizeof(fp)) < 0)
		return -1;
	clean_mark_path(path, mark, sizeof(mark));
	snprintf(tmp, sizeof(tmp), "%s.tmp", mark);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	size_t len = strlen(fp);
	bool written = write(fd, fp, len) == (ssize_t)len;
	if (close(fd) != 0 || !written || rename(tmp, mark) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Used once: the mark is removed whether it matches or not. */
static bool take_clean_mark(const char *path)
{
	char mark[4200], want[200], have[200];
	clean_mark_path(path, mark, sizeof(mark));
	int fd = open(mark, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, have, sizeof(have) - 1);
	close(fd);
	unlink(mark);
	if (n <= 0)
		return false;
	have[n] = '\0';
	return clean_fingerprint(path, want, sizeof(want)) == 0 && !strcmp(want, have);
}

/* Does the file's header carry our application_id? Read raw: SQLite
 * cannot open a file whose first bytes are damaged, and the id lies past
 * them. Only our migrations write it, so a file of another program, or no
 * database at all, does not (4 given bytes by chance: one in 2^32). */
static bool header_says_ours(const char *path)
{
	unsigned char id[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	bool read_all = pread(fd, id, sizeof(id), GK_DB_APPLICATION_ID_OFFSET) == (ssize_t)sizeof(id);
	close(fd);
	uint32_t have = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
	return read_all && have == GK_DB_APPLICATION_ID;
}

int db_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0 || st.st_size == 0)
		return 0;   /* nothing to lose: db_open creates or initialises it */
	if (take_clean_mark(path))
		return 2;
	sqlite3 *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	int ret = -1;
	if (sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, conn ? sqlite3_errmsg(conn) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(conn, DB_BUSY_TIMEOUT_MS);
	/* quick_check reads every page once: O(size), no index cross-checks. */
	int rc = sqlite3_prepare_v2(conn, "PRAGMA quick_check(1)", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const unsigned char *res = sqlite3_column_text(stmt, 0);
		ret = res && !strcmp((const char *)res, "ok") ? 0 : 1;
		if (ret)
			snprintf(err, errlen, "%s: quick_check: %s", path, res ? (const char *)res : "?");
	} else if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errstr(rc & 0xff));
		ret = 1;
	} else {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(conn));
	}
out:
	sqlite3_finalize(stmt);
	sqlite3_close(conn);
	return ret == 1 && !header_says_ours(path) ? 3 : ret;
}

int db_move_aside(const char *path, char *moved, size_t movedlen, char *err, size_t errlen)
{
	char stamp[32], from[4200], to[4200];
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(moved, movedlen, "%s.corrupt-%s", path, stamp);
	if (rename(path, moved) != 0) {
		snprintf(err, errlen, "%s: cannot move aside: %s", path, strerror(errno));
		return -1;
	}
	/* The journal files belong to the damaged file: a fresh one must not
	 * replay them. */
	static const char *const sfx[] = { "-wal", "-shm" };
	for (size_t i = 0; i < 2; i++) {
		snprintf(from, sizeof(from), "%s%s", path, sfx[i]);
		snprintf(to, sizeof(to), "%s%s", moved, sfx[i]);
		if (rename(from, to) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s: cannot move aside: %s", from, strerror(errno));
			return -1;
		}
	}
	return 0;
}

void db_close(struct gk_db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->stmt[i]);
	/* Rolls back an open transaction; the last connection checkpoints. */
	sqlite3_close(db->conn);
	free(db->path);
	free(db);
}

void db_set_busy_timeout(struct gk_db *db, int ms)
{
	if (db)
		sqlite3_busy_timeout(db->conn, ms);
}

const char *db_errmsg(struct gk_db *db)
{
	if (db == NULL)
		return "no database";
	return db->errmsg;
}

static int run_simple(struct gk_db *db, enum db_stmt id, const char *what)
{
	sqlite3_stmt *stmt = db_stmt(db, id);
	int ret = 0;

	if (!stmt)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_DONE)
		ret = db_fail(db, what);
	db_stmt_done(stmt);
	return ret;
}

int db_begin(struct gk_db *db)
{
	return run_simple(db, ST_BEGIN, "begin transaction");
}

int db_commit(struct gk_db *db)
{
	return run_simple(db, ST_COMMIT, "commit");
}

int db_rollback(struct gk_db *db)
{
	return run_simple(db, ST_ROLLBACK, "rollback");
}
