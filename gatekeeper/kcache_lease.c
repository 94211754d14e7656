/* Read leases make fanotify mode's allow cache safe against writes that
 * raise no FS_MODIFY (a shared writable mapping). While the daemon holds a
 * read lease on an allowed file, anyone who opens it for writing or
 * truncates it blocks in the kernel until the daemon releases the lease;
 * the daemon first drops the file's ignore mark, so the next exec is judged
 * again. A file that has a writer cannot get a read lease (EAGAIN): it gets
 * no ignore mark either. Exec and read-only opens never break a read lease.
 * The table is bounded; the oldest entries are dropped first. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/kcache_lease.h"

struct lease_entry {
	bool used;
	dev_t dev;
	ino_t ino;
	uint64_t seq;
};

struct kcache_leases {
	pthread_mutex_t lock;
	int signo;
	size_t limit, count;
	int max_fd;                  /* by_fd has max_fd slots */
	struct lease_entry *by_fd;
	struct { int fd; uint64_t seq; } *order;  /* FIFO of grants, oldest first */
	size_t head, len, cap;
	uint64_t seq, breaks, evictions, refused;
};

struct kcache_leases *leases_new(int signo, size_t limit)
{
	struct kcache_leases *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->signo = signo;
	t->limit = limit;
	t->max_fd = (int)(limit * 2 + 4096);
	t->cap = limit + 1;
	t->by_fd = calloc((size_t)t->max_fd, sizeof(*t->by_fd));
	t->order = calloc(t->cap, sizeof(*t->order));
	if (!t->by_fd || !t->order) {
		leases_free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

/* Caller holds the lock. The mark goes first, then the lease. */
static void drop(struct kcache_leases *t, int fd, int group_fd, uint64_t mask)
{
	fanotify_mark(group_fd, FAN_MARK_REMOVE | FAN_MARK_IGNORE, mask, fd, NULL);
	fcntl(fd, F_SETLEASE, F_UNLCK);
	close(fd);
	t->by_fd[fd].used = false;
	t->count--;
}

static void evict_oldest(struct kcache_leases *t, int group_fd, uint64_t mask)
{
	while (t->len && t->count > t->limit) {
		int fd = t->order[t->head].fd;
		uint64_t seq = t->order[t->head].seq;
		t->head = (t->head + 1) % t->cap;
		t->len--;
		if (t->by_fd[fd].used && t->by_fd[fd].seq == seq) {
			drop(t, fd, group_fd, mask);
			t->evictions++;
		}
	}
}

int leases_hold(struct kcache_leases *t, int event_fd, int group_fd, uint64_t mask)
{
	struct stat st;
	int fd = fcntl(event_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	if (fd >= t->max_fd || fstat(fd, &st) < 0 || fcntl(fd, F_SETSIG, t->signo) < 0 ||
	    fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETLEASE, F_RDLCK) < 0) {
		t->refused++;             /* EAGAIN: someone has it open for writing */
		pthread_mutex_unlock(&t->lock);
		close(fd);
		return -1;
	}
	/* Leased: any writer from now on waits for us, so the mark is safe. */
	if (fanotify_mark(group_fd, FAN_MARK_ADD | FAN_MARK_IGNORE | FAN_MARK_EVICTABLE, mask, fd,
			  NULL) < 0) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		pthread_mutex_unlock(&t->lock);
		close(fd);
		return -1;
	}
	t->by_fd[fd] = (struct lease_entry){ .used = true, .dev = st.st_dev, .ino = st.st_ino,
					     .seq = ++t->seq };
	t->count++;
	if (t->len == t->cap)     /* only stale FIFO entries can fill it: compact */
		evict_oldest(t, group_fd, mask);
	t->order[(t->head + t->len) % t->cap].fd = fd;
	t->order[(t->head + t->len) % t->cap].seq = t->seq;
	t->len++;
	evict_oldest(t, group_fd, mask);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

void leases_broken(struct kcache_leases *t, int fd, int group_fd, uint64_t mask)
{
	pthread_mutex_lock(&t->lock);
	if (fd >= 0 && fd < t->max_fd && t->by_fd[fd].used) {
		drop(t, fd, group_fd, mask);
		t->breaks++;
	}
	pthread_mutex_unlock(&t->lock);
}

/* The RT signal queue overflowed (SIGIO): find every lease being broken. */
void leases_broken_unknown(struct kcache_leases *t, int group_fd, uint64_t mask)
{
	pthread_mutex_lock(&t->lock);
	for (int fd = 0; fd < t->max_fd; fd++) {
		if (t->by_fd[fd].used && fcntl(fd, F_GETLEASE) != F_RDLCK) {
			drop(t, fd, group_fd, mask);
			t->breaks++;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

void leases_forget_inode(struct kcache_leases *t, dev_t dev, ino_t ino, int group_fd, uint64_t mask)
{
	pthread_mutex_lock(&t->lock);
	for (int fd = 0; fd < t->max_fd; fd++)
		if (t->by_fd[fd].used && t->by_fd[fd].dev == dev && t->by_fd[fd].ino == ino)
			drop(t, fd, group_fd, mask);
	pthread_mutex_unlock(&t->lock);
}

void leases_release_all(struct kcache_leases *t, int group_fd, uint64_t mask)
{
	pthread_mutex_lock(&t->lock);
	for (int fd = 0; fd < t->max_fd; fd++)
		if (t->by_fd[fd].used)
			drop(t, fd, group_fd, mask);
	t->head = t->len = 0;
	pthread_mutex_unlock(&t->lock);
}

void leases_counters(struct kcache_leases *t, uint64_t *held, uint64_t *breaks, uint64_t *refused)
{
	pthread_mutex_lock(&t->lock);
	*held = t->count;
	*breaks = t->breaks;
	*refused = t->refused;
	pthread_mutex_unlock(&t->lock);
}

void leases_free(struct kcache_leases *t)
{
	if (!t)
		return;
	if (t->by_fd)
		for (int fd = 0; fd < t->max_fd; fd++)
			if (t->by_fd[fd].used) {
				fcntl(fd, F_SETLEASE, F_UNLCK);
				close(fd);
			}
	free(t->by_fd);
	free(t->order);
	free(t);
}
