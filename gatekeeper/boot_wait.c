/* --bpf-after-ready at boot: the BPF load waits for the boot to end.
 *
 * The load parses the kernel's BTF and runs the verifier over every
 * program. Even at nice 19 it slows a boot on one CPU (make sysbench:
 * from sysinit.target to multi-user.target about 0.25 s more than with no
 * load at all), and fanotify mode gates every exec meanwhile. So while
 * systemd is still starting the boot's transaction, the load waits until
 * the default target is active (or the system is no longer starting),
 * asking PID 1 over its private socket as systemctl does when run as root;
 * at most max_s seconds.
 *
 * One short connection per question: PID 1 sends every unit's and job's
 * changes to each connection on its private socket, subscribed or not, so
 * a connection held through the boot would cost PID 1, the boot's critical
 * path, about what the wait saves. Each question costs PID 1 about 20 ms
 * of CPU under an emulator; so none is asked at the start of a boot (the
 * uptime says so), the first one after a poll interval, and a boot seen to
 * end is written down (its boot ID, in a mark beside the store), so that a
 * restart later in it asks nothing at all. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/systemd.h"
#include "gatekeeper/util.h"

#define SYSTEMD_PRIVATE_BUS "unix:path=/run/systemd/private"
#define SYSTEMD_NAME        "org.freedesktop.systemd1"
#define SYSTEMD_PATH        "/org/freedesktop/systemd1"
#define POLL_MS             2000
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
	if (clock_gettime(CLOCK_BOOTTIME, &up) == 0 && up.tv_sec < BOOT_ASSUMED_S) {
		snprintf(why, whylen, "started %lld s after the kernel", (long long)up.tv_sec);
		return 2;
	}
	int booting = ask_boot_under_way(why, whylen);
	if (booting == 0)
		mark_boot_over(over_mark);
	return booting;
}

static void *wait_for_boot(void *arg)
{
	struct svc_boot_wait *w = arg;
	pthread_setname_np(pthread_self(), "gk-boot-wait");
	for (;;) {
		/* first the interval: the boot is under way when the wait begins */
		struct pollfd p = { .fd = w->stop_fd, .events = POLLIN };
		if (poll(&p, 1, POLL_MS) > 0) {
			snprintf(w->why, sizeof(w->why), "stopped while the boot was under way");
			break;
		}
		int booting = ask_boot_under_way(w->why, sizeof(w->why));
		if (booting == 0)
			mark_boot_over(w->over_mark);
		if (booting <= 0)
			break;
		if (gk_mono_us() - w->began_us >= w->max_us) {
			snprintf(w->why, sizeof(w->why), "the boot had not reached default.target after %lld s",
				 (long long)(w->max_us / 1000000));
			break;
		}
	}
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
