/* gk_probe: daemon-side measurements for `make bench`.
 *
 *   gk_probe startup RUNS SOCKET DAEMON_ARGV...
 *       RUNS times: start DAEMON_ARGV (a `timeout ... gatekeeperd
 *       --foreground ...` command line), time until the control socket
 *       answers `status` (ready), read the daemon's VmRSS/VmHWM, stop it
 *       with SIGTERM. The status request is spoken directly (gatekeeper/
 *       proto.h: "status\n", reply starting "n ok 1") so the probe adds no
 *       process start-up of its own to the figure.
 *
 *   gk_probe close-verdict ITERS DAEMON_PID TEMPLATE DIR
 *       ITERS times: write a new executable (TEMPLATE's bytes plus a unique
 *       tail) into DIR, close it, and time until the daemon holds a kernel
 *       verdict for its inode: an ignore mark with FAN_OPEN_EXEC_PERM in its
 *       ignored mask, read from /proc/DAEMON_PID/fdinfo of its fanotify
 *       groups. No exec happens, so only a close-write pre-scan can put the
 *       mark there. Prints the samples, median, p90, p99 (nearest rank: with
 *       30 samples that is the largest) and max. If none appears within 1 s
 *       the result is n/a; the probe then execs the file once to show that
 *       its detector does see the mark a miss leaves (detector_ok).
 *
 * Prints one JSON object on stdout. Never judges the numbers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_RUNS 100
#define READY_LIMIT_NS (10LL * 1000000000)
#define MARK_LIMIT_NS (1LL * 1000000000)

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n ? v[(n - 1) / 2] : 0;
}

/* Nearest-rank percentile of sorted v[0..n): with 30 samples p99 is the
 * largest, there is no finer tail to report. */
static double nearest_rank(const double *v, int n, double pct)
{
	int rank = (int)(pct / 100.0 * n + 0.999999);
	return n ? v[rank < 1 ? 0 : (rank > n ? n - 1 : rank - 1)] : 0;
}

/* Ask SOCKET for status; true when the reply starts "n ok 1". The reply is
 * copied into out (truncated) for the caller to read numbers from. */
static bool status_answers(const char *socket_path, char *out, size_t outlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t len = 0;
	bool ok = false;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, "status\n", 7) != 7)
		goto cleanup;
	for (;;) {
		ssize_t n = read(fd, out + len, outlen - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == outlen - 1)
			break;
	}
	out[len] = '\0';
	ok = strncmp(out, "n ok 1\n", 7) == 0;
cleanup:
	close(fd);
	return ok;
}

static long reply_number(const char *reply, const char *key)
{
	char pat[80];
	snprintf(pat, sizeof(pat), "\nn %s ", key);
	const char *p = strstr(reply, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static long proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long kb = -1;
	size_t klen = strlen(key);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':')
			kb = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return kb;
}

/* The first child of pid: the daemon that `timeout` runs. */
static pid_t child_of(pid_t pid)
{
	char path[80];
	long kid = -1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	for (int i = 0; i < 500 && kid <= 0; i++) {
		FILE *f = fopen(path, "re");
		if (f) {
			if (fscanf(f, "%ld", &kid) != 1)
				kid = -1;
			fclose(f);
		}
		if (kid <= 0)
			sleep_us(1000);
	}
	return (pid_t)kid;
}

/* SIGTERM to the daemon (a child of the timeout process we started), then
 * reap the timeout process; SIGKILL both, by PID, if it lingers. */
static int stop_started(pid_t tpid, pid_t dpid)
{
	int status = -1;
	if (dpid > 0)
		kill(dpid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		pid_t r = waitpid(tpid, &status, WNOHANG);
		if (r == tpid)
			return status;
		sleep_us(10000);
	}
	if (dpid > 0)
		kill(dpid, SIGKILL);
	kill(tpid, SIGKILL);
	waitpid(tpid, &status, 0);
	return status;
}

struct startup_run {
	double ready_ms, status_ms;
	long rss_kb, hwm_kb, anon_kb, file_kb, stored;
};

static int one_startup(const char *sock, char **argv, struct startup_run *r)
{
	static char reply[64 * 1024];
	pid_t tpid, dpid;
	int64_t t0;
	bool ready = false;

	unlink(sock);
	t0 = now_ns();
	int rc = posix_spawnp(&tpid, argv[0], NULL, NULL, argv, environ);
	if (rc != 0) {
		fprintf(stderr, "gk_probe: cannot start %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	while (!ready && now_ns() - t0 < READY_LIMIT_NS) {
		ready = status_answers(sock, reply, sizeof(reply));
		if (!ready) {
			if (waitpid(tpid, NULL, WNOHANG) == tpid) {
				fprintf(stderr, "gk_probe: the daemon exited before it was ready\n");
				return -1;
			}
			sleep_us(200);
		}
	}
	r->ready_ms = (double)(now_ns() - t0) / 1e6;
	/* What one status request costs on the ready daemon (it counts the
	 * stored verdicts), to tell start-up from the request that proves it. */
	int64_t t1 = now_ns();
	r->status_ms = ready && status_answers(sock, reply, sizeof(reply)) ?
		       (double)(now_ns() - t1) / 1e6 : -1;
	dpid = child_of(tpid);
	r->rss_kb = dpid > 0 ? proc_status_kb(dpid, "VmRSS") : -1;
	r->hwm_kb = dpid > 0 ? proc_status_kb(dpid, "VmHWM") : -1;
	r->anon_kb = dpid > 0 ? proc_status_kb(dpid, "RssAnon") : -1;
	r->file_kb = dpid > 0 ? proc_status_kb(dpid, "RssFile") : -1;
	r->stored = ready ? reply_number(reply, "stored_verdicts") : -1;
	int st = stop_started(tpid, dpid);
	if (!ready) {
		fprintf(stderr, "gk_probe: status did not answer within 10 s\n");
		return -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "gk_probe: note: daemon exit status %d after SIGTERM\n", st);
	return 0;
}

static int cmd_startup(int argc, char **argv)
{
	struct startup_run runs[MAX_RUNS];
	double ready[MAX_RUNS], rss[MAX_RUNS], hwm[MAX_RUNS], anon[MAX_RUNS], file[MAX_RUNS];
	double status[MAX_RUNS];
	int n = argc > 2 ? atoi(argv[2]) : 0;

	if (argc < 5 || n < 1 || n > MAX_RUNS) {
		fprintf(stderr, "usage: gk_probe startup RUNS(1-%d) SOCKET DAEMON_ARGV...\n", MAX_RUNS);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		if (one_startup(argv[3], argv + 4, &runs[i]) < 0)
			return 1;
		ready[i] = runs[i].ready_ms;
		status[i] = runs[i].status_ms;
		rss[i] = (double)runs[i].rss_kb;
		hwm[i] = (double)runs[i].hwm_kb;
		anon[i] = (double)runs[i].anon_kb;
		file[i] = (double)runs[i].file_kb;
	}
	printf("{\"runs\":%d,\"stored_verdicts\":%ld,\"ready_ms\":[", n, runs[0].stored);
	for (int i = 0; i < n; i++)
		printf("%s%.2f", i ? "," : "", ready[i]);
	printf("],\"ready_ms_median\":%.2f,\"status_ms_median\":%.2f", median(ready, n),
	       median(status, n));
	printf(",\"rss_kb_median\":%.0f,\"hwm_kb_median\":%.0f", median(rss, n), median(hwm, n));
	printf(",\"rss_anon_kb_median\":%.0f,\"rss_file_kb_median\":%.0f}\n", median(anon, n),
	       median(file, n));
	return 0;
}

/* Does one of pid's fanotify groups hold an ignore mark on (dev, ino)? */
static bool has_ignore_mark(pid_t pid, dev_t dev, ino_t ino)
{
	char dir[64], path[600], link[64], line[512], want[96];
	bool found = false;
	/* fdinfo prints the kernel's dev_t: major << 20 | minor, in hex. */
	snprintf(want, sizeof(want), "fanotify ino:%lx sdev:%x ", (unsigned long)ino,
		 (major(dev) << 20) | minor(dev));
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	for (struct dirent *e; !found && (e = readdir(d));) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[fanotify]") != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
		FILE *f = fopen(path, "re");
		while (f && !found && fgets(line, sizeof(line), f)) {
			/* The exec gate's mark: it silences the permission event
			 * (the close-write group marks FAN_OPEN_EXEC, a count only). */
			const char *ig = strstr(line, "ignored_mask:");
			found = !strncmp(line, want, strlen(want)) && ig &&
				(strtoul(ig + 13, NULL, 16) & FAN_OPEN_EXEC_PERM);
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return found;
}

/* Wait up to MARK_LIMIT_NS for the mark; ms since t0, or -1. */
static double wait_mark(pid_t pid, const struct stat *st, int64_t t0)
{
	while (now_ns() - t0 < MARK_LIMIT_NS) {
		if (has_ignore_mark(pid, st->st_dev, st->st_ino))
			return (double)(now_ns() - t0) / 1e6;
		sleep_us(100);    /* polling harder would take the CPU from the daemon */
	}
	return -1;
}

/* Write TEMPLATE's bytes and a unique tail to a new file at path; returns
 * the still-open fd (the caller times the close), or -1. */
static int write_copy(const char *template, const char *path, int serial)
{
	char buf[64 * 1024];
	int in = open(template, O_RDONLY | O_CLOEXEC);
	int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	ssize_t n;

	if (in < 0 || out < 0)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto fail;
	n = snprintf(buf, sizeof(buf), "\ngk-bench close-verdict %d %d %lld\n", (int)getpid(),
		     serial, (long long)now_ns());
	if (n < 0 || write(out, buf, (size_t)n) != n)
		goto fail;
	close(in);
	return out;
fail:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return -1;
}

/* After an n/a: exec the file (a miss) and see whether the mark shows. */
static double detector_check(pid_t dpid, const char *path, const struct stat *st)
{
	char *argv[] = { (char *)path, NULL };
	pid_t pid;
	int status;
	if (posix_spawn(&pid, path, NULL, NULL, argv, environ) != 0)
		return -1;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return wait_mark(dpid, st, now_ns());
}

static int cmd_close_verdict(int argc, char **argv)
{
	int iters = argc > 2 ? atoi(argv[2]) : 0;
	pid_t dpid = argc > 3 ? (pid_t)atoi(argv[3]) : 0;
	double ms[MAX_RUNS];
	char path[4096];
	struct stat st;

	if (argc != 6 || iters < 1 || iters > MAX_RUNS || dpid <= 0) {
		fprintf(stderr, "usage: gk_probe close-verdict ITERS(1-%d) DAEMON_PID TEMPLATE DIR\n",
			MAX_RUNS);
		return 2;
	}
	for (int i = 0; i < iters; i++) {
		snprintf(path, sizeof(path), "%s/close-verdict.%d", argv[5], i);
		int fd = write_copy(argv[4], path, i);
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "gk_probe: cannot write %s: %s\n", path, strerror(errno));
			return 1;
		}
		/* The clock starts before close(): the close wakes the daemon,
		 * which may run before this process gets the CPU back. */
		int64_t t0 = now_ns();
		if (close(fd) < 0) {
			fprintf(stderr, "gk_probe: close %s: %s\n", path, strerror(errno));
			return 1;
		}
		ms[i] = wait_mark(dpid, &st, t0);
		if (ms[i] < 0) {
			double seen = detector_check(dpid, path, &st);
			printf("{\"status\":\"n/a\",\"reason\":\"no kernel verdict (ignore mark) for a newly "
			       "written executable within 1 s of close(): the close-write pre-scan did not "
			       "judge it\",\"detector_ok\":%s,\"detector_ms_after_exec\":%.2f}\n",
			       seen >= 0 ? "true" : "false", seen);
			unlink(path);
			return 0;
		}
		unlink(path);
	}
	printf("{\"status\":\"ok\",\"n\":%d,\"samples_ms\":[", iters);
	for (int i = 0; i < iters; i++)
		printf("%s%.3f", i ? "," : "", ms[i]);
	double mid = median(ms, iters);   /* sorts ms */
	printf("],\"median_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n", mid,
	       nearest_rank(ms, iters, 90), nearest_rank(ms, iters, 99), ms[iters - 1]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "startup"))
		return cmd_startup(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "close-verdict"))
		return cmd_close_verdict(argc, argv);
	fprintf(stderr, "usage: gk_probe startup RUNS SOCKET DAEMON_ARGV...\n"
			"       gk_probe close-verdict ITERS DAEMON_PID TEMPLATE DIR\n");
	return 2;
}
