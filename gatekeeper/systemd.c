/* sd_notify: readiness, status, reload, stop and the watchdog. */
#include <poll.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/kcache.h"
#include "gatekeeper/systemd.h"

/* The watchdog's state is d->watchdog, touched by the main loop's thread only. */
static void watchdog_init(struct gk_svc_watchdog *w)
{
	if (w->asked)
		return;
	w->asked = true;
	uint64_t us = 0;
	/* Keep WATCHDOG_* out of the scanner process's environment: asked once
	 * per process (the variables are gone after), so a later daemon object
	 * in the same process has no watchdog. The unsetenv is why svc_init
	 * asks before any thread exists (getenv is not safe beside it). */
	if (sd_watchdog_enabled(1, &us) > 0)
		w->us = us;
}

void svc_init(struct gk_daemon *d)
{
	watchdog_init(&d->watchdog);
}

static void notify_status(struct gk_daemon *d, const char *ready)
{
	pthread_rwlock_rdlock(&d->policy_lock);   /* a control apply may swap it */
	sd_notifyf(0, "%sSTATUS=mode=%s kernel_mode=%s policy=%s", ready,
		   gk_mode_name(d->policy->mode), kcache_mode(d->kc), d->policy->name);
	pthread_rwlock_unlock(&d->policy_lock);
}

void svc_ready(struct gk_daemon *d)
{
	watchdog_init(&d->watchdog);
	notify_status(d, "READY=1\n");
}

void svc_status(struct gk_daemon *d)
{
	notify_status(d, "");
}

void svc_reloading(void)
{
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)gk_mono_us());
}

void svc_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

int svc_poll_timeout_ms(struct gk_daemon *d)
{
	struct gk_svc_watchdog *w = &d->watchdog;
	watchdog_init(w);
	if (!w->us)
		return -1;
	/* four chances per interval to find the path alive */
	int tick = (int)(w->us / 4000);
	return tick < 1 ? 1 : tick;
}

/* Does the permission group hold events nobody has read yet? A look, not
 * a read: poll(2) with no wait, beside the reader's blocking read. */
static bool events_waiting(struct gk_daemon *d)
{
	pthread_rwlock_rdlock(&d->policy_lock);   /* an apply may swap the group */
	struct pollfd p = { .fd = d->group && d->group->perm ? d->group->fd : -1, .events = POLLIN };
	bool waiting = p.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
	pthread_rwlock_unlock(&d->policy_lock);
	return waiting;
}

void svc_watchdog(struct gk_daemon *d)
{
	struct gk_svc_watchdog *w = &d->watchdog;
	if (!w->us)
		return;
	int64_t now = gk_mono_us();
	if (now - w->last_ping_us < (int64_t)w->us / 4)
		return;
	if (!alive_event_path_turns(&d->stats, &w->probe, now, (int64_t)w->us) ||
	    !alive_reader_keeps_up(atomic_load(&d->shared->reader_beat_us), events_waiting(d), now,
				   (int64_t)w->us))
		return;
	w->last_ping_us = now;
	sd_notify(0, "WATCHDOG=1");
}
