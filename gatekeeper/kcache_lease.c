/* Read leases make fanotify mode's allow cache safe against writes that
 * raise no FS_MODIFY (a shared writable mapping). While the daemon holds a
 * read lease on an allowed file, anyone who opens it for writing or
 * truncates it blocks in the kernel until the daemon releases the lease;
 * the daemon first drops the file's ignore mark, so the next exec is judged
 * again. A file that has a writer cannot get a read lease (EAGAIN): it gets
 * no ignore mark either. Exec and read-only opens never break a read lease.
 * The table is bounded (one descriptor per entry); the oldest entries are
 * dropped first, and entries of deleted files are swept out as new ones come
 * in, so a leased descriptor never keeps a deleted file's storage for long.
 * In every mode, an exec being judged holds a lease here from before its
 * read to its answer (judging): a writer that comes waits until then, so
 * the exec meets it (ETXTBSY) and never runs content written after the
 * read; nothing lets such a lease go early but the kernel's own
 * lease-break-time. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/kcache_lease.h"
#include "gatekeeper/util.h"

struct lease_entry {
	bool used;
	bool marked;                 /* false: armed before a read (kcache_leases_arm) */
	/* Exec judgements that hold writers out until their reply: while any
	 * does, a break, eviction or flush only retires the entry (its mark
	 * goes, no ticket stands) and the last one's disarm gives the lease
	 * back. Another exec may join a retired lease, unless a writer broke
	 * it (broken): that writer waits for the ones already judging only. */
	unsigned judging;
	bool retired, broken;
	bool queued;                 /* in the FIFO, counted against the limit */
	int64_t since_us;            /* CLOCK_MONOTONIC when it was taken */
	dev_t dev;
	ino_t ino;
	uint64_t seq;
};

struct kcache_leases {
	pthread_mutex_t lock;
	int signo;
	size_t limit, count, retired;
	size_t unqueued;             /* exec-only leases, not retired: not in the FIFO */
	uint64_t grants;             /* queued ones: the sweep's clock */
	int64_t grace_us;            /* kcache_leases_set_grace */
	int max_fd;                  /* by_fd has max_fd slots */
	int fd_hwm;                  /* no fd at or above it has ever been leased */
	struct lease_entry *by_fd;
	struct { int fd; uint64_t seq; } *order;  /* FIFO of grants, oldest first */
	int *by_inode;               /* open addressing: fd + 1, 0 empty, -1 deleted */
	size_t inode_cap, deleted;
	size_t head, len, cap;
	int sweep_fd;                /* where the next sweep for deleted files starts */
	uint64_t seq, breaks, evictions, refused;
};

#define SWEEP_EVERY 64           /* grants between sweeps */
#define SWEEP_SPAN 256           /* table slots looked at per sweep */

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct kcache_leases *kcache_leases_new(int signo, size_t limit)
{
	struct kcache_leases *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->signo = signo;
	t->limit = limit;
	/* Leased fds share the number space with in-flight event fds (at most
	 * 4096) and pre-scan fds (at most 2048): room for all. */
	t->max_fd = (int)(limit * 2 + 8192);
	t->cap = limit + 1;
	t->by_fd = calloc((size_t)t->max_fd, sizeof(*t->by_fd));
	t->order = calloc(t->cap, sizeof(*t->order));
	for (t->inode_cap = 1024; t->inode_cap < limit * 2; t->inode_cap *= 2)
		;
	t->by_inode = calloc(t->inode_cap, sizeof(*t->by_inode));
	if (!t->by_fd || !t->order || !t->by_inode) {
		kcache_leases_free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

/* The index slot of an inode's lease, or of where it would go (-1: full). */
static long inode_slot(struct kcache_leases *t, dev_t dev, ino_t ino, bool for_insert)
{
	size_t h = gk_inode_hash(dev, ino);
	long first_free = -1;
	for (size_t n = 0; n < t->inode_cap; n++) {
		size_t i = (h + n) & (t->inode_cap - 1);
		int v = t->by_inode[i];
		if (v == 0)
			return for_insert && first_free >= 0 ? first_free : (long)i;
		if (v < 0) {
			if (first_free < 0)
				first_free = (long)i;
			continue;
		}
		if (t->by_fd[v - 1].dev == dev && t->by_fd[v - 1].ino == ino)
			return (long)i;
	}
	return for_insert ? first_free : -1;
}

/* Caller holds the lock. The mark goes first, then the lease. */
static void drop(struct kcache_leases *t, int fd, int group_fd, uint64_t mask)
{
	long slot = inode_slot(t, t->by_fd[fd].dev, t->by_fd[fd].ino, false);
	if (slot >= 0 && t->by_inode[slot] == fd + 1) {
		t->by_inode[slot] = -1;
		t->deleted++;
	}
	if (t->by_fd[fd].marked)
		fanotify_mark(group_fd, FAN_MARK_REMOVE | FAN_MARK_IGNORE, mask, fd, NULL);
	fcntl(fd, F_SETLEASE, F_UNLCK);
	close(fd);
	if (t->by_fd[fd].retired)
		t->retired--;
	else if (!t->by_fd[fd].queued)
		t->unqueued--;
	t->by_fd[fd] = (struct lease_entry){ 0 };
	t->count--;
}

/* Broken, whether or not the signal thread has got to its signal yet (it
 * may be held up): a lease being broken, or taken back by the kernel,
 * reads F_UNLCK. Caller holds the lock. */
static bool entry_broken(struct kcache_leases *t, int fd)
{
	if (!t->by_fd[fd].broken && fcntl(fd, F_GETLEASE) != F_RDLCK)
		t->by_fd[fd].broken = true;
	return t->by_fd[fd].broken;
}

/* What every reason to give a lease up does (a break, eviction, a deleted
 * file, a flush): drop it, or, while an exec judgement holds writers out
 * with it, retire it. A writer waiting on it would otherwise change the
 * content between the judgement's read and the exec's own refusal of
 * writers (deny_write_access), and the exec would run what nobody judged.
 * Caller holds the lock. */
static void let_go(struct kcache_leases *t, int fd, int group_fd, uint64_t mask)
{
	struct lease_entry *e = &t->by_fd[fd];
	if (!e->judging) {
		drop(t, fd, group_fd, mask);
		return;
	}
	if (e->marked)
		fanotify_mark(group_fd, FAN_MARK_REMOVE | FAN_MARK_IGNORE, mask, fd, NULL);
	e->marked = false;
	if (!e->retired) {
		t->retired++;
		if (!e->queued)
			t->unqueued--;
	}
	e->retired = true;
}

static void evict_oldest(struct kcache_leases *t, int group_fd, uint64_t mask)
{
	while (t->len && t->count - t->retired - t->unqueued > t->limit) {
		int fd = t->order[t->head].fd;
		uint64_t seq = t->order[t->head].seq;
		t->head = (t->head + 1) % t->cap;
		t->len--;
		if (t->by_fd[fd].used && t->by_fd[fd].seq == seq && !t->by_fd[fd].retired) {
			let_go(t, fd, group_fd, mask);
			t->evictions++;
		}
	}
}

/* Entries whose lease was dropped out of turn (swept, forgotten, broken)
 * or retired stay in the FIFO until they reach its head. The FIFO has room for one more
 * than the limit of live leases, so once it is full most of it is stale:
 * keep the live entries, in order, and make room. Caller holds the lock. */
static void compact_order(struct kcache_leases *t)
{
	size_t kept = 0;
	for (size_t n = 0; n < t->len; n++) {
		size_t i = (t->head + n) % t->cap;
		int fd = t->order[i].fd;
		if (t->by_fd[fd].used && t->by_fd[fd].seq == t->order[i].seq &&
		    !t->by_fd[fd].retired)
			t->order[(t->head + kept++) % t->cap] = t->order[i];
	}
	t->len = kept;
}

static void rebuild_index(struct kcache_leases *t)
{
	memset(t->by_inode, 0, t->inode_cap * sizeof(*t->by_inode));
	t->deleted = 0;
	for (int fd = 0; fd < t->fd_hwm; fd++) {
		if (!t->by_fd[fd].used)
			continue;
		long slot = inode_slot(t, t->by_fd[fd].dev, t->by_fd[fd].ino, true);
		if (slot >= 0)
			t->by_inode[slot] = fd + 1;
	}
}

/* Deleted index slots lengthen every probe: rebuild once they pile up. */
static void reindex(struct kcache_leases *t)
{
	if (t->deleted >= t->inode_cap / 4)
		rebuild_index(t);
}

/* A deleted file can never be executed again; its lease would only keep
 * its storage allocated. Caller holds the lock. */
static void sweep_deleted(struct kcache_leases *t, int group_fd, uint64_t mask)
{
	for (int n = 0; n < SWEEP_SPAN; n++) {
		int fd = t->sweep_fd;
		t->sweep_fd = (t->sweep_fd + 1) % t->max_fd;
		struct stat st;
		if (t->by_fd[fd].used && !t->by_fd[fd].retired && fstat(fd, &st) == 0 &&
		    st.st_nlink == 0)
			let_go(t, fd, group_fd, mask);
	}
}

/* The lease of the inode: its fd, or -1 with none. Caller holds the lock. */
static int leased_fd(struct kcache_leases *t, dev_t dev, ino_t ino)
{
	long held = inode_slot(t, dev, ino, false);
	return held >= 0 && t->by_inode[held] > 0 ? t->by_inode[held] - 1 : -1;
}

/* The lease kcache_leases_arm gave ticket, if it still stands: its fd, or -1.
 * Caller holds the lock. */
static int ticket_fd(struct kcache_leases *t, dev_t dev, ino_t ino, uint64_t ticket)
{
	int fd = leased_fd(t, dev, ino);
	return fd >= 0 && t->by_fd[fd].seq == ticket ? fd : -1;
}

bool kcache_file_as_judged(int fd, const struct stat *judged)
{
	struct stat now;
	return fstat(fd, &now) == 0 && now.st_size == judged->st_size &&
	       now.st_ctim.tv_sec == judged->st_ctim.tv_sec &&
	       now.st_ctim.tv_nsec == judged->st_ctim.tv_nsec;
}

static int add_mark(int fd, int group_fd, uint64_t mask)
{
	return fanotify_mark(group_fd, FAN_MARK_ADD | FAN_MARK_IGNORE | FAN_MARK_EVICTABLE, mask,
			     fd, NULL);
}

/* Into the FIFO, against the limit. Caller holds the lock. */
static void enqueue(struct kcache_leases *t, int fd, int group_fd, uint64_t mask)
{
	struct lease_entry *e = &t->by_fd[fd];
	e->queued = true;
	if (t->len == t->cap)
		compact_order(t);
	t->order[(t->head + t->len) % t->cap].fd = fd;
	t->order[(t->head + t->len) % t->cap].seq = e->seq;
	t->len++;
	evict_oldest(t, group_fd, mask);
	if (++t->grants % SWEEP_EVERY == 0)
		sweep_deleted(t, group_fd, mask);
}

/* Lease a duplicate of event_fd and enter it, marked or not. Returns its
 * fd, -1 if refused. Caller holds the lock. The duplicate shares event_fd's
 * open file description, and with it the lease's F_SETSIG signal: no other
 * process may ever hold that description (a scanner process gets the file
 * opened again, scanner/scand_io.c), or it could choose the signal that a
 * lease break sends this daemon. */
static int lease_new(struct kcache_leases *t, int event_fd, dev_t dev, ino_t ino, int group_fd,
		     uint64_t mask, const struct stat *judged, unsigned judging)
{
	bool mark = judged;
	int fd = fcntl(event_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* No F_SETOWN: F_SETLEASE makes our thread group the owner that the
	 * break is signalled to (Linux 4.19 on). */
	if (fd >= t->max_fd || fcntl(fd, F_SETSIG, t->signo) < 0 ||
	    fcntl(fd, F_SETLEASE, F_RDLCK) < 0) {
		int e = fd >= t->max_fd ? EMFILE : errno;
		t->refused++;             /* EAGAIN: someone has it open for writing */
		close(fd);
		errno = e;
		return -1;
	}
	/* Leased: any writer from now on waits for us, so the mark is safe if
	 * none came between the read and the lease (it moved the ctime). */
	if (mark && (!kcache_file_as_judged(fd, judged) || add_mark(fd, group_fd, mask) < 0)) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		close(fd);
		return -1;
	}
	/* judging from the start: the eviction and sweep below retire it then */
	t->by_fd[fd] = (struct lease_entry){ .used = true, .marked = mark, .judging = judging,
					     .since_us = mono_us(), .dev = dev, .ino = ino,
					     .seq = ++t->seq };
	if (fd >= t->fd_hwm)
		t->fd_hwm = fd + 1;
	t->count++;
	reindex(t);
	long slot = inode_slot(t, dev, ino, true);
	if (slot >= 0)
		t->by_inode[slot] = fd + 1;
	/* An exec's own lease lives only until its answer (the slots bound
	 * them): it joins the FIFO and the limit only once it caches an allow. */
	if (judging && !mark) {
		t->unqueued++;
		return fd;
	}
	enqueue(t, fd, group_fd, mask);
	if (!t->by_fd[fd].used)
		errno = ENOSPC;   /* evicted at once: not a writer */
	return t->by_fd[fd].used ? fd : -1;
}

int kcache_leases_hold(struct kcache_leases *t, int event_fd, const struct stat *judged,
		       int group_fd, uint64_t mask, uint64_t ticket)
{
	dev_t dev = judged->st_dev;
	ino_t ino = judged->st_ino;
	pthread_mutex_lock(&t->lock);
	int fd = ticket ? ticket_fd(t, dev, ino, ticket) : leased_fd(t, dev, ino), rc = 0;
	if ((ticket && fd < 0) || (fd >= 0 && t->by_fd[fd].retired))
		rc = -1;   /* a writer broke the lease taken before the read */
	else if (fd < 0)
		rc = lease_new(t, event_fd, dev, ino, group_fd, mask, judged, 0) < 0 ? -1 : 0;
	else if (!t->by_fd[fd].marked && kcache_file_as_judged(fd, judged) &&
		 add_mark(fd, group_fd, mask) == 0) {
		t->by_fd[fd].marked = true;
		if (!t->by_fd[fd].queued) {   /* an exec's lease that now caches an allow */
			t->unqueued--;
			enqueue(t, fd, group_fd, mask);
		}
	}
	else if (!t->by_fd[fd].marked)
		rc = -1;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

uint64_t kcache_leases_arm(struct kcache_leases *t, int event_fd, dev_t dev, ino_t ino,
			   int group_fd, uint64_t mask, bool hold_writers, int *why)
{
	pthread_mutex_lock(&t->lock);
	int fd = leased_fd(t, dev, ino);
	*why = 0;
	/* Another exec joins a retired lease: a writer that broke it waits,
	 * and holds the exec to ETXTBSY (or it gave up, O_NONBLOCK). Not once
	 * the kernel may have taken it back, nor for a pre-scan. */
	if (fd >= 0 && t->by_fd[fd].retired &&
	    (!hold_writers || (entry_broken(t, fd) && mono_us() - t->by_fd[fd].since_us >= t->grace_us))) {
		fd = -1;
		*why = EAGAIN;
	} else if (fd < 0) {
		if ((fd = lease_new(t, event_fd, dev, ino, group_fd, mask, NULL, hold_writers)) < 0)
			*why = errno;
	} else if (hold_writers) {
		t->by_fd[fd].judging++;
	}
	uint64_t ticket = fd < 0 ? 0 : t->by_fd[fd].seq;
	pthread_mutex_unlock(&t->lock);
	return ticket;
}

bool kcache_leases_stand(struct kcache_leases *t, dev_t dev, ino_t ino, uint64_t ticket)
{
	pthread_mutex_lock(&t->lock);
	int fd = ticket_fd(t, dev, ino, ticket);
	bool stands = fd >= 0 && !t->by_fd[fd].retired;
	pthread_mutex_unlock(&t->lock);
	return stands;
}

bool kcache_leases_broken_since(struct kcache_leases *t, dev_t dev, ino_t ino, uint64_t ticket,
				int64_t *since_us)
{
	pthread_mutex_lock(&t->lock);
	int fd = ticket_fd(t, dev, ino, ticket);
	bool broken = fd >= 0 && entry_broken(t, fd);
	if (broken)
		*since_us = t->by_fd[fd].since_us;
	pthread_mutex_unlock(&t->lock);
	return broken;
}

void kcache_leases_set_grace(struct kcache_leases *t, int64_t grace_us)
{
	pthread_mutex_lock(&t->lock);
	t->grace_us = grace_us;
	pthread_mutex_unlock(&t->lock);
}

void kcache_leases_disarm(struct kcache_leases *t, dev_t dev, ino_t ino, uint64_t ticket,
			  int group_fd, uint64_t mask, bool hold_writers)
{
	pthread_mutex_lock(&t->lock);
	int fd = ticket_fd(t, dev, ino, ticket);
	struct lease_entry *e = fd >= 0 ? &t->by_fd[fd] : NULL;
	if (e && hold_writers && e->judging)
		e->judging--;
	if (e && !e->judging && (!e->marked || e->retired))
		drop(t, fd, group_fd, mask);
	pthread_mutex_unlock(&t->lock);
}

void kcache_leases_broken(struct kcache_leases *t, int fd, int group_fd, uint64_t mask)
{
	pthread_mutex_lock(&t->lock);
	/* A lease still whole: the signal was for an fd number since reused. */
	if (fd < 0 || fd >= t->max_fd || !t->by_fd[fd].used || fcntl(fd, F_GETLEASE) == F_RDLCK)
		goto out;
	if (!t->by_fd[fd].retired) {
		let_go(t, fd, group_fd, mask);
		t->breaks++;
	}
	if (t->by_fd[fd].used)
		t->by_fd[fd].broken = true;   /* kept: a writer waits on it */
out:
	pthread_mutex_unlock(&t->lock);
}

/* The RT signal queue overflowed (SIGIO): find every lease being broken. */
void kcache_leases_broken_unknown(struct kcache_leases *t, int group_fd, uint64_t mask)
{
	pthread_mutex_lock(&t->lock);
	for (int fd = 0; fd < t->fd_hwm; fd++) {
		if (!t->by_fd[fd].used || t->by_fd[fd].broken || fcntl(fd, F_GETLEASE) == F_RDLCK)
			continue;
		if (!t->by_fd[fd].retired) {
			let_go(t, fd, group_fd, mask);
			t->breaks++;
		}
		if (t->by_fd[fd].used)
			t->by_fd[fd].broken = true;
	}
	pthread_mutex_unlock(&t->lock);
}

void kcache_leases_forget_inode(struct kcache_leases *t, dev_t dev, ino_t ino, int group_fd,
				uint64_t mask)
{
	pthread_mutex_lock(&t->lock);
	long slot = inode_slot(t, dev, ino, false);
	if (slot >= 0 && t->by_inode[slot] > 0 && !t->by_fd[t->by_inode[slot] - 1].retired)
		let_go(t, t->by_inode[slot] - 1, group_fd, mask);
	pthread_mutex_unlock(&t->lock);
}

/* Every rule change comes here: it looks only at the fds ever leased (the
 * lowest free numbers, so a few), and clears the index only if it holds
 * anything, rather than walk and wipe the whole tables each time. */
void kcache_leases_release_all(struct kcache_leases *t, int group_fd, uint64_t mask)
{
	pthread_mutex_lock(&t->lock);
	for (int fd = 0; fd < t->fd_hwm; fd++)
		if (t->by_fd[fd].used && !t->by_fd[fd].retired)
			let_go(t, fd, group_fd, mask);
	t->head = t->len = 0;
	if (t->deleted)
		rebuild_index(t);   /* keeps the retired leases' entries */
	pthread_mutex_unlock(&t->lock);
}

void kcache_leases_counters(struct kcache_leases *t, uint64_t *held, uint64_t *breaks,
			    uint64_t *refused)
{
	pthread_mutex_lock(&t->lock);
	*held = t->count;
	*breaks = t->breaks;
	*refused = t->refused;
	pthread_mutex_unlock(&t->lock);
}

void kcache_leases_free(struct kcache_leases *t)
{
	if (!t)
		return;
	if (t->by_fd)
		for (int fd = 0; fd < t->fd_hwm; fd++)
			if (t->by_fd[fd].used) {
				fcntl(fd, F_SETLEASE, F_UNLCK);
				close(fd);
			}
	free(t->by_fd);
	free(t->order);
	free(t->by_inode);
	free(t);
}
