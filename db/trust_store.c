/* db trust store: the trust index (packages, their files and recorded MD5s)
 * and the digests of files, each call one prepared statement. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db/db_internal.h"

static int finish(struct gk_db *db, sqlite3_stmt *stmt, int bind_rc, const char *what)
{
	int ret = 0;

	if (bind_rc != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE)
		ret = db_fail(db, what);
	db_stmt_done(stmt);
	return ret;
}

static void column_copy(sqlite3_stmt *stmt, int col, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	snprintf(out, size, "%s", t ? (const char *)t : "");
}

static bool column_blob(sqlite3_stmt *stmt, int col, unsigned char *out, int len)
{
	const void *b = sqlite3_column_blob(stmt, col);

	if (!b || sqlite3_column_bytes(stmt, col) != len)
		return false;
	memcpy(out, b, (size_t)len);
	return true;
}

int db_trust_source(struct gk_db *db, const char *name, int64_t *id, int64_t *refreshed_at_us,
		    char fingerprint[DB_TRUST_FINGERPRINT_MAX])
{
	sqlite3_stmt *get = db_stmt(db, ST_TRUST_SOURCE_GET), *add;
	if (!get)
		return -1;

	for (int attempt = 0; attempt < 2; attempt++) {
		int rc = sqlite3_bind_text(get, 1, name, -1, SQLITE_STATIC);

		rc = rc ? rc : sqlite3_step(get);
		if (rc == SQLITE_ROW) {
			*id = sqlite3_column_int64(get, 0);
			if (refreshed_at_us)
				*refreshed_at_us = sqlite3_column_int64(get, 1);
			if (fingerprint)
				column_copy(get, 2, fingerprint, DB_TRUST_FINGERPRINT_MAX);
			db_stmt_done(get);
			return 0;
		}
		db_stmt_done(get);
		if (rc != SQLITE_DONE)
			return db_fail(db, "trust source: get");
		if (!(add = db_stmt(db, ST_TRUST_SOURCE_ADD)))
			return -1;
		if (finish(db, add, sqlite3_bind_text(add, 1, name, -1, SQLITE_STATIC),
			   "trust source: add"))
			return -1;
	}
	return db_fail_plain(db, "trust source: added but not found");
}

int db_trust_source_refreshed(struct gk_db *db, int64_t id, int64_t at_us,
			      const char *fingerprint)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_TRUST_SOURCE_REFRESHED);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_int64(stmt, 1, id);

	rc = rc ? rc : sqlite3_bind_int64(stmt, 2, at_us);
	rc = rc ? rc : sqlite3_bind_text(stmt, 3, fingerprint ? fingerprint : "", -1, SQLITE_STATIC);
	return finish(db, stmt, rc, "trust source: refreshed");
}

int db_trust_pkg_foreach(struct gk_db *db, int64_t source,
			 int (*fn)(void *ctx, const struct db_trust_pkg *p), void *ctx)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_TRUST_PKG_ALL);
	if (!stmt)
		return -1;
	struct db_trust_pkg p;
	int rc, ret = 0;

	if (sqlite3_stmt_busy(stmt))
		return db_fail_plain(db, "trust packages: nested walk over the same connection");
	rc = sqlite3_bind_int64(stmt, 1, source);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		column_copy(stmt, 0, p.stem, sizeof(p.stem));
		column_copy(stmt, 1, p.version, sizeof(p.version));
		p.list_mtime_ns = sqlite3_column_int64(stmt, 2);
		p.list_size = sqlite3_column_int64(stmt, 3);
		p.md5_mtime_ns = sqlite3_column_int64(stmt, 4);
		p.md5_size = sqlite3_column_int64(stmt, 5);
		p.n_files = sqlite3_column_int64(stmt, 6);
		p.n_without_md5 = sqlite3_column_int64(stmt, 7);
		ret = fn(ctx, &p);
		if (ret)
			break;
		rc = SQLITE_OK;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_fail(db, "trust packages: list");
	db_stmt_done(stmt);
	return ret;
}

int db_trust_pkg_put(struct gk_db *db, int64_t source, const struct db_trust_pkg *p)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_TRUST_PKG_PUT);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_int64(stmt, 1, source);

	rc = rc ? rc : sqlite3_bind_text(stmt, 2, p->stem, -1, SQLITE_STATIC);
	rc = rc ? rc : sqlite3_bind_text(stmt, 3, p->version, -1, SQLITE_STATIC);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 4, p->list_mtime_ns);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 5, p->list_size);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 6, p->md5_mtime_ns);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 7, p->md5_size);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 8, p->n_files);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 9, p->n_without_md5);
	return finish(db, stmt, rc, "trust package: put");
}

static int by_stem(struct gk_db *db, enum db_stmt id, int64_t source, const char *stem,
		   const char *what)
{
	sqlite3_stmt *stmt = db_stmt(db, id);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_int64(stmt, 1, source);

	rc = rc ? rc : sqlite3_bind_text(stmt, 2, stem, -1, SQLITE_STATIC);
	return finish(db, stmt, rc, what);
}

int db_trust_files_clear(struct gk_db *db, int64_t source, const char *stem)
{
	return by_stem(db, ST_TRUST_FILES_CLEAR, source, stem, "trust files: clear");
}

int db_trust_pkg_delete(struct gk_db *db, int64_t source, const char *stem)
{
	if (db_trust_files_clear(db, source, stem))
		return -1;
	return by_stem(db, ST_TRUST_PKG_DELETE, source, stem, "trust package: delete");
}

int db_trust_file_add(struct gk_db *db, int64_t source, const char *stem, const char *path,
		      const unsigned char *md5)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_TRUST_FILE_ADD);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_int64(stmt, 1, source);

	rc = rc ? rc : sqlite3_bind_text(stmt, 2, path, -1, SQLITE_STATIC);
	rc = rc ? rc : sqlite3_bind_text(stmt, 3, stem, -1, SQLITE_STATIC);
	rc = rc ? rc : md5 ? sqlite3_bind_blob(stmt, 4, md5, GK_MD5_LEN, SQLITE_STATIC)
			   : sqlite3_bind_null(stmt, 4);
	return finish(db, stmt, rc, "trust file: add");
}

int db_trust_lookup(struct gk_db *db, int64_t source, const char *path,
		    struct db_trust_hit *hits, size_t max, size_t *n)
{
	*n = 0;
	sqlite3_stmt *stmt = db_stmt(db, ST_TRUST_LOOKUP);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_int64(stmt, 1, source);

	rc = rc ? rc : sqlite3_bind_text(stmt, 2, path, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		if (*n == max)
			continue;
		column_copy(stmt, 0, hits[*n].stem, sizeof(hits[*n].stem));
		column_copy(stmt, 1, hits[*n].version, sizeof(hits[*n].version));
		hits[*n].has_md5 = column_blob(stmt, 2, hits[*n].md5, GK_MD5_LEN);
		(*n)++;
	}
	db_stmt_done(stmt);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "trust: lookup");
}

int db_trust_paths_foreach(struct gk_db *db, int64_t source,
			   int (*fn)(void *ctx, const char *path), void *ctx)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_TRUST_PATHS);
	if (!stmt)
		return -1;
	int rc, ret = 0;

	if (sqlite3_stmt_busy(stmt))
		return db_fail_plain(db, "trust paths: nested walk over the same connection");
	rc = sqlite3_bind_int64(stmt, 1, source);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const unsigned char *path = sqlite3_column_text(stmt, 0);
		if (path && (ret = fn(ctx, (const char *)path)))
			break;
		rc = SQLITE_OK;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_fail(db, "trust paths: list");
	db_stmt_done(stmt);
	return ret;
}

int db_trust_totals(struct gk_db *db, int64_t source, struct db_trust_totals *out)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_TRUST_TOTALS);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_int64(stmt, 1, source);

	rc = rc ? rc : sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		out->packages = sqlite3_column_int64(stmt, 0);
		out->files = sqlite3_column_int64(stmt, 1);
		out->without_md5 = sqlite3_column_int64(stmt, 2);
		out->refreshed_at_us = sqlite3_column_int64(stmt, 3);
	}
	db_stmt_done(stmt);
	return rc == SQLITE_ROW ? 0 : db_fail(db, "trust: totals");
}

static int bind_key(sqlite3_stmt *stmt, const char *fs, uint64_t ino, int64_t ctime_ns,
		    int64_t size)
{
	int rc = sqlite3_bind_text(stmt, 1, fs, -1, SQLITE_STATIC);

	rc = rc ? rc : sqlite3_bind_int64(stmt, 2, (int64_t)ino);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 3, ctime_ns);
	return rc ? rc : sqlite3_bind_int64(stmt, 4, size);
}

int db_digest_get(struct gk_db *db, const char *fs, uint64_t ino, int64_t ctime_ns, int64_t size,
		  unsigned char sha[GK_SHA256_LEN], unsigned char md5[GK_MD5_LEN], bool *has_md5)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_DIGEST_GET);
	if (!stmt)
		return -1;
	int rc = bind_key(stmt, fs, ino, ctime_ns, size), ret = -1;

	rc = rc ? rc : sqlite3_step(stmt);
	if (rc == SQLITE_ROW && column_blob(stmt, 0, sha, GK_SHA256_LEN)) {
		*has_md5 = column_blob(stmt, 1, md5, GK_MD5_LEN);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		db_fail(db, "digest: get");
	}
	db_stmt_done(stmt);
	return ret;
}

int db_digest_put(struct gk_db *db, const char *fs, uint64_t ino, int64_t ctime_ns, int64_t size,
		  const unsigned char sha[GK_SHA256_LEN], const unsigned char *md5)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_DIGEST_PUT);
	if (!stmt)
		return -1;
	int rc = bind_key(stmt, fs, ino, ctime_ns, size);

	rc = rc ? rc : sqlite3_bind_blob(stmt, 5, sha, GK_SHA256_LEN, SQLITE_STATIC);
	rc = rc ? rc : md5 ? sqlite3_bind_blob(stmt, 6, md5, GK_MD5_LEN, SQLITE_STATIC)
			   : sqlite3_bind_null(stmt, 6);
	return finish(db, stmt, rc, "digest: put");
}

int db_digest_forget_fs(struct gk_db *db, const char *prefix)
{
	char end[128];
	size_t len = strlen(prefix);
	if (!len || len >= sizeof(end) || (unsigned char)prefix[len - 1] == 0xff)
		return -1;
	memcpy(end, prefix, len + 1);
	end[len - 1]++;   /* the first string past every one that starts with prefix */
	sqlite3_stmt *stmt = db_stmt(db, ST_DIGEST_FORGET_FS);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_text(stmt, 1, prefix, -1, SQLITE_STATIC);
	rc = rc ? rc : sqlite3_bind_text(stmt, 2, end, -1, SQLITE_STATIC);
	return finish(db, stmt, rc, "digest: forget filesystem");
}

int db_digest_forget_inode(struct gk_db *db, const char *fs, uint64_t ino)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_DIGEST_FORGET_INODE);
	if (!stmt)
		return -1;
	int rc = sqlite3_bind_text(stmt, 1, fs, -1, SQLITE_STATIC);
	rc = rc ? rc : sqlite3_bind_int64(stmt, 2, (sqlite3_int64)ino);
	return finish(db, stmt, rc, "digest: forget inode");
}

static void mark_path(const struct gk_db *db, const char *which, char *out, size_t size)
{
	snprintf(out, size, "%s.digests-%s", db->path, which);
}

/* Written and synced with its directory: a mark must outlive a crash. */
static int write_mark(char *path, size_t size, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	size_t len = strlen(content);
	bool written = write(fd, content, len) == (ssize_t)len;
	int rc = fsync(fd);
	if (close(fd) != 0 || rc != 0 || !written)
		return -1;
	char *slash = strrchr(path, '/');
	if (slash == path)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(path, size, ".");
	int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -1;
	rc = fsync(dir);
	return close(dir) == 0 && rc == 0 ? 0 : -1;
}

int db_digests_unsure_set(const struct gk_db *db)
{
	char path[4200];
	mark_path(db, "unsure", path, sizeof(path));
	return write_mark(path, sizeof(path), "");
}

int db_digests_unsure_clear(const struct gk_db *db)
{
	char path[4200];
	mark_path(db, "unsure", path, sizeof(path));
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

bool db_digests_unsure(const struct gk_db *db)
{
	char path[4200];
	mark_path(db, "unsure", path, sizeof(path));
	return access(path, F_OK) == 0;
}

int db_digests_in_use_set(const struct gk_db *db, const char *boot_id)
{
	char path[4200];
	mark_path(db, "in-use", path, sizeof(path));
	return write_mark(path, sizeof(path), boot_id);
}

int db_digests_in_use_get(const struct gk_db *db, char *boot_id, size_t size)
{
	char path[4200];
	mark_path(db, "in-use", path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	ssize_t n = size ? read(fd, boot_id, size - 1) : -1;
	close(fd);
	if (n < 0)
		return -1;
	boot_id[n] = '\0';
	return 1;
}

int db_digests_in_use_clear(const struct gk_db *db)
{
	char path[4200];
	mark_path(db, "in-use", path, sizeof(path));
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int db_digest_forget_old_keys(struct gk_db *db)
{
	sqlite3_stmt *stmt = db_stmt(db, ST_DIGEST_FORGET_OLD_KEYS);
	if (!stmt)
		return -1;
	return finish(db, stmt, SQLITE_OK, "digest: forget old keys");
}
