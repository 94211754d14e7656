/* The thread that reads the remote permission groups: d->remote, and
 * d->remote_retired while it drains. They mark the filesystems a server
 * serves (FUSE, NFS, CIFS and the others of kcache_fstype_uncached).
 *
 * Why a thread of their own: reading an event opens its file for the
 * reader, and there that open is a request to the server. A hung NFS
 * server, or a FUSE server that stalls the daemon's opens on purpose (any
 * user's, where user_allow_other lets them mount one for all), would hold
 * the read, and every exec on the host would queue behind it, to be
 * refused at the deadline and then released when the watchdog restarts
 * the daemon. Here only the execs of remote filesystems wait.
 *
 * The same goes for what follows the read: every event goes to the
 * remote workers (events.c), never decided on this thread, and the
 * sentinel answers these groups' events but never reads them
 * (sentinel_add_group's answer_only). The systemd watchdog and the
 * sentinel's sign of life look at the local reader only.
 *
 * Unlike the local reader this one polls: the groups stay non-blocking and
 * an eventfd kick is never lost. Its latency is a server's anyway. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/fileless.h"
#include "gatekeeper/gatekeeperd.h"

#define DRAIN_POLL_MS 20
#define STOP_WAIT_MS 2000

struct gk_remote_reader {
	struct gk_daemon *d;
	pthread_t thread;
	int wake_fd;
	atomic_bool stopping;
};

unsigned remote_retired_count(const struct gk_daemon *d)
{
	unsigned n = 0;
	for (const struct fan_group *g = d->remote_retired; g; g = g->older)
		n++;
	return n;
}

/* An old group has nothing queued and nothing in flight: let it go. Only
 * this thread takes groups off the list; applies add at its head. */
static void retire_drained(struct gk_daemon *d, struct fan_group *retired, bool readable)
{
	if (readable || atomic_load(&retired->inflight) > 0)
		return;
	pthread_rwlock_wrlock(&d->policy_lock);
	struct fan_group **link = &d->remote_retired;
	while (*link && *link != retired)
		link = &(*link)->older;
	bool found = *link != NULL;
	if (found)
		*link = retired->older;
	pthread_rwlock_unlock(&d->policy_lock);
	if (!found)
		return;
	sentinel_drop_group(d->sentinel, retired->sentinel_id);
	fan_group_close_async(retired);
}

static void *remote_main(void *arg)
{
	struct gk_remote_reader *r = arg;
	struct gk_daemon *d = r->d;
	pthread_setname_np(pthread_self(), "gk-read-remote");
	reader_take_kicks();   /* a stop's ends a wait on a server that honours interrupts */
	while (!atomic_load(&r->stopping)) {
		struct fan_group *g[2 + REMOTE_RETIRED_MAX] = { NULL };   /* [1]: the current */
		struct pollfd p[2 + REMOTE_RETIRED_MAX];
		unsigned n = 2;
		pthread_rwlock_rdlock(&d->policy_lock);
		g[1] = d->remote;
		for (struct fan_group *old = d->remote_retired; old && n < 2 + REMOTE_RETIRED_MAX;
		     old = old->older)
			g[n++] = old;
		pthread_rwlock_unlock(&d->policy_lock);
		p[0] = (struct pollfd){ .fd = r->wake_fd, .events = POLLIN };
		for (unsigned i = 1; i < n; i++)
			p[i] = (struct pollfd){ .fd = g[i] ? g[i]->fd : -1, .events = POLLIN };
		if (poll(p, n, n > 2 ? DRAIN_POLL_MS : -1) < 0)
			continue;
		uint64_t kicks;
		if ((p[0].revents & POLLIN) && read(r->wake_fd, &kicks, sizeof(kicks)) < 0)
			continue;
		for (unsigned i = 1; i < n; i++) {
			if (p[i].revents & POLLIN)
				events_read(d->events, g[i]);
			if (i >= 2)
				retire_drained(d, g[i], p[i].revents & POLLIN);
		}
	}
	return NULL;
}

struct gk_remote_reader *remote_reader_start(struct gk_daemon *d)
{
	struct gk_remote_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->d = d;
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0 || pthread_create(&r->thread, NULL, remote_main, r) != 0) {
		if (r->wake_fd >= 0)
			close(r->wake_fd);
		free(r);
		return NULL;
	}
	return r;
}

void remote_reader_kick(struct gk_remote_reader *r)
{
	uint64_t one = 1;
	if (r && write(r->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_msg(GK_LOG_ERR, "error=\"cannot wake the remote reader\" errno=%d", errno);
}

bool remote_reader_stop(struct gk_remote_reader *r)
{
	if (!r)
		return true;
	atomic_store(&r->stopping, true);
	remote_reader_kick(r);
	struct timespec until = gk_deadline_in_ms(CLOCK_REALTIME, STOP_WAIT_MS);
	if (pthread_timedjoin_np(r->thread, NULL, &until) != 0) {
		pthread_kill(r->thread, READER_KICK_SIGNAL);
		until = gk_deadline_in_ms(CLOCK_REALTIME, STOP_WAIT_MS / 2);
		if (pthread_timedjoin_np(r->thread, NULL, &until) != 0) {
			pthread_detach(r->thread);
			log_msg(GK_LOG_WARN, "warning=\"the remote reader still waits on a server at "
				"stop: left to the exit\"");
			return false;   /* r stays: the thread still uses it */
		}
	}
	close(r->wake_fd);
	free(r);
	return true;
}

/* A remote thread still waits on a server, and may come back at any
 * moment into anything the daemon holds: nothing is freed. What matters
 * is done (the local groups closed, the sysctl restored, the queued audit
 * records stored), and the process exits, which closes the rest. The
 * store is not marked clean: the next start checks it. */
_Noreturn void remote_exit_leaving(struct gk_daemon *d, int rc)
{
	sentinel_end(d->sentinel);   /* kept: a late drop from the reader must find it */
	fan_group_close(d->group);
	fan_group_close(d->retired);
	fileless_restore(d->fileless);
	audit_sync(d);
	log_msg(GK_LOG_WARN, "stopped_leaving_remote reason=\"a remote thread still waits on a "
		"server\"");
	_exit(rc);
}
