/* Shared by trust.c (lookups) and trust_index.c (refresh, follower) only;
 * everyone else uses trust.h. */
#ifndef GK_TRUST_INTERNAL_H
#define GK_TRUST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "db/db.h"
#include "gatekeeper/dpkg.h"
#include "gatekeeper/trust.h"

#define TRUST_MAX_ALIASES 8

struct trust {
	char *root;                 /* dpkg --root: "/" or a directory */
	char *admindir;
	const struct gk_db *store;  /* the daemon's, checked: trust_foreach_path opens its own connection */
	int64_t source_id;
	size_t txn_rows;            /* rows written in the refresh's open transaction */

	/* Lookups: the reading connection, the diversions and the merged-/usr
	 * aliases, all under lookup_lock. */
	pthread_mutex_t lookup_lock;
	struct gk_db *rdb;
	struct dpkg_diversions divs;
	char aliases[TRUST_MAX_ALIASES][16];   /* "bin", "lib64", ... */
	size_t n_aliases;

	/* Refresh: the writing connection and the inotify follower. */
	pthread_mutex_t refresh_lock;
	struct gk_db *wdb;
	int ifd;                    /* inotify; -1: none (every untrusted miss refreshes) */
	int wd_admin, wd_info;      /* the admin directory, info/ */
	int stop_fd;                /* eventfd: stops the follower */
	pthread_t follower;
	bool follower_running;
	atomic_bool pending;        /* dpkg changed something not yet applied */
	char print[DB_TRUST_FINGERPRINT_MAX]; /* of the last refresh (no inotify: compared) */
	void (*on_change)(void *ctx);
	void *on_change_ctx;

	/* status */
	atomic_uint_fast64_t lookups, trusted, differs, no_digest, not_packaged, refreshes,
		sync_refreshes, refresh_errors,
		changing_refreshes;   /* ones that changed what is trusted: each flushes */
	atomic_int_fast64_t last_refresh_us;   /* duration of the last refresh */
	char last_error[320];                  /* under refresh_lock */
	/* The last refresh failed (a store locked past its busy timeout, a
	 * status file that did not read): the follower tries again after
	 * retry_ms, doubling, without waiting for dpkg to change anything more.
	 * Not `pending`, which would make every watched exec refresh at once
	 * for as long as the failure lasts. Under refresh_lock. */
	int retry_ms;
};

/* trust_index.c */
int trust_index_refresh(struct trust *t);   /* caller holds refresh_lock */
/* At start: nothing is read but the diversions when the admin directory
 * looks as it did at the last refresh (status, diversions, info/ and
 * updates/ unchanged: dpkg replaces its files by rename, which moves the
 * directory's mtime); else a refresh. Caller holds refresh_lock. */
int trust_index_start(struct trust *t);
int trust_follow_start(struct trust *t, char *err, size_t errlen);
void trust_follow_stop(struct trust *t);
/* Reads what inotify queued (without waiting); true when dpkg changed. */
bool trust_follow_drain(struct trust *t);

#endif
