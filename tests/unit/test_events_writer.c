/* An exec whose file a writer holds open is not let go on content the
 * writer can still change before the kernel refuses it writers (events.c,
 * judge.c: judge_wait_for_writer). The fixture's kernel cache is off, and
 * each exec still takes its lease (kcache_arm). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_events_util.h"

/* Leases work on the fixture's files, and outlast a writer's retry. */
static bool leases_work(struct fixture *f)
{
	int fd = watched_file(f, "probe", "x");
	int e = kcache_writer_probe(fd);
	close(fd);
	return e == 0 && kcache_lease_grace_us() >= 1000000;
}

/* Default allow, workers workers; NULL where leases do not work. */
static struct fixture *writer_fixture(unsigned workers)
{
	struct fixture *f = setup_with("default: allow\n", true, workers, 64);
	if (leases_work(f))
		return f;
	teardown_fixture(f);
	return NULL;
}

static int writer_of(struct fixture *f, const char *name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	int w = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(w >= 0);
	return w;
}

/* An exec of file, read now, gets response. */
static void exec_answered(struct fixture *f, int file, uint32_t response)
{
	int ev = send_event(f, file);
	events_read(f->d.events, &f->g);
	expect_response(f, ev, response, 5000);
}

/* Default allow: a writer open through the judgement and the wait gets
 * the exec refused, whether its verdict is known (the reading thread
 * leaves it to a worker) or must be read. */
static void test_writer_held_throughout_is_refused(void **state)
{
	(void)state;
	struct fixture *f = writer_fixture(2);
	if (!f)
		skip();
	unsigned char sha[GK_SHA256_LEN];
	int known = known_file(f, "known", "#!/bin/sh\necho known\n", sha);
	int fresh = watched_file(f, "fresh", "#!/bin/sh\necho fresh\n");
	int w1 = writer_of(f, "known"), w2 = writer_of(f, "fresh");
	exec_answered(f, known, FAN_DENY);
	exec_answered(f, fresh, FAN_DENY);
	close(w1);
	close(w2);
	/* the writers gone, the same files run */
	exec_answered(f, known, FAN_ALLOW);
	exec_answered(f, fresh, FAN_ALLOW);
	close(known);
	close(fresh);
	teardown_fixture(f);
}

/* A writer that goes while the exec waits for a worker (a child closing
 * what it inherited) costs the exec nothing: the worker finds it gone and
 * judges the file as it is then. Every worker is held by another file's
 * judgement until the writer has closed. */
static void test_writer_gone_before_the_worker_is_allowed(void **state)
{
	(void)state;
	struct fixture *f = writer_fixture(1);
	if (!f)
		skip();
	events_set_judge(f->d.events, judge_stalling_one_file);
	int blocker = watched_file(f, "blocker", "#!/bin/sh\necho blocker\n");
	int prog = watched_file(f, "prog", "#!/bin/sh\necho prog\n");
	struct stat st;
	assert_int_equal(fstat(blocker, &st), 0);
	stall_ino = st.st_ino;
	stall_past_cancel = false;
	int w = writer_of(f, "prog");
	int ev_blocker = send_event(f, blocker);
	events_read(f->d.events, &f->g);
	int ev = send_event(f, prog);
	events_read(f->d.events, &f->g);
	close(w);
	atomic_store(&stall_release, true);
	expect_response(f, ev_blocker, FAN_ALLOW, 5000);
	expect_response(f, ev, FAN_ALLOW, 5000);
	close(blocker);
	close(prog);
	teardown_fixture(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_held_throughout_is_refused),
		cmocka_unit_test(test_writer_gone_before_the_worker_is_allowed),
	};
	return cmocka_run_group_tests_name("events_writer", tests, NULL, NULL);
}
