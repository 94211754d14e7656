/* Private to db/: shared between db.c, schema.c and store.c. Nothing outside
 * db/ includes this; db/db.h stays the subsystem's only door. */
#ifndef GK_DB_INTERNAL_H
#define GK_DB_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "db/db.h"

/* "GKDB": tells our files apart from any other program's SQLite database
 * (PRAGMA application_id: big-endian at offset 68 of the file's header). */
#define GK_DB_APPLICATION_ID 0x474B4442
#define GK_DB_APPLICATION_ID_OFFSET 68

/* Every statement this subsystem runs, prepared once per connection. */
enum db_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_ADMIN_SET,
	ST_ADMIN_CLEAR,
	ST_ADMIN_GET,
	ST_ADMIN_ALL,
	ST_VERDICT_PUT,
	ST_VERDICT_GET,
	ST_VERDICT_COUNT,
	ST_AUDIT_ADD,
	ST_AUDIT_COUNT,
	ST_AUDIT_NTH_NEWEST,
	ST_AUDIT_PRUNE_AGE,
	ST_AUDIT_PRUNE_UPTO,
	ST_TRUST_SOURCE_GET,
	ST_TRUST_SOURCE_ADD,
	ST_TRUST_SOURCE_REFRESHED,
	ST_TRUST_PKG_ALL,
	ST_TRUST_PKG_PUT,
	ST_TRUST_PKG_DELETE,
	ST_TRUST_FILES_CLEAR,
	ST_TRUST_FILE_ADD,
	ST_TRUST_LOOKUP,
	ST_TRUST_TOTALS,
	ST_TRUST_PATHS,
	ST_DIGEST_GET,
	ST_DIGEST_PUT,
	ST_DIGEST_FORGET_FS,
	ST_DIGEST_FORGET_INODE,
	ST_DIGEST_FORGET_OLD_KEYS,
	ST_AUDIT_QUERY,
	ST_AUDIT_LAST_ID,
	ST_COUNT
};

struct gk_db {
	sqlite3 *conn;
	char *path;
	dev_t dev;                  /* the file opened, as inspected */
	ino_t ino;
	sqlite3_stmt *stmt[ST_COUNT];
	char errmsg[768];
};

/* Sets errmsg to "PATH: what: <sqlite's message>" and returns -1. */
int db_fail(struct gk_db *db, const char *what);
/* Sets errmsg to "PATH: what" (no SQLite error involved) and returns -1. */
int db_fail_plain(struct gk_db *db, const char *what);
/* The connection's statement id, prepared on first use; NULL (errmsg
 * set) if it cannot be. */
sqlite3_stmt *db_stmt(struct gk_db *db, enum db_stmt id);
/* Reset and unbind a statement after use, ready for its next run. */
void db_stmt_done(sqlite3_stmt *stmt);
/* CLOCK_REALTIME in microseconds. */
int64_t db_now_us(void);

/* The schema version this build knows (the last migration's number). */
int db_schema_latest(void);
/* Before anything writes: refuse a file that is not a database, a newer
 * schema, or another program's database. 0 ok, -1 with err filled. */
int db_schema_inspect(sqlite3 *conn, const char *path, char *err, size_t errlen);
/* Apply every migration the file lacks, each in one IMMEDIATE transaction. */
int db_schema_migrate(sqlite3 *conn, const char *path, char *err, size_t errlen);

#endif
