/* The workers' queue by owners' turns (events_fair.c), alone: no daemon,
 * no thread; its functions want q_lock, which nothing else takes here.
 * And whose subordinate ids are (subids.c), by which owners count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatekeeper/events_impl.h"
#include "gatekeeper/subids.h"
#include "test_events_util.h"

static void queue_with(struct job_queue *q, unsigned n_slots, struct jobq_caps caps)
{
	*q = (struct job_queue){ 0 };
	pthread_cond_init(&q->cond, NULL);
	assert_int_equal(jobq_init(q, n_slots, caps), 0);
}

/* No heavy cap, no reserve. */
static void queue_up(struct job_queue *q, unsigned n_slots, unsigned run_cap, unsigned hold_cap)
{
	queue_with(q, n_slots, (struct jobq_caps){ .run = run_cap, .hold = hold_cap,
						   .heavy = n_slots });
}

static bool push(struct job_queue *q, int idx, uid_t owner)
{
	return jobq_push(q, idx, owner, JOB_LIGHT, false, NULL) == JOBQ_QUEUED;
}

static void queue_down(struct job_queue *q)
{
	jobq_free(q);
	pthread_cond_destroy(&q->cond);
}

static char *write_temp(const char *text, size_t len)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/gk-subuid-unit.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static struct subids *subids_of(const char *text, size_t len)
{
	char *path = write_temp(text, len);
	struct subids *s = subids_read(path);
	unlink(path);
	assert_non_null(s);
	return s;
}

/* Owners take turns: one with many jobs queued first does not go first
 * with all of them. */
static void test_owners_take_turns(void **state)
{
	(void)state;
	struct job_queue q;
	queue_up(&q, 16, 16, 16);
	const uid_t owner[] = { 1000, 1000, 1000, 0, 7, 7 };
	for (int i = 0; i < 6; i++)
		assert_true(push(&q, i, owner[i]));
	const int order[] = { 0, 3, 4, 1, 5, 2 };
	for (int i = 0; i < 6; i++)
		assert_int_equal(jobq_take(&q), order[i]);
	assert_int_equal(jobq_take(&q), -1);
	assert_int_equal(q.len, 0);
	for (int i = 0; i < 6; i++)
		jobq_done(&q, i);
	queue_down(&q);
}

/* An owner's jobs run on run_cap workers at most; one that ends lets the
 * next of the same owner go. */
static void test_one_owner_runs_at_most_run_cap(void **state)
{
	(void)state;
	struct job_queue q;
	queue_up(&q, 16, 1, 16);
	assert_true(push(&q, 0, 1000));
	assert_true(push(&q, 1, 1000));
	assert_int_equal(jobq_take(&q), 0);
	assert_int_equal(jobq_take(&q), -1);      /* 1000 is at its cap */
	assert_true(push(&q, 2, 0));
	assert_int_equal(jobq_take(&q), 2);       /* another owner still runs */
	jobq_done(&q, 0);
	assert_int_equal(jobq_take(&q), 1);
	jobq_done(&q, 1);
	jobq_done(&q, 2);
	assert_int_equal(jobq_take(&q), -1);
	queue_down(&q);
}

/* An owner holds hold_cap jobs at most, queued and running together. */
static void test_one_owner_holds_at_most_hold_cap(void **state)
{
	(void)state;
	struct job_queue q;
	queue_up(&q, 16, 4, 2);
	assert_true(push(&q, 0, 1000));
	assert_true(push(&q, 1, 1000));
	assert_false(push(&q, 2, 1000));
	assert_true(push(&q, 3, 0));
	assert_int_equal(q.len, 3);
	assert_int_equal(jobq_take(&q), 0);
	assert_false(push(&q, 2, 1000));     /* running counts too */
	jobq_done(&q, 0);
	assert_true(push(&q, 2, 1000));
	assert_int_equal(jobq_take(&q), 3);
	assert_int_equal(jobq_take(&q), 1);
	assert_int_equal(jobq_take(&q), 2);
	jobq_done(&q, 1);
	jobq_done(&q, 2);
	jobq_done(&q, 3);
	queue_down(&q);
}

static void heavy(struct job_queue *q, int idx, uid_t owner)
{
	assert_int_equal(jobq_push(q, idx, owner, JOB_HEAVY, false, NULL), JOBQ_QUEUED);
}

/* Heavy jobs run on caps.heavy workers at most, whoever asks: an owner
 * whose next job is heavy waits while the others' light jobs and its own
 * later light ones go on. Otherwise the job that came first goes first. */
static void test_heavy_jobs_leave_workers_to_light_ones(void **state)
{
	(void)state;
	struct job_queue q;
	queue_with(&q, 16, (struct jobq_caps){ .run = 3, .hold = 16, .heavy = 2 });
	heavy(&q, 0, 1000);
	heavy(&q, 1, 1000);
	heavy(&q, 2, 1001);
	assert_true(push(&q, 3, 1001));
	assert_true(push(&q, 4, 0));
	assert_int_equal(jobq_take(&q), 0);
	assert_int_equal(jobq_take(&q), 2);
	assert_int_equal(jobq_take(&q), 3);       /* past 1000, whose next is heavy */
	assert_int_equal(jobq_take(&q), 4);
	assert_int_equal(jobq_take(&q), -1);
	heavy(&q, 5, 0);
	assert_true(push(&q, 6, 0));
	assert_int_equal(jobq_take(&q), 6);       /* 0's light job passes its heavy one */
	jobq_done(&q, 2);
	assert_int_equal(jobq_take(&q), 1);       /* 1000 kept its place */
	assert_int_equal(jobq_take(&q), -1);
	jobq_done(&q, 0);
	assert_int_equal(jobq_take(&q), 5);
	for (int i = 1; i < 7; i++)
		if (i != 2)
			jobq_done(&q, i);
	/* With room, an owner's oldest job goes first, heavy or not. */
	heavy(&q, 7, 1000);
	assert_true(push(&q, 8, 1000));
	assert_int_equal(jobq_take(&q), 7);
	assert_int_equal(jobq_take(&q), 8);
	jobq_done(&q, 7);
	jobq_done(&q, 8);
	assert_int_equal(q.heavy_running, 0);
	assert_int_equal(q.len, 0);
	queue_down(&q);
}

/* Heavy jobs take turns of their own: an owner whose light jobs go on
 * while its heavy one waits keeps its place for the next heavy worker,
 * ahead of an owner who queued only heavy ones after it. */
static void test_waiting_heavy_job_keeps_its_turn(void **state)
{
	(void)state;
	struct job_queue q;
	queue_with(&q, 16, (struct jobq_caps){ .run = 3, .hold = 16, .heavy = 1 });
	heavy(&q, 0, 1001);
	assert_int_equal(jobq_take(&q), 0);
	heavy(&q, 1, 1000);
	assert_true(push(&q, 2, 1000));
	heavy(&q, 3, 1001);
	assert_int_equal(jobq_take(&q), 2);
	assert_true(push(&q, 4, 1000));
	assert_int_equal(jobq_take(&q), 4);
	assert_int_equal(jobq_take(&q), -1);
	jobq_done(&q, 0);
	assert_int_equal(jobq_take(&q), 1);       /* 1000's, before 1001's second */
	jobq_done(&q, 1);
	assert_int_equal(jobq_take(&q), 3);
	for (int i = 2; i < 5; i++)
		jobq_done(&q, i);
	assert_int_equal(jobq_take(&q), -1);
	queue_down(&q);
}

/* When only the reserve is left, it is kept for owners who hold fewer
 * than reserve_share; an owner at its share is refused as that first. */
static void test_reserve_kept_for_owners_who_hold_few(void **state)
{
	(void)state;
	struct job_queue q;
	queue_with(&q, 16, (struct jobq_caps){ .run = 16, .hold = 3, .heavy = 16, .reserve = 2,
					       .reserve_share = 2 });
	unsigned held = 0;
	assert_true(push(&q, 0, 1000));
	assert_true(push(&q, 1, 1000));
	assert_int_equal(jobq_push(&q, 2, 1000, JOB_LIGHT, true, &held), JOBQ_OVER_RESERVE);
	assert_int_equal(held, 2);
	assert_int_equal(jobq_push(&q, 2, 0, JOB_LIGHT, true, &held), JOBQ_QUEUED);
	assert_int_equal(held, 0);
	assert_int_equal(jobq_push(&q, 3, 0, JOB_LIGHT, true, NULL), JOBQ_QUEUED);
	assert_int_equal(jobq_push(&q, 4, 0, JOB_LIGHT, true, &held), JOBQ_OVER_RESERVE);
	assert_int_equal(held, 2);
	assert_int_equal(jobq_push(&q, 4, 0, JOB_LIGHT, false, NULL), JOBQ_QUEUED);
	assert_int_equal(jobq_push(&q, 5, 0, JOB_LIGHT, true, &held), JOBQ_OVER_SHARE);
	assert_int_equal(q.len, 5);
	for (int i = 0; i < 5; i++)
		assert_true(jobq_take(&q) >= 0);
	for (int i = 0; i < 5; i++)
		jobq_done(&q, i);
	assert_int_equal(jobq_take(&q), -1);
	queue_down(&q);
}

/* An answered job no longer counts as its owner's: the exec it let go may
 * ask again while the worker still records it, and found its user holding
 * it, refused from the reserve. The worker stays taken until jobq_done. */
static void test_answered_job_no_longer_held(void **state)
{
	(void)state;
	struct job_queue q;
	queue_with(&q, 16, (struct jobq_caps){ .run = 1, .hold = 2, .heavy = 16, .reserve = 2,
					       .reserve_share = 1 });
	unsigned held = 9;
	assert_true(push(&q, 0, 0));
	assert_int_equal(jobq_take(&q), 0);
	assert_int_equal(jobq_push(&q, 1, 0, JOB_LIGHT, true, &held), JOBQ_OVER_RESERVE);
	assert_int_equal(held, 1);
	jobq_answered(&q, 0);
	jobq_answered(&q, 0);   /* once only */
	assert_int_equal(q.held, 0);
	assert_int_equal(jobq_push(&q, 1, 0, JOB_LIGHT, true, &held), JOBQ_QUEUED);
	assert_int_equal(held, 0);
	assert_true(push(&q, 2, 0));
	assert_int_equal(jobq_push(&q, 3, 0, JOB_LIGHT, false, &held), JOBQ_OVER_SHARE);
	assert_int_equal(held, 2);
	assert_int_equal(jobq_take(&q), -1);   /* its one worker is still busy */
	jobq_done(&q, 0);
	assert_int_equal(q.held, 2);
	assert_int_equal(jobq_take(&q), 1);
	jobq_done(&q, 1);   /* unanswered: done alone ends its hold */
	assert_int_equal(jobq_take(&q), 2);
	jobq_answered(&q, 2);
	jobq_done(&q, 2);
	assert_int_equal(q.held, 0);
	assert_int_equal(q.owners_made, 1);
	assert_int_equal(q.free_owner, 0);   /* the owner left when idle */
	queue_down(&q);
}

/* The user who asks: a process's real uid, from /proc. */
static void test_pid_uid(void **state)
{
	(void)state;
	uid_t uid = 12345;
	assert_int_equal(gk_pid_uid(getpid(), &uid), 0);
	assert_int_equal(uid, getuid());
	assert_int_equal(gk_pid_uid(0, &uid), -1);
	assert_int_equal(gk_pid_uid(-1, &uid), -1);
	assert_int_equal(gk_pid_uid(0x3fffffff, &uid), -1);
}

/* Callers whose uid cannot be read share one small share: one worker,
 * an eighth of the slots, so that hiding gains no second share. */
static void test_unknown_callers_share_a_small_share(void **state)
{
	(void)state;
	struct job_queue q;
	queue_up(&q, 32, 3, 16);
	assert_true(push(&q, 0, JOBQ_UNKNOWN));
	assert_true(push(&q, 1, JOBQ_UNKNOWN));
	assert_false(push(&q, 2, JOBQ_UNKNOWN));
	assert_int_equal(jobq_take(&q), 0);
	assert_int_equal(jobq_take(&q), -1);
	jobq_done(&q, 0);
	assert_int_equal(jobq_take(&q), 1);
	jobq_done(&q, 1);
	queue_down(&q);
}

/* The pid of a child of ours, reaped: a caller gone before its event is
 * read. */
static pid_t reaped_pid(void)
{
	pid_t gone = fork();
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	return gone;
}

/* A caller killed and reaped before its event is queued: answered at once
 * (the overload verdict, not counted as one), never hashed. */
static void test_gone_caller_answered_unjudged(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\noverload: deny\n", true, 1, 16);
	pid_t gone = reaped_pid();
	int file = watched_file(f, "prog", "#!/bin/sh\necho gone\n");
	int ev = send_event_as(f, file, gone);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, FAN_DENY, 2000);
	assert_int_equal(atomic_load(&f->d.stats.overloads), 0);
	close(file);
	teardown_fixture(f);
}

/* A worker lets go of its job's hold, and of its place under max_pending,
 * before it replies: the exec let go may ask again at once. While the test
 * holds q_lock, the judged job gets no reply; before, it got one and its
 * hold ended only after. */
static void test_worker_ends_the_hold_before_the_reply(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\n", true, 2, 16);
	struct gk_events *ev = f->d.events;
	events_set_judge(ev, stalled_judge);
	int file = watched_file(f, "prog", "#!/bin/sh\necho hold\n");
	int event_fd = send_event(f, file);
	events_read(ev, &f->g);
	unsigned len = 1;
	for (int i = 0; i < 2000 && len; i++) {   /* until a worker took it */
		pthread_mutex_lock(&ev->q_lock);
		len = ev->local.len;
		pthread_mutex_unlock(&ev->q_lock);
		if (len)
			usleep(1000);
	}
	assert_int_equal(len, 0);
	struct fanotify_response r;
	pthread_mutex_lock(&ev->q_lock);
	atomic_store(&stall_release, true);
	int replied = read_response(f, 200, &r);
	pthread_mutex_unlock(&ev->q_lock);
	assert_int_equal(replied, -1);
	expect_response(f, event_fd, FAN_ALLOW, 2000);
	pthread_mutex_lock(&ev->q_lock);   /* nor does max_pending count it */
	unsigned to_workers = ev->to_workers;
	pthread_mutex_unlock(&ev->q_lock);
	assert_int_equal(to_workers, 0);
	close(file);
	teardown_fixture(f);
}

/* A notification (monitor mode) of a caller reaped since is judged and
 * recorded all the same: the record is all it is for, and a short program
 * is often gone before its event is read. Before, it vanished unrecorded. */
static void test_gone_callers_notification_still_judged(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\n", false, 1, 16);
	pid_t gone = reaped_pid();
	int file = watched_file(f, "prog", "#!/bin/sh\necho short\n");
	send_event_as(f, file, gone);
	events_read(f->d.events, &f->g);
	for (int i = 0; i < 2000 && !atomic_load(&f->d.stats.allows); i++)
		usleep(1000);
	assert_int_equal(atomic_load(&f->d.stats.allows), 1);
	assert_int_equal(atomic_load(&f->d.stats.overloads), 0);
	close(file);
	teardown_fixture(f);
}

/* The ranges follow the file: a user added since counts as one at once. */
static void test_subids_refresh_follows_the_file(void **state)
{
	(void)state;
	struct gk_events *ev = calloc(1, sizeof(*ev));
	assert_non_null(ev);
	pthread_mutex_init(&ev->q_lock, NULL);
	pthread_mutex_init(&ev->subids_lock, NULL);
	char *path = write_temp("nobody:300000:10\n", 17);
	events_subids_refresh(ev, path, true);
	assert_int_equal(subids_owner(ev->subids, 300001), 65534);
	struct subids *first = ev->subids;
	events_subids_refresh(ev, path, false);   /* unchanged: not read again */
	assert_ptr_equal(ev->subids, first);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("nobody:300000:10\n1000:400000:10\n", f);
	fclose(f);
	events_subids_refresh(ev, path, false);
	assert_int_equal(subids_owner(ev->subids, 400001), 1000);
	unlink(path);
	events_subids_refresh(ev, path, false);   /* gone: no ranges */
	assert_int_equal(subids_owner(ev->subids, 400001), 400001);
	subids_free(ev->subids);
	pthread_mutex_destroy(&ev->subids_lock);
	pthread_mutex_destroy(&ev->q_lock);
	free(ev);
}

/* Owners leave the table when their last job ends: many more owners than
 * slots pass through a small queue. */
static void test_owners_leave_when_idle(void **state)
{
	(void)state;
	struct job_queue q;
	queue_up(&q, 4, 4, 4);
	for (uid_t uid = 0; uid < 5000; uid += 2) {
		assert_true(push(&q, 0, uid));
		assert_true(push(&q, 1, uid + 1));
		assert_true(push(&q, 2, uid));
		assert_int_equal(jobq_take(&q), 0);
		assert_int_equal(jobq_take(&q), 1);
		assert_int_equal(jobq_take(&q), 2);
		jobq_done(&q, 1);
		jobq_done(&q, 0);
		jobq_done(&q, 2);
	}
	assert_int_equal(jobq_take(&q), -1);
	queue_down(&q);
}

/* Good lines are ranges, their user's; every other kind is skipped, not
 * half-taken, and the line after it is still read. */
static void test_subids_read_ranges_and_skip_the_rest(void **state)
{
	(void)state;
	char longline[5000];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	char text[8192];
	int n = snprintf(text, sizeof(text),
			 "gk-no-such-user:100000:65536\n# a comment\n\n1000:200000:10\n"
			 "bob:abc:10\nbob: 500:10\nbob:600:+10\nbob:5:0\nbob:4294967295:1\n"
			 "bob:10:-5\nbob:-1:5\n:7:7\nbob:20:5x\n%s:400000:9\n"
			 "x:700000:9", longline);
	/* a NUL inside a line, then more lines */
	const char rest[] = "\0tail\n1001:800000:10\nnobody:4294967290:5\nnobody:300000:5";
	assert_true(n > 0 && (size_t)n + sizeof(rest) < sizeof(text));
	memcpy(text + n, rest, sizeof(rest));
	size_t len = (size_t)n + sizeof(rest) - 1;
	struct subids *s = subids_of(text, len);
	assert_int_equal(subids_count(s), 5);
	assert_int_equal(subids_owner(s, 100000), 100000);   /* no such user: its own */
	assert_int_equal(subids_owner(s, 165535), 100000);
	assert_int_equal(subids_owner(s, 165536), 165536);
	assert_int_equal(subids_owner(s, 99999), 99999);
	assert_int_equal(subids_owner(s, 200009), 1000);     /* a uid names its user */
	assert_int_equal(subids_owner(s, 200010), 200010);
	assert_int_equal(subids_owner(s, 300004), 65534);    /* /etc/passwd names nobody */
	assert_int_equal(subids_owner(s, 4294967294u), 65534); /* the last id a range may hold */
	assert_int_equal(subids_owner(s, 800003), 1001);     /* after the NUL line */
	assert_int_equal(subids_owner(s, 700003), 700003);   /* its line held a NUL */
	assert_int_equal(subids_owner(s, 400003), 400003);   /* its line was too long */
	assert_int_equal(subids_owner(s, 505), 505);
	assert_int_equal(subids_owner(s, 605), 605);
	assert_int_equal(subids_owner(s, 12), 12);
	assert_int_equal(subids_owner(s, 0), 0);
	subids_free(s);
}

/* Root's ranges are not root: the containers root runs use those ids. A
 * range nested in another, or overlapping it, is the outer one's. */
static void test_subids_root_and_nested_ranges(void **state)
{
	(void)state;
	const char *text = "root:100000:65536\n1000:100010:10\n1001:165000:1000\n";
	struct subids *s = subids_of(text, strlen(text));
	assert_int_equal(subids_count(s), 1);
	assert_int_equal(subids_owner(s, 100005), 100000);
	assert_int_equal(subids_owner(s, 100015), 100000);
	assert_int_equal(subids_owner(s, 100500), 100000);
	assert_int_equal(subids_owner(s, 165999), 100000);
	assert_int_equal(subids_owner(s, 166000), 166000);
	subids_free(s);
}

/* No file, not a regular one, an empty one, or only comments: no ranges,
 * every id its own. */
static void test_subids_none(void **state)
{
	(void)state;
	const char *paths[] = { "/nonexistent/gk-subuid", "/dev/zero" };   /* none, not a file */
	struct subids *s;
	for (int i = 0; i < 2; i++) {
		s = subids_read(paths[i]);
		assert_non_null(s);
		assert_int_equal(subids_count(s), 0);
		assert_int_equal(subids_owner(s, 100001), 100001);
		subids_free(s);
	}
	const char *texts[] = { "", "# only a comment\n\n" };
	for (int i = 0; i < 2; i++) {
		s = subids_of(texts[i], strlen(texts[i]));
		assert_int_equal(subids_count(s), 0);
		assert_int_equal(subids_owner(s, 100001), 100001);
		subids_free(s);
	}
	assert_int_equal(subids_owner(NULL, 7), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owners_take_turns),
		cmocka_unit_test(test_one_owner_runs_at_most_run_cap),
		cmocka_unit_test(test_one_owner_holds_at_most_hold_cap),
		cmocka_unit_test(test_owners_leave_when_idle),
		cmocka_unit_test(test_heavy_jobs_leave_workers_to_light_ones),
		cmocka_unit_test(test_waiting_heavy_job_keeps_its_turn),
		cmocka_unit_test(test_reserve_kept_for_owners_who_hold_few),
		cmocka_unit_test(test_answered_job_no_longer_held),
		cmocka_unit_test(test_pid_uid),
		cmocka_unit_test(test_unknown_callers_share_a_small_share),
		cmocka_unit_test(test_gone_caller_answered_unjudged),
		cmocka_unit_test(test_gone_callers_notification_still_judged),
		cmocka_unit_test(test_worker_ends_the_hold_before_the_reply),
		cmocka_unit_test(test_subids_refresh_follows_the_file),
		cmocka_unit_test(test_subids_read_ranges_and_skip_the_rest),
		cmocka_unit_test(test_subids_root_and_nested_ranges),
		cmocka_unit_test(test_subids_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
