/* routes: invariant 1 of DESIGN.md, one write route at a time, on the real
 * kernel. A verdict never outlives the content it judged.
 *
 *   routes ROUTE TARGET GOOD BAD ROUNDS EXPECT_HIT CTL SOCKET
 *
 * GOOD and BAD are files of the same size; BAD is GOOD's prefix up to its
 * first NUL padding (so truncate(2) and a punched hole can produce it too).
 * The daemon allows GOOD's content and denies everything else. Each round:
 *   1. TARGET := GOOD (rewritten in place);
 *   2. exec TARGET twice; the second exec must be a kernel hit (perm_events
 *      unchanged) when EXPECT_HIT is 1;
 *   3. BAD's content goes into TARGET by ROUTE;
 *   4. exec TARGET at once: it must fail with EPERM, never run.
 * Routes: write otrunc truncate fallocate copy_file_range aio splice mmap
 * mmap_close_first rename old_writer mmap_old_writer mmap_old_writer_touch
 * mmap_hidden_writer.
 * aio (io_submit) raises no FS_MODIFY, nor does splice before Linux 6.5: an
 * ignore mark outlives them. The *old_writer* routes open their writer before
 * step 2, whose execs the daemon then refuses (EPERM): without that, the
 * writer could change the content after the verdict and close before the
 * kernel's own refusal (ETXTBSY). mmap_old_writer_touch also moves the ctime (futimens), as a write
 * fault does on ext4, xfs or btrfs (not on tmpfs, where the tests run).
 * mmap_hidden_writer writes one byte through its mapping (the fault that
 * moves the ctime) and closes its descriptor before step 2, so that BAD
 * later goes in with no new ctime: on overlayfs nothing shows that writer,
 * and step 2's execs must run GOOD (or the test would show nothing);
 * elsewhere the mapping holds the file open for writing (EPERM).
 *
 * With GK_ROUTES_FREEZE_PID set, step 4's exec runs with that process (the
 * daemon) stopped: only what the kernel caches can answer it, so a refusal
 * there is the kernel's own, and an exec the kernel sends to the daemon
 * hangs (reported "hung", then the daemon is let go on).
 *
 * Prints one line per notable round and a summary line
 *   "rounds=N eperm=N bad_ran=N other=N hits=N misses=N setup_errors=N".
 * Exit status 0 when every round ended in EPERM, 1 otherwise, 2 on usage. */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXEC_FAIL_BASE 200   /* child exit status = EXEC_FAIL_BASE + errno */
#define EXEC_LIMIT_MS 15000
#define FROZEN_EXEC_LIMIT_MS 3000   /* the daemon stopped: a wait is a hang */

static int64_t exec_limit_ms = EXEC_LIMIT_MS;

struct content {
	char *bytes;
	size_t size;
	size_t prefix;           /* bytes before the NUL padding */
};

struct run {
	const char *route, *target, *bad_path, *ctl, *sock;
	struct content good, bad;
	bool expect_hit, old_writer, hidden_writer, on_overlay;
	int writer_fd;           /* old_* routes: opened before the verdict */
	pid_t freeze_pid;        /* GK_ROUTES_FREEZE_PID: stopped for step 4's exec */
	char *writer_map;
	unsigned eperm, bad_ran, other, hits, misses, setup_errors;
};

static int read_whole(const char *path, struct content *c)
{
	int rc = -1;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		goto cleanup;
	c->size = (size_t)st.st_size;
	c->bytes = malloc(c->size + 1);
	if (!c->bytes || pread(fd, c->bytes, c->size, 0) != (ssize_t)c->size)
		goto cleanup;
	c->prefix = strnlen(c->bytes, c->size);
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Exec path in a child; "ran:N", "errno:NAME", "signal:N" or "hung". */
static void exec_path(const char *path, char *out, size_t size)
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(out, size, "fork-failed");
		return;
	}
	if (pid == 0) {
		char *argv[] = { (char *)path, NULL };
		execv(path, argv);
		_exit(EXEC_FAIL_BASE + errno);
	}
	for (int64_t end = now_ms() + exec_limit_ms;;) {
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			break;
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(out, size, "hung");
			return;
		}
		struct timespec pause = { 0, 200 * 1000 };
		nanosleep(&pause, NULL);
	}
	if (WIFSIGNALED(status)) {
		snprintf(out, size, "signal:%d", WTERMSIG(status));
	} else if (WEXITSTATUS(status) > EXEC_FAIL_BASE) {
		const char *name = strerrorname_np(WEXITSTATUS(status) - EXEC_FAIL_BASE);
		snprintf(out, size, "errno:%s", name ? name : "unknown");
	} else {
		snprintf(out, size, "ran:%d", WEXITSTATUS(status));
	}
}

/* perm_events from `gatekeeper-ctl status`, -1 if it cannot be read. */
static long perm_events(const struct run *r)
{
	char cmd[8192], line[512];
	long value = -1;

	snprintf(cmd, sizeof(cmd), "timeout -s KILL 10 '%s' --socket '%s' status 2>/dev/null",
		 r->ctl, r->sock);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "perm_events: %ld", &value) == 1)
			break;
	while (fgets(line, sizeof(line), p))
		;
	pclose(p);
	return value;
}

static int write_all_at(int fd, const struct content *c)
{
	return pwrite(fd, c->bytes, c->size, 0) == (ssize_t)c->size ? 0 : -1;
}

static int put_content(const char *path, const struct content *c, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0755);

	if (fd < 0)
		return -1;
	int rc = write_all_at(fd, c);
	return close(fd) < 0 ? -1 : rc;
}

static int route_mmap(const struct run *r, bool close_first)
{
	int fd = open(r->target, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	char *map = mmap(NULL, r->bad.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return -1;
	}
	if (close_first)
		close(fd);
	memcpy(map, r->bad.bytes, r->bad.size);
	munmap(map, r->bad.size);
	if (!close_first)
		close(fd);
	return 0;
}

static int route_copy(const struct run *r)
{
	int rc = -1;
	int in = open(r->bad_path, O_RDONLY | O_CLOEXEC);
	int out = open(r->target, O_WRONLY | O_CLOEXEC);
	loff_t off_in = 0, off_out = 0;

	if (in < 0 || out < 0)
		goto cleanup;
	if (copy_file_range(in, &off_in, out, &off_out, r->bad.size, 0) != (ssize_t)r->bad.size)
		goto cleanup;
	rc = 0;
cleanup:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		rc = -1;
	return rc;
}

/* The write as one AIO request (raw system calls: no libaio needed). */
static int route_aio(const struct run *r)
{
	aio_context_t ctx = 0;
	struct iocb cb = { 0 }, *cbs[1] = { &cb };
	struct io_event ev;
	int rc = -1, fd = open(r->target, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (syscall(SYS_io_setup, 1, &ctx) < 0)
		goto cleanup;
	cb.aio_lio_opcode = IOCB_CMD_PWRITE;
	cb.aio_fildes = (__u32)fd;
	cb.aio_buf = (__u64)(uintptr_t)r->bad.bytes;
	cb.aio_nbytes = r->bad.size;
	if (syscall(SYS_io_submit, ctx, 1L, cbs) == 1 &&
	    syscall(SYS_io_getevents, ctx, 1L, 1L, &ev, NULL) == 1 && ev.res == (__s64)r->bad.size)
		rc = 0;
	syscall(SYS_io_destroy, ctx);
cleanup:
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/* The content through a pipe, spliced into the file at offset 0. */
static int route_splice(const struct run *r)
{
	int p[2] = { -1, -1 }, rc = -1, fd = open(r->target, O_WRONLY | O_CLOEXEC);
	loff_t off = 0;

	if (fd < 0 || pipe2(p, O_CLOEXEC) < 0)
		goto cleanup;
	if (write(p[1], r->bad.bytes, r->bad.size) != (ssize_t)r->bad.size)
		goto cleanup;
	if (splice(p[0], NULL, fd, &off, r->bad.size, 0) == (ssize_t)r->bad.size)
		rc = 0;
cleanup:
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	if (fd >= 0 && close(fd) < 0)
		rc = -1;
	return rc;
}

static int route_punch(const struct run *r)
{
	int fd = open(r->target, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	int rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->bad.prefix,
			   (off_t)(r->bad.size - r->bad.prefix));
	return close(fd) < 0 ? -1 : rc;
}

static int route_rename(const struct run *r)
{
	char tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s.new", r->target);
	if (put_content(tmp, &r->bad, O_CREAT | O_TRUNC) < 0)
		return -1;
	return rename(tmp, r->target);
}

static int route_old_writer(struct run *r)
{
	int rc = 0;

	if (r->writer_map) {
		memcpy(r->writer_map, r->bad.bytes, r->bad.size);
		if (!strcmp(r->route, "mmap_old_writer_touch") && futimens(r->writer_fd, NULL) < 0)
			rc = -1;
		munmap(r->writer_map, r->bad.size);
		r->writer_map = NULL;
	} else if (write_all_at(r->writer_fd, &r->bad) < 0) {
		rc = -1;
	}
	if (r->writer_fd >= 0 && close(r->writer_fd) < 0)
		rc = -1;
	r->writer_fd = -1;
	return rc;
}

/* Put BAD's content into TARGET by the route; 0 ok, -1 + errno. */
static int apply_route(struct run *r)
{
	const char *x = r->route;

	if (!strcmp(x, "write"))
		return put_content(r->target, &r->bad, 0);
	if (!strcmp(x, "otrunc"))
		return put_content(r->target, &r->bad, O_TRUNC);
	if (!strcmp(x, "truncate"))
		return truncate(r->target, (off_t)r->bad.prefix) < 0 ? -1
									: truncate(r->target, (off_t)r->bad.size);
	if (!strcmp(x, "fallocate"))
		return route_punch(r);
	if (!strcmp(x, "copy_file_range"))
		return route_copy(r);
	if (!strcmp(x, "aio"))
		return route_aio(r);
	if (!strcmp(x, "splice"))
		return route_splice(r);
	if (!strcmp(x, "mmap"))
		return route_mmap(r, false);
	if (!strcmp(x, "mmap_close_first"))
		return route_mmap(r, true);
	if (!strcmp(x, "rename"))
		return route_rename(r);
	return route_old_writer(r);
}

static bool known_route(const char *x)
{
	static const char *const routes[] = { "write", "otrunc", "truncate", "fallocate",
					      "copy_file_range", "aio", "splice", "mmap", "mmap_close_first",
					      "rename", "old_writer", "mmap_old_writer",
					      "mmap_old_writer_touch", "mmap_hidden_writer" };
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(x, routes[i]))
			return true;
	return false;
}

static int open_old_writer(struct run *r)
{
	r->writer_fd = open(r->target, O_RDWR | O_CLOEXEC);
	if (r->writer_fd < 0)
		return -1;
	if (strncmp(r->route, "mmap_old_writer", 15) && !r->hidden_writer)
		return 0;
	r->writer_map = mmap(NULL, r->bad.size, PROT_READ | PROT_WRITE, MAP_SHARED, r->writer_fd, 0);
	if (r->writer_map == MAP_FAILED) {
		r->writer_map = NULL;
		return -1;
	}
	if (r->hidden_writer) {
		volatile char *first = r->writer_map;
		*first = *first;
		close(r->writer_fd);
		r->writer_fd = -1;
	}
	return 0;
}

static bool holds(const char *path, const struct content *c)
{
	struct content now = { 0 };
	bool same = read_whole(path, &now) == 0 && now.size == c->size &&
		    !memcmp(now.bytes, c->bytes, c->size);

	free(now.bytes);
	return same;
}

/* The daemon caches no verdict on content read within two clock ticks of
 * its last change (gatekeeperd(8)): wait until the ctime is older. */
static void wait_settled(const char *path)
{
	for (int i = 0; i < 2000; i++) {
		struct timespec now, res;
		struct stat st;
		if (clock_gettime(CLOCK_REALTIME_COARSE, &now) < 0 ||
		    clock_getres(CLOCK_REALTIME_COARSE, &res) < 0 || stat(path, &st) < 0)
			return;
		int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
		int64_t ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
		if (ctime_ns < now_ns - 2 * ((int64_t)res.tv_sec * 1000000000 + res.tv_nsec))
			return;
		struct timespec pause = { 0, 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

/* Steps 1-2: TARGET holds GOOD and its allow is cached. false: setup error. */
static bool prepare_round(struct run *r, unsigned round)
{
	char res1[64], res2[64];
	const char *want = r->old_writer && !(r->hidden_writer && r->on_overlay) ? "errno:EPERM"
										 : "ran:0";

	if (put_content(r->target, &r->good, O_CREAT | O_TRUNC) < 0 ||
	    (r->old_writer && open_old_writer(r) < 0)) {
		printf("round %u: setup: cannot write %s: %s\n", round, r->target, strerror(errno));
		return false;
	}
	wait_settled(r->target);
	exec_path(r->target, res1, sizeof(res1));
	long pe1 = perm_events(r);
	exec_path(r->target, res2, sizeof(res2));
	long pe2 = perm_events(r);
	if (strcmp(res1, want) || strcmp(res2, want) || pe1 < 0 || pe2 < 0) {
		printf("round %u: setup: good content gave %s then %s (want %s), perm_events %ld %ld\n",
		       round, res1, res2, want, pe1, pe2);
		return false;
	}
	if (pe2 == pe1) {
		r->hits++;
	} else {
		r->misses++;
		if (r->expect_hit)
			printf("round %u: second exec of the good content raised %ld permission events\n",
			       round, pe2 - pe1);
	}
	return true;
}

static void run_round(struct run *r, unsigned round)
{
	char result[64];

	if (!prepare_round(r, round)) {
		r->setup_errors++;
		goto cleanup;
	}
	if (apply_route(r) < 0) {
		printf("round %u: route %s failed: %s\n", round, r->route, strerror(errno));
		r->setup_errors++;
		goto cleanup;
	}
	int64_t t0 = now_ms();
	if (r->freeze_pid > 0) {
		kill(r->freeze_pid, SIGSTOP);
		exec_limit_ms = FROZEN_EXEC_LIMIT_MS;
	}
	exec_path(r->target, result, sizeof(result));
	if (r->freeze_pid > 0) {
		kill(r->freeze_pid, SIGCONT);
		exec_limit_ms = EXEC_LIMIT_MS;
		printf("round %u: exec with the daemon stopped gave %s in %lld ms\n", round, result,
		       (long long)(now_ms() - t0));
	}
	if (!holds(r->target, &r->bad)) {
		printf("round %u: route %s did not leave the bad content in place\n", round, r->route);
		r->setup_errors++;
	}
	if (!strcmp(result, "errno:EPERM")) {
		r->eperm++;
	} else if (!strncmp(result, "ran:", 4)) {
		r->bad_ran++;
		printf("round %u: the bad content RAN (%s) after route %s\n", round, result, r->route);
	} else {
		r->other++;
		printf("round %u: exec after route %s gave %s, expected errno:EPERM\n", round,
		       r->route, result);
	}
cleanup:
	if (r->writer_map)
		munmap(r->writer_map, r->bad.size);
	if (r->writer_fd >= 0)
		close(r->writer_fd);
	r->writer_map = NULL;
	r->writer_fd = -1;
}

int main(int argc, char **argv)
{
	struct run r = { .writer_fd = -1 };

	if (argc != 9 || !known_route(argv[1])) {
		fprintf(stderr, "usage: routes ROUTE TARGET GOOD BAD ROUNDS EXPECT_HIT CTL SOCKET\n");
		return 2;
	}
	r.route = argv[1];
	r.target = argv[2];
	r.bad_path = argv[4];
	r.expect_hit = atoi(argv[6]) != 0;
	r.ctl = argv[7];
	r.sock = argv[8];
	r.hidden_writer = !strcmp(r.route, "mmap_hidden_writer");
	r.old_writer = !strncmp(r.route, "old_writer", 10) || !strncmp(r.route, "mmap_old_writer", 15) ||
		       r.hidden_writer;
	char dir[4096];
	struct statfs fs;
	snprintf(dir, sizeof(dir), "%s", r.target);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	r.on_overlay = statfs(dir, &fs) == 0 && fs.f_type == OVERLAYFS_SUPER_MAGIC;
	const char *freeze = getenv("GK_ROUTES_FREEZE_PID");
	r.freeze_pid = freeze ? (pid_t)atoi(freeze) : 0;
	if (read_whole(argv[3], &r.good) < 0 || read_whole(argv[4], &r.bad) < 0 ||
	    r.good.size != r.bad.size || r.bad.prefix == r.bad.size) {
		fprintf(stderr, "routes: GOOD and BAD must be readable, of one size, BAD NUL-padded\n");
		return 2;
	}
	unsigned rounds = (unsigned)atoi(argv[5]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned i = 1; i <= rounds; i++)
		run_round(&r, i);
	printf("rounds=%u eperm=%u bad_ran=%u other=%u hits=%u misses=%u setup_errors=%u\n", rounds,
	       r.eperm, r.bad_ran, r.other, r.hits, r.misses, r.setup_errors);
	return r.eperm == rounds && !r.setup_errors ? 0 : 1;
}
