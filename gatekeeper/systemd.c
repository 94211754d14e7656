/* sd_notify: readiness, status, reload, stop and the watchdog. */
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/kcache.h"
#include "gatekeeper/systemd.h"

/* Global: systemd supervises the process, not an object in it, and only the
 * main loop's thread touches these. */
static uint64_t watchdog_us;     /* 0: systemd asked for no watchdog */
static int64_t last_ping_us;
static struct event_path_probe probe;

static void watchdog_init(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	uint64_t us = 0;
	/* Keep WATCHDOG_* out of the scanner process's environment. */
	if (sd_watchdog_enabled(1, &us) > 0)
		watchdog_us = us;
}

void svc_ready(struct gk_daemon *d)
{
	watchdog_init();
	sd_notifyf(0, "READY=1\nSTATUS=mode=%s kernel_mode=%s policy=%s", gk_mode_name(d->policy->mode),
		   kcache_mode(d->kc), d->policy->name);
}

void svc_reloading(void)
{
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)gk_mono_us());
}

void svc_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

int svc_poll_timeout_ms(int timeout_ms)
{
	watchdog_init();
	if (!watchdog_us)
		return timeout_ms;
	/* four chances per interval to find the path alive */
	int tick = (int)(watchdog_us / 4000);
	if (tick < 1)
		tick = 1;
	return timeout_ms < 0 || timeout_ms > tick ? tick : timeout_ms;
}

void svc_watchdog(struct gk_daemon *d)
{
	if (!watchdog_us)
		return;
	int64_t now = gk_mono_us();
	if (now - last_ping_us < (int64_t)watchdog_us / 4)
		return;
	if (!event_path_alive(&d->stats, &probe, now, (int64_t)watchdog_us))
		return;
	last_ping_us = now;
	sd_notify(0, "WATCHDOG=1");
}
