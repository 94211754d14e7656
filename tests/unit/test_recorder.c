/* The recorder: what the reading thread answered is recorded after the
 * reply, on the recorder's thread (gatekeeper/recorder.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_events_util.h"

/* Within ms, have n records reached the audit writer (none here: each is
 * counted as dropped)? */
static bool records_within(struct fixture *f, uint64_t n, int ms)
{
	for (int i = 0; i < ms && atomic_load(&f->d.stats.audit_dropped) < n; i++)
		usleep(1000);
	return atomic_load(&f->d.stats.audit_dropped) == n;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* What the reading thread answered is recorded after the reply by the
 * recorder, which closes the event's fd: a sleeping recorder is woken for
 * it. A full ring is refused (the reader then records inline), and a stop
 * records everything queued. */
static void test_recorder_records_after_the_reply(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: deny\n", true, 1, 64);
	events_set_judge(f->d.events, stalled_judge);
	unsigned char sha[GK_SHA256_LEN];
	int file = known_file(f, "allowed", "#!/bin/sh\necho allowed\n", sha);
	admin_rules_set(f->d.admin, sha, GK_VERDICT_ALLOW);
	usleep(200000);   /* the recorder asleep by now: the record must wake it */
	int ev = send_event(f, file);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, FAN_ALLOW, 0);
	if (!records_within(f, 1, 5000))
		fail_msg("the recorder did not record the allow within 5 s");
	assert_false(fd_open(ev));

	struct gk_recorder *r = recorder_start(&f->d);
	assert_non_null(r);
	struct judgement j = { .decision = { .verdict = GK_VERDICT_ALLOW } };
	snprintf(j.path, sizeof(j.path), "%s/allowed", f->dir);
	struct db_audit a = { .pid = getpid(), .verdict = GK_VERDICT_ALLOW };
	int fds[RECORDER_RING + 1];
	/* The recorder's first record waits for the policy lock: nothing
	 * leaves the ring meanwhile. */
	pthread_rwlock_wrlock(&f->d.policy_lock);
	for (int i = 0; i <= RECORDER_RING; i++) {
		fds[i] = fcntl(file, F_DUPFD_CLOEXEC, 3);
		assert_true(fds[i] >= 0);
		bool taken = recorder_take(r, fds[i], &a, &j, false);
		assert_int_equal(taken, i < RECORDER_RING);
	}
	pthread_rwlock_unlock(&f->d.policy_lock);
	recorder_stop(r);
	assert_int_equal(atomic_load(&f->d.stats.audit_dropped), 1 + RECORDER_RING);
	for (int i = 0; i < RECORDER_RING; i++)
		assert_false(fd_open(fds[i]));
	assert_true(fd_open(fds[RECORDER_RING]));   /* refused: still the caller's */
	close(fds[RECORDER_RING]);
	close(file);
	teardown_fixture(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorder_records_after_the_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
