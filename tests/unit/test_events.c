/* The permission-event route without root: a socketpair stands in for the
 * fanotify group. The test writes fanotify_event_metadata records (whose
 * fds are real files of this process) into one end, lets events_read
 * handle them, and reads the fanotify_responses the daemon wrote back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_events_util.h"

static void test_allow_and_deny(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: deny\n", true, 2, 64);
	int file = watched_file(f, "prog", "#!/bin/sh\necho one\n");
	int ev = send_event(f, file);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, FAN_DENY, 2000);
	close(file);
	teardown_fixture(f);

	f = setup_with("default: allow\n", true, 2, 64);
	file = watched_file(f, "prog", "#!/bin/sh\necho two\n");
	ev = send_event(f, file);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, FAN_ALLOW, 2000);
	assert_int_equal(atomic_load(&f->d.stats.perm_events), 1);
	close(file);
	teardown_fixture(f);
}

/* A digest already known and no scan due: the reading thread answers
 * before events_read returns, even with every worker stalled. */
static void test_known_verdict_answered_on_reading_thread(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: deny\n", true, 1, 64);
	events_set_judge(f->d.events, stalled_judge);
	unsigned char sha[GK_SHA256_LEN];
	int file = known_file(f, "known", "#!/bin/sh\necho known\n", sha);
	int ev = send_event(f, file);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, FAN_DENY, 0);
	close(file);
	teardown_fixture(f);
}

/* An admin rule decides from the digest alone: the verdict comes before the
 * path is read, and the record after it is what the route that reads the
 * path first would make (outside the watched paths: unwatched, no digest). */
static void test_content_decides_before_the_path(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: deny\n", true, 1, 64);
	char *elsewhere = scratch_dir(), path[1024];
	assert_non_null(elsewhere);
	snprintf(path, sizeof(path), "%s/outside", elsewhere);
	int inside = watched_file(f, "inside", "#!/bin/sh\necho in\n");
	int outside = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	assert_true(outside >= 0);
	assert_int_equal(write(outside, "#!/bin/sh\n", 10), 10);
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
	struct judgement j;
	judge_identify(&f->d, inside, &j);
	assert_false(judge_by_content(&f->d, &j));          /* no digest in memory yet */
	settle_file(inside);
	assert_int_equal(identify_fd(f->d.hashes, inside, &id, sha), 0);
	judge_identify(&f->d, inside, &j);
	assert_false(judge_by_content(&f->d, &j));          /* the default decides: path first */
	admin_rules_set(f->d.admin, sha, GK_VERDICT_ALLOW);
	judge_identify(&f->d, inside, &j);
	assert_true(judge_by_content(&f->d, &j));
	assert_int_equal(j.decision.verdict, GK_VERDICT_ALLOW);
	assert_string_equal(j.path, "");
	judge_after_answer(&f->d, inside, &j);
	assert_non_null(strstr(j.path, "/inside"));
	assert_int_equal(j.decision.source, GK_SOURCE_ADMIN);
	assert_true(j.have_sha);

	settle_file(outside);
	assert_int_equal(identify_fd(f->d.hashes, outside, &id, sha), 0);
	admin_rules_set(f->d.admin, sha, GK_VERDICT_ALLOW);
	judge_identify(&f->d, outside, &j);
	assert_true(judge_by_content(&f->d, &j));
	judge_after_answer(&f->d, outside, &j);
	assert_string_equal(j.path, path);
	assert_int_equal(j.decision.source, GK_SOURCE_UNWATCHED);
	assert_false(j.have_sha);

	/* On the event route: answered while every worker is stalled. */
	events_set_judge(f->d.events, stalled_judge);
	int ev = send_event(f, inside);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, FAN_ALLOW, 0);

	/* A policy sha256 rule decides by content too (no admin rule here). */
	char hex[GK_SHA256_HEX_LEN + 1], rule[256];
	assert_int_equal(identify_fd(f->d.hashes, inside, &id, sha), 0);
	gk_sha256_to_hex(sha, hex);
	snprintf(rule, sizeof(rule), "default: deny\nrules:\n  - sha256: %s\n    action: allow\n", hex);
	struct fixture *g = setup_with(rule, true, 1, 64);
	int same = watched_file(g, "same", "#!/bin/sh\necho in\n");
	settle_file(same);
	assert_int_equal(identify_fd(g->d.hashes, same, &id, sha), 0);
	judge_identify(&g->d, same, &j);
	assert_true(judge_by_content(&g->d, &j));
	assert_int_equal(j.decision.source, GK_SOURCE_POLICY_HASH);
	close(same);
	teardown_fixture(g);
	close(inside);
	close(outside);
	unlink(path);
	scratch_remove(elsewhere);
	teardown_fixture(f);
}

/* A group whose reads block, as the reader thread has it. */
static struct fan_group *blocking_group(int *peer)
{
	int sv[2];
	struct fan_group *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	*g = (struct fan_group){ .fd = sv[0], .perm = true, .mask = FAN_OPEN_EXEC_PERM };
	*peer = sv[1];
	return g;
}

static bool retired_gone(struct gk_daemon *d)
{
	for (int i = 0; i < 400; i++) {
		pthread_rwlock_rdlock(&d->policy_lock);
		bool gone = !d->retired;
		pthread_rwlock_unlock(&d->policy_lock);
		if (gone)
			return true;
		usleep(5000);
	}
	return false;
}

/* The reader thread waits in read(2) itself: it answers there, a kick takes
 * it off the old group after a swap (which it drains and closes), and a
 * stop ends its wait. A lost kick would hang it: the alarm fails the test. */
static void test_reader_follows_a_swap_and_stops(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: deny\n", true, 2, 64);
	int own_peer = f->peer, old_peer, new_peer;
	struct fan_group *old = blocking_group(&old_peer), *fresh = blocking_group(&new_peer);
	int file = watched_file(f, "prog", "#!/bin/sh\necho r\n");
	f->d.group = old;
	alarm(60);
	struct gk_reader *r = reader_start(&f->d);
	assert_non_null(r);
	f->peer = old_peer;
	expect_response(f, send_event(f, file), FAN_DENY, 2000);
	usleep(50000);   /* back in read(2) */
	pthread_rwlock_wrlock(&f->d.policy_lock);
	f->d.retired = old;
	f->d.group = fresh;
	pthread_rwlock_unlock(&f->d.policy_lock);
	reader_kick(r);
	f->peer = new_peer;
	expect_response(f, send_event(f, file), FAN_DENY, 2000);
	assert_true(retired_gone(&f->d));
	struct pollfd p = { .fd = old_peer, .events = POLLIN };
	char byte;
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(read(old_peer, &byte, 1), 0);   /* closed by the reader */
	usleep(50000);
	reader_stop(r);
	alarm(0);
	f->peer = own_peer;
	close(old_peer);
	close(new_peer);
	close(file);
	teardown_fixture(f);
	/* only now: a worker may still be releasing the last event's slot,
	 * which counts its group's events in flight */
	fan_group_close(fresh);
}

static void test_monitor_mode_never_replies(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: deny\n", false, 2, 64);
	int file = watched_file(f, "prog", "#!/bin/sh\necho m\n");
	struct fanotify_response r;
	send_event(f, file);
	events_read(f->d.events, &f->g);
	for (int i = 0; i < 200 && atomic_load(&f->d.stats.would_deny) == 0; i++)
		usleep(5000);
	assert_int_equal(atomic_load(&f->d.stats.would_deny), 1);
	assert_int_equal(read_response(f, 100, &r), -1);
	close(file);
	teardown_fixture(f);
}

/* The watchdog answers a stalled judgement with on_error at its deadline,
 * cancels it, and the worker's late verdict is never sent. */
static void test_decision_timeout_cancels_judgement(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\non_error: deny\ndecision_timeout_ms: 50\n",
				       true, 1, 64);
	events_set_judge(f->d.events, stalled_judge);
	int file = watched_file(f, "slow", "#!/bin/sh\necho slow\n");
	struct fanotify_response r;
	int ev = send_event(f, file);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, FAN_DENY, 2000);
	assert_int_equal(read_response(f, 200, &r), -1);       /* no second answer */
	assert_int_equal(atomic_load(&f->d.stats.timeouts), 1);
	for (int i = 0; i < 400 && atomic_load(&f->d.stats.pending) > 0; i++)
		usleep(5000);
	assert_int_equal(atomic_load(&f->d.stats.pending), 0);  /* the worker let go */
	close(file);
	teardown_fixture(f);
}

/* With every slot taken, an unknown file gets the overload verdict at once;
 * a file whose verdict memory knows still gets that verdict. */
static void test_overload_spares_known_verdicts(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\noverload: deny\ndecision_timeout_ms: 60000\n",
				       true, 1, 1);
	events_set_judge(f->d.events, stalled_judge);
	int busy = watched_file(f, "busy", "#!/bin/sh\necho busy\n");
	int unknown = watched_file(f, "unknown", "#!/bin/sh\necho unknown\n");
	int known = watched_file(f, "known", "#!/bin/sh\necho known\n");
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
	settle_file(known);
	assert_int_equal(identify_fd(f->d.hashes, known, &id, sha), 0);

	int ev_busy = send_event(f, busy);
	events_read(f->d.events, &f->g);
	int ev_unknown = send_event(f, unknown);
	events_read(f->d.events, &f->g);
	expect_response(f, ev_unknown, FAN_DENY, 0);
	int ev_known = send_event(f, known);
	events_read(f->d.events, &f->g);
	expect_response(f, ev_known, FAN_ALLOW, 0);
	assert_int_equal(atomic_load(&f->d.stats.overloads), 1);

	atomic_store(&stall_release, true);
	expect_response(f, ev_busy, FAN_ALLOW, 2000);
	/* every exec's lease given back, the overloaded one's too */
	struct kcache_stats ks = { .leases_held = 1 };
	for (int i = 0; i < 200 && ks.leases_held; i++, usleep(10000))
		kcache_get_stats(f->d.kc, &ks);
	assert_int_equal(ks.leases_held, 0);
	close(busy), close(unknown), close(known);
	teardown_fixture(f);
}

/* A remote group (a socketpair) beside the fixture's, and two watched
 * files: "served", whose judgement stalls (judge_stalling_one_file), and
 * "local". with_remote() points send_event and read_response at it. */
struct remote_side {
	int sv[2], local_peer, served, local;
	struct fan_group g;
};

static void remote_side_open(struct fixture *f, struct remote_side *r)
{
	events_set_judge(f->d.events, judge_stalling_one_file);
	r->local_peer = f->peer;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->sv), 0);
	assert_int_equal(fcntl(r->sv[0], F_SETFL, O_NONBLOCK), 0);
	r->g = (struct fan_group){ .fd = r->sv[0], .perm = true, .remote = true,
				   .mask = FAN_OPEN_EXEC_PERM };
	r->served = watched_file(f, "served", "#!/bin/sh\necho remote\n");
	r->local = watched_file(f, "local", "#!/bin/sh\necho local\n");
	struct stat st;
	assert_int_equal(fstat(r->served, &st), 0);
	stall_ino = st.st_ino;
}

static void with_remote(struct fixture *f, struct remote_side *r, bool remote)
{
	f->peer = remote ? r->sv[1] : r->local_peer;
}

static void remote_side_close(struct fixture *f, struct remote_side *r)
{
	with_remote(f, r, false);
	close(r->served);
	close(r->local);
	teardown_fixture(f);
	close(r->sv[0]);
	close(r->sv[1]);
}

/* A remote group's events go to workers of their own, however many of
 * them a server stalls: a local event still gets a worker, and the
 * stalled ones are answered on their own group once they end. */
static void test_remote_events_keep_local_workers(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: deny\non_error: deny\ndecision_timeout_ms: 60000\n",
				       true, 1, 64);
	struct remote_side r;
	int ev[3];
	remote_side_open(f, &r);
	with_remote(f, &r, true);
	for (int i = 0; i < 3; i++)
		ev[i] = send_event(f, r.served);
	events_read(f->d.events, &r.g);   /* queued: never judged on this thread */
	with_remote(f, &r, false);
	int lev = send_event(f, r.local);
	events_read(f->d.events, &f->g);
	expect_response(f, lev, FAN_DENY, 5000);

	with_remote(f, &r, true);
	struct fanotify_response resp;
	assert_int_equal(read_response(f, 100, &resp), -1);   /* still stalled */
	atomic_store(&stall_release, true);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(read_response(f, 5000, &resp), 0);
		assert_int_equal(resp.response, FAN_ALLOW);
		assert_true(resp.fd == ev[0] || resp.fd == ev[1] || resp.fd == ev[2]);
	}
	for (int i = 0; i < 200 && atomic_load(&r.g.inflight); i++)
		usleep(10000);
	assert_int_equal(atomic_load(&r.g.inflight), 0);
	assert_int_equal(atomic_load(&f->d.stats.remote_pending), 0);
	remote_side_close(f, &r);
}

/* Remote events whose judgement a server holds keep their slots past the
 * deadline; they may take a quarter of them, no more: beyond, a remote
 * event is answered at once (overload), and a local one still gets a
 * slot and a worker. */
static void test_remote_events_take_a_share_of_slots(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\non_error: deny\ndecision_timeout_ms: 60000\n",
				       true, 1, 16);
	struct remote_side r;
	unsigned share = 16 / 4;   /* max_pending / 4 */
	remote_side_open(f, &r);
	with_remote(f, &r, true);
	/* Two users (this process's, and another's): each may hold half of
	 * the remote slots. */
	pid_t child = -1, other = other_users_process(&child);
	for (unsigned i = 0; i < share + 3; i++)
		send_event_as(f, r.served, i % 2 ? other : getpid());
	events_read(f->d.events, &r.g);
	struct fanotify_response resp;
	for (int i = 0; i < 3; i++) {   /* the three beyond the share: at once */
		assert_int_equal(read_response(f, 2000, &resp), 0);
		assert_int_equal(resp.response, FAN_DENY);
	}
	assert_int_equal(atomic_load(&f->d.stats.remote_pending), share);
	assert_int_equal(atomic_load(&f->d.stats.overloads), 3);
	with_remote(f, &r, false);
	int lev = send_event(f, r.local);
	events_read(f->d.events, &f->g);
	expect_response(f, lev, FAN_ALLOW, 5000);
	atomic_store(&stall_release, true);
	remote_side_close(f, &r);
	other_users_process_end(child);
}

/* An event answered at its deadline whose worker a server still holds
 * awaits nothing: the watchdog sleeps as when idle (it ticked every 10 ms
 * for as long as the server stalled). */
static void test_watchdog_idle_beside_a_held_worker(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\non_error: deny\ndecision_timeout_ms: 300\n",
				       true, 1, 16);
	struct remote_side r;
	remote_side_open(f, &r);
	stall_past_cancel = true;
	with_remote(f, &r, true);
	int ev = send_event(f, r.served);
	events_read(f->d.events, &r.g);
	expect_response(f, ev, FAN_DENY, 3000);   /* at the deadline; the worker still stalls */
	uint64_t last = atomic_load(&f->d.shared->watchdog_beat_us);
	unsigned beats = 0;
	for (int i = 0; i < 300; i++) {   /* 1.5 s: ticking would beat ~150 times */
		usleep(5000);
		uint64_t now = atomic_load(&f->d.shared->watchdog_beat_us);
		beats += now != last;
		last = now;
	}
	assert_true(beats <= 15);
	assert_int_equal(atomic_load(&f->d.stats.remote_pending), 1);   /* still held */
	atomic_store(&stall_release, true);
	remote_side_close(f, &r);
	stall_past_cancel = false;
}

/* A path of the daemon's namespace on a filesystem that refuses the
 * cached walk (kernfs here; ZFS, vfat, exfat and ecryptfs too) still
 * names its file, through the full walk. */
static void test_path_on_filesystem_without_cached_walk(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: deny\n", true, 1, 16);
	int fd = open("/sys/kernel/uevent_seqnum", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct judgement j;
	judge_begin(&f->d, fd, &j);
	assert_string_equal(j.path, "/sys/kernel/uevent_seqnum");
	assert_false(j.path_elsewhere);
	close(fd);
	teardown_fixture(f);
}

/* Each subsystem's stop is safe without a start, and a start after a stop
 * works in the same process. */
static void test_start_stop_start(void **state)
{
	(void)state;
	events_stop(NULL, false);
	prescan_stop(NULL);
	hash_cache_free(NULL);
	prescan_before_miss(NULL, &(struct file_id){ 0 }, 0);

	struct fixture *f = setup_with("default: allow\n", true, 2, 16);
	events_stop(f->d.events, false);
	f->d.events = events_start(&f->d, 3);
	assert_non_null(f->d.events);
	int file = watched_file(f, "again", "#!/bin/sh\necho again\n");
	int ev = send_event(f, file);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, FAN_ALLOW, 2000);

	/* A pre-scan whose group could not be opened fails whole. */
	assert_null(prescan_start(&f->d, -1, 2));
	for (int round = 0; round < 2; round++) {
		int pipefd[2];
		assert_int_equal(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
		close(pipefd[1]);
		struct gk_prescan *ps = prescan_start(&f->d, pipefd[0], 2);
		assert_non_null(ps);
		struct file_id id;
		assert_int_equal(file_id_of_fd(file, &id), 0);
		prescan_before_miss(ps, &id, gk_mono_us());
		prescan_stop(ps);
	}
	close(file);
	teardown_fixture(f);
}

/* Responses until the one for fd (the sentinel also answers every open
 * descriptor of a frozen daemon by number, which here is this process). */
static bool response_for(int sock, int fd, struct fanotify_response *r)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	while (poll(&p, 1, 2000) == 1 && read(sock, r, sizeof(*r)) == (ssize_t)sizeof(*r))
		if (r->fd == fd)
			return true;
	return false;
}

/* A sentinel watching one fake group (sv[0]; the test reads its responses
 * from sv[1]), the shared table with deadline timeout_us, on_error deny and
 * the daemon's two heartbeats as given (0: never). */
struct sentinel_fx {
	struct gk_shared *sh;
	struct gk_sentinel *sen;
	int sv[2];
	uint32_t id;
};

static void sentinel_up(struct sentinel_fx *fx, int64_t timeout_us, int64_t reader_beat_us,
			int64_t watchdog_beat_us)
{
	char err[256];
	fx->sh = sentinel_shared_new(4);
	assert_non_null(fx->sh);
	atomic_store(&fx->sh->timeout_us, timeout_us);
	atomic_store(&fx->sh->reader_beat_us, reader_beat_us);
	atomic_store(&fx->sh->watchdog_beat_us, watchdog_beat_us);
	atomic_store(&fx->sh->on_error, GK_VERDICT_DENY);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fx->sv), 0);
	fx->sen = sentinel_start(fx->sh, err, sizeof(err));
	assert_non_null(fx->sen);
	fx->id = sentinel_add_group(fx->sen, fx->sv[0], false);
	assert_true(fx->id > 0);
}

static void sentinel_down(struct sentinel_fx *fx)
{
	sentinel_drop_group(fx->sen, fx->id);
	sentinel_stop(fx->sen);
	close(fx->sv[0]);
	close(fx->sv[1]);
	sentinel_shared_free(fx->sh);
}

/* A frozen daemon: its watchdog's heartbeat is stale. The sentinel process
 * answers the overdue slot through its copy of the group, and events nobody
 * read for a whole deadline it reads and answers itself. */
static void test_sentinel_stands_in_for_a_frozen_daemon(void **state)
{
	(void)state;
	struct fanotify_response r;
	struct sentinel_fx fx;
	sentinel_up(&fx, 50000, 0, 0);
	struct gk_shared *sh = fx.sh;
	int *sv = fx.sv;
	uint32_t id = fx.id;
	assert_true(sentinel_alive(fx.sen));

	/* An event the daemon read and froze on: slot 2, fd number 1234. */
	struct gk_slot *slot = &sh->slots[2];
	slot->fd = 1234;
	slot->group = id;
	atomic_store(&slot->start_us, gk_mono_us());
	atomic_store(&slot->state, SLOT_PENDING);
	assert_true(response_for(sv[1], 1234, &r));
	assert_int_equal(r.response, FAN_DENY);
	/* the response is written before the slot says answered */
	for (int i = 0; i < 1000 && atomic_load(&slot->state) != SLOT_ANSWERED; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&slot->state), SLOT_ANSWERED);
	assert_int_equal(atomic_load(&slot->answered_by), SLOT_BY_SENTINEL);
	assert_false(sentinel_slot_claim(slot));                 /* the daemon may not answer again */

	/* An event nobody reads: the sentinel takes it after a deadline. */
	struct fanotify_event_metadata m = {
		.event_len = sizeof(m), .vers = FANOTIFY_METADATA_VERSION,
		.metadata_len = sizeof(m), .mask = FAN_OPEN_EXEC_PERM, .fd = 4321, .pid = getpid(),
	};
	assert_int_equal(write(sv[1], &m, sizeof(m)), (ssize_t)sizeof(m));
	assert_true(response_for(sv[1], 4321, &r));
	assert_int_equal(r.response, FAN_DENY);
	/* It read without waiting, and left the group blocking for the
	 * daemon's reader, which shares the file description. */
	assert_int_equal(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(atomic_load(&sh->sentinel_answers), 1);
	assert_int_equal(atomic_load(&sh->sentinel_reads), 1);
	sentinel_down(&fx);
}

/* A sentinel with nothing in flight sleeps (no 20 ms tick), yet still
 * looks once a deadline: a reader that froze between read(2) and the slot
 * table left events only its descriptor numbers name. Here this process
 * plays the frozen daemon, and an open descriptor is such an event. */
static void test_quiet_sentinel_finds_unlisted_events(void **state)
{
	(void)state;
	struct fanotify_response r;
	struct sentinel_fx fx;
	/* a deadline above the second after which it is quiet; the reader
	 * idle for 10 s, the watchdog alive */
	sentinel_up(&fx, 1000000, gk_mono_us() - 10000000, gk_mono_us() + 3600000000LL);
	usleep(200000);   /* quiet by now */
	int unlisted = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(unlisted >= 0);
	/* read 1.5 s ago, then frozen: nothing wakes the quiet sentinel but
	 * its own look, due within a deadline */
	atomic_store(&fx.sh->reader_beat_us, gk_mono_us() - 1500000);
	atomic_store(&fx.sh->watchdog_beat_us, gk_mono_us() - 1500000);
	assert_true(response_for(fx.sv[1], unlisted, &r));
	assert_int_equal(r.response, FAN_DENY);
	close(unlisted);
	sentinel_down(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_and_deny),
		cmocka_unit_test(test_known_verdict_answered_on_reading_thread),
		cmocka_unit_test(test_content_decides_before_the_path),
		cmocka_unit_test(test_reader_follows_a_swap_and_stops),
		cmocka_unit_test(test_monitor_mode_never_replies),
		cmocka_unit_test(test_decision_timeout_cancels_judgement),
		cmocka_unit_test(test_overload_spares_known_verdicts),
		cmocka_unit_test(test_remote_events_keep_local_workers),
		cmocka_unit_test(test_remote_events_take_a_share_of_slots),
		cmocka_unit_test(test_watchdog_idle_beside_a_held_worker),
		cmocka_unit_test(test_path_on_filesystem_without_cached_walk),
		cmocka_unit_test(test_start_stop_start),
		cmocka_unit_test(test_sentinel_stands_in_for_a_frozen_daemon),
		cmocka_unit_test(test_quiet_sentinel_finds_unlisted_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
