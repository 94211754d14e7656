/* Judge newly written executables before their first exec. A notification
 * group reports FAN_CLOSE_WRITE on the watched filesystems; a file that is
 * or may become executable is queued (one entry per inode: a burst of closes
 * coalesces into one scan of the final content) and judged by the same
 * judgement as the miss path (judge_file), so its first exec is already a
 * kernel hit.
 * FAN_OPEN_EXEC notifications count how many first execs found a verdict:
 * the permission group reports them (kcache_watch_first_exec), because this
 * group must hold no inode marks (see kcache.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/prescan_impl.h"
#include "gatekeeper/trust.h"
#include "gatekeeper/mounts.h"

#define PENDING_MAX 1024
/* Linux 6.13 (and 6.12.5, 6.6.66): an event whose file the kernel could not
 * open for us comes with -errno in fd; before, it was dropped unseen unless
 * it was the first of a read, whose read(2) then failed with that error. */
#ifndef FAN_REPORT_FD_ERROR
#define FAN_REPORT_FD_ERROR 0x00002000
#endif
#ifndef EOPENSTALE
#define EOPENSTALE 518
#endif
/* A file just closed has a ctime the clock has not moved past: content read
 * now may not be cached in the kernel (file_id.settled) unless a lease
 * taken before the read guards it (fanotify mode). Otherwise (bpf mode)
 * waiting two ticks (HZ 100: 20 ms) lets the pre-scan's verdict stand for
 * the first exec; FAT's 2 s granularity is not waited for. */
#define SETTLE_POLL_US 2000
#define SETTLE_POLLS 13
/* A writer's access outlives its close event by a moment (scan_one). */
#define ARM_RETRY_US 1000
#define ARM_RETRIES 3
#define PREJUDGED_SLOTS 16384

struct pending {
	dev_t dev;
	ino_t ino;
	int fd, next_fd;         /* next_fd: a newer close while this one is scanned */
	pid_t pid;
	bool by_dpkg;            /* its last closer was root's dpkg (trust_written_by_dpkg) */
	enum { P_FREE, P_QUEUED, P_RUNNING } state;
};

struct prejudged {
	struct file_id id;
	bool used, missed;       /* missed: its exec still raised a permission event */
};

struct gk_prescan {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pending entries[PENDING_MAX];
	int fifo[PENDING_MAX], head, len;
	bool stopping;
	pthread_t reader, *workers;
	unsigned n_workers;            /* started */
	bool reader_started;
	atomic_int group_fd;           /* read by the reader, polled by the exec path */
	int new_group_fd, wake_fd;
	struct gk_daemon *d;
	struct close_progress progress;  /* the reader's, which a miss waits on */
	atomic_bool lost_logged;
	pthread_mutex_t judged_lock;
	struct prejudged judged[PREJUDGED_SLOTS];
};

int prescan_group_open(const struct gk_policy *p, char *err, size_t errlen)
{
	unsigned flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE |
			 FAN_UNLIMITED_MARKS;
	int fd = fanotify_init(flags | FAN_REPORT_FD_ERROR, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL)
		fd = fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "fanotify_init (close-write group): %s", strerror(errno));
		return -1;
	}
	if (mounts_mark_group(fd, -1, PRESCAN_MASK, p, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct prejudged *judged_entry(struct gk_prescan *ps, dev_t dev, ino_t ino)
{
	return &ps->judged[gk_inode_hash(dev, ino) % PREJUDGED_SLOTS];
}

static void note_miss(struct gk_prescan *ps, const struct file_id *id)
{
	pthread_mutex_lock(&ps->judged_lock);
	struct prejudged *e = judged_entry(ps, id->dev, id->ino);
	if (e->used && e->id.dev == id->dev && e->id.ino == id->ino)
		e->missed = true;
	pthread_mutex_unlock(&ps->judged_lock);
}

void prescan_exec_seen(struct gk_prescan *ps, int group_fd, int fd)
{
	struct file_id id;
	if (!ps || file_id_of_fd(fd, &id) < 0)
		return;
	pthread_mutex_lock(&ps->judged_lock);
	struct prejudged *e = judged_entry(ps, id.dev, id.ino);
	/* Same inode is enough: a rewrite after the pre-scan queues a new one
	 * (replacing this entry), and a chmod after close (as GNU ld does) keeps
	 * the verdict. A permission event in between marked it missed. */
	if (e->used && e->id.dev == id.dev && e->id.ino == id.ino) {
		atomic_fetch_add(&ps->d->stats.first_execs_prejudged, 1);
		if (!e->missed)
			atomic_fetch_add(&ps->d->stats.first_execs_kernel_hits, 1);
		e->used = false;
	}
	pthread_mutex_unlock(&ps->judged_lock);
	/* Later execs of this inode need no counting. */
	kcache_first_exec_seen(group_fd, fd);
}

static bool may_be_executable(int fd, const struct stat *st)
{
	if (st->st_mode & 0111)
		return true;
	unsigned char magic[4];
	ssize_t n = pread(fd, magic, sizeof(magic), 0);
	return (n >= 4 && !memcmp(magic, "\177ELF", 4)) || (n >= 2 && magic[0] == '#' && magic[1] == '!');
}

/* Takes ownership of fd. */
static void enqueue(struct gk_prescan *ps, int fd, const struct stat *st, pid_t pid,
		    bool by_dpkg)
{
	pthread_mutex_lock(&ps->lock);
	struct pending *free_e = NULL;
	for (int i = 0; i < PENDING_MAX; i++) {
		struct pending *e = &ps->entries[i];
		if (e->state == P_FREE) {
			free_e = free_e ? free_e : e;
			continue;
		}
		if (e->dev != st->st_dev || e->ino != st->st_ino)
			continue;
		int *slot = e->state == P_QUEUED ? &e->fd : &e->next_fd;
		int replaced = *slot;
		*slot = fd;
		e->pid = pid;
		e->by_dpkg = by_dpkg;
		atomic_fetch_add(&ps->d->stats.prescan_coalesced, 1);
		pthread_mutex_unlock(&ps->lock);
		/* Outside the lock, and as the file in hand: a close can flush,
		 * which a slow device or a stacked filesystem may hold up. */
		if (replaced >= 0) {
			atomic_store(&ps->progress.file_fd, replaced);
			close(replaced);
		}
		return;
	}
	if (!free_e) {
		pthread_mutex_unlock(&ps->lock);
		atomic_fetch_add(&ps->d->stats.prescan_dropped, 1);   /* judged on its first exec */
		close(fd);
		return;
	}
	*free_e = (struct pending){ .dev = st->st_dev, .ino = st->st_ino, .fd = fd, .next_fd = -1,
				    .pid = pid, .by_dpkg = by_dpkg, .state = P_QUEUED };
	ps->fifo[(ps->head + ps->len++) % PENDING_MAX] = (int)(free_e - ps->entries);
	pthread_cond_signal(&ps->cond);
	pthread_mutex_unlock(&ps->lock);
}

static void on_close_write(struct gk_prescan *ps, int fd, pid_t pid)
{
	struct gk_daemon *d = ps->d;
	struct stat st;
	char path[4096];
	/* A write through a shared mapping raises no FS_MODIFY, so an ignore mark
	 * can outlive it: take back whatever the kernel caches for this inode. */
	if (!kcache_sees_writes(d->kc))
		kcache_unrecord(d->kc, fd);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	hash_cache_forget(d->hashes, fd, st.st_dev, st.st_ino);
	gk_fd_path(fd, path, sizeof(path));
	pthread_rwlock_rdlock(&d->policy_lock);
	bool watched = policy_path_watched(d->policy, path);
	pthread_rwlock_unlock(&d->policy_lock);
	if (!watched || !may_be_executable(fd, &st)) {
		close(fd);
		return;
	}
	/* Asked now, while the closer still runs: apt runs dpkg once to unpack
	 * and again to configure, and the first may be gone by the scan. */
	bool by_dpkg = false;
	if (d->trust) {
		char exe[4096];
		gk_pid_exe(pid, exe, sizeof(exe));
		by_dpkg = trust_written_by_dpkg(d->trust, pid, exe);
	}
	enqueue(ps, fd, &st, pid, by_dpkg);
}

/* Why the kernel could not open a closed file for us. A device (a write to
 * /dev/tty: ENXIO), a refusal (EACCES, EPERM) and the like are no regular
 * file's content changing, and anyone can cause them: ignored. Exhaustion
 * (ours) and a stale handle may hide one: lost. */
static bool close_lost_by(int error)
{
	return error == EMFILE || error == ENFILE || error == ENOMEM || error == EINTR ||
	       error == ESTALE || error == EOPENSTALE || error == 0;
}

/* A close the kernel could not hand over (0: its queue overflowed): which
 * file is unknown, so no digest kept is trusted again, nor any allow the
 * kernel holds that no write could take back. Before the event counts as
 * handled; once per read. */
static void closes_lost(struct gk_prescan *ps, int error, bool *done)
{
	if (*done || !close_lost_by(error))
		return;
	*done = true;
	if (!atomic_exchange(&ps->lost_logged, true))
		log_msg(GK_LOG_WARN, "warning=\"pre-scan: a close of a written file was lost (%s): "
			"no digest kept is trusted from now on, and the next start drops the "
			"stored ones\"", error ? strerror(error) : "queue overflow");
	hash_cache_closes_lost(ps->d->hashes);
	if (!kcache_sees_writes(ps->d->kc))
		kcache_forget_all(ps->d->kc);
}

/* Read one batch (at most size bytes) and handle it.
 * True when the queue was empty: the read came back short or had nothing
 * (a close-write event is bare metadata, so a short read left none). */
static bool read_batch(struct gk_prescan *ps, char *buf, size_t size)
{
	ssize_t len, got;
	bool lost = false;
	/* the event the read failed on is gone (EINTR too: the group does not
	 * block, so only its open could be interrupted) */
	while ((len = read(ps->group_fd, buf, size)) < 0 && errno != EAGAIN) {
		closes_lost(ps, errno, &lost);
		if (errno != EINTR)
			break;
	}
	if (len <= 0)
		return true;
	got = len;
	atomic_fetch_add(&ps->progress.bytes_read, (uint64_t)got);
	const struct fanotify_event_metadata *m = (const void *)buf;
	for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
		if (m->fd >= 0 && (m->mask & FAN_CLOSE_WRITE)) {
			atomic_store(&ps->progress.file_fd, m->fd);   /* reader_held */
			on_close_write(ps, m->fd, m->pid);   /* takes the fd */
			atomic_store(&ps->progress.file_fd, -1);
		} else if (m->fd >= 0)
			close(m->fd);
		else if (m->mask & FAN_Q_OVERFLOW)
			closes_lost(ps, 0, &lost);
		else if (m->mask & FAN_CLOSE_WRITE)   /* FAN_REPORT_FD_ERROR: -errno */
			closes_lost(ps, -m->fd, &lost);
		atomic_fetch_add(&ps->progress.bytes_handled, m->event_len);
	}
	atomic_fetch_add(&ps->progress.bytes_handled, (uint64_t)len);   /* a partial record: none */
	return (size_t)got + sizeof(struct fanotify_event_metadata) <= size;
}

/* Only this thread reads the group (prescan_before_miss only looks). */
static void read_events(struct gk_prescan *ps)
{
	char buf[PRESCAN_READ_EVENTS * sizeof(struct fanotify_event_metadata)]
		__attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	bool drained;
	do {
		atomic_fetch_add(&ps->progress.batches_begun, 1);
		drained = read_batch(ps, buf, sizeof(buf));
		atomic_fetch_add(&ps->progress.batches_done, 1);
	} while (!drained);
}

/* A group replaced by a policy change is closed off this thread: its
 * teardown may wait for execs that only the event threads answer. */
static bool take_wakeup(struct gk_prescan *ps)
{
	uint64_t n;
	(void)!read(ps->wake_fd, &n, sizeof(n));
	pthread_mutex_lock(&ps->lock);
	bool stop = ps->stopping;
	int fresh = ps->new_group_fd;
	ps->new_group_fd = -1;
	pthread_mutex_unlock(&ps->lock);
	if (fresh >= 0) {
		int old = atomic_exchange(&ps->group_fd, fresh);
		atomic_fetch_add(&ps->progress.group_gen, 1);   /* before the close: see mark_now */
		fan_close_async(old);
	}
	return stop;
}

static void *reader_main(void *arg)
{
	struct gk_prescan *ps = arg;
	pthread_setname_np(pthread_self(), "gk-prescan-rd");
	atomic_store(&ps->progress.reader_tid, (int)syscall(SYS_gettid));
	for (;;) {
		struct pollfd p[2] = { { .fd = ps->group_fd, .events = POLLIN },
				       { .fd = ps->wake_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[0].revents & POLLIN)
			read_events(ps);
		if ((p[1].revents & POLLIN) && take_wakeup(ps))
			return NULL;
	}
}

static void wait_until_settled(int fd)
{
	struct file_id id;
	for (int i = 0; i < SETTLE_POLLS && file_id_of_fd(fd, &id) == 0 && !id.settled; i++)
		usleep(SETTLE_POLL_US);
}

static void scan_one(struct gk_prescan *ps, int fd, pid_t pid, bool by_dpkg)
{
	struct gk_daemon *d = ps->d;
	struct judgement j;
	char exe[4096];
	uint64_t ticket = kcache_arm(d->kc, fd, false);
	/* The close that brought this job is queued before the writer's access
	 * is put back (a filesystem's flush may come in between): a moment
	 * later the file is free of it, and a verdict on it may be cached. */
	for (int i = 0; i < ARM_RETRIES && kcache_ticket_refused(ticket); i++) {
		usleep(ARM_RETRY_US);
		ticket = kcache_arm(d->kc, fd, false);
	}
	if (!kcache_ticket_taken(ticket))
		wait_until_settled(fd);
	judge_begin(d, fd, &j);
	j.lease_ticket = ticket;
	/* A digest in memory may have been read before this lease, and a
	 * writer's mapping may have changed the content since, with no ctime
	 * moved and its close still queued behind a held close reader. The
	 * close that brought this job cleared it in the usual case: reading
	 * anew costs nothing then. */
	j.stale_digest = true;
	judge_fully(d, fd, &j, NULL);
	if (j.have_id) {
		pthread_mutex_lock(&ps->judged_lock);
		*judged_entry(ps, j.id.dev, j.id.ino) = (struct prejudged){ .id = j.id, .used = true };
		pthread_mutex_unlock(&ps->judged_lock);
		if (hash_cache_keeps(d->hashes, &j.id))   /* before the verdict: see its first exec */
			kcache_watch_first_exec(d->kc, fd);
	}
	/* Unpacked by dpkg, its package not indexed yet: a deny cached now
	 * would refuse the postinst's exec in the kernel, before the daemon
	 * could apply dpkg's pending changes. */
	if (j.decision.verdict != GK_VERDICT_DENY || !by_dpkg)
		judge_cache_in_kernel(d, fd, &j);
	kcache_disarm(d->kc, fd, ticket, false);
	atomic_fetch_add(&d->stats.prescans, 1);
	gk_pid_exe(pid, exe, sizeof(exe));
	/* Recorded as an exec of it would be answered: in monitor mode an
	 * allow that would have been a deny, as events.c records them. */
	bool would_deny = j.monitor && j.decision.verdict == GK_VERDICT_DENY;
	struct db_audit a = { .time_us = gk_now_us(), .pid = pid, .exe = exe, .path = j.path,
			      .sha256 = j.have_sha ? j.sha256 : NULL,
			      .verdict = would_deny ? GK_VERDICT_ALLOW : j.decision.verdict,
			      .source = j.decision.source, .detail = j.decision.detail,
			      .mode = j.monitor ? GK_MODE_MONITOR : GK_MODE_ENFORCE,
			      .would_deny = would_deny, .verdict_for_now = j.verdict_for_now };
	audit_submit(d, &a, AUDIT_PRESCAN);
}

static void *worker_main(void *arg)
{
	struct gk_prescan *ps = arg;
	pthread_setname_np(pthread_self(), "gk-prescan");
	pthread_mutex_lock(&ps->lock);
	for (;;) {
		while (!ps->len && !ps->stopping)
			pthread_cond_wait(&ps->cond, &ps->lock);
		if (ps->stopping)
			break;   /* queued files are judged on their first exec instead */
		struct pending *e = &ps->entries[ps->fifo[ps->head]];
		ps->head = (ps->head + 1) % PENDING_MAX;
		ps->len--;
		e->state = P_RUNNING;
		int fd = e->fd;
		pid_t pid = e->pid;
		bool by_dpkg = e->by_dpkg;
		e->fd = -1;
		pthread_mutex_unlock(&ps->lock);
		scan_one(ps, fd, pid, by_dpkg);
		close(fd);
		pthread_mutex_lock(&ps->lock);
		if (e->next_fd >= 0) {      /* closed again while we scanned: once more */
			e->fd = e->next_fd;
			e->next_fd = -1;
			e->state = P_QUEUED;
			ps->fifo[(ps->head + ps->len++) % PENDING_MAX] = (int)(e - ps->entries);
		} else {
			e->state = P_FREE;
		}
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

/* A close that happened before this exec began is already queued on the
 * group: it must be handled before deciding, so a miss never trusts a
 * cached hash of content that a shared mapping has since rewritten
 * (prescan_wait.c). */
bool prescan_before_miss(struct gk_prescan *ps, const struct file_id *id, int64_t read_us)
{
	if (!ps)
		return true;
	note_miss(ps, id);
	return close_progress_before_miss(&ps->progress, ps->d, read_us);
}

struct gk_prescan *prescan_start(struct gk_daemon *d, int group_fd, unsigned workers)
{
	struct gk_prescan *ps = calloc(1, sizeof(*ps));
	if (!ps) {
		close(group_fd);
		return NULL;
	}
	ps->d = d;
	atomic_store(&ps->group_fd, group_fd);
	ps->new_group_fd = -1;
	pthread_mutex_init(&ps->lock, NULL);
	pthread_cond_init(&ps->cond, NULL);
	pthread_mutex_init(&ps->judged_lock, NULL);
	close_progress_init(&ps->progress, &ps->group_fd);
	ps->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ps->workers = calloc(workers, sizeof(*ps->workers));
	if (group_fd < 0 || ps->wake_fd < 0 || !ps->workers)
		goto fail;
	for (; ps->n_workers < workers; ps->n_workers++)
		if (pthread_create(&ps->workers[ps->n_workers], NULL, worker_main, ps) != 0)
			goto fail;
	if (pthread_create(&ps->reader, NULL, reader_main, ps) != 0)
		goto fail;
	ps->reader_started = true;
	return ps;
fail:
	prescan_stop(ps);
	return NULL;
}

void prescan_swap_group(struct gk_prescan *ps, int fd)
{
	pthread_mutex_lock(&ps->lock);
	if (ps->new_group_fd >= 0)
		close(ps->new_group_fd);
	ps->new_group_fd = fd;
	pthread_mutex_unlock(&ps->lock);
	uint64_t one = 1;
	(void)!write(ps->wake_fd, &one, sizeof(one));
}

void prescan_stop(struct gk_prescan *ps)
{
	if (!ps)
		return;
	pthread_mutex_lock(&ps->lock);
	ps->stopping = true;
	pthread_cond_broadcast(&ps->cond);
	pthread_mutex_unlock(&ps->lock);
	uint64_t one = 1;
	if (ps->wake_fd >= 0)
		(void)!write(ps->wake_fd, &one, sizeof(one));
	if (ps->reader_started)
		pthread_join(ps->reader, NULL);
	for (unsigned i = 0; i < ps->n_workers; i++)
		pthread_join(ps->workers[i], NULL);
	free(ps->workers);
	for (int i = 0; i < PENDING_MAX; i++) {
		struct pending *e = &ps->entries[i];
		if (e->state != P_FREE && e->fd >= 0)
			close(e->fd);
		if (e->state != P_FREE && e->next_fd >= 0)
			close(e->next_fd);
	}
	if (ps->new_group_fd >= 0)
		close(ps->new_group_fd);
	if (ps->group_fd >= 0)
		close(ps->group_fd);
	if (ps->wake_fd >= 0)
		close(ps->wake_fd);
	pthread_mutex_destroy(&ps->lock);
	close_progress_destroy(&ps->progress);
	pthread_cond_destroy(&ps->cond);
	pthread_mutex_destroy(&ps->judged_lock);
	free(ps);
}
