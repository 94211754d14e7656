/* db: the SQLite verdict store and audit log (WAL, prepared statements,
 * schema migrations through PRAGMA user_version). This header is the
 * subsystem's only door.
 *
 * One struct gk_db is one SQLite connection: it is not shared between
 * threads. Each thread that needs the store opens its own; WAL lets readers
 * and the one writer run together (busy_timeout covers short lock waits). */
#ifndef GK_DB_H
#define GK_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"

struct gk_db;

/* Open (creating file and schema if needed) and migrate. On failure returns
 * NULL and writes "PATH: reason" into err. A file whose schema is newer than
 * this program knows is refused, never modified. */
struct gk_db *db_open(const char *path, char *err, size_t errlen);
/* Another connection to the store that `checked` opened. That open
 * inspected and migrated the file, so this one only sets itself up: each
 * inspection reads the whole schema, and a daemon holds several
 * connections (at boot under an emulator, each read is tens of ms).
 * Refused, like db_open, if the path no longer names the file `checked`
 * inspected. `checked` is only read: any thread may pass it. */
struct gk_db *db_open_another(const struct gk_db *checked, char *err, size_t errlen);
void db_close(struct gk_db *db);
/* Is the file at path damaged (not a database, or failing SQLite's
 * quick_check)? 1 damaged, 0 sound or absent, -1 could not tell (err says
 * why: e.g. unreadable), 2 sound without reading it: unchanged since
 * db_mark_clean (same device, inode, size, mtime and ctime, no WAL), 3
 * damaged or no database at all, and its header does not carry the store's
 * application_id: perhaps not ours (another program's file, a wrong --db),
 * unless the caller knows better (1 and 3: err says what is wrong). The
 * mark is used once: db_check removes it; otherwise it reads only. */
int db_check(const char *path, char *err, size_t errlen);
/* After the last connection to path closed: write path.clean, so that the
 * next db_check of the unchanged file need not read it all. -1 (no mark)
 * when a WAL is left (another process still has the store open). */
int db_mark_clean(const char *path);
/* Rename path and its -wal and -shm files to path.corrupt-STAMP[-wal|-shm],
 * contents untouched; the new name of path goes into moved. 0 or -1. */
int db_move_aside(const char *path, char *moved, size_t movedlen, char *err, size_t errlen);
/* How long a statement on this connection waits for another writer's lock
 * (default 2000 ms); 0: fail at once with "database is locked". */
void db_set_busy_timeout(struct gk_db *db, int ms);
/* The last error on this connection, as one line. */
const char *db_errmsg(struct gk_db *db);

/* Group many writes in one transaction (the audit writer batches). */
int db_begin(struct gk_db *db);
int db_commit(struct gk_db *db);
/* Abandon the open transaction (after a failed write or commit). */
int db_rollback(struct gk_db *db);

/* Admin rules, by content. Return 0 ok, -1 error; get/clear return 1 when
 * there is no rule for that hash. */
int db_admin_set(struct gk_db *db, const unsigned char sha[GK_SHA256_LEN],
		 enum gk_verdict verdict, const char *path_hint);
int db_admin_clear(struct gk_db *db, const unsigned char sha[GK_SHA256_LEN]);
int db_admin_get(struct gk_db *db, const unsigned char sha[GK_SHA256_LEN],
		 enum gk_verdict *verdict, int64_t *set_at_us);
/* Calls fn for every admin rule; stops and returns fn's value if nonzero. */
int db_admin_foreach(struct gk_db *db,
		     int (*fn)(void *ctx, const unsigned char sha[GK_SHA256_LEN],
			       enum gk_verdict verdict),
		     void *ctx);

/* The last verdict reached for a content, with its source. */
struct db_verdict {
	unsigned char sha256[GK_SHA256_LEN];
	enum gk_verdict verdict;
	enum gk_source source;
	char detail[160];
	char path[4096];          /* the path it was last decided for */
	int64_t decided_at_us;    /* CLOCK_REALTIME, microseconds */
	char policy_sha256[GK_SHA256_HEX_LEN + 1]; /* policy in force then, or "" */
};
int db_verdict_put(struct gk_db *db, const struct db_verdict *v);
/* 0 found, 1 none, -1 error. */
int db_verdict_get(struct gk_db *db, const unsigned char sha[GK_SHA256_LEN],
		   struct db_verdict *out);
int64_t db_verdict_count(struct gk_db *db);   /* -1 on error */

/* One decision, as the audit log keeps it. Strings may be NULL. */
struct db_audit {
	int64_t time_us;          /* CLOCK_REALTIME, microseconds */
	int32_t pid;
	const char *exe;          /* the exec'ing process's executable */
	const char *path;
	const unsigned char *sha256; /* GK_SHA256_LEN bytes or NULL */
	enum gk_verdict verdict;  /* what the kernel was answered */
	enum gk_source source;
	const char *detail;
	uint32_t latency_us;
	enum gk_mode mode;
	bool would_deny;          /* monitor mode: enforce would have denied */
	/* Decided from a read that may not have been of sha256's content (a
	 * scan, judgement.verdict_for_now): recorded, not kept as its verdict. */
	bool verdict_for_now;
};
int db_audit_add(struct gk_db *db, const struct db_audit *a);
int64_t db_audit_count(struct gk_db *db);      /* -1 on error */
/* Reading the audit log: the rows matching a filter with id > after_id, in
 * the order they were added, at most limit of them. fn gets each row (its
 * strings valid during the call only) and may stop the walk by returning
 * nonzero. Returns the rows passed to fn, or -1 on error. */
enum db_audit_match { DB_AUDIT_ANY, DB_AUDIT_ALLOWED, DB_AUDIT_DENIED, DB_AUDIT_WOULD_DENY };
struct db_audit_filter {
	int64_t after_id;
	int64_t since_us, until_us;  /* inclusive; until_us 0: no bound */
	enum db_audit_match match;
	const char *path_glob;       /* SQLite GLOB ('*' crosses '/'); NULL: any */
	int64_t limit;
};
int64_t db_audit_query(struct gk_db *db, const struct db_audit_filter *f,
		       int (*fn)(void *ctx, int64_t id, const struct db_audit *a), void *ctx);
/* The id of the newest audit row (0: none), -1 on error. */
int64_t db_audit_last_id(struct gk_db *db);

/* Deletes the audit rows with time_us < older_than_us (no age bound when
 * older_than_us <= 0), then all but the max_rows most recently added (no
 * count bound when max_rows < 0; 0 deletes every row). Deletes in batches,
 * each its own transaction unless the caller holds one, so the audit writer
 * is never locked out for long. Returns the rows deleted (at most INT_MAX
 * is reported) or -1 on error (rows deleted before it stay deleted). */
int db_audit_prune(struct gk_db *db, int64_t older_than_us, int64_t max_rows);

/* ---- the trust index: per source (a dpkg admin directory), the packages
 * with the size and mtime of the lists they were read from, and their files
 * with the MD5 recorded for each (NULL: none recorded). ---- */
#define GK_MD5_LEN 16
#define DB_TRUST_NAME_MAX 256
/* The source's id, created on first use; *refreshed_at_us: 0 if never;
 * fingerprint (may be NULL): what the source looked like when last
 * refreshed, as the caller described it ("" if never). */
#define DB_TRUST_FINGERPRINT_MAX 256
int db_trust_source(struct gk_db *db, const char *name, int64_t *id, int64_t *refreshed_at_us,
		    char fingerprint[DB_TRUST_FINGERPRINT_MAX]);
int db_trust_source_refreshed(struct gk_db *db, int64_t id, int64_t at_us,
			      const char *fingerprint);
struct db_trust_pkg {
	char stem[DB_TRUST_NAME_MAX];
	char version[DB_TRUST_NAME_MAX];
	int64_t list_mtime_ns, list_size, md5_mtime_ns, md5_size; /* md5sums: -1 if none */
	int64_t n_files, n_without_md5;
};
int db_trust_pkg_foreach(struct gk_db *db, int64_t source,
			 int (*fn)(void *ctx, const struct db_trust_pkg *p), void *ctx);
/* Replaces the package row (its files stay: clear and add them apart). */
int db_trust_pkg_put(struct gk_db *db, int64_t source, const struct db_trust_pkg *p);
/* Deletes the package and its files. */
int db_trust_pkg_delete(struct gk_db *db, int64_t source, const char *stem);
int db_trust_files_clear(struct gk_db *db, int64_t source, const char *stem);
int db_trust_file_add(struct gk_db *db, int64_t source, const char *stem, const char *path,
		      const unsigned char *md5);
/* The packages listing path (at most max; *n set). */
struct db_trust_hit {
	char stem[DB_TRUST_NAME_MAX];
	char version[DB_TRUST_NAME_MAX];
	unsigned char md5[GK_MD5_LEN];
	bool has_md5;
};
int db_trust_lookup(struct gk_db *db, int64_t source, const char *path,
		    struct db_trust_hit *hits, size_t max, size_t *n);
/* Every path the source lists with an MD5 (the only ones trust can vouch
 * for), each once; fn's non-zero return stops the walk and is returned. */
int db_trust_paths_foreach(struct gk_db *db, int64_t source,
			   int (*fn)(void *ctx, const char *path), void *ctx);
struct db_trust_totals {
	int64_t packages, files, without_md5, refreshed_at_us;
};
int db_trust_totals(struct gk_db *db, int64_t source, struct db_trust_totals *out);

/* ---- digests of files, kept across restarts: keyed by the filesystem's
 * identity (fs), inode, ctime and size, so any change to the file (which
 * moves its ctime) misses. md5 may be NULL (not computed). ---- */
int db_digest_get(struct gk_db *db, const char *fs, uint64_t ino, int64_t ctime_ns, int64_t size,
		  unsigned char sha[GK_SHA256_LEN], unsigned char md5[GK_MD5_LEN], bool *has_md5);
int db_digest_put(struct gk_db *db, const char *fs, uint64_t ino, int64_t ctime_ns, int64_t size,
		  const unsigned char sha[GK_SHA256_LEN], const unsigned char *md5);
/* Drop the digests of every filesystem whose identity starts with prefix
 * (not empty). */
int db_digest_forget_fs(struct gk_db *db, const char *prefix);
/* Drop the digests of one inode of filesystem fs. */
int db_digest_forget_inode(struct gk_db *db, const char *fs, uint64_t ino);
/* PATH.digests-unsure beside the store: digests that may be stale stayed
 * in it (their drop failed, or closes were lost), so the next open drops
 * them all. A file, not a row: the store may be what is locked. Set and
 * clear return 0 or -1; unsure says whether it is there. */
int db_digests_unsure_set(const struct gk_db *db);
int db_digests_unsure_clear(const struct gk_db *db);
bool db_digests_unsure(const struct gk_db *db);
/* PATH.digests-in-use beside the store: the boot ID of the machine the
 * store is in use on, from open to a clean close. Set and clear return 0
 * or -1; get returns 1 and the ID (NUL-terminated, at most size - 1
 * bytes), 0 when there is no mark, -1 when it cannot be read. */
int db_digests_in_use_set(const struct gk_db *db, const char *boot_id);
int db_digests_in_use_get(const struct gk_db *db, char *boot_id, size_t size);
int db_digests_in_use_clear(const struct gk_db *db);
/* Drop the rows keyed before identities began with the device (never
 * matched again). */
int db_digest_forget_old_keys(struct gk_db *db);

#endif
