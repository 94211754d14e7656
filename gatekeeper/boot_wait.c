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
 * path, about what the wait saves. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/systemd.h"

#define SYSTEMD_PRIVATE_BUS "unix:path=/run/systemd/private"
#define SYSTEMD_NAME        "org.freedesktop.systemd1"
#define SYSTEMD_PATH        "/org/freedesktop/systemd1"
#define POLL_MS             1000
/* A call PID 1 does not answer in this time counts as "cannot tell". */
#define CALL_TIMEOUT_US     (5 * 1000 * 1000ULL)

struct svc_boot_wait {
	pthread_t thread;
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

int svc_system_booting(void)
{
	char why[256];
	return sd_booted() > 0 ? ask_boot_under_way(why, sizeof(why)) : 0;
}

static void *wait_for_boot(void *arg)
{
	struct svc_boot_wait *w = arg;
	pthread_setname_np(pthread_self(), "gk-boot-wait");
	while (ask_boot_under_way(w->why, sizeof(w->why)) > 0) {
		if (gk_mono_us() - w->began_us >= w->max_us) {
			snprintf(w->why, sizeof(w->why), "the boot had not reached default.target after %lld s",
				 (long long)(w->max_us / 1000000));
			break;
		}
		struct pollfd p = { .fd = w->stop_fd, .events = POLLIN };
		if (poll(&p, 1, POLL_MS) > 0) {
			snprintf(w->why, sizeof(w->why), "stopped while the boot was under way");
			break;
		}
	}
	w->ended_us = gk_mono_us();
	uint64_t one = 1;
	ssize_t n = write(w->done_fd, &one, sizeof(one));
	(void)n;   /* one write to a fresh eventfd cannot fail */
	return NULL;
}

struct svc_boot_wait *svc_boot_wait_start(int max_s)
{
	if (sd_booted() <= 0)
		return NULL;
	struct svc_boot_wait *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
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
