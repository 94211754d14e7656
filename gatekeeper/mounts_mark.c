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

static int open_without_links(const char *path)
{
	char buf[4096], *save = NULL;
	if (path[0] != '/' || strlen(path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, strlen(path) + 1);
	int dir = open("/", O_PATH | O_CLOEXEC);
	for (char *c = strtok_r(buf, "/", &save); c && dir >= 0; c = strtok_r(NULL, "/", &save)) {
		struct stat st;
		int next = openat(dir, c, O_PATH | O_NOFOLLOW | O_CLOEXEC), e = errno;
		if (next >= 0 && (fstat(next, &st) < 0 || S_ISLNK(st.st_mode))) {
			close(next);
			next = -1;
			e = ELOOP;
		}
		close(dir);
		dir = next;
		errno = e;
	}
	return dir;
}

/* The mount point, walked once and never through a symbolic link
 * (mountinfo names it without any): a user who owns a directory on the way
 * could otherwise swap one in between the check and the mark, and have
 * another filesystem marked, or unmarked. */
static int open_mount_point(const char *path)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	/* Filtered (systemd's RestrictSUIDSGID= answers ENOSYS for openat2,
	 * whose flags seccomp cannot see), or before Linux 5.6: a component at
	 * a time, none of them a link. */
	return fd >= 0 || (errno != ENOSYS && errno != EPERM) ? fd : open_without_links(path);
}

/* The mount point, open (O_PATH) only if it still shows this superblock: a
 * mount hidden under a later one (EXDEV) is reached through that one. btrfs
 * subvolumes report an st_dev of their own: there the mount point is it.
 * -1 and errno on failure. */
static int open_mount(const struct mnt *m)
{
	struct statx st;
	int fd = open_mount_point(m->path), e;
	if (fd < 0)
		return -1;
	/* The attributes the kernel has: no request to a server for the mount
	 * point itself (its parent's lookup may still ask one). */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &st) < 0)
		e = errno;
	else if (makedev(st.stx_dev_major, st.stx_dev_minor) != m->dev && strcmp(m->fstype, "btrfs"))
		e = EXDEV;
	else
		return fd;
	close(fd);
	errno = e;
	return -1;
}

/* fanotify_mark takes no O_PATH descriptor: its /proc link leads to what
 * was opened, whatever the path shows by now. */
static int mark_opened(int group_fd, uint64_t mask, int fd, bool add)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	return mark_fs(group_fd, mask, self, add);
}

static int mark_mount(int group_fd, uint64_t mask, const struct mnt *m, bool add)
{
	int fd = open_mount(m);
	if (fd < 0)
		return -1;
	int rc = mark_opened(group_fd, mask, fd, add), e = errno;
	close(fd);
	errno = e;
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

static bool groups_stand(const struct mark_groups *g)
{
	return __atomic_load_n(g->gen, __ATOMIC_ACQUIRE) == g->gen_then;
}

/* One mount of the job's superblock, walked to once: its permission group,
 * then the pre-scan's (not for a remote one: that reader would open each
 * closed file there on the server, and a result there is never kept).
 * Unmarking, a mark that is gone already is no failure. 0, or -1 and errno
 * (ECANCELED: the groups were replaced meanwhile). */
static int run_via(const struct mark_job *j, const struct mnt *m, const struct mark_groups *g)
{
	int fd = open_mount(m), rc = 0;
	if (fd < 0)
		return -1;
	const int groups[] = { group_for(m->fstype, g->fd, g->remote_fd),
			       group_for(m->fstype, g->prescan_fd, -1) };
	const uint64_t masks[] = { g->mask, PRESCAN_MASK };
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		if (i == 1 && groups[i] < 0)
			break;
		if (!groups_stand(g)) {
			errno = ECANCELED;
			rc = -1;
		} else if (mark_opened(groups[i], masks[i], fd, !j->unmark) < 0 &&
			   !(j->unmark && errno == ENOENT)) {
			rc = -1;
		}
	}
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* The groups were replaced while a job ran: a mark it made may sit on a
 * retired group that no reader answers any more (the descriptors here keep
 * it alive). Take them all off; the change's wake-up marks the new ones. */
static void unmark_retired(const struct mark_groups *g)
{
	const int fds[] = { g->fd, g->remote_fd, g->prescan_fd };
	for (size_t i = 0; i < 3; i++)
		if (fds[i] >= 0)
			(void)fanotify_mark(fds[i], FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM, 0, AT_FDCWD,
					    NULL);
}

/* Its candidates: from the job's first mount on, those of its superblock
 * (that may be marked through, when marking). */
static void run_job(struct mark_job *j, const struct mnt *m, size_t n, const bool *eligible,
		    const struct mark_groups *g)
{
	j->why[0] = '\0';
	j->marked_via = NULL;
	for (size_t k = j->first; k < n && !j->marked_via && groups_stand(g); k++) {
		if (m[k].dev != j->dev || (!j->unmark && !eligible[k]))
			continue;
		if (run_via(j, &m[k], g) == 0)
			j->marked_via = &m[k];
		else if (errno != ECANCELED)
			snprintf(j->why, sizeof(j->why), "%s%s", errno == EXDEV ? "" : "cannot mark: ",
				 errno == EXDEV ? "hidden under a later mount" : strerror(errno));
	}
	j->done = groups_stand(g);
	if (j->marked_via)
		j->why[0] = '\0';
}

void mounts_run_jobs(struct mark_job *jobs, size_t n_jobs, const struct mnt *m, size_t n,
		     const bool *eligible, const struct mark_groups *g)
{
	for (size_t i = 0; i < n_jobs; i++)
		run_job(&jobs[i], m, n, eligible, g);
	if (n_jobs && !groups_stand(g))
		unmark_retired(g);
}
