/* The thread that reads the daemon's fanotify group and answers what memory
 * can decide (events.c), and nothing else.
 *
 * It waits in read(2) itself, not in poll(2) on a loop shared with signals
 * and the kernel cache's ring. Any work done between the kernel's wake-up
 * and the reply delays the exec that waits; on a machine whose scheduler
 * moves a woken task to the other CPU once its waker runs on for a few
 * microseconds (vCPU packing), a poll(2) and a second system call are
 * enough to make each exec cross CPUs twice, which costs more than the
 * whole decision. A blocked read wakes with the event in hand.
 *
 * The group is made blocking for that (the sentinel, which shares its file
 * description, sets O_NONBLOCK around its own rare reads). A kick, a signal
 * only this thread takes and whose handler does not restart the read, ends
 * the wait when the group is swapped or the daemon stops. A kick that lands
 * just before the read begins would be lost, so the kicker repeats it until
 * this thread says it has seen it.
 *
 * After a swap the old group drains beside the new one: both are polled and
 * read without blocking until the old one has nothing in flight (rare and
 * short). Only this thread closes groups, so a snapshot taken under the lock
 * stays valid for a whole turn of the loop. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "gatekeeper/gatekeeperd.h"

#define DRAIN_POLL_MS 20
#define NONBLOCKING_POLL_MS 1000
#define KICK_REPEAT_US 200
#define KICK_TRIES 25000                /* five seconds */

struct gk_reader {
	struct gk_daemon *d;
	pthread_t thread;
	atomic_bool stopping;
	atomic_uint kicks, kicks_seen;
	atomic_bool exited;
	pthread_mutex_t kick_lock;          /* one kicker at a time */
};

static void on_kick(int sig)
{
	(void)sig;
}

static void set_nonblocking(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !!(fl & O_NONBLOCK) != on)
		fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* The old group has nothing queued and nothing in flight: let it go. */
static void retire_drained(struct gk_daemon *d, struct fan_group *retired, bool readable)
{
	if (readable || atomic_load(&retired->inflight) > 0)
		return;
	pthread_rwlock_wrlock(&d->policy_lock);
	bool still = d->retired == retired;
	if (still)
		d->retired = NULL;
	pthread_rwlock_unlock(&d->policy_lock);
	if (!still)
		return;
	sentinel_drop_group(d->sentinel, retired->sentinel_id);
	fan_group_close_async(retired);
}

static void drain_beside(struct gk_daemon *d, struct fan_group *group, struct fan_group *retired)
{
	set_nonblocking(group->fd, true);
	set_nonblocking(retired->fd, true);
	struct pollfd p[2] = { { .fd = group->fd, .events = POLLIN },
			       { .fd = retired->fd, .events = POLLIN } };
	if (poll(p, 2, DRAIN_POLL_MS) < 0)
		return;                     /* a kick: look again */
	if (p[0].revents & POLLIN)
		events_read(d->events, group);
	if (p[1].revents & POLLIN)
		events_read(d->events, retired);
	retire_drained(d, retired, p[1].revents & POLLIN);
}

void reader_take_kicks(void)
{
	sigset_t kick;
	sigemptyset(&kick);
	sigaddset(&kick, READER_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
}

static void *reader_main(void *arg)
{
	struct gk_reader *r = arg;
	struct gk_daemon *d = r->d;
	pthread_setname_np(pthread_self(), "gk-reader");
	reader_take_kicks();
	struct fan_group *adopted = NULL;
	while (!atomic_load(&r->stopping)) {
		atomic_store(&r->kicks_seen, atomic_load(&r->kicks));
		pthread_rwlock_rdlock(&d->policy_lock);
		struct fan_group *group = d->group, *retired = d->retired;
		pthread_rwlock_unlock(&d->policy_lock);
		if (retired) {
			adopted = NULL;
			drain_beside(d, group, retired);
			continue;
		}
		if (adopted != group) {
			set_nonblocking(group->fd, false);
			adopted = group;
		}
		/* EAGAIN: the sentinel has the group non-blocking for a moment. */
		if (events_read(d->events, group) == EAGAIN) {
			struct pollfd p = { .fd = group->fd, .events = POLLIN };
			poll(&p, 1, NONBLOCKING_POLL_MS);
		}
	}
	atomic_store(&r->exited, true);
	return NULL;
}

/* Until the reader has come round since now (or has ended). */
static void kick_until_seen(struct gk_reader *r)
{
	pthread_mutex_lock(&r->kick_lock);
	unsigned want = atomic_fetch_add(&r->kicks, 1) + 1;
	for (int i = 0; i < KICK_TRIES && atomic_load(&r->kicks_seen) != want &&
			!atomic_load(&r->exited); i++) {
		pthread_kill(r->thread, READER_KICK_SIGNAL);
		nanosleep(&(struct timespec){ .tv_nsec = KICK_REPEAT_US * 1000 }, NULL);
	}
	pthread_mutex_unlock(&r->kick_lock);
}

struct gk_reader *reader_start(struct gk_daemon *d)
{
	struct gk_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->d = d;
	pthread_mutex_init(&r->kick_lock, NULL);
	struct sigaction sa = { .sa_handler = on_kick };   /* no SA_RESTART: the read ends */
	sigemptyset(&sa.sa_mask);
	if (sigaction(READER_KICK_SIGNAL, &sa, NULL) < 0 ||
	    pthread_create(&r->thread, NULL, reader_main, r) != 0) {
		pthread_mutex_destroy(&r->kick_lock);
		free(r);
		return NULL;
	}
	return r;
}

void reader_kick(struct gk_reader *r)
{
	if (r && !pthread_equal(pthread_self(), r->thread))
		kick_until_seen(r);
}

void reader_stop(struct gk_reader *r)
{
	if (!r)
		return;
	atomic_store(&r->stopping, true);
	kick_until_seen(r);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->kick_lock);
	free(r);
}
