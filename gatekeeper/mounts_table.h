/* The mount table as mounts.c reads it (/proc/self/mountinfo), and which
 * of its mounts a watch list covers. Inside the mounts subsystem only:
 * mounts.h is its door. */
#ifndef GK_MOUNTS_TABLE_H
#define GK_MOUNTS_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "policy/policy.h"

struct mnt {
	char *path;          /* mount point, unescaped */
	unsigned id;         /* mount ID */
	dev_t dev;           /* the superblock (mountinfo major:minor) */
	char fstype[64];
};

/* Is path dir itself or below it? */
bool mounts_path_below(const char *path, const char *dir);
/* Why a mount is not marked (a pseudo filesystem), or NULL. */
const char *mounts_skip_reason(const struct mnt *m);
/* This process's mount table, in mount order: 0, or -1 with errno. */
int mounts_read_table(struct mnt **out, size_t *n_out);
void mounts_free_table(struct mnt *m, size_t n);
/* Is mount i the one that holds a watched path (the last mount, in mount
 * order, whose mount point is a prefix of the path: mounts stack in that
 * order)? */
bool mounts_holds_watch(const struct gk_policy *p, const struct mnt *m, size_t n, size_t i);
/* The type of the mount that holds path (the last in mount order whose
 * mount point is a prefix of it), "" if none. */
const char *mounts_fstype_of(const char *path, const struct mnt *m, size_t n);
/* Does the watch list cover mount i: it holds a watched path, or its mount
 * point lies under one? */
bool mounts_covered(const struct gk_policy *p, const struct mnt *m, size_t n, size_t i);

/* The groups the tracker marks on: the permission groups (d->group,
 * d->remote) and the pre-scan's; -1 where there is none. */
struct mark_groups {
	int fd, remote_fd, prescan_fd;
	uint64_t mask;
	const unsigned *gen;   /* moves when the groups are replaced: stop then */
	unsigned gen_then;
};

/* One superblock to mark (or unmark), planned under the tracker's locks and
 * run without them: the walk to a mount point can wait on a server for good
 * (a hung NFS server, a user's FUSE server that mounts below its own). */
struct mark_job {
	dev_t dev;
	size_t first;                         /* its first mount in the table to try */
	bool unmark;
	bool done;                            /* result: run (not left for new groups) */
	const struct mnt *marked_via;         /* result: NULL if none would do */
	char why[96];                         /* result: "" when marked */
};
/* Through its mounts in table order, from first on, the first that shows it
 * (when marking: of those eligible[k], covered and not skipped). */
void mounts_run_jobs(struct mark_job *jobs, size_t n_jobs, const struct mnt *m, size_t n,
		     const bool *eligible, const struct mark_groups *g);

#endif
