/* --bpf-after-ready at boot: the BPF load waits for the boot to end.
 *
 * The load parses the kernel's BTF and runs the verifier over every
 * program. Even at nice 19 it slows a boot on one CPU (make sysbench:
 * from sysinit.target to multi-user.target about 0.25 s more than with no
 * load at all), and fanotify mode gates every exec meanwhile. So while
 * systemd is still starting the boot's transaction, the load waits until
 * the default target is reached, at most max_s seconds.
 *
 * The end of the boot is read from utmp, not asked of PID 1: systemd's
 * systemd-update-utmp-runlevel.service, ordered after the runlevel targets
 * (multi-user.target, graphical.target), writes a RUN_LVL record to
 * /run/utmp once the default target is reached. The wait watches that
 * file with inotify and costs PID 1 nothing. A question to PID 1 (over its
 * private socket, as systemctl run as root asks) costs it about 20 ms of
 * CPU each under an emulator, and PID 1 is the boot's critical path: asked
 * every 2 s, as it was, the questions cost a boot under qemu -icount 0.4 s
 * of PID 1's CPU. PID 1 is asked only where utmp cannot tell: once on a
 * restart minutes after the boot, and every FALLBACK_MS while the boot
 * runs on a system whose utmp gets no runlevel (systemd-update-utmp
 * masked), on a connection of its own each time (PID 1 sends every unit's
 * and job's changes to each connection on its private socket, subscribed
 * or not). A boot seen to end is written down (its boot ID, in a mark
 * beside the store), so that a restart later in it asks nothing at all. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <utmpx.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/systemd.h"
#include "gatekeeper/util.h"

#define SYSTEMD_PRIVATE_BUS "unix:path=/run/systemd/private"
#define SYSTEMD_NAME        "org.freedesktop.systemd1"
#define SYSTEMD_PATH        "/org/freedesktop/systemd1"
#define UTMP_DIR            "/run"
#define UTMP_NAME           "utmp"
/* No runlevel in utmp yet: PID 1 is asked this often, in case none comes;
 * without inotify, every ASK_MS. */
#define FALLBACK_MS         30000
#define ASK_MS              2000
/* A start under systemd this soon after the kernel's is taken for one of
 * the boot's own: a boot's transaction takes seconds, rarely minutes. */
#define BOOT_ASSUMED_S      300
#define BOOT_ID             "/proc/sys/kernel/random/boot_id"
/* A call PID 1 does not answer in this time counts as "cannot tell". */
#define CALL_TIMEOUT_US     (5 * 1000 * 1000ULL)

struct svc_boot_wait {
	pthread_t thread;
	char over_mark[4200];   /* written once the boot is seen to end; "": none */
	int done_fd, stop_fd;   /* eventfds */
	int64_t began_us, ended_us, max_us;
	char why[256];          /* how the wait ended; the thread's until done_fd */
};

/* The default target's ActiveState, or the manager's SystemState: 1 while
 * the boot is under way, 0 once it is over, -1 when systemd cannot tell
 * (why says why in each case but 1). */
static int boot_under_way(sd_bus *bus, char *why, size_t whylen)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *unit_path = NULL, *active = NULL, *state = NULL;
	int rc = -1;
	int r = sd_bus_path_encode(SYSTEMD_PATH "/unit", "default.target", &unit_path);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, SYSTEMD_NAME, unit_path, SYSTEMD_NAME ".Unit",
					       "ActiveState", &e, &active);
	if (r >= 0 && strcmp(active, "active") == 0) {
		snprintf(why, whylen, "the boot reached default.target");
		rc = 0;
		goto cleanup;
	}
	sd_bus_error_free(&e);
	r = sd_bus_get_property_string(bus, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_NAME ".Manager",
				       "SystemState", &e, &state);
	if (r < 0) {
		snprintf(why, whylen, "cannot ask systemd for its state: %s",
			 e.message ? e.message : strerror(-r));
		goto cleanup;
	}
	rc = strcmp(state, "initializing") == 0 || strcmp(state, "starting") == 0;
	if (!rc)
		snprintf(why, whylen, "the system is %s", state);
cleanup:
	sd_bus_error_free(&e);
	free(unit_path);
	free(active);
	free(state);
	return rc;
}

static sd_bus *connect_to_systemd(char *why, size_t whylen)
{
	sd_bus *bus = NULL;
	int r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, SYSTEMD_PRIVATE_BUS);
	if (r >= 0)
		r = sd_bus_set_method_call_timeout(bus, CALL_TIMEOUT_US);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r < 0) {
		snprintf(why, whylen, "cannot ask systemd (%s): %s", SYSTEMD_PRIVATE_BUS + 10,
			 strerror(-r));
		return sd_bus_flush_close_unref(bus);
	}
	return bus;
}

/* One question on a connection of its own (see the top of the file). */
static int ask_boot_under_way(char *why, size_t whylen)
{
	sd_bus *bus = connect_to_systemd(why, whylen);
	int booting = bus ? boot_under_way(bus, why, whylen) : -1;
	sd_bus_flush_close_unref(bus);
	return booting;
}

static bool read_boot_id(char id[40])
{
	return gk_read_text(BOOT_ID, id, 40) > 0;
}

static bool mark_holds(const char *mark, const char *id)
{
	char seen[40];
	return mark[0] && gk_read_text(mark, seen, sizeof(seen)) > 0 && strcmp(id, seen) == 0;
}

static bool boot_seen_over(const char *mark)
{
	char id[40];
	return read_boot_id(id) && mark_holds(mark, id);
}

/* Best effort: without the mark a restart only asks PID 1 again. */
static void mark_boot_over(const char *mark)
{
	char id[40];
	if (mark[0] && read_boot_id(id) && !mark_holds(mark, id))
		(void)gk_replace_file(mark, id, strlen(id), false);
}

int svc_utmp_runlevel(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	struct utmpx u;
	int level = 0;
	while (fread(&u, sizeof(u), 1, f) == 1) {
		if (u.ut_type != RUN_LVL)
			continue;
		int c = u.ut_pid & 0xff;   /* systemd: the new level, the previous one above it */
		level = c >= '1' && c <= '5' ? c : 0;
	}
	fclose(f);
	return level;
}

static bool utmp_says_over(char *why, size_t whylen)
{
	int level = svc_utmp_runlevel(UTMP_DIR "/" UTMP_NAME);
	if (level)
		snprintf(why, whylen, "the boot reached runlevel %c (utmp)", level);
	return level != 0;
}

int svc_system_booting(const char *over_mark, char *why, size_t whylen)
{
	struct timespec up;
	if (sd_booted() <= 0) {
		snprintf(why, whylen, "not booted by systemd");
		return 0;
	}
	if (boot_seen_over(over_mark)) {
		snprintf(why, whylen, "this boot was seen to end");
		return 0;
	}
	if (utmp_says_over(why, whylen)) {
		mark_boot_over(over_mark);
		return 0;
	}
	if (clock_gettime(CLOCK_BOOTTIME, &up) == 0 && up.tv_sec < BOOT_ASSUMED_S) {
		snprintf(why, whylen, "started %lld s after the kernel", (long long)up.tv_sec);
		return 2;
	}
	int booting = ask_boot_under_way(why, whylen);
	if (booting == 0)
		mark_boot_over(over_mark);
	return booting;
}

/* Until stop_fd, a change in UTMP_DIR (in: inotify; -1: none) or ms. */
static int wait_for_change(int stop_fd, int in, int64_t ms)
{
	struct pollfd p[2] = { { .fd = stop_fd, .events = POLLIN }, { .fd = in, .events = POLLIN } };
	if (poll(p, 2, ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms) <= 0)
		return 0;
	if (p[0].revents)
		return -1;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool utmp = false;
	ssize_t len;
	while ((len = read(in, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *e = (const void *)p;
			utmp = utmp || (e->mask & IN_Q_OVERFLOW) ||
			       (e->len && strcmp(e->name, UTMP_NAME) == 0);
			p += sizeof(*e) + e->len;
		}
	return utmp ? 1 : 0;   /* another file of /run: nothing to read */
}

static void *wait_for_boot(void *arg)
{
	struct svc_boot_wait *w = arg;
	pthread_setname_np(pthread_self(), "gk-boot-wait");
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in >= 0 && inotify_add_watch(in, UTMP_DIR, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE |
					 IN_MOVED_TO) < 0) {
		close(in);
		in = -1;
	}
	/* The boot is under way when the wait begins: PID 1 is not asked at
	 * once, and without inotify it is asked as often as it used to be. */
	int64_t ask_every_us = (in >= 0 ? FALLBACK_MS : ASK_MS) * 1000LL;
	int64_t next_ask = gk_mono_us() + ask_every_us;
	bool look = true;               /* at first, and after each change to utmp */
	for (;;) {
		if (look && utmp_says_over(w->why, sizeof(w->why))) {
			mark_boot_over(w->over_mark);
			break;
		}
		int64_t now = gk_mono_us();
		if (now >= next_ask) {
			int booting = ask_boot_under_way(w->why, sizeof(w->why));
			if (booting == 0)
				mark_boot_over(w->over_mark);
			if (booting <= 0)
				break;
			next_ask = now + ask_every_us;
		}
		if (now - w->began_us >= w->max_us) {
			snprintf(w->why, sizeof(w->why), "the boot had not reached default.target after %lld s",
				 (long long)(w->max_us / 1000000));
			break;
		}
		int64_t until = next_ask < w->began_us + w->max_us ? next_ask : w->began_us + w->max_us;
		int changed = wait_for_change(w->stop_fd, in, (until - now + 999) / 1000);
		if (changed < 0) {
			snprintf(w->why, sizeof(w->why), "stopped while the boot was under way");
			break;
		}
		look = changed > 0 || in < 0;
	}
	if (in >= 0)
		close(in);
	w->ended_us = gk_mono_us();
	uint64_t one = 1;
	ssize_t n = write(w->done_fd, &one, sizeof(one));
	(void)n;   /* one write to a fresh eventfd cannot fail */
	return NULL;
}

struct svc_boot_wait *svc_boot_wait_start(int max_s, const char *over_mark)
{
	if (sd_booted() <= 0)
		return NULL;
	struct svc_boot_wait *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	snprintf(w->over_mark, sizeof(w->over_mark), "%s", over_mark);
	w->began_us = gk_mono_us();
	w->max_us = (int64_t)max_s * 1000000;
	w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->done_fd < 0 || w->stop_fd < 0 || pthread_create(&w->thread, NULL, wait_for_boot, w) != 0)
		goto fail;
	return w;
fail:
	if (w->done_fd >= 0)
		close(w->done_fd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	free(w);
	return NULL;
}

int svc_boot_wait_fd(const struct svc_boot_wait *w)
{
	return w ? w->done_fd : -1;
}

void svc_boot_wait_end(struct svc_boot_wait *w, char *why, size_t whylen, int64_t *waited_ms)
{
	if (!w)
		return;
	uint64_t one = 1;
	ssize_t n = write(w->stop_fd, &one, sizeof(one));
	(void)n;
	pthread_join(w->thread, NULL);
	if (why)
		snprintf(why, whylen, "%s", w->why);
	if (waited_ms)
		*waited_ms = (w->ended_us - w->began_us) / 1000;
	close(w->done_fd);
	close(w->stop_fd);
	free(w);
}
