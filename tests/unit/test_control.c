/* Unit tests of the control server (no root needed): a socket in a temp
 * dir, a stub dispatcher. Start/stop/start in one process, concurrency
 * behind slow commands and idle clients, deadlines, the cap, the request
 * parser, and the decision stream with its drop accounting. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"
#include "gatekeeper/control.h"
#include "gatekeeper/proto.h"

struct fixture {
	char dir[64], sock[128];
	struct control_server *cs;
	atomic_bool deny;     /* the stub refuses every peer */
	atomic_int mutations; /* "mutate" requests the stub ran */
	atomic_int spun_ms;   /* how long the last "spin" ran */
	atomic_int sleeping, most_sleeping;   /* "sleep"s running now, at most at once */
};

static bool stub_authorize(void *ctx, const struct control_peer *peer)
{
	struct fixture *f = ctx;
	return peer->known && !atomic_load(&f->deny);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stub_dispatch(void *ctx, const char *verb, const char *arg, int fd,
			  const atomic_bool *cancel, struct proto_buf *reply)
{
	struct fixture *f = ctx;
	if (!strcmp(verb, "sleep")) {
		int now = atomic_fetch_add(&f->sleeping, 1) + 1;
		if (now > atomic_load(&f->most_sleeping))
			atomic_store(&f->most_sleeping, now);
		usleep((useconds_t)atoi(arg) * 1000);
		atomic_fetch_sub(&f->sleeping, 1);
	} else if (!strcmp(verb, "spin")) {   /* a long command that gives up when told */
		int64_t end = mono_ms() + 10000;
		while (!atomic_load(cancel) && mono_ms() < end)
			usleep(1000);
		atomic_store(&f->spun_ms, (int)(10000 - (end - mono_ms())));
	} else if (!strcmp(verb, "mutate")) {
		atomic_fetch_add(&f->mutations, 1);
	} else if (strcmp(verb, "status")) {
		proto_error(reply, EXIT_USAGE, "unknown request '%.64s'", verb);
		return;
	}
	proto_num(reply, "ok", 1);
	proto_str(reply, "verb", verb);
	proto_num(reply, "fd", fd >= 0);
}

static bool stub_parallel(void *ctx, const char *verb)
{
	(void)ctx;
	return !strcmp(verb, "status");
}


static void start(struct fixture *f, const struct control_limits *lim)
{
	char err[256] = "";
	struct control_ops ops = { .ctx = f, .authorize = stub_authorize,
				   .dispatch = stub_dispatch, .parallel = stub_parallel };
	f->cs = control_server_new(f->sock, &ops, lim, err, sizeof(err));
	if (!f->cs)
		fail_msg("control_server_new: %s", err);
	if (control_server_start(f->cs, (gid_t)-1, err, sizeof(err)) < 0)
		fail_msg("control_server_start: %s", err);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/gk-ctl-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/s.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	control_server_free(f->cs);
	unlink(f->sock);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return s;
}

/* Read until the server closes or timeout_ms passes; returns bytes read. */
static size_t read_all(int s, char *buf, size_t size, int timeout_ms)
{
	size_t len = 0;
	int64_t end = mono_ms() + timeout_ms;
	while (len + 1 < size) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		int64_t left = end - mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t n = read(s, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static void call(const char *path, const char *req, char *buf, size_t size, int timeout_ms)
{
	int s = dial(path);
	assert_int_equal(write(s, req, strlen(req)), (ssize_t)strlen(req));
	read_all(s, buf, size, timeout_ms);
	close(s);
}

static void publish_one(struct control_server *cs)
{
	struct db_audit a = { .time_us = 1, .path = "/x", .exe = "/y", .detail = "" };
	control_publish(cs, &a, CONTROL_KIND_EXEC);
}

static void test_start_stop_start(void **state)
{
	struct fixture *f = *state;
	char buf[4096], err[256];
	struct control_ops ops = { .ctx = f, .authorize = stub_authorize, .dispatch = stub_dispatch };
	control_server_stop(NULL);
	control_server_free(NULL);
	/* never started, then freed: fine */
	control_server_free(control_server_new(f->sock, &ops, NULL, err, sizeof(err)));
	start(f, NULL);
	for (int round = 0; round < 3; round++) {   /* one object, started again and again */
		call(f->sock, "status\n", buf, sizeof(buf), 2000);
		assert_non_null(strstr(buf, "n ok 1\ns verb status\n"));
		control_server_stop(f->cs);
		control_server_stop(f->cs);   /* twice is fine */
		assert_int_equal(access(f->sock, F_OK), -1);   /* the socket went with it */
		publish_one(f->cs);           /* a stopped server: no one to tell */
		assert_int_equal(control_server_start(f->cs, (gid_t)-1, err, sizeof(err)), 0);
	}
	control_server_free(f->cs);
	f->cs = NULL;
	/* fails half-way (the path is not a socket): nothing left, then works */
	int fd = open(f->sock, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	struct control_server *cs = control_server_new(f->sock, &ops, NULL, err, sizeof(err));
	assert_non_null(cs);
	assert_int_equal(control_server_start(cs, (gid_t)-1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(access(f->sock, F_OK), 0);    /* not ours: left alone */
	unlink(f->sock);
	assert_int_equal(control_server_start(cs, (gid_t)-1, err, sizeof(err)), 0);
	call(f->sock, "status\n", buf, sizeof(buf), 2000);
	assert_non_null(strstr(buf, "n ok 1\n"));
	/* a live server's socket is never taken over, nor removed */
	struct control_server *other = control_server_new(f->sock, &ops, NULL, err, sizeof(err));
	assert_int_equal(control_server_start(other, (gid_t)-1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "another gatekeeperd"));
	control_server_free(other);
	call(f->sock, "status\n", buf, sizeof(buf), 2000);
	assert_non_null(strstr(buf, "n ok 1\n"));
	control_server_free(cs);
	assert_int_equal(access(f->sock, F_OK), -1);
	char longpath[200];
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(control_server_new(longpath, &ops, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "socket path too long"));
}

/* Until n "sleep"s run (a request read, not only sent); 5 s at most. */
static void wait_sleeping(struct fixture *f, int n)
{
	for (int i = 0; i < 5000 && atomic_load(&f->sleeping) < n; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&f->sleeping), n);
}

static void test_status_beside_slow_and_idle(void **state)
{
	struct fixture *f = *state;
	struct control_limits lim = CONTROL_LIMITS_DEFAULT;
	lim.max_conns = 8;
	start(f, &lim);
	char buf[4096];
	int slow = dial(f->sock), idle[12];
	assert_int_equal(write(slow, "sleep 1500\n", 11), 11);
	wait_sleeping(f, 1);   /* read and running: no longer evictable */
	for (int i = 0; i < 12; i++) {   /* more than the cap: the oldest are evicted */
		idle[i] = dial(f->sock);
		if (i % 2)
			assert_int_equal(write(idle[i], "sta", 3), 3);   /* half-sent */
	}
	usleep(100 * 1000);
	int64_t t0 = mono_ms();
	call(f->sock, "status\n", buf, sizeof(buf), 2000);
	assert_non_null(strstr(buf, "n ok 1\n"));
	assert_true(mono_ms() - t0 < 500);
	/* the evicted ones were closed without a reply */
	assert_int_equal(read_all(idle[0], buf, sizeof(buf), 500), 0);
	read_all(slow, buf, sizeof(buf), 3000);
	assert_non_null(strstr(buf, "s verb sleep\n"));
	close(slow);
	for (int i = 0; i < 12; i++)
		close(idle[i]);
}

/* Commands that run one at a time wait for their turn in the queue, not in
 * the four workers: five of them behind a slow one leave status answering. */
static void test_status_beside_queued_turns(void **state)
{
	struct fixture *f = *state;
	start(f, NULL);
	char buf[4096];
	int slow[5];
	for (int i = 0; i < 5; i++) {
		slow[i] = dial(f->sock);
		assert_int_equal(write(slow[i], "sleep 600\n", 10), 10);
	}
	usleep(150 * 1000);   /* all five read: one runs, four wait */
	int64_t t0 = mono_ms();
	call(f->sock, "status\n", buf, sizeof(buf), 2000);
	assert_non_null(strstr(buf, "n ok 1\n"));
	assert_true(mono_ms() - t0 < 400);
	for (int i = 0; i < 5; i++) {
		read_all(slow[i], buf, sizeof(buf), 5000);
		assert_non_null(strstr(buf, "s verb sleep\n"));
		close(slow[i]);
	}
	assert_int_equal(atomic_load(&f->most_sleeping), 1);
}

static void test_deadline_and_bad_requests(void **state)
{
	struct fixture *f = *state;
	struct control_limits lim = CONTROL_LIMITS_DEFAULT;
	lim.io_timeout_ms = 200;
	start(f, &lim);
	char buf[8192];
	int s = dial(f->sock);
	int64_t t0 = mono_ms();
	read_all(s, buf, sizeof(buf), 2000);
	close(s);
	assert_non_null(strstr(buf, "s error request timed out\nn code 2\n"));
	assert_true(mono_ms() - t0 < 1000);

	static const struct { const char *req, *want; } bad[] = {
		{ "\n", "empty request" },
		{ "sta\x01tus\n", "control character at byte 3" },
		{ "frob\n", "unknown request 'frob'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call(f->sock, bad[i].req, buf, sizeof(buf), 2000);
		assert_non_null(strstr(buf, "n ok 0\n"));
		assert_non_null(strstr(buf, bad[i].want));
	}
	char big[6000];
	memset(big, 'A', sizeof(big));
	s = dial(f->sock);
	assert_int_equal(write(s, big, sizeof(big)), (ssize_t)sizeof(big));
	read_all(s, buf, sizeof(buf), 2000);
	close(s);
	assert_non_null(strstr(buf, "request too long"));
	atomic_store(&f->deny, true);   /* a stranger gets a refusal, even for garbage */
	call(f->sock, "\x7f\n", buf, sizeof(buf), 2000);
	assert_non_null(strstr(buf, "permission denied"));
	assert_non_null(strstr(buf, "n code 1\n"));
}

static void test_parse_request(void **state)
{
	(void)state;
	struct proto_request r;
	char err[128];
	assert_int_equal(proto_parse_request("sta", 3, &r, err, sizeof(err)), PROTO_REQ_MORE);
	assert_int_equal(proto_parse_request("query /a b\nrest", 15, &r, err, sizeof(err)), PROTO_REQ_DONE);
	assert_string_equal(r.verb, "query");
	assert_string_equal(r.arg, "/a b");
	assert_int_equal(r.consumed, 11);
	assert_int_equal(proto_parse_request("status\n", 7, &r, err, sizeof(err)), PROTO_REQ_DONE);
	assert_string_equal(r.arg, "");
	assert_int_equal(proto_parse_request("a\0b\n", 4, &r, err, sizeof(err)), PROTO_REQ_ERROR);
	assert_non_null(strstr(err, "NUL byte at byte 1"));
	assert_int_equal(proto_parse_request(" 6be\n", 5, &r, err, sizeof(err)), PROTO_REQ_ERROR);
	assert_non_null(strstr(err, "no verb"));   /* found by fuzz_control */
	static char line[PROTO_MAX_REQUEST + 1];
	memset(line, 'x', sizeof(line));
	line[PROTO_MAX_REQUEST - 1] = '\n';   /* the longest line that fits */
	assert_int_equal(proto_parse_request(line, PROTO_MAX_REQUEST, &r, err, sizeof(err)), PROTO_REQ_DONE);
	line[PROTO_MAX_REQUEST - 1] = 'x';
	line[PROTO_MAX_REQUEST] = '\n';
	assert_int_equal(proto_parse_request(line, sizeof(line), &r, err, sizeof(err)), PROTO_REQ_ERROR);
	assert_int_equal(proto_parse_request(line, PROTO_MAX_REQUEST - 1, &r, err, sizeof(err)), PROTO_REQ_MORE);
}

/* Parse stream records from buf: counts records and the dropped sum. */
static void count_records(const char *buf, unsigned long *records, unsigned long *dropped,
			  int64_t *last_time)
{
	for (const char *p = buf; (p = strstr(p, "n time_us ")); p++) {
		(*records)++;
		*last_time = atoll(p + 10);
		const char *d = strstr(p, "n dropped ");
		assert_non_null(d);
		*dropped += strtoul(d + 10, NULL, 10);
	}
}

static void publish(struct fixture *f, int64_t t, const char *path)
{
	unsigned char sha[GK_SHA256_LEN] = { 0xab };
	struct db_audit a = { .time_us = t, .pid = 42, .exe = "/bin/sh", .path = path, .sha256 = sha,
			      .verdict = GK_VERDICT_DENY, .source = GK_SOURCE_ADMIN,
			      .detail = "admin rule", .latency_us = 7 };
	control_publish(f->cs, &a, CONTROL_KIND_EXEC);
}

static void test_subscribe_stream(void **state)
{
	struct fixture *f = *state;
	struct control_limits lim = CONTROL_LIMITS_DEFAULT;
	lim.max_subscribers = 2;
	lim.sub_queue = 8;
	start(f, &lim);
	control_publish(NULL, NULL, 0);   /* no server: nothing happens */
	publish(f, 1, "/nobody/listens");
	char *buf = malloc(1 << 22);
	int s = dial(f->sock), t = dial(f->sock);
	assert_int_equal(write(s, "subscribe\n", 10), 10);
	assert_int_equal(write(t, "subscribe\n", 10), 10);
	assert_int_equal(read(s, buf, 7), 7);
	buf[7] = '\0';
	assert_string_equal(buf, "n ok 1\n");
	usleep(50 * 1000);
	call(f->sock, "subscribe\n", buf, 4096, 2000);   /* a third: over the cap */
	assert_non_null(strstr(buf, "too many subscribers (limit 2)"));
	publish(f, 2, "/a\nb\\c");
	read_all(s, buf, 4096, 300);
	assert_string_equal(buf, "\nn time_us 2\ns kind exec\ns verdict deny\nn would_deny 0\n"
				 "s source admin\ns detail admin rule\ns path /a\\nb\\\\c\ns exe /bin/sh\n"
				 "s sha256 ab00000000000000000000000000000000000000000000000000000000000000\n"
				 "n pid 42\nn latency_us 7\nn dropped 0\n\n");
	/* t never reads: its socket fills, its queue overflows, the publisher
	 * goes on; every record is then either delivered or counted as dropped */
	const unsigned long total = 50000;
	int64_t t0 = mono_ms();
	for (unsigned long i = 0; i < total; i++)
		publish(f, (int64_t)(3 + i), "/some/path/of/a/program");
	assert_true(mono_ms() - t0 < 30000);   /* a blocked publisher would hang here */
	unsigned long records = 0, dropped = 0;
	int64_t last = 0;
	while (read_all(t, buf, 1 << 22, 300) > 0)   /* what got through, until quiet */
		count_records(buf, &records, &dropped, &last);
	publish(f, 1000000000, "/last");   /* queue empty now: it arrives, with the count */
	read_all(t, buf, 1 << 22, 300);
	count_records(buf, &records, &dropped, &last);
	assert_int_equal(last, 1000000000);
	unsigned subs;
	unsigned long long lost;
	control_sub_counts(f->cs, &subs, &lost);
	assert_int_equal(subs, 2);
	assert_true(dropped > 0);
	assert_true(lost >= dropped);
	assert_int_equal(records + dropped, total + 2);   /* + the first and the last */
	close(t);
	close(s);
	free(buf);
}

static int open_fds(void)
{
	int n = 0;
	char path[64];
	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* A request with an fd riding along, as gatekeeper-ctl sends about a file. */
static void send_with_fd(int s, const char *req, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)req, .iov_len = strlen(req) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	assert_int_equal(sendmsg(s, &msg, 0), (ssize_t)strlen(req));
}

/* Clients that send a request with an fd and hang up while the commands
 * wait their turn: their jobs go with them (fds closed, the queue no longer
 * than the connections), and none of their commands is applied. */
static void test_hung_up_requests_dropped(void **state)
{
	struct fixture *f = *state;
	struct control_limits lim = CONTROL_LIMITS_DEFAULT;
	lim.max_conns = 8;
	lim.workers = 2;
	start(f, &lim);
	char buf[4096];
	int slow = dial(f->sock);
	assert_int_equal(write(slow, "sleep 1500\n", 11), 11);
	wait_sleeping(f, 1);   /* running, holding the serial lock */
	int base = open_fds();
	int64_t t0 = mono_ms();
	for (int i = 0; i < 300; i++) {
		int s = dial(f->sock), fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		send_with_fd(s, "mutate\n", fd);
		close(fd);
		close(s);
		if (i % 50 == 49)
			usleep(20 * 1000);   /* let the loop see the hang-ups */
	}
	usleep(200 * 1000);
	assert_true(mono_ms() - t0 < 1200);   /* all this while the sleep runs */
	int grown = open_fds() - base;
	if (grown > (int)lim.max_conns * 2)
		fail_msg("%d more fds open after 300 hung-up requests (cap %u connections)", grown,
			 lim.max_conns);
	read_all(slow, buf, sizeof(buf), 3000);
	assert_non_null(strstr(buf, "s verb sleep\n"));
	close(slow);
	usleep(300 * 1000);
	assert_int_equal(atomic_load(&f->mutations), 0);
	call(f->sock, "mutate\n", buf, sizeof(buf), 2000);   /* a client that waits: applied */
	assert_non_null(strstr(buf, "n ok 1\n"));
	assert_int_equal(atomic_load(&f->mutations), 1);
	assert_true(open_fds() <= base);
}

/* Out of fds, accept4 fails and the connection stays queued: the loop must
 * not spin on the listening socket, and serves the client once fds free up. */
static void test_accept_out_of_fds(void **state)
{
	struct fixture *f = *state;
	start(f, NULL);
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fill[512], n = 0;
	assert_true(s >= 0);
	low = old;
	low.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 512 && (fill[n] = dup(s)) >= 0)
		n++;
	assert_true(n < 512 && errno == EMFILE);
	/* connect takes no fd: the server's accept4 is the one that fails */
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timespec c0, c1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	usleep(400 * 1000);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	int64_t cpu_ms = (c1.tv_sec - c0.tv_sec) * 1000 + (c1.tv_nsec - c0.tv_nsec) / 1000000;
	while (n > 0)
		close(fill[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (cpu_ms > 100)
		fail_msg("%lld ms of CPU in 400 ms while out of fds: the loop spins", (long long)cpu_ms);
	assert_int_equal(write(s, "status\n", 7), 7);
	char buf[4096];
	read_all(s, buf, sizeof(buf), 2000);
	close(s);
	assert_non_null(strstr(buf, "n ok 1\n"));
}

/* A long command gives up when its client hangs up, and when the server
 * stops: neither waits for it to finish. */
static void test_long_command_cancelled(void **state)
{
	struct fixture *f = *state;
	start(f, NULL);
	int s = dial(f->sock);
	assert_int_equal(write(s, "spin\n", 5), 5);
	usleep(200 * 1000);
	close(s);
	char buf[4096];
	call(f->sock, "status\n", buf, sizeof(buf), 3000);   /* parallel: answers at once */
	for (int i = 0; i < 200 && !atomic_load(&f->spun_ms); i++)
		usleep(10 * 1000);
	int spun = atomic_load(&f->spun_ms);
	if (!spun || spun > 1500)
		fail_msg("spin ran %d ms after its client hung up at 200 ms", spun);
	atomic_store(&f->spun_ms, 0);
	s = dial(f->sock);
	assert_int_equal(write(s, "spin\n", 5), 5);
	usleep(200 * 1000);
	int64_t t0 = mono_ms();
	control_server_stop(f->cs);
	assert_true(mono_ms() - t0 < 1500);
	spun = atomic_load(&f->spun_ms);
	if (!spun || spun > 1500)
		fail_msg("spin ran %d ms; the server stopped at 200 ms", spun);
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_request),
		cmocka_unit_test_setup_teardown(test_start_stop_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_beside_slow_and_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_beside_queued_turns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_and_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscribe_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hung_up_requests_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_out_of_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_command_cancelled, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
