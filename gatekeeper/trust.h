/* trust: is this file what the package manager installed? The index of the
 * policy's trust source (dpkg) lives in the store and follows dpkg by itself
 * (inotify on the admin directory, plus a synchronous catch-up on a miss);
 * this header is the module's only door.
 *
 * Hooks into the daemon: trust_open at start (after the store), trust_close
 * at stop, trust_identify in place of identify_fd on the decision path, and
 * trust_report in `status`. */
#ifndef GK_TRUST_H
#define GK_TRUST_H

#include <stdatomic.h>

#include "gatekeeper/gatekeeperd.h"

struct trust;
struct proto_buf;

struct trust_result {
	enum gk_trust_match match;
	/* MATCH: "dpkg PKG VERSION"; DIFFERS, NO_DIGEST: "PKG"; else "". */
	char detail[160];
};

/* NULL with err empty when the policy has no trust source; NULL with err
 * filled when the index cannot be opened or dpkg's database not read. The
 * first refresh runs here (cold: reads every list; warm: stats them). The
 * index lives in the database that `store` opened and checked; the trust
 * opens its connections from it, also later (a walk), so `store` must
 * outlive it. */
struct trust *trust_open(const struct gk_policy *p, const struct gk_db *store, char *err,
			 size_t errlen);
void trust_close(struct trust *t);

/* identify_fd_guarded (SHA-256 into sha, id filled), and, when t is not NULL and
 * path is watched, what trust makes of the file: MD5 is computed in the same
 * read when a package lists path. dpkg changes that inotify has queued are
 * applied first, synchronously (a postinst running its new binary; the
 * leftovers of a package just removed). */
int trust_identify(struct trust *t, struct hash_cache *hc, int fd, const char *path,
		   struct file_id *id,
		   unsigned char sha[GK_SHA256_LEN], struct trust_result *out,
		   const atomic_bool *cancel, uint64_t guard);
/* The same against the index as it is, applying nothing dpkg changed
 * meanwhile and never waiting for a refresh: for the prejudge walk, whose
 * thread runs at nice 19 and would hold the refresh lock that the misses
 * wait on (what it caches goes with the next refresh's flush). */
int trust_identify_indexed(struct trust *t, struct hash_cache *hc, int fd, const char *path,
			   struct file_id *id, unsigned char sha[GK_SHA256_LEN],
			   struct trust_result *out, const atomic_bool *cancel, uint64_t guard);

/* The daemon's hooks: at start (after daemonize, before events are read;
 * opens the digest store too and makes a trust change flush the kernel
 * cache), at stop, and on a policy apply (false + err: refuse it). */
int trust_daemon_start(struct gk_daemon *d, char *err, size_t errlen);
void trust_daemon_stop(struct gk_daemon *d);
bool trust_policy_compatible(const struct gk_daemon *d, const struct gk_policy *p, char *err,
			     size_t errlen);

/* Did dpkg, run by root, write this file (pid and exe of the process that
 * closed it)? Its package's list and status may land a moment later, and
 * a postinst may run the file at once: the pre-scan then caches no deny in
 * the kernel, so that exec reaches the daemon, which applies dpkg's changes
 * first. False when t is NULL (no trust source). */
bool trust_written_by_dpkg(const struct trust *t, pid_t pid, const char *exe);

/* Every file the index could vouch for (listed with an MD5), as a path
 * under the source's root, to fn (non-zero stops the walk and is returned;
 * -1: the store could not be read, logged). Over a connection of its own. */
int trust_foreach_path(struct trust *t, int (*fn)(void *ctx, const char *path), void *ctx);
/* dpkg changed something the index has not applied yet (NULL: false). */
bool trust_changes_pending(struct trust *t);

/* Apply what changed in dpkg's database now (the tests). */
int trust_refresh(struct trust *t);

/* query: "trust: dpkg PKG VERSION", or why not ("differs from the digest
 * dpkg recorded for PKG", "not in any package", ...). */
void trust_query_line(struct trust *t, enum gk_trust_match m, const char *detail,
		      struct proto_buf *reply);

/* status: the sources, paths indexed, when refreshed, counters. */
void trust_report(struct trust *t, struct proto_buf *reply);

#endif
