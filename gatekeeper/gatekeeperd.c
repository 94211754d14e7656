/* gatekeeperd: decides, for every program about to run on the watched
 * filesystems, whether it may run. See gatekeeperd(8). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/fileless.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/mounts.h"
#include "gatekeeper/prejudge.h"
#include "gatekeeper/trust.h"
#include "gatekeeper/metrics.h"
#include "gatekeeper/systemd.h"

enum { EXIT_RUNTIME = 1, EXIT_INVALID = 2 };

static int mkdir_parents(const char *file, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", file);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

static void reload(struct gk_daemon *d)
{
	struct gk_policy_errors errs = { 0 };
	char err[512];
	struct gk_policy *p = policy_load(d->opt.policy_path, &errs);
	if (!p) {
		for (size_t i = 0; i < errs.count && i < GK_POLICY_MAX_ERRORS; i++)
			log_msg(GK_LOG_ERR, "reload_failed error=\"%s\"", errs.msg[i]);
		return;
	}
	if (apply_policy(d, p, err, sizeof(err)) < 0) {
		log_msg(GK_LOG_ERR, "reload_failed error=\"%s\"", err);
		policy_free(p);
	}
}

/* Stay attached until ready, so that start-up errors reach the caller with
 * the right exit code; then detach. */
static int daemonize(int *ready_fd)
{
	int pipefd[2];
	if (pipe(pipefd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(pipefd[1]);
		char code = EXIT_RUNTIME;
		if (read(pipefd[0], &code, 1) != 1)
			code = EXIT_RUNTIME;
		_exit(code);
	}
	close(pipefd[0]);
	setsid();
	if (fork() > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -1;
	*ready_fd = pipefd[1];
	return 0;
}

static void signal_ready(int *ready_fd, char code)
{
	if (*ready_fd < 0)
		return;
	(void)!write(*ready_fd, &code, 1);
	close(*ready_fd);
	*ready_fd = -1;
	if (code == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0), dup2(null, 1), dup2(null, 2);
			if (null > 2)
				close(null);
		}
	}
}

static void on_kernel_denial(void *ctx, const struct kcache_denial *k)
{
	struct gk_daemon *d = ctx;
	char detail[192], path[4096] = "", exe[4096];
	unsigned char sha[GK_SHA256_LEN];
	bool have_sha = false;
	snprintf(detail, sizeof(detail), "denied in kernel%s: dev %llu ino %llu comm %.16s",
		 k->fileless ? " (fileless: deny)" : k->unmarked ? " (unmarked_filesystems: deny)"
		 : k->written ? " (ETXTBSY: written during its exec)" : "",
		 (unsigned long long)k->dev,
		 (unsigned long long)k->ino, k->comm);
	/* The name and digest a denial of ours left; a file written during its
	 * exec was not refused for a verdict, and its old name would mislead. */
	if (!k->written)
		denied_name(d->denied, (dev_t)k->dev, (ino_t)k->ino, path, sizeof(path), sha, &have_sha);
	/* The refused task is still the program that asked: a failed exec
	 * leaves it as it was, a refused mapping never changed it. Not so for
	 * an ELF interpreter's mapping refused past the exec's point of no
	 * return (written during its exec): that task is killed, as the new
	 * program, and may be gone already. */
	gk_pid_exe((pid_t)k->pid, exe, sizeof(exe));
	struct db_audit a = { .time_us = gk_now_us(), .pid = (int32_t)k->pid, .exe = exe, .path = path,
			      .sha256 = have_sha ? sha : NULL, .verdict = GK_VERDICT_DENY,
			      .source = GK_SOURCE_NONE, .detail = detail, .mode = GK_MODE_ENFORCE };
	audit_submit(d, &a, AUDIT_KERNEL);
}

/* --bpf-after-ready: the load's eventfd, or -1 (none pending, or it could
 * not start: then the walk, which waits for the load, is asked for now). */
static int load_bpf_later(struct gk_daemon *d)
{
	bool pending = kcache_bpf_loading(d->kc);
	int loaded_fd = kcache_load_bpf_later(d->kc);
	if (pending && loaded_fd < 0)
		prejudge_flush(d);
	return loaded_fd;
}

/* A boot held up by a slow unit still gets the fast path: systemd's own
 * default start timeout. */
#define BPF_BOOT_WAIT_MAX_S 90

/* Beside the store: the boot ID of the last boot seen to end (boot_wait.c). */
static const char *boot_over_mark(const struct gk_daemon *d, char *buf, size_t size)
{
	snprintf(buf, size, "%s.boot-over", d->opt.db_path);
	return buf;
}

/* Booted by systemd and still booting, the load waits for the boot's end
 * (boot_wait.c says why): then -1, and the main loop starts the load when
 * d->boot_wait's fd turns readable. */
static int load_bpf_after_boot(struct gk_daemon *d)
{
	char mark[4200];
	if (!kcache_bpf_loading(d->kc))
		return load_bpf_later(d);
	if (d->booting > 0 &&
	    (d->boot_wait = svc_boot_wait_start(BPF_BOOT_WAIT_MAX_S,
						boot_over_mark(d, mark, sizeof(mark))))) {
		atomic_store(&d->bpf_waits_for_boot, true);
		return -1;
	}
	log_msg(GK_LOG_INFO, "bpf_load_start after=\"not booting: %s\" waited_ms=0", d->booting_why);
	return load_bpf_later(d);
}

/* The boot's wait is over (or the daemon stops): start the load. */
static int end_boot_wait(struct gk_daemon *d)
{
	char why[256];
	int64_t waited_ms = 0;
	svc_boot_wait_end(d->boot_wait, why, sizeof(why), &waited_ms);
	d->boot_wait = NULL;
	atomic_store(&d->bpf_waits_for_boot, false);
	log_msg(GK_LOG_INFO, "bpf_load_start after=\"%s\" waited_ms=%lld", why, (long long)waited_ms);
	return load_bpf_later(d);
}

/* --bpf-after-ready: the load has ended. What fanotify mode could not do
 * (fileless and unmarked_filesystems in the kernel) is applied again, and
 * the walk runs again to cache its allows in the map (in fanotify mode it
 * caches none: a lease would hold each file open). */
static void adopt_bpf(struct gk_daemon *d)
{
	prejudge_due(d);
	if (kcache_adopt_bpf(d->kc)) {
		/* one at a time with a policy apply: each reads the mode, then
		 * sets the kernel's switches, and the last mode must win */
		pthread_mutex_lock(&d->apply_lock);
		fileless_apply(d);
		mounts_unmarked_apply(d);
		pthread_mutex_unlock(&d->apply_lock);
	}
	prejudge_flush(d);
	log_msg(GK_LOG_INFO, "kernel_mode_changed kernel_mode=%s why=\"%s\"", kcache_mode(d->kc),
		kcache_why(d->kc));
	svc_ready(d);   /* STATUS= names the kernel mode */
}

/* Signals, the kernel cache's ring, the end of the boot and of a BPF load
 * after ready, and systemd's watchdog. The fanotify group has a thread of
 * its own (reader.c). Returns 0 after a signal to stop (one a process sent:
 * signals.c); EXIT_RUNTIME when it cannot wait any more (a failure, so that
 * Restart=on-failure brings it back). */
static int main_loop(struct gk_daemon *d, int sig_fd, int bpf_loaded_fd)
{
	for (;;) {
		struct pollfd p[4] = {
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = kcache_event_fd(d->kc), .events = POLLIN },
			{ .fd = bpf_loaded_fd, .events = POLLIN },
			{ .fd = svc_boot_wait_fd(d->boot_wait), .events = POLLIN },
		};
		if (poll(p, 4, svc_poll_timeout_ms(d)) < 0 && errno != EINTR) {
			log_msg(GK_LOG_ERR, "error=\"main loop: poll: %s\"", strerror(errno));
			return EXIT_RUNTIME;
		}
		if (p[3].revents & POLLIN)
			bpf_loaded_fd = end_boot_wait(d);
		if (p[2].revents & POLLIN) {
			adopt_bpf(d);
			bpf_loaded_fd = -1;   /* closed by the adoption */
		}
		struct signalfd_siginfo si;
		if ((p[0].revents & POLLIN) && read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
			enum gk_signal_action a = gk_signal_action(&si);
			if (a == GK_SIGNAL_LEASE_BROKEN || a == GK_SIGNAL_LEASES_CHECK)
				kcache_lease_broken(d->kc, a == GK_SIGNAL_LEASE_BROKEN ? (int)si.ssi_fd : -1);
			else if (a == GK_SIGNAL_RELOAD) {
				svc_reloading();
				reload(d);
				/* new signatures too, compiled beside the old ones */
				pthread_rwlock_rdlock(&d->policy_lock);
				scan_set_reload(d->scanners);
				pthread_rwlock_unlock(&d->policy_lock);
				svc_ready(d);
			} else if (a == GK_SIGNAL_STOP) {
				return 0;
			}
		}
		if (p[1].revents & POLLIN)
			kcache_drain(d->kc, on_kernel_denial, d);
		svc_watchdog(d);
	}
}

static bool lease_still_stands(void *ctx, const struct file_id *id, uint64_t ticket)
{
	struct gk_daemon *d = ctx;
	return d->kc && kcache_armed(d->kc, id->dev, id->ino, ticket);
}

/* The hash cache (lent the digest store) and the fileless state. */
static bool new_objects(struct gk_daemon *d)
{
	if (!(d->hashes = hash_cache_new()) || !(d->fileless = fileless_new()) ||
	    !(d->denied = denied_new()))
		return false;
	hash_cache_use_store(d->hashes, d->digests);
	hash_cache_use_guard(d->hashes, lease_still_stands, d);   /* tickets come once kc is */
	return true;
}

/* Each cached allow holds a leased fd (fanotify mode). */
static void raise_nofile(void)
{
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
}

/* Wall time since this process was exec'd: its start time in /proc (clock
 * ticks since boot) against CLOCK_BOOTTIME. What a start costs before main
 * (the unit's sandbox, the loader, the libraries) is on the boot's path too. */
static int64_t us_since_exec(void)
{
	char buf[1024];
	unsigned long long ticks = 0;
	struct timespec now;
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	/* the 22nd field; the command name (2nd) may hold spaces: count from its ')' */
	const char *p = strrchr(buf, ')');
	for (int field = 2; p && *p && field < 22; p++)
		if (*p == ' ')
			field++;
	long hz = sysconf(_SC_CLK_TCK);
	if (!p || sscanf(p, "%llu", &ticks) != 1 || hz <= 0 ||
	    clock_gettime(CLOCK_BOOTTIME, &now) < 0)
		return -1;
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000 -
	       (int64_t)(ticks * 1000000ULL / (unsigned long long)hz);
}

static void stamp(int64_t *wall, int64_t *cpu)
{
	*wall = gk_mono_us();
	*cpu = gk_cpu_us();
}

static void stamp_begin(struct gk_start_times *t)
{
	stamp(&t->begin, &t->cpu_begin);
	t->exec_to_begin = us_since_exec();
}

/* The control socket is open by now: a policy apply may swap d->policy. */
static void log_ready(struct gk_daemon *d)
{
	const struct gk_start_times *t = &d->start_at;
	/* Wall time alone cannot tell a slow start from a starved one (at boot,
	 * every unit shares the CPUs): the CPU it used and the pages it waited
	 * for on the disk tell them apart. */
	struct rusage self = { 0 };
	getrusage(RUSAGE_SELF, &self);
	long long cpu_ms = (self.ru_utime.tv_sec + self.ru_stime.tv_sec) * 1000LL +
			   (self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1000;
	pthread_rwlock_rdlock(&d->policy_lock);
	log_msg(GK_LOG_INFO,
		"ready mode=%s kernel_mode=%s why=\"%s\" policy=\"%s\" socket=%s pid=%d "
		"start_ms=%lld store_ms=%lld store_check=%s store_open_ms=%lld scanners_ms=%lld "
		"kernel_ms=%lld trust_ms=%lld threads_marks_ms=%lld cpu_ms=%lld major_faults=%ld "
		"before_ms=%lld cpu_before_ms=%lld cpu_store_ms=%lld cpu_trust_ms=%lld "
		"cpu_threads_marks_ms=%lld cpu_after_marks_ms=%lld start_nice=%d boost=%s",
		gk_mode_name(d->policy->mode), kcache_mode(d->kc), kcache_why(d->kc), d->policy->name,
		d->opt.socket_path, (int)getpid(), (long long)(gk_mono_us() - t->begin) / 1000,
		(long long)(t->store - t->begin) / 1000,
		d->store_closed_cleanly ? "skipped_closed_cleanly" : "read",
		(long long)(t->store_opened - t->begin) / 1000,
		(long long)(t->scanners - t->kernel) / 1000,
		(long long)(t->kernel - t->sentinel) / 1000,
		(long long)(t->trust - t->scanners) / 1000, (long long)(t->marks - t->trust) / 1000,
		cpu_ms, self.ru_majflt,
		t->exec_to_begin < 0 ? -1LL : (long long)t->exec_to_begin / 1000,
		(long long)t->cpu_begin / 1000, (long long)(t->cpu_store - t->cpu_begin) / 1000,
		(long long)(t->cpu_trust - t->cpu_store) / 1000,
		(long long)(t->cpu_marks - t->cpu_trust) / 1000,
		(long long)(gk_cpu_us() - t->cpu_marks) / 1000, d->start_nice, d->boost);
	bool enforce = d->policy->mode == GK_MODE_ENFORCE;
	pthread_rwlock_unlock(&d->policy_lock);
	char user_mounts[256];   /* a hole the admin can close: say so once */
	if (mounts_user_mounts("/proc", user_mounts, sizeof(user_mounts)) && enforce)
		log_msg(GK_LOG_WARN, "warning=\"user mounts %s\"", user_mounts);
}

static bool nice_floor(pid_t id)
{
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t)id);
	return errno == 0 && nice < 0 && setpriority(PRIO_PROCESS, (id_t)id, 0) == 0;
}

/* The unit's Nice=-10 is for a restart on a running system, where nothing
 * is gated until READY=1. At boot it buys nothing (the units after
 * sysinit.target wait for READY=1 at any nice; those before it are not
 * gated) and it starved PID 1 and udevd, the boot's critical path: in
 * make sysbench tmpfiles-setup started 0.8 s later than in a bare boot,
 * as soon as the daemon was ready. So while systemd is still booting, the
 * daemon drops it before anything else. */
static void drop_boost_at_boot(struct gk_daemon *d)
{
	char mark[4200];
	d->booting = svc_system_booting(boot_over_mark(d, mark, sizeof(mark)), d->booting_why,
					sizeof(d->booting_why));
	errno = 0;
	d->start_nice = getpriority(PRIO_PROCESS, 0);
	if (errno || d->start_nice >= 0)
		d->boost = "none";
	else if (d->booting > 0 && setpriority(PRIO_PROCESS, 0, 0) == 0)
		d->boost = "dropped_at_boot";
	else
		d->boost = "kept_until_ready";
}

/* Started at a negative nice and not booting (see above): once ready,
 * every thread of it and the sentinel go back to nice 0 (a thread that set
 * itself lower, like the walk at 19, stays there): the event path then
 * competes like any process. Passes until none changed: a thread may start
 * another while the first pass runs. */
static void end_start_boost(struct gk_daemon *d)
{
	bool changed = true;
	for (int pass = 0; changed && pass < 4; pass++) {
		changed = false;
		DIR *tasks = opendir("/proc/self/task");
		for (struct dirent *e; tasks && (e = readdir(tasks));)
			if (atoi(e->d_name) > 0 && nice_floor(atoi(e->d_name)))
				changed = true;
		if (tasks)
			closedir(tasks);
	}
	nice_floor(sentinel_pid(d->sentinel));
}

/* The permission group, the kernel cache, the scanners and the trust
 * sources, timed one by one for the ready line. */
static int open_gate(struct gk_daemon *d, char *err, size_t errlen)
{
	if (fan_groups_open(d->policy, &d->group, &d->remote, err, errlen) < 0)
		return -1;
	if (d->group->perm) {
		d->group->sentinel_id = sentinel_add_group(d->sentinel, d->group->fd, false);
		d->remote->sentinel_id = sentinel_add_group(d->sentinel, d->remote->fd, true);
	}
	d->kc = kcache_open(d->group->fd, d->group->mask, d->opt.kernel_cache,
			    !d->opt.try_bpf ? KCACHE_BPF_NEVER
			    : d->opt.bpf_after_ready ? KCACHE_BPF_LATER : KCACHE_BPF_NOW);
	if (!d->kc) {
		snprintf(err, errlen, "cannot start: %s", strerror(errno));
		return -1;
	}
	apply_cache_switches(d, d->policy);
	d->start_at.kernel = gk_mono_us();
	/* After the kernel cache: a signature set loaded later flushes it. */
	if (!(d->scanners = scan_set_for(d, NULL, d->policy, err, errlen)))
		return -1;
	d->start_at.scanners = gk_mono_us();
	if (trust_daemon_start(d, err, errlen) < 0)
		return -1;
	stamp(&d->start_at.trust, &d->start_at.cpu_trust);
	return 0;
}

static int start(struct gk_daemon *d, int *ready_fd, int *sig_fd, int *bpf_loaded_fd)
{
	char err[512];
	if ((*sig_fd = gk_signal_fd()) < 0) {
		log_msg(GK_LOG_ERR, "error=\"signalfd: %s\"", strerror(errno));
		return EXIT_RUNTIME;
	}
	raise_nofile();
	/* The sentinel forks before any thread exists. */
	d->shared = sentinel_shared_new(d->opt.max_pending + EVENTS_READ_BATCH);
	if (!d->shared || !(d->sentinel = sentinel_start(d->shared, err, sizeof(err)))) {
		log_msg(GK_LOG_ERR, "error=\"%s\"", d->shared ? err : "cannot map the in-flight slots");
		return EXIT_RUNTIME;
	}
	d->start_at.sentinel = gk_mono_us();
	if (open_gate(d, err, sizeof(err)) < 0) {
		log_msg(GK_LOG_ERR, "error=\"%s\"", err);
		return EXIT_RUNTIME;
	}
	if (!new_objects(d) || audit_start(d) < 0 ||
	    !(d->events = events_start(d, d->opt.workers))) {
		log_msg(GK_LOG_ERR, "error=\"cannot start: %s\"", strerror(errno));
		return EXIT_RUNTIME;
	}
	events_subids_refresh(d->events, d->opt.subuid_path, true);
	fileless_apply(d);
	int prescan_fd = prescan_group_open(d->policy, err, sizeof(err));
	if (prescan_fd < 0) {
		log_msg(GK_LOG_ERR, "error=\"%s\"", err);
		return EXIT_RUNTIME;
	}
	if (!(d->prescan = prescan_start(d, prescan_fd, d->opt.scan_workers))) {
		log_msg(GK_LOG_ERR, "error=\"cannot start the pre-scan: %s\"", strerror(errno));
		return EXIT_RUNTIME;
	}
	if (mounts_start(d, prescan_fd, err, sizeof(err)) < 0) {
		log_msg(GK_LOG_ERR, "error=\"%s\"", err);
		return EXIT_RUNTIME;
	}
	mounts_unmarked_apply(d);   /* only now: every filesystem of ours has its mark */
	stamp(&d->start_at.marks, &d->start_at.cpu_marks);
	if (!(d->reader = reader_start(d)) || !(d->remote_reader = remote_reader_start(d))) {
		log_msg(GK_LOG_ERR, "error=\"cannot start the reader: %s\"", strerror(errno));
		return EXIT_RUNTIME;
	}
	if (control_start(d, err, sizeof(err)) < 0) {
		log_msg(GK_LOG_ERR, "error=\"%s\"", err);
		return EXIT_RUNTIME;
	}
	atomic_store(&d->prejudge, prejudge_start(d));
	if (!(d->metrics = metrics_writer_start(d)))   /* a missing textfile is no reason to stop */
		log_msg(GK_LOG_ERR, "error=\"cannot start the metrics textfile writer\"");
	log_ready(d);
	signal_ready(ready_fd, 0);
	svc_ready(d);
	end_start_boost(d);
	*bpf_loaded_fd = load_bpf_after_boot(d);
	return 0;
}

/* In the reverse order of the start; safe after a start that failed
 * anywhere (every *_stop and *_free takes what was never made). */
static void stop(struct gk_daemon *d, int rc)
{
	/* Answer what was read, then close the permission groups (the kernel
	 * allows whatever is still queued), and only then the pre-scan group,
	 * whose teardown waits for execs pending on the others. */
	control_stop(d);
	svc_boot_wait_end(d->boot_wait, NULL, 0, NULL);   /* no load starts now */
	prejudge_stop(atomic_load(&d->prejudge));
	mounts_stop(d);
	metrics_writer_stop(d->metrics);
	reader_stop(d->reader);
	bool remote_ended = remote_reader_stop(d->remote_reader);
	if (!events_stop(d->events, !remote_ended) || !remote_ended)
		remote_exit_leaving(d, rc);
	sentinel_stop(d->sentinel);
	fan_group_close(d->group);
	fan_group_close(d->retired);
	fan_group_close(d->remote);
	for (struct fan_group *g = d->remote_retired, *older; g; g = older) {
		older = g->older;
		fan_group_close(g);
	}
	prescan_stop(d->prescan);
	/* Joins the reload threads, whose swap flushes the kernel cache. */
	scan_set_put(d->scanners);
	fileless_restore(d->fileless);
	trust_daemon_stop(d);
	prejudge_free(atomic_load(&d->prejudge));   /* no flush can come now */
	kcache_close(d->kc);
	mounts_free(d);   /* after the kernel cache, which asks it what may be pinned */
	audit_stop(d);
	control_free(d);   /* after the audit writer, its last publisher */
	db_close(d->db);
	/* Every connection is closed now: the next start need not read the
	 * whole store to trust it (a store left by a crash is still checked). */
	if (rc == 0)
		db_mark_clean(d->opt.db_path);
	admin_rules_free(d->admin);
	hash_cache_free(d->hashes);
	fileless_free(d->fileless);
	denied_free(d->denied);
	sentinel_shared_free(d->shared);
	policy_free(d->policy);
}

int main(int argc, char **argv)
{
	static struct gk_daemon d;   /* the one daemon object: every subsystem hangs off it */
	struct gk_policy_errors errs = { 0 };
	char err[512];
	int ready_fd = -1, sig_fd = -1, bpf_loaded_fd = -1, rc;
	if (gk_options_parse(argc, argv, &d.opt) < 0)
		return EXIT_INVALID;
	svc_init(&d);
	drop_boost_at_boot(&d);
	d.policy = policy_load(d.opt.policy_path, &errs);
	if (!d.policy) {
		for (size_t i = 0; i < errs.count && i < GK_POLICY_MAX_ERRORS; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		return EXIT_INVALID;
	}
	if (apply_resolve_links(d.policy, NULL, err, sizeof(err)) < 0 ||
	    policy_check_watch(d.policy, err, sizeof(err)) < 0 ||
	    scan_check_hashlists(d.policy, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_INVALID;
	}
	/* At boot a group from a directory service (sssd, LDAP) may not resolve
	 * yet: gate anyway, the socket root's alone, rather than not at all. A
	 * reload looks again. */
	char group_err[512] = "";
	apply_resolve_group(d.policy, &d.admin_gid, group_err, sizeof(group_err));
	stamp_begin(&d.start_at);
	if (mkdir_parents(d.opt.db_path, err, sizeof(err)) < 0 ||
	    mkdir_parents(d.opt.socket_path, err, sizeof(err)) < 0 ||
	    admin_store_open(&d, err, sizeof(err)) < 0) {
		fprintf(stderr, "gatekeeperd: %s\n", err);
		return EXIT_RUNTIME;
	}
	stamp(&d.start_at.store, &d.start_at.cpu_store);
	pthread_rwlock_init(&d.policy_lock, NULL);
	pthread_mutex_init(&d.apply_lock, NULL);
	d.started_us = d.policy_applied_us = gk_now_us();
	if (!d.opt.foreground && daemonize(&ready_fd) < 0) {
		fprintf(stderr, "gatekeeperd: cannot daemonize: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	log_init(d.opt.foreground);
	if (group_err[0])
		log_msg(GK_LOG_WARN, "warning=\"%s; the control socket is root's alone until a "
			"reload finds it\"", group_err);
	if (control_init(&d, err, sizeof(err)) < 0) {
		log_msg(GK_LOG_ERR, "error=\"%s\"", err);
		rc = EXIT_RUNTIME;
	} else {
		rc = start(&d, &ready_fd, &sig_fd, &bpf_loaded_fd);
	}
	if (rc == 0)
		rc = main_loop(&d, sig_fd, bpf_loaded_fd);
	svc_stopping();
	signal_ready(&ready_fd, (char)rc);
	log_msg(GK_LOG_INFO, "stopping");
	stop(&d, rc);
	return rc;
}
