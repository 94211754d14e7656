/* Filesystems under watch, and mounts as they come and go.
 *
 * A watched path covers the filesystem that holds it and every mount below
 * it (`watch: [/]`: every mount of the daemon's mount namespace). Each such
 * filesystem where a program can run gets a FAN_MARK_FILESYSTEM mark on
 * every group (a filesystem a server serves on the remote permission
 * group, remote.c); pseudo filesystems are skipped and listed with the
 * reason. A noexec mount is marked all the same (mounts_skip_reason).
 *
 * Mounts are followed by a tracker thread: fanotify mount events
 * (FAN_MNT_ATTACH/FAN_MNT_DETACH on a FAN_MARK_MNTNS mark, Linux >= 6.15)
 * where the kernel has them, else poll(POLLPRI) on /proc/self/mountinfo.
 * Either way an event only says "the table changed": the tracker re-reads
 * mountinfo and reconciles, so a lost or merged event costs nothing.
 *
 * The race: an exec from a filesystem attached a moment ago, before its mark
 * is in place, raises no permission event (make bench: a few hundred
 * microseconds). Mounting takes CAP_SYS_ADMIN over our mount namespace
 * (root, who can stop the daemon anyway); what unprivileged users get
 * mounted (udisks, fusermount3, logind's /run/user/UID) is mounted by a
 * helper that returns to them only after the attach, so their next exec
 * races a tracker the attach itself woke, and wins only while the daemon
 * is starved of CPU. Except fusermount3 without allow_other: the kernel
 * refuses root access to that filesystem (EACCES), so it is never marked,
 * and only bpf mode's unmarked_filesystems: deny refuses its programs. The
 * kernel programs do not refuse execs from superblocks the daemon has not
 * marked: they cannot tell "not yet marked" from "never to be marked"
 * (another mount namespace, a container's overlay, a skipped mount), and
 * refusing those would lock hosts and containers out, against invariant 4.
 * Not covered: mounts made in another mount namespace (containers,
 * `unshare -m`, unprivileged user namespaces): fanotify only reports the
 * namespace it marks.
 *
 * Marking walks each mount point's path, which a server can stall for good
 * (a hung NFS server, a user's FUSE server with a mount below its own): the
 * tracker plans under its locks and marks holding none (mounts_mark.c).
 *
 * An unmount drops the marks: the kernel removes a filesystem mark with its
 * superblock; a superblock still mounted elsewhere, outside every watch, is
 * unmarked through that other mount. The tracker never holds a file open on
 * a mount (that would make umount fail with EBUSY). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/mounts.h"
#include "gatekeeper/mounts_table.h"
#include "gatekeeper/proto.h"

/* Linux 6.15 uapi; Debian 12's headers predate them. */
#ifndef FAN_REPORT_MNT
#define FAN_REPORT_MNT 0x00004000
#endif
#ifndef FAN_MARK_MNTNS
#define FAN_MARK_MNTNS 0x00000110
#endif
#ifndef FAN_MNT_ATTACH
#define FAN_MNT_ATTACH 0x01000000
#endif
#ifndef FAN_MNT_DETACH
#define FAN_MNT_DETACH 0x02000000
#endif

#define MAX_TRACKED 4096

/* One superblock the watch list covers: marked, or skipped and why. */
struct tracked {
	dev_t dev;
	char *path;          /* the mount it was marked through */
	char fstype[64];
	char why[96];        /* "" when marked */
	bool seen;           /* reconcile scratch */
	bool fresh;          /* new, its first marking not done yet */
};

/* The tracker's state, owned by struct gk_daemon (d->mounts): made by
 * mounts_start, its thread ended by mounts_stop (the table stays, for the
 * kernel cache's pin filter), freed by mounts_free. */
struct gk_mounts {
	pthread_mutex_t lock;
	struct gk_daemon *d;
	int prescan_fd;
	unsigned groups_gen;      /* moves when a policy change retires the groups */
	struct tracked t[MAX_TRACKED];
	bool full_logged;
	size_t n;
	int source_fd, wake_fd;
	bool mount_events, stopping;
	pthread_t thread;
	bool running;
	/* Filesystems of the watched paths themselves, under holders_lock
	 * alone: the kernel cache asks from workers (mounts_may_pin), and a
	 * reconcile may wait on a server while it marks. */
	pthread_mutex_t holders_lock;
	dev_t holders[64];
	size_t n_holders;
	/* Mount points of filesystems a server serves, and of automounts,
	 * under holders_lock: walks that may not wait avoid them. */
	char **served;
	size_t n_served;
	uint64_t reconciles;
	int64_t last_reconcile_us;
	struct mounts_seen seen;  /* the last table read (mounts_gone.c) */
};

static struct tracked *find_tracked(struct gk_mounts *mt, dev_t dev)
{
	for (size_t i = 0; i < mt->n; i++)
		if (mt->t[i].dev == dev)
			return &mt->t[i];
	return NULL;
}

static struct mark_job *find_job(struct mark_job *jobs, size_t n, dev_t dev)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].dev == dev && !jobs[i].unmark)
			return &jobs[i];
	return NULL;
}

/* A superblock the watch list covers from now on, marked by the jobs that
 * follow unless why. */
static void add_tracked(struct gk_mounts *mt, const struct mnt *m, const char *why)
{
	if (mt->n == MAX_TRACKED) {
		/* Marked all the same, at every read of the table: the kernel drops
		 * the mark with the filesystem. Only its status line, and its
		 * unmarking when a new policy stops covering it, need a slot. */
		if (!mt->full_logged)
			log_msg(GK_LOG_WARN, "warning=\"more than %d filesystems under watch: "
				"%s and later ones are marked but not listed in status\"",
				MAX_TRACKED, m->path);
		mt->full_logged = true;
		return;
	}
	struct tracked *t = &mt->t[mt->n++];
	*t = (struct tracked){ .dev = m->dev, .path = strdup(m->path), .seen = true, .fresh = !why };
	snprintf(t->fstype, sizeof(t->fstype), "%s", m->fstype);
	snprintf(t->why, sizeof(t->why), "%s", why ? why : "being marked");
}

/* A superblock no longer covered: out of the table, and a job to unmark it
 * through the mounts that still show it, if any (without one the kernel
 * dropped the mark with it). Returns the number of jobs added. */
static size_t drop_tracked(struct gk_mounts *mt, size_t i, const struct mnt *m, size_t n,
			   struct mark_job *j)
{
	struct tracked *t = &mt->t[i];
	size_t added = 0;
	if (!t->why[0]) {
		*j = (struct mark_job){ .dev = t->dev, .unmark = true };
		while (j->first < n && m[j->first].dev != t->dev)
			j->first++;
		added = j->first < n;
		log_msg(GK_LOG_INFO, "filesystem_unmarked path=\"%s\" dev=%u:%u", t->path,
			major(t->dev), minor(t->dev));
	}
	free(t->path);
	mt->t[i] = mt->t[--mt->n];
	return added;
}

/* Under policy_lock (read) and mt->lock: the table in line with this read
 * of the mounts, and the jobs that mark and unmark. Every covered
 * superblock is marked again at every read, through its first mount that
 * shows it, not only for new groups: a filesystem unmounted and another
 * mounted between two reads can get the same device number (anonymous and
 * loop devices are handed out lowest first), and the kernel dropped the
 * mark with the old one. A mark that is there stays as it is. */
static size_t plan_jobs(struct gk_mounts *mt, const struct gk_policy *p, const struct mnt *m,
			size_t n, struct mark_job *jobs, bool *eligible)
{
	size_t n_jobs = 0;
	for (size_t i = 0; i < mt->n; i++)
		mt->t[i].seen = false;
	for (size_t i = 0; i < n; i++) {
		if (!mounts_covered(p, m, n, i))
			continue;
		const char *why = mounts_skip_reason(&m[i]);
		struct tracked *t = find_tracked(mt, m[i].dev);
		if (t)
			t->seen = true;
		else
			add_tracked(mt, &m[i], why);
		eligible[i] = !why;
		if (!why && !find_job(jobs, n_jobs, m[i].dev))
			jobs[n_jobs++] = (struct mark_job){ .dev = m[i].dev, .first = i };
	}
	for (size_t i = mt->n; i-- > 0;)
		if (!mt->t[i].seen)
			n_jobs += drop_tracked(mt, i, m, n, &jobs[n_jobs]);
	return n_jobs;
}

/* Under mt->lock: what the jobs did, into the table. */
static void note_results(struct gk_mounts *mt, const struct mark_job *jobs, size_t n_jobs)
{
	for (size_t i = 0; i < n_jobs; i++) {
		const struct mark_job *j = &jobs[i];
		struct tracked *t = j->unmark || !j->done ? NULL : find_tracked(mt, j->dev);
		if (!t)
			continue;
		snprintf(t->why, sizeof(t->why), "%s", j->why);
		char *path = j->marked_via ? strdup(j->marked_via->path) : NULL;
		if (path) {   /* its mount of record, the one that can run programs */
			free(t->path);
			t->path = path;
		}
		if (t->fresh && j->marked_via)
			log_msg(GK_LOG_INFO, "filesystem_marked path=\"%s\" dev=%u:%u fstype=%s",
				t->path, major(t->dev), minor(t->dev), t->fstype);
		t->fresh = false;
	}
}

/* The table just read, to mounts_gone.c. Called unlocked. */
static void note_table(struct gk_mounts *mt, const struct mnt *m, size_t n)
{
	struct sb_mount *now = malloc((n ? n : 1) * sizeof(*now));
	for (size_t i = 0; now && i < n; i++)
		now[i] = (struct sb_mount){ .dev = m[i].dev, .id = m[i].id };
	mounts_forget_gone(mt->d, &mt->seen, now, now ? n : 0);
}

static void free_served(char **served, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(served[i]);
	free(served);
}

/* The mount points a walk that may not wait must avoid (mounts_path_may_ask_server). */
static void note_served(struct gk_mounts *mt, const struct mnt *m, size_t n)
{
	char **served = calloc(n ? n : 1, sizeof(*served));
	size_t k = 0;
	for (size_t i = 0; served && i < n; i++)
		if (kcache_fstype_uncached(m[i].fstype) || !strcmp(m[i].fstype, "autofs"))
			if ((served[k] = strdup(m[i].path)))
				k++;
	pthread_mutex_lock(&mt->holders_lock);
	char **old = mt->served;
	size_t n_old = mt->n_served;
	mt->served = served;
	mt->n_served = served ? k : 0;
	pthread_mutex_unlock(&mt->holders_lock);
	free_served(old, n_old);
}

bool mounts_path_may_ask_server(struct gk_mounts *mt, const char *path)
{
	bool found = false;
	pthread_mutex_lock(&mt->holders_lock);
	for (size_t i = 0; i < mt->n_served && !found; i++)
		found = mounts_path_below(path, mt->served[i]);
	pthread_mutex_unlock(&mt->holders_lock);
	return found;
}

/* The groups to mark on, as descriptors of their own (caller holds the
 * locks): a policy change retires the daemon's while the jobs run, and
 * closes them once drained; a number of theirs may then name another file.
 * A mark made on a retired group lives only as long as these do. */
static struct mark_groups own_groups(struct gk_mounts *mt)
{
	struct gk_daemon *d = mt->d;
	int remote = d->remote ? d->remote->fd : -1;
	return (struct mark_groups){ .fd = fcntl(d->group->fd, F_DUPFD_CLOEXEC, 0),
				     .remote_fd = remote < 0 ? -1 : fcntl(remote, F_DUPFD_CLOEXEC, 0),
				     .prescan_fd = mt->prescan_fd < 0 ? -1
						   : fcntl(mt->prescan_fd, F_DUPFD_CLOEXEC, 0),
				     .mask = d->group->mask,
				     .gen = &mt->groups_gen,
				     .gen_then = __atomic_load_n(&mt->groups_gen, __ATOMIC_ACQUIRE) };
}

static void close_groups(const struct mark_groups *g)
{
	int fds[] = { g->fd, g->remote_fd, g->prescan_fd };
	for (size_t i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Bring the table (and the marks) in line with the mounts of now. The
 * marks are made holding no lock: status, a policy change and the stop
 * go on while a server holds up the walk to one mount point. */
static void reconcile(struct gk_mounts *mt)
{
	struct gk_daemon *d = mt->d;
	struct mnt *m;
	size_t n, n_jobs = 0;
	if (mounts_read_table(&m, &n) < 0) {
		log_msg(GK_LOG_ERR, "error=\"/proc/self/mountinfo: %s\"", strerror(errno));
		return;
	}
	note_served(mt, m, n);
	pthread_rwlock_rdlock(&d->policy_lock);
	pthread_mutex_lock(&mt->lock);
	pthread_mutex_lock(&mt->holders_lock);
	mt->n_holders = 0;
	for (size_t i = 0; i < n; i++)
		if (mt->n_holders < 64 && mounts_holds_watch(d->policy, m, n, i))
			mt->holders[mt->n_holders++] = m[i].dev;
	pthread_mutex_unlock(&mt->holders_lock);
	struct mark_groups g = own_groups(mt);
	struct mark_job *jobs = calloc(n + mt->n + 1, sizeof(*jobs));
	bool *eligible = calloc(n + 1, sizeof(*eligible));
	if (jobs && eligible)
		n_jobs = plan_jobs(mt, d->policy, m, n, jobs, eligible);
	else
		log_msg(GK_LOG_ERR, "error=\"mount tracker: %s\"", strerror(errno));
	pthread_mutex_unlock(&mt->lock);
	pthread_rwlock_unlock(&d->policy_lock);
	mounts_run_jobs(jobs, n_jobs, m, n, eligible, &g);
	close_groups(&g);
	pthread_mutex_lock(&mt->lock);
	note_results(mt, jobs, n_jobs);
	mt->reconciles++;
	mt->last_reconcile_us = gk_now_us();
	pthread_mutex_unlock(&mt->lock);
	free(jobs);
	free(eligible);
	note_table(mt, m, n);
	mounts_free_table(m, n);
}

/* Mount events of our namespace, or -1 where the kernel has none (< 6.15). */
static int open_mount_events(void)
{
	int fd = fanotify_init(FAN_REPORT_MNT | FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (ns < 0 || fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_MNTNS, FAN_MNT_ATTACH | FAN_MNT_DETACH,
				    ns, NULL) < 0) {
		if (ns >= 0)
			close(ns);
		close(fd);
		return -1;
	}
	close(ns);
	return fd;
}

static void drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void *tracker_main(void *arg)
{
	struct gk_mounts *mt = arg;
	short ev = mt->mount_events ? POLLIN : POLLPRI;
	for (;;) {
		struct pollfd p[2] = { { .fd = mt->source_fd, .events = ev },
				       { .fd = mt->wake_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents & POLLIN) {
			uint64_t one;
			(void)!read(mt->wake_fd, &one, sizeof(one));
			pthread_mutex_lock(&mt->lock);
			bool stop = mt->stopping;
			pthread_mutex_unlock(&mt->lock);
			if (stop)
				return NULL;
		}
		if (mt->mount_events && (p[0].revents & POLLIN))
			drain(mt->source_fd);
		reconcile(mt);
	}
}

int mounts_start(struct gk_daemon *d, int prescan_fd, char *err,
		 size_t errlen)
{
	struct gk_mounts *mt = d->mounts;
	if (!mt) {
		if (!(mt = calloc(1, sizeof(*mt)))) {
			snprintf(err, errlen, "cannot follow mounts: %s", strerror(errno));
			return -1;
		}
		pthread_mutex_init(&mt->lock, NULL);
		pthread_mutex_init(&mt->holders_lock, NULL);
		mt->source_fd = mt->wake_fd = -1;
		d->mounts = mt;
	}
	mounts_stop(d);   /* a start again begins from an empty table */
	mt->d = d;
	mt->prescan_fd = prescan_fd;
	mt->stopping = false;
	mt->source_fd = open_mount_events();
	mt->mount_events = mt->source_fd >= 0;
	if (!mt->mount_events)
		mt->source_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	mt->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mt->source_fd < 0 || mt->wake_fd < 0) {
		snprintf(err, errlen, "cannot follow mounts: %s", strerror(errno));
		return -1;
	}
	reconcile(mt);
	kcache_set_pin_filter(d->kc, mounts_may_pin, mt);
	if (pthread_create(&mt->thread, NULL, tracker_main, mt) != 0) {
		snprintf(err, errlen, "cannot start the mount tracker");
		return -1;
	}
	mt->running = true;
	return 0;
}

static void wake(struct gk_mounts *mt)
{
	uint64_t one = 1;
	(void)!write(mt->wake_fd, &one, sizeof(one));
}

/* Only here, under policy_lock as writer: a pass planned since (under it as
 * reader) has the new groups, the pre-scan's included, and one planned
 * before has only old ones, which it may then take its marks off
 * (mounts_run_jobs). */
void mounts_groups_retiring(struct gk_mounts *mt, int prescan_fd)
{
	if (!mt)
		return;
	pthread_mutex_lock(&mt->lock);
	mt->prescan_fd = prescan_fd;
	pthread_mutex_unlock(&mt->lock);
	__atomic_add_fetch(&mt->groups_gen, 1, __ATOMIC_RELEASE);
}

void mounts_groups_changed(struct gk_mounts *mt)
{
	if (mt && mt->running)
		wake(mt);
}

/* Ask the tracker to end, and wait until it has. */
static void end_tracker(struct gk_mounts *mt)
{
	pthread_mutex_lock(&mt->lock);
	mt->stopping = true;
	pthread_mutex_unlock(&mt->lock);
	wake(mt);
	pthread_join(mt->thread, NULL);
	mt->running = false;
}

void mounts_stop(struct gk_daemon *d)
{
	struct gk_mounts *mt = d->mounts;
	if (!mt)
		return;
	if (mt->running)
		end_tracker(mt);
	pthread_mutex_lock(&mt->lock);
	for (size_t i = 0; i < mt->n; i++)
		free(mt->t[i].path);
	mt->n = 0;
	pthread_mutex_unlock(&mt->lock);
	if (mt->source_fd >= 0)
		close(mt->source_fd);
	if (mt->wake_fd >= 0)
		close(mt->wake_fd);
	mt->source_fd = mt->wake_fd = -1;
}

void mounts_free(struct gk_daemon *d)
{
	mounts_stop(d);
	if (d->mounts) {
		pthread_mutex_destroy(&d->mounts->lock);
		pthread_mutex_destroy(&d->mounts->holders_lock);
		free_served(d->mounts->served, d->mounts->n_served);
		mounts_seen_free(&d->mounts->seen);
	}
	free(d->mounts);
	d->mounts = NULL;
}

bool mounts_may_pin(void *ctx, dev_t dev)
{
	struct gk_mounts *mt = ctx;
	bool found = false;
	pthread_mutex_lock(&mt->holders_lock);
	for (size_t i = 0; i < mt->n_holders && !found; i++)
		found = mt->holders[i] == dev;
	pthread_mutex_unlock(&mt->holders_lock);
	return found;
}

void mounts_report(struct gk_mounts *mt, struct proto_buf *reply)
{
	char line[4300];
	if (!mt) {   /* not started: nothing followed yet */
		proto_str(reply, "mounts_followed_by", "/proc/self/mountinfo (poll POLLPRI)");
		proto_num(reply, "mount_reconciles", 0);
		return;
	}
	pthread_mutex_lock(&mt->lock);
	for (size_t i = 0; i < mt->n; i++) {
		const struct tracked *t = &mt->t[i];
		const char *why = t->why[0] ? t->why
				  : kcache_fstype_uncached(t->fstype)
				  ? "no kernel cache (content changes with no write here); "
				    "its execs read apart (a stalled server holds up only them)"
				  : "";
		snprintf(line, sizeof(line), "%s (dev %u:%u, %s)%s%s", t->path, major(t->dev),
			 minor(t->dev), t->fstype, why[0] ? ": " : "", why);
		proto_arr(reply, t->why[0] ? "skipped" : "filesystems", line);
	}
	proto_str(reply, "mounts_followed_by",
		  mt->mount_events ? "fanotify mount events (FAN_MNT_ATTACH/FAN_MNT_DETACH)"
				   : "/proc/self/mountinfo (poll POLLPRI)");
	proto_num(reply, "mount_reconciles", (int64_t)mt->reconciles);
	pthread_mutex_unlock(&mt->lock);
}
