/* A miss waits for the closes queued before its exec (prescan_before_miss,
 * gatekeeperd.h): a write through a shared mapping need not move the
 * file's ctime, so only its close tells that a digest kept may be stale.
 * The close reader (prescan.c) reads them; a miss only looks, and never
 * reads the group itself: that read opens each closed file, which a write
 * lease can hold up for as long as it likes. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "gatekeeper/prescan_impl.h"

/* A look every MISS_LOOK_US. MISS_LOOKS looks (about 2 ms) for a reader
 * that does nothing and is held (reader_held), and for a long
 * queue (more than MISS_WAIT_MAX_EVENTS: a flood or a backlog that waiting
 * would not see through); up to MISS_WAIT_MAX_US (or a quarter of the
 * decision timeout) for a few closes and a reader that works, waits for a
 * CPU or sleeps on our own locks (a busy host). */
#define MISS_LOOKS 20
#define MISS_LOOK_US 100
#define HELD_CHECK_LOOKS 10   /* a reader not held is asked again after these */
#define MISS_WAIT_MAX_US 30000
#define MISS_WAIT_MAX_EVENTS (2 * PRESCAN_READ_EVENTS)
#define EVENT_BYTES sizeof(struct fanotify_event_metadata)

void close_progress_init(struct close_progress *cp, atomic_int *group_fd)
{
	cp->group_fd = group_fd;
	atomic_store(&cp->file_fd, -1);
	pthread_mutex_init(&cp->last_lock, NULL);
}

void close_progress_destroy(struct close_progress *cp)
{
	pthread_mutex_destroy(&cp->last_lock);
}

/* Every close queued so far is handled: none is queued (poll, which opens
 * no file), and the reader holds none read but not handled. In that order:
 * a batch the reader took before the poll is not done until handled. Not
 * across a group replaced meanwhile: the number polled may be reused. */
static bool all_handled(struct close_progress *cp)
{
	uint64_t gen = atomic_load(&cp->group_gen);
	struct pollfd p = { .fd = atomic_load(cp->group_fd), .events = POLLIN };
	return poll(&p, 1, 0) == 0 &&
	       atomic_load(&cp->batches_done) == atomic_load(&cp->batches_begun) &&
	       atomic_load(&cp->group_gen) == gen;
}

/* Bytes queued (FIONREAD, which opens no file), then the batch under way,
 * then bytes read: in that order a batch read meanwhile counts at least
 * once. A batch begun and not done may hold events off the queue and not
 * yet in bytes_read: one whole batch more counts them. False when the
 * group was replaced meanwhile (its descriptor may be closed by now). */
static bool mark_now(struct close_progress *cp, struct closes_mark *m)
{
	int queued = 0;
	m->gen = atomic_load(&cp->group_gen);
	m->taken_us = gk_mono_us();
	if (ioctl(atomic_load(cp->group_fd), FIONREAD, &queued) < 0 || queued < 0)
		return false;
	m->batch = atomic_load(&cp->batches_begun);
	bool in_hand = m->batch != atomic_load(&cp->batches_done);
	m->bytes = atomic_load(&cp->bytes_read) + (uint64_t)queued +
		   (in_hand ? PRESCAN_READ_EVENTS * EVENT_BYTES : 0);
	return atomic_load(&cp->group_gen) == m->gen;
}

/* The counts first, then the group: counts of one group only. Or the
 * whole queue: a batch counted twice, or a group replaced. */
static bool handled_to(struct close_progress *cp, const struct closes_mark *m)
{
	bool reached = atomic_load(&cp->batches_done) >= m->batch &&
		       atomic_load(&cp->bytes_handled) >= m->bytes;
	return (reached && atomic_load(&cp->group_gen) == m->gen) || all_handled(cp);
}

/* Held: asleep in a call on the group (its read opens each closed file,
 * which a lease holder delays) or on the closed file in hand (a slow device
 * can keep a read, a stacked filesystem a close). Not held: running or
 * waiting for a CPU ("running"), in a page fault (-1), or asleep on
 * anything else: one of the daemon's own locks or its store, whose holder
 * runs, however short of CPU it is. Not knowing: held. */
static bool reader_held(struct close_progress *cp)
{
	char path[64], call[128], *end;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", atomic_load(&cp->reader_tid));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	ssize_t n = read(fd, call, sizeof(call) - 1);
	close(fd);
	if (n <= 0)
		return true;
	call[n] = '\0';
	long nr = strtol(call, &end, 10);
	if (end == call || nr < 0)
		return false;
	long arg0 = (long)strtoul(end, NULL, 16);   /* " 0x..." */
	int file = atomic_load(&cp->file_fd);
	return arg0 == atomic_load(cp->group_fd) || (file >= 0 && arg0 == file);
}

static int64_t wait_budget_us(const struct gk_daemon *d)
{
	int64_t quarter = d->shared ? atomic_load(&d->shared->timeout_us) / 4 : 0;
	return quarter > 0 && quarter < MISS_WAIT_MAX_US ? quarter : MISS_WAIT_MAX_US;
}

static bool wait_for(struct close_progress *cp, const struct closes_mark *mark, int64_t budget_us,
		     int *looks)
{
	uint64_t seen = atomic_load(&cp->bytes_handled);
	if (mark->bytes > seen + MISS_WAIT_MAX_EVENTS * EVENT_BYTES && budget_us > MISS_LOOKS * MISS_LOOK_US)
		budget_us = MISS_LOOKS * MISS_LOOK_US;
	int idle = 0;
	while (gk_mono_us() < mark->taken_us + budget_us) {
		usleep(MISS_LOOK_US);
		++*looks;
		if (handled_to(cp, mark))
			return true;
		uint64_t now = atomic_load(&cp->bytes_handled);
		idle = now == seen ? idle + 1 : 0;
		seen = now;
		/* again after the state: it may have just gone back to waiting,
		 * its queue empty */
		if (idle >= MISS_LOOKS && (idle - MISS_LOOKS) % HELD_CHECK_LOOKS == 0 &&
		    reader_held(cp))
			return handled_to(cp, mark);
	}
	return handled_to(cp, mark);   /* this thread may have slept past the end */
}

bool close_progress_before_miss(struct close_progress *cp, struct gk_daemon *d, int64_t read_us)
{
	struct closes_mark mark;
	if (all_handled(cp))
		return true;
	pthread_mutex_lock(&cp->last_lock);
	mark = cp->last;
	pthread_mutex_unlock(&cp->last_lock);
	struct gk_stats *stats = &d->stats;
	bool handled = false;
	int looks = 0;
	/* One wait per read of execs: the rest of its batch only looks. */
	if (mark.taken_us && read_us <= mark.taken_us) {
		handled = handled_to(cp, &mark);
	} else if (mark_now(cp, &mark)) {
		atomic_fetch_add(&stats->miss_close_waits, 1);
		handled = wait_for(cp, &mark, wait_budget_us(d), &looks);
		pthread_mutex_lock(&cp->last_lock);
		if (mark.taken_us > cp->last.taken_us)
			cp->last = mark;
		pthread_mutex_unlock(&cp->last_lock);
	} else {   /* no mark: the whole queue, for MISS_LOOKS looks */
		atomic_fetch_add(&stats->miss_close_waits, 1);
		while (looks < MISS_LOOKS && !handled) {
			usleep(MISS_LOOK_US);
			looks++;
			handled = all_handled(cp);
		}
	}
	if (looks > MISS_LOOKS)
		atomic_fetch_add(&stats->miss_close_waits_long, 1);
	if (!handled)
		atomic_fetch_add(&stats->miss_digests_rehashed, 1);
	return handled;
}
