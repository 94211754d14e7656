/* Marking filesystems: by the watched paths (mounts_mark_group, for a new
 * group) and by the mount points of a read of the table (mounts_run_jobs,
 * for the tracker). Both walk paths, which a stalled server can hold for
 * good; the tracker runs its jobs holding none of its locks. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gatekeeper/kcache.h"
#include "gatekeeper/mounts.h"
#include "gatekeeper/mounts_table.h"

/* Mark (add) or unmark (!add) the filesystem that holds path on group_fd
 * with mask: FAN_MARK_FILESYSTEM, so every mount of it is covered. -1 and
 * errno on failure. */
static int mark_fs(int group_fd, uint64_t mask, const char *path, bool add)
{
	unsigned flags = (add ? FAN_MARK_ADD : FAN_MARK_REMOVE) | FAN_MARK_FILESYSTEM;
	return fanotify_mark(group_fd, flags, mask, AT_FDCWD, path);
}

/* The mount point, walked once and never through a symbolic link
 * (mountinfo names it without any): a user who owns a directory on the way
 * could otherwise swap one in between the check and the mark, and have
 * another filesystem marked, or unmarked. */
static int open_mount_point(const char *path)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
	return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
}

/* Through the mount point only if it still shows this superblock: a mount
 * hidden under a later one (EXDEV) is reached through that one. btrfs
 * subvolumes report an st_dev of their own: there the mount point is it. */
static int mark_mount(int group_fd, uint64_t mask, const struct mnt *m, bool add)
{
	char self[64];
	struct statx st;
	int fd = open_mount_point(m->path), rc = -1;
	/* The attributes the kernel has: no request to a server for the mount
	 * point itself (its parent's lookup may still ask one). */
	if (fd < 0 || statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &st) < 0)
		goto cleanup;
	if (makedev(st.stx_dev_major, st.stx_dev_minor) != m->dev && strcmp(m->fstype, "btrfs")) {
		errno = EXDEV;
		goto cleanup;
	}
	/* fanotify_mark takes no O_PATH descriptor: its /proc link leads to
	 * what was opened, whatever the path shows by now. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	rc = mark_fs(group_fd, mask, self, add);
cleanup:
	if (fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return rc;
}

/* Which group marks a filesystem of this type: remote_fd where a server
 * serves it (-1: none, the pre-scan's, whose reader may not wait on one). */
static int group_for(const char *fstype, int group_fd, int remote_fd)
{
	return kcache_fstype_uncached(fstype) ? remote_fd : group_fd;
}

/* The type of the mount path resolves to, links followed as fanotify_mark
 * follows them (a link someone other than root owns stays in a policy
 * path: policy_links.c), by the mount ID of an O_PATH open; by the mount
 * points if that cannot be read. */
static const char *watch_fstype(const char *path, const struct mnt *m, size_t n)
{
	char fdinfo[64], line[128];
	unsigned id = 0;
	bool found = false;
	int fd = open(path, O_PATH | O_CLOEXEC);
	snprintf(fdinfo, sizeof(fdinfo), "/proc/self/fdinfo/%d", fd);
	FILE *f = fd >= 0 ? fopen(fdinfo, "re") : NULL;
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "mnt_id: %u", &id) == 1;
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; found && i < n; i++)
		if (m[i].id == id)
			return m[i].fstype;
	return mounts_fstype_of(path, m, n);
}

int mounts_mark_group(int group_fd, int remote_fd, uint64_t mask, const struct gk_policy *p,
		      char *err, size_t errlen)
{
	struct mnt *m;
	size_t n;
	int rc = 0;
	if (mounts_read_table(&m, &n) < 0) {
		snprintf(err, errlen, "/proc/self/mountinfo: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < p->n_watch && rc == 0; i++) {
		int fd = group_for(watch_fstype(p->watch[i], m, n), group_fd, remote_fd);
		if (fd >= 0 && mark_fs(fd, mask, p->watch[i], true) < 0) {
			snprintf(err, errlen, "%s: watch %s: %s", p->name, p->watch[i], strerror(errno));
			rc = -1;
		}
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		int fd = group_for(m[i].fstype, group_fd, remote_fd);
		if (fd >= 0 && mounts_covered(p, m, n, i) && !mounts_skip_reason(&m[i]))
			(void)mark_mount(fd, mask, &m[i], true);
	}
	mounts_free_table(m, n);
	return rc;
}

/* One mount of the job's superblock: its permission group, then the
 * pre-scan's (not for a remote one: that reader would open each closed
 * file there on the server, and a result there is never kept). */
static int run_via(const struct mark_job *j, const struct mnt *m, const struct mark_groups *g)
{
	int prescan_fd = group_for(m->fstype, g->prescan_fd, -1);
	/* Unmarking: a mark that is gone already is no failure, a mount point
	 * that shows another superblock now is (the next mount is tried). */
	if (mark_mount(group_for(m->fstype, g->fd, g->remote_fd), g->mask, m, !j->unmark) < 0 &&
	    (!j->unmark || errno == EXDEV))
		return -1;
	if (prescan_fd >= 0 && mark_mount(prescan_fd, PRESCAN_MASK, m, !j->unmark) < 0 && !j->unmark)
		return -1;
	return 0;
}

void mounts_run_jobs(struct mark_job *jobs, size_t n, const struct mark_groups *g)
{
	for (size_t i = 0; i < n; i++) {
		struct mark_job *j = &jobs[i];
		j->why[0] = '\0';
		j->marked_via = NULL;
		/* Replaced groups: the rest would only mark retired ones, and the
		 * change's wake-up brings a read of its own. */
		j->done = __atomic_load_n(g->gen, __ATOMIC_ACQUIRE) == g->gen_then;
		if (!j->done)
			continue;
		for (size_t k = 0; k < j->n_via && !j->marked_via; k++) {
			if (run_via(j, j->via[k], g) == 0)
				j->marked_via = j->via[k];
			else
				snprintf(j->why, sizeof(j->why), "%s%s",
					 errno == EXDEV ? "" : "cannot mark: ",
					 errno == EXDEV ? "hidden under a later mount" : strerror(errno));
		}
		if (j->marked_via)
			j->why[0] = '\0';
	}
}
