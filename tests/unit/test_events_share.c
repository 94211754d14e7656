/* The workers' queue, fair between users, with its real worker threads:
 * wake-ups, cancelled jobs and the reserve as the reading thread meets them
 * (events.c, events_fair.c, events_watchdog.c). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gatekeeper/events_impl.h"
#include "test_events_util.h"

/* A remote group beside the fixture's (a socketpair): its events go to
 * the remote workers. with() points send_event and read_response at it,
 * or back at the local one. */
struct remote_group {
	int sv[2], local_peer;
	struct fan_group g;
};

static void remote_open(struct fixture *f, struct remote_group *r)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->sv), 0);
	assert_int_equal(fcntl(r->sv[0], F_SETFL, O_NONBLOCK), 0);
	r->g = (struct fan_group){ .fd = r->sv[0], .perm = true, .remote = true,
				   .mask = FAN_OPEN_EXEC_PERM };
	r->local_peer = f->peer;
}

static void with(struct fixture *f, struct remote_group *r, bool remote)
{
	f->peer = remote ? r->sv[1] : r->local_peer;
}

/* After the fixture's teardown: the events' stop is done with the group. */
static void remote_close(struct remote_group *r)
{
	close(r->sv[0]);
	close(r->sv[1]);
}

static atomic_int heavy_in_judge;

/* Stalls the judgement of a heavy file until the test's release. */
static void judge_stalling_heavy(struct gk_daemon *d, int fd, struct judgement *j,
				 const atomic_bool *cancel)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size >= JOB_HEAVY_BYTES) {
		atomic_fetch_add(&heavy_in_judge, 1);
		stalled_judge(d, fd, j, cancel);
	} else {
		judge_fully(d, fd, j, cancel);
	}
}

/* Another user's heavy exec holds the only heavy worker; ours waits. Our
 * light exec that follows is judged at once: the worker that found
 * nothing to take when our heavy one came is woken for it. */
static void test_light_job_behind_a_waiting_heavy_one(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\ndecision_timeout_ms: 20000\n", true, 2, 16);
	events_set_judge(f->d.events, judge_stalling_heavy);
	atomic_store(&heavy_in_judge, 0);
	pid_t child = 0, other = other_users_process(&child);
	int big[2], small = watched_file(f, "small", "#!/bin/sh\necho small\n");
	for (int i = 0; i < 2; i++) {
		big[i] = watched_file(f, i ? "big1" : "big0", "#!/bin/sh\n");
		assert_int_equal(truncate_fd(big[i], JOB_HEAVY_BYTES), 0);
	}
	int e0 = send_event_as(f, big[0], other);
	events_read(f->d.events, &f->g);
	for (int i = 0; i < 5000 && !atomic_load(&heavy_in_judge); i++)
		usleep(1000);
	assert_int_equal(atomic_load(&heavy_in_judge), 1);
	int e1 = send_event(f, big[1]);
	events_read(f->d.events, &f->g);
	usleep(100 * 1000);   /* the other worker finds nothing to take, and sleeps */
	int e2 = send_event(f, small);
	events_read(f->d.events, &f->g);
	expect_response(f, e2, FAN_ALLOW, 5000);
	atomic_store(&stall_release, true);
	expect_response(f, e0, FAN_ALLOW, 5000);
	expect_response(f, e1, FAN_ALLOW, 5000);
	other_users_process_end(child);
	for (int i = 0; i < 2; i++)
		close(big[i]);
	close(small);
	teardown_fixture(f);
}

static ino_t grow_ino;
static atomic_int grow_errno;
static int grow_writer;

/* The file's writer (open since before its exec: a writer that came later
 * would wait for the answer) truncates it up (a sparse 100 GiB) once a
 * worker has its job, then the judgement goes on as ever. */
static void judge_growing(struct gk_daemon *d, int fd, struct judgement *j,
			  const atomic_bool *cancel)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_ino == grow_ino && ftruncate(grow_writer, (off_t)100 << 30) < 0)
		atomic_store(&grow_errno, errno);
	judge_fully(d, fd, j, cancel);
}

/* Whether the file (the log, which went there) came to hold text, within
 * ms. */
static bool file_gets(const char *path, const char *text, int ms)
{
	char buf[8192];
	for (int waited = 0; waited <= ms; waited += 10) {
		FILE *in = fopen(path, "r");
		size_t n = in ? fread(buf, 1, sizeof(buf) - 1, in) : 0;
		if (in)
			fclose(in);
		buf[n] = '\0';
		if (strstr(buf, text))
			return true;
		usleep(10000);
	}
	return false;
}

/* A light job whose file grows heavy while a worker has it is cancelled
 * at once, not hashed until its deadline: it is decided as a file that
 * cannot be hashed, and its record says why. */
static void test_light_job_that_grows_heavy_is_cancelled(void **state)
{
	(void)state;
	char log_path[] = "/tmp/gk-share-log.XXXXXX";
	int log_fd = mkstemp(log_path), saved_stderr = dup(2);
	assert_true(log_fd >= 0 && saved_stderr >= 0);
	struct fixture *f = setup_with("default: allow\non_error: deny\ndecision_timeout_ms: 20000\n",
				       true, 2, 16);
	events_set_judge(f->d.events, judge_growing);
	int file = watched_file(f, "grows", "#!/bin/sh\necho small\n");
	struct stat st;
	assert_int_equal(fstat(file, &st), 0);
	grow_ino = st.st_ino;
	grow_writer = writer_of_fd(file);
	assert_true(grow_writer >= 0);
	assert_int_equal(dup2(log_fd, 2), 2);
	int e = send_event(f, file);
	events_read(f->d.events, &f->g);
	struct fanotify_response r;
	int got = read_response(f, 5000, &r);
	bool said = got == 0 && file_gets(log_path, "grew to 16 MiB or more while judged", 2000);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	close(log_fd);
	unlink(log_path);
	assert_int_equal(atomic_load(&grow_errno), 0);
	assert_int_equal(got, 0);
	assert_int_equal(r.fd, e);
	assert_int_equal(r.response, FAN_DENY);
	assert_true(said);
	assert_int_equal(atomic_load(&f->d.stats.timeouts), 0);
	close(grow_writer);
	close(file);
	teardown_fixture(f);
}

/* At least n descriptors; false if the limits do not allow it. */
static bool raise_fd_limit(rlim_t n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return false;
	if (rl.rlim_cur >= n)
		return true;
	if (rl.rlim_max < n)
		rl.rlim_max = n;
	rl.rlim_cur = n;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* Send n events of file as asked by pid (pid 0: this process), reading
 * them a few at a time. */
static void send_many(struct fixture *f, struct fan_group *g, int file, int n, pid_t pid)
{
	for (int i = 0; i < n; i++) {
		send_event_as(f, file, pid ? pid : getpid());
		if (i % 32 == 31 || i == n - 1)
			events_read(f->d.events, g);
	}
}

static void drain_allowed(struct fixture *f, int n)
{
	struct fanotify_response r;
	for (int i = 0; i < n; i++) {
		assert_int_equal(read_response(f, 5000, &r), 0);
		assert_int_equal(r.response, FAN_ALLOW);
	}
}

/* Local and remote events share one pool of slots (max_pending + a read's
 * batch). With remote events holding theirs, the local queue's own bound
 * is far off when the pool runs low: the reserve is kept all the same.
 * 1024 slots: remote 224 (root's half of its 256, nobody's 96), local
 * root's 512; nobody's local ones then fill the pool to its last eighth
 * (128 free) after 224, the next is refused, a third user's is queued. */
static void test_local_reserve_counts_the_shared_slots(void **state)
{
	(void)state;
	if (getuid() != 0 || !raise_fd_limit(4096))
		skip();   /* needs processes of two other users, and a thousand fds */
	/* The socketpair holds every reply of a release at once: a few hundred
	 * small writes outgrow its default send buffer (fanotify's has none). */
	int big = 8 << 20;
	struct fixture *f = setup_with("default: allow\noverload: deny\ndecision_timeout_ms: 60000\n",
				       true, 2, 1024);
	events_set_judge(f->d.events, stalled_judge);
	struct remote_group remote;
	remote_open(f, &remote);
	assert_int_equal(setsockopt(f->g.fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)), 0);
	assert_int_equal(setsockopt(remote.g.fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)), 0);
	pid_t c1 = 0, c2 = 0, nobody = process_as(65534, &c1), third = process_as(65533, &c2);
	int file = watched_file(f, "prog", "#!/bin/sh\necho shared\n");
	with(f, &remote, true);
	send_many(f, &remote.g, file, 128, 0);
	send_many(f, &remote.g, file, 96, nobody);
	with(f, &remote, false);
	send_many(f, &f->g, file, 512, 0);
	assert_int_equal(atomic_load(&f->d.stats.overloads), 0);
	struct fanotify_response r;
	int queued = 0;
	for (;; queued++) {
		int e = send_event_as(f, file, nobody);
		events_read(f->d.events, &f->g);
		if (read_response(f, 0, &r) == 0) {
			assert_int_equal(r.fd, e);
			assert_int_equal(r.response, FAN_DENY);
			break;
		}
		assert_true(queued < 400);
	}
	assert_int_equal(queued, 224);
	send_event_as(f, file, third);
	events_read(f->d.events, &f->g);
	assert_int_equal(read_response(f, 300, &r), -1);   /* queued, not refused */
	atomic_store(&stall_release, true);
	drain_allowed(f, 512 + 224 + 1);
	with(f, &remote, true);
	drain_allowed(f, 224);
	with(f, &remote, false);
	other_users_process_end(c1);
	other_users_process_end(c2);
	close(file);
	teardown_fixture(f);
	remote_close(&remote);
}

/* On the remote route the last eighth of its quarter of the slots is kept
 * likewise: with two users' execs holding all but those, the second
 * one's next is refused, a third user's is queued. */
static void test_remote_reserve_kept_for_users_who_hold_few(void **state)
{
	(void)state;
	if (getuid() != 0)
		skip();   /* needs processes of two other users */
	struct fixture *f = setup_with("default: allow\noverload: deny\ndecision_timeout_ms: 20000\n",
				       true, 2, 64);
	events_set_judge(f->d.events, stalled_judge);
	struct remote_group remote;
	remote_open(f, &remote);
	with(f, &remote, true);
	pid_t c1 = 0, c2 = 0, nobody = process_as(65534, &c1), third = process_as(65533, &c2);
	int file = watched_file(f, "served", "#!/bin/sh\necho remote\n");
	/* In one read: root's share (8 of 16), nobody's 6, and nobody's 7th,
	 * the one refused (what a read brings is not counted as queued before
	 * it is). */
	int refused = -1;
	for (int i = 0; i < 15; i++)
		refused = send_event_as(f, file, i < 8 ? getpid() : nobody);
	events_read(f->d.events, &remote.g);
	expect_response(f, refused, FAN_DENY, 2000);
	assert_int_equal(atomic_load(&f->d.stats.overloads), 1);
	send_event_as(f, file, third);
	events_read(f->d.events, &remote.g);
	struct fanotify_response r;
	assert_int_equal(read_response(f, 300, &r), -1);   /* queued, not refused */
	atomic_store(&stall_release, true);
	for (int i = 0; i < 15; i++) {
		assert_int_equal(read_response(f, 5000, &r), 0);
		assert_int_equal(r.response, FAN_ALLOW);
	}
	assert_int_equal(atomic_load(&f->d.stats.overloads), 1);
	other_users_process_end(c1);
	other_users_process_end(c2);
	close(file);
	with(f, &remote, false);
	teardown_fixture(f);
	remote_close(&remote);
}

/* Two users' remote execs whose server holds them past their deadline
 * hold both remote workers: others are started, and a third user's
 * remote exec is judged, not left to its own deadline. */
static void test_held_remote_workers_are_replaced(void **state)
{
	(void)state;
	if (getuid() != 0)
		skip();   /* needs processes of two other users */
	struct fixture *f = setup_with("default: allow\non_error: deny\ndecision_timeout_ms: 1000\n",
				       true, 2, 64);
	/* a server that holds the reads of one file, past any cancel */
	events_set_judge(f->d.events, judge_stalling_one_file);
	stall_past_cancel = true;
	struct remote_group remote;
	remote_open(f, &remote);
	with(f, &remote, true);
	pid_t c1 = 0, c2 = 0, one = process_as(65534, &c1), two = process_as(65533, &c2);
	int held = watched_file(f, "held", "#!/bin/sh\necho held\n");
	int other = watched_file(f, "other", "#!/bin/sh\necho other\n");
	struct stat st;
	assert_int_equal(fstat(held, &st), 0);
	stall_ino = st.st_ino;
	send_event_as(f, held, one);
	send_event_as(f, held, two);
	events_read(f->d.events, &remote.g);
	struct fanotify_response r;
	for (int i = 0; i < 2; i++) {   /* their deadline's answer */
		assert_int_equal(read_response(f, 3000, &r), 0);
		assert_int_equal(r.response, FAN_DENY);
	}
	int e = send_event(f, other);
	events_read(f->d.events, &remote.g);
	expect_response(f, e, FAN_ALLOW, 3000);
	pthread_mutex_lock(&f->d.events->q_lock);
	unsigned workers = f->d.events->remote.n_workers;
	pthread_mutex_unlock(&f->d.events->q_lock);
	assert_int_equal(workers, EVENTS_REMOTE_WORKERS + 2);
	atomic_store(&stall_release, true);
	other_users_process_end(c1);
	other_users_process_end(c2);
	close(held);
	close(other);
	with(f, &remote, false);
	teardown_fixture(f);
	remote_close(&remote);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_light_job_behind_a_waiting_heavy_one),
		cmocka_unit_test(test_light_job_that_grows_heavy_is_cancelled),
		cmocka_unit_test(test_remote_reserve_kept_for_users_who_hold_few),
		cmocka_unit_test(test_local_reserve_counts_the_shared_slots),
		cmocka_unit_test(test_held_remote_workers_are_replaced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
