/* mounts: which filesystems the watch list covers, and following mounts as
 * they come and go. Every fanotify group of the daemon (the permission group
 * and the pre-scan group) gets the same filesystem marks through
 * mounts_mark_group; a tracker thread then marks a filesystem mounted later
 * under a watched path (or anywhere, with `watch: [/]`) on the current
 * groups, and forgets one that was unmounted. */
#ifndef GK_MOUNTS_H
#define GK_MOUNTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/fanotify.h>
#include <sys/types.h>

#include "policy/policy.h"

struct gk_daemon;
struct gk_mounts;
struct proto_buf;

/* Mark every filesystem that p's watch list covers, as mounted now: the
 * filesystem holding each watched path, and every mount below it where a
 * program can run; on remote_fd those a server serves (FUSE, NFS...,
 * kcache_fstype_uncached), on group_fd the others. Only a watched path's
 * own filesystem failing is an error (-1 with err); the tracker reports
 * the others as skipped. */
int mounts_mark_group(int group_fd, int remote_fd, uint64_t mask, const struct gk_policy *p,
		      char *err, size_t errlen);

/* What the pre-scan group (prescan.c) marks every filesystem with. */
#define PRESCAN_MASK FAN_CLOSE_WRITE

/* Start following mounts (fanotify mount events where the kernel has them,
 * else /proc/self/mountinfo) into d->mounts; the first pass runs before
 * this returns. prescan_fd: the pre-scan group (marked with PRESCAN_MASK);
 * the permission group is d->group. Makes d->kc's pin filter
 * ask the table. On failure (-1, err) mounts_stop/mounts_free still undo it. */
int mounts_start(struct gk_daemon *d, int prescan_fd, char *err, size_t errlen);
/* The groups are about to be replaced (policy change; caller holds
 * policy_lock as writer), prescan_fd (the pre-scan's new group) among them:
 * the tracker's marking in progress stops, and takes off what it marked on
 * the old ones. NULL-safe. */
void mounts_groups_retiring(struct gk_mounts *mt, int prescan_fd);
/* The groups were replaced: mark again on the new ones. NULL-safe. */
void mounts_groups_changed(struct gk_mounts *mt);
/* End the tracker (before the groups it marks are closed); the holders of
 * the watched paths stay known to the pin filter. Safe when mounts_start
 * never ran or failed; mounts_start may follow again. */
void mounts_stop(struct gk_daemon *d);
/* Free d->mounts, once nothing can call the kernel cache's pin filter
 * (after kcache_close). Stops first if need be; NULL-safe. */
void mounts_free(struct gk_daemon *d);

/* Can a user without privileges mount a filesystem in a user namespace of
 * their own, which no mark of the daemon reaches (mounts_userns.c)? One
 * line for status in out: "possible: ..." naming the sysctl that closes
 * it, or "refused (...)" naming what refuses it. proc_root: "/proc" (a
 * directory laid out like it in tests). */
bool mounts_user_mounts(const char *proc_root, char *out, size_t size);

/* `unmarked_filesystems` of d's policy into the kernel programs (after the
 * marks are in place: at start and after a policy swap), logging why a
 * deny cannot be enforced; and its status line. */
void mounts_unmarked_apply(struct gk_daemon *d);
void mounts_unmarked_report(struct gk_daemon *d, struct proto_buf *reply);

/* What the tracker would do with the mounts of a mountinfo table for p, one
 * line per covered mount: "MOUNTPOINT MAJ:MIN TYPE mark" or "... skip:
 * REASON" (for tests; -1 if out is too small). */
int mounts_plan(const struct gk_policy *p, FILE *mountinfo, char *out, size_t size);

/* Does path pass through, or end on, the mount point of a filesystem a
 * server serves (FUSE, NFS...) or of an automount, as the mount table was
 * last read? Walking it could then wait on a server. */
bool mounts_path_may_ask_server(struct gk_mounts *mt, const char *path);
/* Is dev the filesystem of a watched path itself (not one mounted below a
 * watch, which may be unmounted: nothing may hold it open)? */
bool mounts_may_pin(void *mounts, dev_t dev);
/* By type (mounts_fstype.c): a kernel interface, where no program lives. */
bool mounts_fstype_pseudo(const char *fstype);

/* The mounts of one read of the table, for mounts_gone.c: which devices
 * went away since the last read. */
struct sb_mount {
	dev_t dev;
	unsigned id;        /* mountinfo's mount ID */
};
struct mounts_seen {
	struct sb_mount *m;
	size_t n;
	bool known;         /* a table was read before */
};
/* Take now (n_now entries, malloc'd: kept) as the table; put into gone (at
 * most max_gone) each device of the last table none of whose mounts is in
 * now. Returns how many there were. */
size_t mounts_seen_update(struct mounts_seen *s, struct sb_mount *now, size_t n_now, dev_t *gone,
			  size_t max_gone);
void mounts_seen_free(struct mounts_seen *s);
/* mounts_seen_update, then forget the digests of each device gone (in
 * memory and in the store): it may come back with other content. Takes now
 * (NULL: out of memory, nothing learnt). */
void mounts_forget_gone(struct gk_daemon *d, struct mounts_seen *s, struct sb_mount *now,
			size_t n_now);

/* status: what is marked, what is skipped and why, how mounts are followed. */
void mounts_report(struct gk_mounts *mt, struct proto_buf *reply);   /* NULL: not started */

#endif
