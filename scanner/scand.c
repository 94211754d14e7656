/* gatekeeper-scand: libclamav in a confined process, for gatekeeperd.
 *
 *   gatekeeper-scand --parent PID --db DIR [--tmp DIR] [--user NAME]
 *       [--memory-mb N] [--max-file-size N] [--max-scan-size N]
 *       [--max-scan-ms N] [--max-recursion N] [--max-files N] [--no-archives]
 *
 * Started by the daemon (clamav_proc.c) with its socket as fd 3. It confines
 * itself (sandbox.c), loads the signatures once and says HELLO; from then on
 * it is a zygote: each FORK makes a worker that shares the compiled engine
 * copy-on-write and serves SCAN requests on a socket of its own, which the
 * zygote hands to the daemon. The zygote reaps a worker only when the daemon
 * asks (REAP, after it killed it), so the daemon's kill can never hit a
 * reused pid. It exits when the daemon closes fd 3 or dies (PDEATHSIG). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scanner/engine.h"
#include "scanner/scand.h"

struct scand {
	struct scanner_clamav_config cc;
	struct scand_sandbox sb;
	pid_t parent;
	void *cfg, *set;
	unsigned delay_ms;       /* test hook */
	bool hog, probe, hostile;   /* test hooks */
};

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !*s || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct scand *z)
{
	static const struct option opts[] = {
		{ "parent", required_argument, NULL, 'P' }, { "db", required_argument, NULL, 'd' },
		{ "tmp", required_argument, NULL, 't' }, { "user", required_argument, NULL, 'u' },
		{ "memory-mb", required_argument, NULL, 'm' },
		{ "max-file-size", required_argument, NULL, 'F' },
		{ "max-scan-size", required_argument, NULL, 'S' },
		{ "max-scan-ms", required_argument, NULL, 'T' },
		{ "max-recursion", required_argument, NULL, 'R' },
		{ "max-files", required_argument, NULL, 'N' },
		{ "no-archives", no_argument, NULL, 'A' }, { 0 } };
	int c;
	uint64_t v = 0;
	z->sb.memory_mb = SCAND_DEFAULT_MEMORY_MB;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == '?' || (optarg && c != 'd' && c != 't' && c != 'u' && parse_u64(optarg, &v) < 0)) {
			fprintf(stderr, "gatekeeper-scand: bad option or value%s%s\n",
				optarg ? ": " : "", optarg ? optarg : "");
			return -1;
		}
		switch (c) {
		case 'P': z->parent = (pid_t)v; break;
		case 'd': z->cc.db_dir = optarg; break;
		case 't': z->cc.tmp_dir = optarg; z->sb.scratch = optarg; break;
		case 'u': z->sb.user = optarg; break;
		case 'm': z->sb.memory_mb = (unsigned)v; break;
		case 'F': z->cc.limits.max_file_size = v; break;
		case 'S': z->cc.limits.max_scan_size = v; break;
		case 'T': z->cc.limits.max_scan_ms = (uint32_t)v; break;
		case 'R': z->cc.limits.max_recursion = (uint32_t)v; break;
		case 'N': z->cc.limits.max_files = (uint32_t)v; break;
		case 'A': z->cc.no_archives = true; break;
		}
	}
	if (!z->cc.tmp_dir) {
		/* The private tmpfs hides what was there, in this process's view
		 * only: a place every system has and scanning never needs, that
		 * does not hold the signatures. */
		static const char *const spots[] = { "/dev/shm", "/tmp", "/var/tmp" };
		const char *db = z->cc.db_dir ? z->cc.db_dir : SCANNER_CLAMAV_DEFAULT_DB;
		for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]) && !z->cc.tmp_dir; i++) {
			size_t n = strlen(spots[i]);
			bool holds_db = strncmp(db, spots[i], n) == 0 && (db[n] == '/' || !db[n]);
			if (!holds_db && access(spots[i], X_OK) == 0)
				z->cc.tmp_dir = spots[i];
		}
		z->sb.scratch = z->cc.tmp_dir;
	}
	return optind == argc && z->parent > 0 && z->cc.tmp_dir ? 0 : -1;
}

static void read_test_hooks(struct scand *z)
{
	const char *t = getenv(SCAND_TEST_ENV);
	if (!t)
		return;
	const char *delay = strstr(t, "delay:");
	if (delay)
		z->delay_ms = (unsigned)strtoul(delay + 6, NULL, 10);
	z->hog = strstr(t, "hog") != NULL;
	z->probe = strstr(t, "probe") != NULL;
	z->hostile = strstr(t, "hostile") != NULL;
}

/* Test hooks act only on files that carry their marker, so one daemon can
 * test them beside ordinary scans. */
static bool file_holds(int fd, const char *marker)
{
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return memmem(buf, (size_t)n, marker, strlen(marker)) != NULL;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* Sanitizer builds (the unit suite): no RLIMIT_AS (see sandbox.c), so the
 * hog stops at the limit by itself; LeakSanitizer's tracer cannot run
 * under the seccomp filter; a crash must end the process by its signal. */
#define SCAND_SANITIZED 1
#define SCAND_SAN_OPTIONS "detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_abort=0"
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return SCAND_SAN_OPTIONS;
}
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return SCAND_SAN_OPTIONS;
}
#define HOG_MAX(z) ((size_t)(z)->sb.memory_mb << 20)
#else
#define HOG_MAX(z) ((size_t)64 << 30)
#endif

static bool hog_memory(const struct scand *z)
{
	(void)z;
	for (size_t total = 0; total < HOG_MAX(z); total += 16 << 20) {
		char *p = malloc(16 << 20);
		if (!p)
			return true;   /* leaked on purpose: this worker is done */
		for (size_t i = 0; i < (16u << 20); i += 4096)
			p[i] = 1;   /* one store a page: resident, and cheap under TSan */
	}
#ifdef SCAND_SANITIZED
	return true;
#else
	return false;
#endif
}

/* What the confinement leaves a compromised worker: each attempt's errno. */
static const char *said(long rc, int err)
{
	const char *name = rc >= 0 ? "ok" : strerrorname_np(err);
	return name ? name : "?";
}

/* The same for a call that returns a descriptor, closed. */
static const char *outcome(int fd_or_rc, int err)
{
	if (fd_or_rc >= 0)
		close(fd_or_rc);
	return said(fd_or_rc, err);
}

static void probe_sandbox(const char *scratch, struct scan_result *r)
{
	const char *res[5];
	char path[512];
	char *const argv[] = { "true", NULL };
	snprintf(path, sizeof(path), "%s/gk-scand-probe", scratch);
	for (int i = 0; i < 5; i++) {
		int rc = i == 0 ? socket(AF_INET, SOCK_STREAM, 0)
		       : i == 1 ? socket(AF_UNIX, SOCK_STREAM, 0)
		       : i == 2 ? open("/etc/gk-scand-probe", O_WRONLY | O_CREAT | O_EXCL, 0600)
		       : i == 3 ? open(path, O_WRONLY | O_CREAT, 0600)
				: execve("/bin/true", argv, argv + 1);
		res[i] = outcome(rc, errno);   /* errno read after the call */
	}
	r->status = SCAN_ERROR;
	scanner_line(r->detail, sizeof(r->detail),
		     "probe: inet=%s unix=%s write_etc=%s write_scratch=%s execve=%s", res[0],
		     res[1], res[2], res[3], res[4]);
}

static void forge_lines(void)
{
	static const char forged[] = "decision verdict=allow source=admin path=/gk-forged\n";
	(void)!write(1, forged, sizeof(forged) - 1);
	(void)!write(2, forged, sizeof(forged) - 1);
	char line[64];
	for (int i = 0; i < 200; i++) {
		int n = snprintf(line, sizeof(line), "gk-scand-flood %d\n", i);
		(void)!write(2, line, (size_t)n);
	}
}

/* What a compromised worker would try (the "hostile" hook): true when it
 * answered r, false when the file is to be scanned after it. */
static bool hostile(int fd, struct scan_result *r)
{
	pid_t zygote = getppid();
	if (file_holds(fd, "gk-scand-setsig")) {
		fcntl(fd, F_SETSIG, SIGTERM);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	} else if (file_holds(fd, "gk-scand-forge")) {
		forge_lines();
	} else if (file_holds(fd, "gk-scand-fcntl")) {
		const char *setsig = said(fcntl(fd, F_SETSIG, SIGTERM), errno);
		const char *setown = said(fcntl(fd, F_SETOWN, zygote), errno);
		const char *lease = said(fcntl(fd, F_SETLEASE, F_RDLCK), errno);
		const char *getfl = said(fcntl(fd, F_GETFL), errno);
		const char *dup = outcome(fcntl(fd, F_DUPFD_CLOEXEC, 0), errno);
		scanner_line(r->detail, sizeof(r->detail), "fcntl: setsig=%s setown=%s setlease=%s "
			     "getfl=%s dupfd=%s", setsig, setown, lease, getfl, dup);
		return true;
	} else if (file_holds(fd, "gk-scand-killzygote")) {
		const char *tg = said(syscall(SYS_tgkill, zygote, zygote, SIGKILL), errno);
		const char *t = said(syscall(SYS_tkill, zygote, SIGKILL), errno);
		scanner_line(r->detail, sizeof(r->detail), "signals: tgkill_zygote=%s "
			     "tkill_zygote=%s", tg, t);
		return true;
	} else if (file_holds(fd, "gk-scand-abort")) {
		abort();
	}
	return false;
}

static void scan_one(struct scand *z, int fd, struct scan_result *r)
{
	memset(r, 0, sizeof(*r));
	if (z->probe && file_holds(fd, "gk-scand-probe")) {
		probe_sandbox(z->cc.tmp_dir, r);
		return;
	}
	if (z->hostile && hostile(fd, r)) {
		r->status = SCAN_ERROR;
		return;
	}
	if (z->delay_ms && file_holds(fd, "gk-scand-slow"))
		usleep(z->delay_ms * 1000u);
	if (z->hog && file_holds(fd, "gk-scand-hog") && hog_memory(z)) {
		r->status = SCAN_ERROR;
		scanner_line(r->detail, sizeof(r->detail), "out of memory (limit %u MiB)",
			     z->sb.memory_mb);
		return;
	}
	scanner_clamav_ops.scan(z->cfg, z->set, fd, NULL, 0, r);
	if (r->status == SCAN_ERROR && strstr(r->detail, "allocate memory"))
		scanner_line(r->detail, sizeof(r->detail), "out of memory (limit %u MiB)",
			     z->sb.memory_mb);
}

static _Noreturn void worker_loop(struct scand *z, int sock)
{
	char err[SCAND_TEXT_MAX];
	if (scand_sandbox_worker(err, sizeof(err)) < 0) {
		scanner_log(SCANNER_LOG_ERR, "%s", err);
		_exit(1);
	}
	for (;;) {
		struct scand_msg m;
		int fd;
		if (scand_recv(sock, &m, &fd, -1) < 0) {
			if (errno == EBADMSG)
				continue;
			_exit(0);   /* the daemon closed our socket */
		}
		struct scan_result r = { .status = SCAN_ERROR };
		if (m.op != SCAND_SCAN || fd < 0)
			scanner_line(r.detail, sizeof(r.detail), "scanner: bad request");
		else
			scan_one(z, fd, &r);
		if (fd >= 0)
			close(fd);
		if (scand_send(sock, SCAND_RESULT, (int32_t)r.status, 0, m.id, r.detail, -1) < 0)
			_exit(0);
	}
}

static void fork_worker(struct scand *z, int ctl)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		scand_send(ctl, SCAND_WORKER, -1, 0, 0, strerror(errno), -1);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		close(ctl);
		close(sv[0]);
		worker_loop(z, sv[1]);
	}
	close(sv[1]);
	if (pid < 0)
		scand_send(ctl, SCAND_WORKER, -1, 0, 0, strerror(errno), -1);
	else if (scand_send(ctl, SCAND_WORKER, pid, 0, 0, NULL, sv[0]) < 0)
		kill(pid, SIGKILL);
	close(sv[0]);
}

/* The daemon killed the worker already, unless it lacks CAP_KILL for our
 * user (a unit's bounding set): kill it here too, as its parent. */
static void reap_worker(int ctl, pid_t pid)
{
	int status = 0;
	pid_t got;
	if (pid > 1)
		kill(pid, SIGKILL);
	do
		got = waitpid(pid, &status, 0);
	while (got < 0 && errno == EINTR);
	scand_send(ctl, SCAND_REAPED, pid, got == pid ? status : -1, 0, NULL, -1);
}

int main(int argc, char **argv)
{
	struct scand z = { .cc = { .db_dir = NULL } };
	int ctl = SCAND_CTL_FD;
	if (parse_args(argc, argv, &z) < 0) {
		fprintf(stderr, "usage: gatekeeper-scand --parent PID --db DIR [...] (started by gatekeeperd)\n");
		return 2;
	}
	/* stderr is a pipe to the daemon (scand_io.c): once the daemon is
	 * gone, a write there fails rather than kill the process. */
	signal(SIGPIPE, SIG_IGN);
	/* Die with the daemon; and if it is gone already, do not start. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != z.parent)
		return 1;
	read_test_hooks(&z);
	char err[SCAND_TEXT_MAX] = "";
	unsigned sigs = 0;
	if (scand_sandbox_enter(&z.sb, err, sizeof(err)) == 0 &&
	    (z.cfg = scanner_clamav_cfg_new(&z.cc, err, sizeof(err))) != NULL)
		z.set = scanner_clamav_ops.load(z.cfg, &sigs, err, sizeof(err));
	if (scand_send(ctl, SCAND_HELLO, z.set ? 0 : -1, (int32_t)sigs, 0, err, -1) < 0 || !z.set)
		return 1;
	for (;;) {
		struct scand_msg m;
		if (scand_recv(ctl, &m, NULL, -1) < 0) {
			if (errno == EBADMSG)
				continue;
			return 0;
		}
		if (m.op == SCAND_FORK)
			fork_worker(&z, ctl);
		else if (m.op == SCAND_REAP)
			reap_worker(ctl, m.a);
	}
}
