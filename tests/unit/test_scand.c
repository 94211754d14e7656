/* The scanner process: its wire protocol (scanner/scand.h) and the daemon's
 * supervisor of it (scanner/clamav_proc.c): a crash, a kill, a hang past the
 * time limit or memory exhaustion is a SCAN_ERROR that says why, the next
 * scan gets a fresh process, other scans go on, reloads do not pause, and
 * the process runs confined. Real gatekeeper-scand processes (test hooks
 * through GK_SCAND_TEST); runs as root for the confinement checks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "scanner/scand.h"
#include "test_scanner_util.h"

/* ---- protocol ---- */

static void test_proto_roundtrip_with_fd(void **state)
{
	(void)state;
	int sv[2], fd;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	int file = open("/dev/null", O_RDONLY);
	assert_int_equal(scand_send(sv[0], SCAND_SCAN, 1, 2, 42, "hi\nthere", file), 0);
	struct scand_msg m;
	assert_int_equal(scand_recv(sv[1], &m, &fd, 1000), 0);
	assert_int_equal(m.op, SCAND_SCAN);
	assert_int_equal(m.a, 1);
	assert_int_equal(m.b, 2);
	assert_int_equal(m.id, 42);
	assert_string_equal(m.text, "hi there");   /* one line, always */
	assert_true(fd >= 0 && fd != file);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	close(file);
	close(sv[0]);
	close(sv[1]);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Hostile peers: a wrong size, a wrong magic, an unknown op, a descriptor
 * nobody asked for. Each is refused and leaks no descriptor. */
static void test_proto_rejects_garbage(void **state)
{
	(void)state;
	int sv[2], fd;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	int before = count_fds();
	struct scand_msg m;
	assert_int_equal(send(sv[0], "short", 5, 0), 5);
	assert_int_equal(scand_recv(sv[1], &m, &fd, 1000), -1);
	assert_int_equal(errno, EBADMSG);

	struct scand_msg bad = { .magic = 0x12345678, .op = SCAND_RESULT };
	assert_int_equal(send(sv[0], &bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	assert_int_equal(scand_recv(sv[1], &m, &fd, 1000), -1);
	assert_int_equal(errno, EBADMSG);

	bad.magic = SCAND_MAGIC;
	bad.op = 99;
	assert_int_equal(send(sv[0], &bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	assert_int_equal(scand_recv(sv[1], &m, &fd, 1000), -1);
	assert_int_equal(errno, EBADMSG);

	/* a text without its NUL and a descriptor attached to a garbage message */
	bad.op = SCAND_RESULT;
	memset(bad.text, 'x', sizeof(bad.text));
	assert_int_equal(send(sv[0], &bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	assert_int_equal(scand_recv(sv[1], &m, NULL, 1000), 0);
	assert_int_equal(strlen(m.text), sizeof(m.text) - 1);
	int file = open("/dev/null", O_RDONLY);
	assert_int_equal(scand_send(sv[0], SCAND_RESULT, 0, 0, 1, NULL, file), 0);
	close(file);
	assert_int_equal(scand_recv(sv[1], &m, NULL, 1000), 0);   /* fd not wanted: closed */
	assert_int_equal(count_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

static void test_proto_timeout_and_eof(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	struct scand_msg m;
	assert_int_equal(scand_recv(sv[1], &m, NULL, 50), -1);
	assert_int_equal(errno, ETIMEDOUT);
	close(sv[0]);
	assert_int_equal(scand_recv(sv[1], &m, NULL, 50), -1);
	assert_int_equal(errno, EPIPE);
	/* writing to a closed peer fails, it does not raise SIGPIPE */
	assert_int_equal(scand_send(sv[1], SCAND_FORK, 0, 0, 0, NULL, -1), -1);
	close(sv[1]);
}

/* ---- supervisor ---- */

struct fixture {
	char *dir;
	char db[1024], tmp[1100];
	char *clean, *slow, *hog, *eicar;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx || !(fx->dir = scratch_dir()))
		return -1;
	snprintf(fx->db, sizeof(fx->db), "%s/db", fx->dir);
	snprintf(fx->tmp, sizeof(fx->tmp), "%s/tmp", fx->dir);
	if (mkdir(fx->db, 0755) < 0 || mkdir(fx->tmp, 0755) < 0)
		return -1;
	char eicar[80], hex[200], ndb[300];
	eicar_string(eicar, sizeof(eicar));
	for (size_t i = 0; eicar[i]; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)eicar[i]);
	snprintf(ndb, sizeof(ndb), "Test.EICAR.NDB:0:*:%s\n", hex);
	char *db = write_file(fx->db, "test.ndb", ndb, (size_t)-1);
	free(db);
	fx->eicar = write_file(fx->dir, "eicar.com", eicar, (size_t)-1);
	fx->clean = write_file(fx->dir, "clean.sh", "#!/bin/sh\necho clean\n", (size_t)-1);
	fx->slow = write_file(fx->dir, "slow.sh", "#!/bin/sh\n# gk-scand-slow\n", (size_t)-1);
	fx->hog = write_file(fx->dir, "hog.sh", "#!/bin/sh\n# gk-scand-hog\n", (size_t)-1);
	scanner_set_logger(test_logger, NULL);
	*state = fx;
	return fx->eicar && fx->clean && fx->slow && fx->hog ? 0 : -1;
}

static void kill_leftovers(void);

static int teardown(void **state)
{
	struct fixture *fx = *state;
	kill_leftovers();
	unsetenv(SCAND_TEST_ENV);
	free(fx->eicar);
	free(fx->clean);
	free(fx->slow);
	free(fx->hog);
	scratch_remove(fx->dir);
	free(fx);
	return 0;
}

static struct scanner *open_scand(struct fixture *fx, const char *hooks, unsigned max_scan_ms,
				  unsigned processes)
{
	if (hooks)
		setenv(SCAND_TEST_ENV, hooks, 1);
	else
		unsetenv(SCAND_TEST_ENV);
	char err[256];
	struct scanner_clamav_config cfg = {
		.db_dir = fx->db, .tmp_dir = fx->tmp, .scand_path = test_scand_path(),
		.limits = { .max_scan_ms = max_scan_ms }, .processes = processes,
		.max_memory_mb = 512,
	};
	struct scanner *s = scanner_clamav_open(&cfg, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(err, "");
	return s;
}

static void expect(struct scanner *s, const char *path, enum scan_status st, const char *part)
{
	struct scan_result r;
	scan_path(s, path, &r);
	if (r.status != st || !strstr(r.detail, part))
		fail_msg("%s: got %d \"%s\", want %d with \"%s\"", path, r.status, r.detail, st, part);
}

/* Children of pid (any of its threads'). */
static size_t children_of(pid_t pid, pid_t *out, size_t max)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	size_t n = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		FILE *f = fopen(path, "r");
		int c;
		while (f && n < max && fscanf(f, "%d", &c) == 1)
			out[n++] = c;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* Signal one process of ours: never pid 0 or -1 (the process group, or
 * every process there is). */
static void kill_one(pid_t pid, int sig)
{
	assert_true(pid > 1 && pid != getpid());
	assert_int_equal(kill(pid, sig), 0);
}

/* The zygote is our only child; its workers are its children. */
static pid_t zygote(void)
{
	pid_t z[4];
	return children_of(getpid(), z, 4) == 1 ? z[0] : -1;
}

/* A failed test leaves its scanner open: end its processes (our children,
 * by pid) so that the next test finds only its own. */
static void kill_leftovers(void)
{
	pid_t z[16];
	size_t n = children_of(getpid(), z, 16);
	for (size_t i = 0; i < n; i++)
		if (z[i] > 1)
			kill(z[i], SIGKILL);
	for (size_t i = 0; i < n; i++)
		if (z[i] > 1)
			waitpid(z[i], NULL, 0);
}

static pid_t one_worker(void)
{
	pid_t z = zygote(), w[8];
	return z > 0 && children_of(z, w, 8) == 1 ? w[0] : -1;
}

struct bg_scan {
	struct scanner *s;
	const char *path;
	struct scan_result r;
	int64_t took_ms;
	pthread_t t;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *bg_run(void *arg)
{
	struct bg_scan *b = arg;
	int64_t t0 = now_ms();
	scan_path(b->s, b->path, &b->r);
	b->took_ms = now_ms() - t0;
	return NULL;
}

static void bg_start(struct bg_scan *b, struct scanner *s, const char *path)
{
	b->s = s;
	b->path = path;
	assert_int_equal(pthread_create(&b->t, NULL, bg_run, b), 0);
}

/* kill -9 (or a crash) of the process mid-scan: that scan is an error that
 * says so; the next one runs in a fresh process. */
static void crash_case(struct fixture *fx, int sig, const char *want)
{
	struct scanner *s = open_scand(fx, "delay:3000", 10000, 1);
	expect(s, fx->clean, SCAN_CLEAN, "");
	pid_t w = one_worker();
	assert_true(w > 0);
	struct bg_scan b;
	bg_start(&b, s, fx->slow);
	sleep_ms(300);
	kill_one(w, sig);
	pthread_join(b.t, NULL);
	assert_int_equal(b.r.status, SCAN_ERROR);
	if (!strstr(b.r.detail, want))
		fail_msg("detail \"%s\" lacks \"%s\"", b.r.detail, want);
	assert_true(b.took_ms < 2500);
	expect(s, fx->eicar, SCAN_INFECTED, "Test.EICAR.NDB");
	pid_t again = one_worker();
	assert_true(again > 0 && again != w);
	scanner_close(s);
}

static void test_sup_kill9(void **state)
{
	crash_case(*state, SIGKILL, "scanner process killed by signal 9 (SIGKILL)");
}

static void test_sup_crash(void **state)
{
	crash_case(*state, SIGSEGV, "scanner process killed by signal 11 (SIGSEGV)");
}

/* A hang past the time limit: the process is killed at max_scan_ms + 250. */
static void test_sup_timeout(void **state)
{
	struct fixture *fx = *state;
	struct scanner *s = open_scand(fx, "delay:20000", 400, 1);
	int64_t t0 = now_ms();
	expect(s, fx->slow, SCAN_ERROR, "limit exceeded: max_scan_ms (no answer within 650 ms, "
				       "scanner process killed)");
	int64_t took = now_ms() - t0;
	assert_true(took >= 600 && took < 3000);
	expect(s, fx->eicar, SCAN_INFECTED, "Test.EICAR.NDB");
	/* a caller's tighter limit (a policy subtree's max_scan_time_ms) */
	struct scanner *list[] = { s };
	struct scan_result r;
	int fd = open(fx->slow, O_RDONLY);
	t0 = now_ms();
	scanner_scan_all_within(list, 1, fd, NULL, 100, &r);
	close(fd);
	assert_int_equal(r.status, SCAN_ERROR);
	assert_non_null(strstr(r.detail, "no answer within 350 ms"));
	assert_true(now_ms() - t0 < 2000);
	scanner_close(s);
}

/* Memory past RLIMIT_AS is an error with the reason, and the next scan runs. */
static void test_sup_out_of_memory(void **state)
{
	struct fixture *fx = *state;
	struct scanner *s = open_scand(fx, "hog", 10000, 1);
	expect(s, fx->hog, SCAN_ERROR, "out of memory (limit 512 MiB)");
	expect(s, fx->eicar, SCAN_INFECTED, "Test.EICAR.NDB");
	scanner_close(s);
}

/* One slow file holds up only its own process. */
static void test_sup_parallel(void **state)
{
	struct fixture *fx = *state;
	struct scanner *s = open_scand(fx, "delay:2000", 10000, 2);
	struct bg_scan b;
	bg_start(&b, s, fx->slow);
	sleep_ms(200);
	int64_t t0 = now_ms();
	expect(s, fx->eicar, SCAN_INFECTED, "Test.EICAR.NDB");
	expect(s, fx->clean, SCAN_CLEAN, "");
	assert_true(now_ms() - t0 < 1000);
	pthread_join(b.t, NULL);
	assert_int_equal(b.r.status, SCAN_CLEAN);
	assert_true(b.took_ms >= 1900);
	scanner_close(s);
}

/* A reload starts a new process beside the old: a scan in flight ends on
 * the old one, scans during the reload do not wait for it. */
static void test_sup_reload(void **state)
{
	struct fixture *fx = *state;
	struct scanner *s = open_scand(fx, "delay:1500", 10000, 2);
	expect(s, fx->clean, SCAN_CLEAN, "");
	pid_t old = zygote();
	struct bg_scan b;
	bg_start(&b, s, fx->slow);
	sleep_ms(200);
	char err[256];
	assert_int_equal(scanner_reload_wait(s, 10000, err, sizeof(err)), 0);
	int64_t t0 = now_ms();
	expect(s, fx->eicar, SCAN_INFECTED, "Test.EICAR.NDB");
	assert_true(now_ms() - t0 < 1000);
	pthread_join(b.t, NULL);
	assert_int_equal(b.r.status, SCAN_CLEAN);
	struct scanner_status st;
	scanner_status(s, &st);
	assert_int_equal(st.generation, 2);
	pid_t fresh = zygote();
	assert_true(fresh > 0 && fresh != old);
	scanner_close(s);
	assert_int_equal(zygote(), -1);   /* nothing left behind */
}

/* The zygote's death makes the set broken: an error, then a reload. */
static void test_sup_zygote_dies(void **state)
{
	struct fixture *fx = *state;
	struct scanner *s = open_scand(fx, NULL, 10000, 1);
	expect(s, fx->clean, SCAN_CLEAN, "");
	pid_t z = zygote(), w = one_worker();
	kill_one(z, SIGKILL);
	kill_one(w, SIGKILL);
	sleep_ms(100);
	expect(s, fx->clean, SCAN_ERROR, "");
	struct scan_result r = { .status = SCAN_ERROR };
	for (int i = 0; i < 500 && r.status != SCAN_INFECTED; i++) {
		sleep_ms(20);
		scan_path(s, fx->eicar, &r);
	}
	assert_int_equal(r.status, SCAN_INFECTED);
	scanner_close(s);
}

static void status_line(pid_t pid, const char *key, char *out, size_t size)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			snprintf(out, size, "%s", line + strlen(key) + 1);
			out[strcspn(out, "\n")] = '\0';
		}
	if (f)
		fclose(f);
}

/* No capabilities, not root, no network of ours, seccomp, no_new_privs. */
static void test_sup_confined(void **state)
{
	struct fixture *fx = *state;
	if (geteuid() != 0)
		skip();
	struct scanner *s = open_scand(fx, NULL, 10000, 1);
	expect(s, fx->clean, SCAN_CLEAN, "");
	pid_t procs[2] = { zygote(), one_worker() };
	char v[256], ours[64], theirs[64], path[64];
	ssize_t n = readlink("/proc/self/ns/net", ours, sizeof(ours) - 1);
	assert_true(n > 0);
	ours[n] = '\0';
	for (int i = 0; i < 2; i++) {
		assert_true(procs[i] > 0);
		status_line(procs[i], "CapEff", v, sizeof(v));
		assert_string_equal(v, "\t0000000000000000");
		status_line(procs[i], "CapPrm", v, sizeof(v));
		assert_string_equal(v, "\t0000000000000000");
		status_line(procs[i], "CapBnd", v, sizeof(v));
		assert_string_equal(v, "\t0000000000000000");
		status_line(procs[i], "Uid", v, sizeof(v));
		assert_true(strtoul(v, NULL, 10) != 0);
		status_line(procs[i], "Seccomp", v, sizeof(v));
		assert_string_equal(v, "\t2");
		status_line(procs[i], "NoNewPrivs", v, sizeof(v));
		assert_string_equal(v, "\t1");
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)procs[i]);
		n = readlink(path, theirs, sizeof(theirs) - 1);
		assert_true(n > 0);
		theirs[n] = '\0';
		assert_string_not_equal(ours, theirs);
	}
	/* from inside: no socket at all, nothing written but the scratch
	 * tmpfs, no exec */
	scanner_close(s);
	s = open_scand(fx, "probe", 10000, 1);
	char *probe = write_file(fx->dir, "probe.sh", "#!/bin/sh\n# gk-scand-probe\n", (size_t)-1);
	expect(s, probe, SCAN_ERROR, "probe: inet=EPERM unix=EPERM write_etc=EROFS "
				     "write_scratch=ok execve=EPERM");
	free(probe);
	scanner_close(s);
}

/* A compromised worker ("hostile" hook): what it does to the file's
 * descriptor stays in an open file description of its own (the daemon's
 * lease and its signal live in the daemon's); fcntl beyond flags and
 * duplicates is refused; it can signal no process but itself; abort()
 * still ends it by SIGABRT. */
static void test_sup_hostile_worker(void **state)
{
	struct fixture *fx = *state;
	struct scanner *s = open_scand(fx, "hostile", 10000, 1);
	char *f[4];
	const char *marks[4] = { "setsig", "fcntl", "killzygote", "abort" };
	for (int i = 0; i < 4; i++) {
		char body[64], name[32];
		snprintf(body, sizeof(body), "#!/bin/sh\n# gk-scand-%s\n", marks[i]);
		snprintf(name, sizeof(name), "%s.sh", marks[i]);
		f[i] = write_file(fx->dir, name, body, (size_t)-1);
	}
	int fd = open(f[0], O_RDONLY | O_CLOEXEC);
	struct scan_result r;
	scanner_scan_fd(s, fd, NULL, &r);
	assert_int_equal(r.status, SCAN_CLEAN);
	assert_int_equal(fcntl(fd, F_GETSIG), 0);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	expect(s, f[1], SCAN_ERROR, "fcntl: setsig=EPERM setown=EPERM setlease=EPERM getfl=ok "
				    "dupfd=ok");
	pid_t z = zygote();
	expect(s, f[2], SCAN_ERROR, "signals: tgkill_zygote=EPERM tkill_zygote=EPERM");
	assert_int_equal(zygote(), z);
	expect(s, fx->eicar, SCAN_INFECTED, "Test.EICAR.NDB");
	expect(s, f[3], SCAN_ERROR, "scanner process killed by signal 6 (SIGABRT)");
	struct scanner_status st;
	scanner_status(s, &st);
	assert_int_equal(st.generation, 1);   /* no reload: the zygote lived */
	scanner_close(s);
	for (int i = 0; i < 4; i++)
		free(f[i]);
}

/* Its stdout goes nowhere; its stderr comes back one line at a time
 * through the scanner log (which escapes it), at most 20 lines in 10 s,
 * and the number left out is said. */
static void test_sup_stderr_relayed(void **state)
{
	struct fixture *fx = *state;
	test_log_clear();
	struct scanner *s = open_scand(fx, "hostile", 10000, 1);
	char *forge = write_file(fx->dir, "forge.sh", "#!/bin/sh\n# gk-scand-forge\n", (size_t)-1);
	expect(s, forge, SCAN_CLEAN, "");
	scanner_close(s);
	for (int i = 0; i < 300 && !test_log_has("more lines not logged"); i++)
		sleep_ms(10);
	assert_int_equal(test_log_count("decision verdict=allow source=admin path=/gk-forged"), 1);
	assert_true(test_log_has("gatekeeper-scand "));
	size_t flood = test_log_count("gk-scand-flood ");
	if (flood < 1 || flood > 20 || !test_log_has("more lines not logged"))
		fail_msg("%zu flood lines relayed, log:\n%s", flood, test_log);
	free(forge);
}

/* Between its fork and its HELLO the zygote is the scanner's own: the
 * daemon allows its exec without judging it. A stand-in that never says
 * HELLO (and exits after a second) keeps that window open. */
static void test_sup_owns_starting_pid(void **state)
{
	struct fixture *fx = *state;
	char *fake = write_file(fx->dir, "fake-scand", "#!/bin/sh\nsleep 1\n", (size_t)-1);
	assert_non_null(fake);
	assert_int_equal(chmod(fake, 0755), 0);
	char err[256];
	struct scanner_clamav_config cfg = { .db_dir = fx->db, .scand_path = fake,
					     .load_in_background = true };
	struct scanner *s = scanner_clamav_open(&cfg, err, sizeof(err));
	assert_non_null(s);
	pid_t z = -1;
	for (int i = 0; i < 200 && z <= 0; i++) {
		sleep_ms(5);
		z = zygote();
	}
	assert_true(z > 1);
	assert_true(scanner_owns_pid(s, z));
	assert_false(scanner_owns_pid(s, getpid()));
	assert_false(scanner_owns_pid(s, 0));
	struct scanner_status st = { .reloads_failed = 0 };
	for (int i = 0; i < 500 && !st.reloads_failed; i++) {
		sleep_ms(10);
		scanner_status(s, &st);
	}
	assert_true(st.reloads_failed > 0);
	assert_non_null(strstr(st.last_error, "before it loaded"));
	assert_false(scanner_owns_pid(s, z));
	scanner_close(s);
	free(fake);

	s = open_scand(fx, NULL, 10000, 1);   /* a loaded one owns nothing */
	expect(s, fx->clean, SCAN_CLEAN, "");
	assert_false(scanner_owns_pid(s, zygote()));
	assert_false(scanner_owns_pid(s, one_worker()));
	scanner_close(s);
}

int main(void)
{
	signal(SIGPIPE, SIG_DFL);   /* a SIGPIPE would kill the test: scand_send must not raise it */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_roundtrip_with_fd),
		cmocka_unit_test(test_proto_rejects_garbage),
		cmocka_unit_test(test_proto_timeout_and_eof),
		cmocka_unit_test_setup_teardown(test_sup_kill9, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_out_of_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_parallel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_zygote_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_confined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_owns_starting_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_hostile_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sup_stderr_relayed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
