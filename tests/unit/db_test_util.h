/* Shared by the db/ unit tests (test_db.c, test_db_open.c): a temporary
 * directory per test, and ways to look at the file as SQLite itself sees it. */
#ifndef GK_TEST_DB_UTIL_H
#define GK_TEST_DB_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"

struct fixture {
	char dir[64];
	char path[128]; /* dir/gk.db, not created by setup */
	char err[512];
};

static inline int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/gk-test-db-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/gk.db", fx->dir);
	*state = fx;
	return 0;
}

static inline int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int teardown(void **state)
{
	struct fixture *fx = *state;
	int rc = nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(fx);
	return rc;
}

static inline void fill_sha(unsigned char sha[GK_SHA256_LEN], unsigned seed)
{
	for (int i = 0; i < GK_SHA256_LEN; i++)
		sha[i] = (unsigned char)(seed * 31 + (unsigned)i * 7);
	memcpy(sha, &seed, sizeof(seed));
}

static inline struct gk_db *open_ok(struct fixture *fx)
{
	struct gk_db *db = db_open(fx->path, fx->err, sizeof(fx->err));

	if (db == NULL)
		fail_msg("db_open: %s", fx->err);
	return db;
}

/* Runs one statement through SQLite directly, as another program would. */
static inline void raw_exec(const char *path, const char *sql)
{
	sqlite3 *conn = NULL;

	assert_int_equal(sqlite3_open(path, &conn), SQLITE_OK);
	assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(conn);
}

static inline long long raw_int(const char *path, const char *sql)
{
	sqlite3 *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	long long v;

	assert_int_equal(sqlite3_open(path, &conn), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(conn, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(conn);
	return v;
}

/* The whole file, for "nothing was modified" checks. */
static inline char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static inline void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static inline void assert_file_unchanged(const char *path, const char *before, size_t before_len)
{
	size_t len;
	char *now = slurp(path, &len);

	assert_int_equal(len, before_len);
	assert_memory_equal(now, before, len);
	free(now);
}

#endif
