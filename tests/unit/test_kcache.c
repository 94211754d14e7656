/* The kernel cache's epochs (gatekeeper/kcache.c) against its flush, with
 * no root and no BPF: this test is linked with --wrap=fanotify_mark
 * (Makefile), so no mark is ever placed; the wrapper below logs each call
 * instead. A judgement of an epoch that a flush has left must add no ignore
 * mark, and a flush that begins while a record adds one must come after
 * that mark (and so drop it). Both modes of fanotify mode's cache: leases
 * (FAN_OPEN_EXEC_PERM) and plain ignore marks (FAN_OPEN_EXEC, monitor). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/kcache.h"

#define FAKE_GROUP_FD 1000   /* never used as an fd: every mark call is ours */
#define LOG_MAX 64

enum op { OP_ADD_IGNORE = 1, OP_FLUSH, OP_OTHER };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum op log[LOG_MAX];
	size_t n;
	/* the race: the next ignore mark starts a flush, and waits for it */
	struct kcache *race_kc;
	pthread_t flusher;
	bool flusher_started, flush_done;
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void log_op(enum op op)
{
	pthread_mutex_lock(&w.lock);
	if (w.n < LOG_MAX)
		w.log[w.n++] = op;
	pthread_mutex_unlock(&w.lock);
}

static void *flush_thread(void *arg)
{
	kcache_forget_all(arg);
	pthread_mutex_lock(&w.lock);
	w.flush_done = true;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	return NULL;
}

/* The flush runs in another thread from the moment the mark is being added;
 * give it 300 ms, plenty to finish if nothing holds it back. */
static void race_flush_now(void)
{
	struct kcache *kc = w.race_kc;
	w.race_kc = NULL;
	w.flush_done = false;
	w.flusher_started = pthread_create(&w.flusher, NULL, flush_thread, kc) == 0;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 300 * 1000000L;
	if (until.tv_nsec >= 1000000000L)
		until.tv_sec++, until.tv_nsec -= 1000000000L;
	pthread_mutex_lock(&w.lock);
	while (w.flusher_started && !w.flush_done &&
	       pthread_cond_timedwait(&w.cond, &w.lock, &until) == 0)
		;
	pthread_mutex_unlock(&w.lock);
}

int __wrap_fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path);
int __wrap_fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)
{
	(void)mask, (void)dirfd, (void)path;
	if (fd != FAKE_GROUP_FD) {   /* not ours: some other group (never expected) */
		log_op(OP_OTHER);
		return 0;
	}
	if ((flags & FAN_MARK_ADD) && (flags & FAN_MARK_IGNORE)) {
		if (w.race_kc)
			race_flush_now();
		log_op(OP_ADD_IGNORE);   /* the mark stands from here on */
	} else {
		log_op(flags & FAN_MARK_FLUSH ? OP_FLUSH : OP_OTHER);
	}
	return 0;
}

static size_t count_op(enum op op)
{
	size_t n = 0;
	for (size_t i = 0; i < w.n; i++)
		n += w.log[i] == op;
	return n;
}

static ssize_t last_op(enum op op)
{
	for (size_t i = w.n; i-- > 0;)
		if (w.log[i] == op)
			return (ssize_t)i;
	return -1;
}

struct fixture {
	char dir[64], path[96];
	int fd;
	struct stat st;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	sigset_t sigs;
	if (!fx)
		return -1;
	/* a lease break would signal us: none is expected, keep it queued */
	sigemptyset(&sigs);
	sigaddset(&sigs, KCACHE_LEASE_SIGNAL);
	sigaddset(&sigs, SIGIO);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/gk-kcache-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/prog", fx->dir);
	int wfd = open(fx->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (wfd < 0 || write(wfd, "#!/bin/true\n", 12) != 12 || close(wfd) < 0)
		return -1;
	fx->fd = open(fx->path, O_RDONLY | O_CLOEXEC);
	if (fx->fd < 0 || fstat(fx->fd, &fx->st) < 0)
		return -1;
	w.n = 0;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	close(fx->fd);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static const uint64_t masks[] = { FAN_OPEN_EXEC_PERM, FAN_OPEN_EXEC };

/* Judged, then a flush, then recorded: no mark, nothing held in the kernel.
 * A judgement of the new epoch is cached as ever. */
static void test_old_epoch_records_nothing(void **state)
{
	struct fixture *fx = *state;
	for (size_t m = 0; m < 2; m++) {
		struct kcache *kc = kcache_open(FAKE_GROUP_FD, masks[m], true, KCACHE_BPF_NEVER);
		assert_non_null(kc);
		assert_string_equal(kcache_mode(kc), "fanotify");
		w.n = 0;
		uint64_t judged_in = kcache_epoch(kc);
		assert_int_equal(kcache_record(kc, fx->fd, GK_VERDICT_ALLOW, &fx->st, 0, 0, judged_in), 0);
		assert_int_equal(count_op(OP_ADD_IGNORE), 1);
		assert_int_equal(kcache_forget_all(kc), 0);
		assert_int_equal(count_op(OP_FLUSH), 1);
		assert_true(kcache_epoch(kc) != judged_in);
		/* the judgement began before that flush: its rules may be gone */
		assert_int_equal(kcache_record(kc, fx->fd, GK_VERDICT_ALLOW, &fx->st, 0, 0, judged_in), 1);
		assert_int_equal(count_op(OP_ADD_IGNORE), 1);
		assert_true(last_op(OP_ADD_IGNORE) < last_op(OP_FLUSH));
		/* one of the current epoch is cached */
		assert_int_equal(kcache_record(kc, fx->fd, GK_VERDICT_ALLOW, &fx->st, 0, 0,
					       kcache_epoch(kc)), 0);
		assert_int_equal(count_op(OP_ADD_IGNORE), 2);
		kcache_close(kc);
	}
}

/* A flush that begins while a record of the current epoch is adding its
 * mark waits for it: the mark comes first, and the flush drops it. (Were
 * they to interleave, the flush would pass before the mark stood, and the
 * old judgement would answer execs from the kernel until taken back.) */
static void test_flush_waits_for_a_record_in_progress(void **state)
{
	struct fixture *fx = *state;
	for (size_t m = 0; m < 2; m++) {
		struct kcache *kc = kcache_open(FAKE_GROUP_FD, masks[m], true, KCACHE_BPF_NEVER);
		assert_non_null(kc);
		w.n = 0;
		uint64_t judged_in = kcache_epoch(kc);
		w.race_kc = kc;
		int rc = kcache_record(kc, fx->fd, GK_VERDICT_ALLOW, &fx->st, 0, 0, judged_in);
		assert_true(w.flusher_started);
		pthread_join(w.flusher, NULL);
		w.flusher_started = false;
		assert_int_equal(rc, 0);
		assert_int_equal(count_op(OP_ADD_IGNORE), 1);
		assert_int_equal(count_op(OP_FLUSH), 1);
		assert_true(last_op(OP_ADD_IGNORE) < last_op(OP_FLUSH));
		assert_true(kcache_epoch(kc) != judged_in);
		kcache_close(kc);
	}
}

/* Record an allow with ticket and give the lease back, as a worker does;
 * then the ignore marks made so far and the leases held. */
static void allow_with_ticket(struct kcache *kc, struct fixture *fx, uint64_t ticket, bool cached,
			      size_t marks, uint64_t held)
{
	struct kcache_stats ks;
	int rc = kcache_record(kc, fx->fd, GK_VERDICT_ALLOW, &fx->st, ticket, 0, kcache_epoch(kc));
	assert_true(cached ? rc == 0 : rc != 0);
	kcache_disarm(kc, fx->fd, ticket, false);
	assert_int_equal(count_op(OP_ADD_IGNORE), marks);
	kcache_get_stats(kc, &ks);
	assert_int_equal(ks.leases_held, held);
}

/* fanotify mode's leases: an arm refused because a writer had the file open
 * caches no allow, even once the writer is gone by the record (it may have
 * changed the content through a shared mapping, no ctime moved). A lease
 * taken before the read does; a denial then takes back its mark and lease. */
static void test_refused_arm_caches_no_allow(void **state)
{
	struct fixture *fx = *state;
	struct kcache_stats ks;
	struct kcache *kc = kcache_open(FAKE_GROUP_FD, FAN_OPEN_EXEC_PERM, true, KCACHE_BPF_NEVER);
	assert_non_null(kc);
	w.n = 0;
	int writer = open(fx->path, O_WRONLY | O_CLOEXEC);
	assert_true(writer >= 0);
	uint64_t ticket = kcache_arm(kc, fx->fd, false);
	assert_true(ticket == KCACHE_ARM_WRITER);
	assert_false(kcache_ticket_taken(ticket));
	close(writer);
	allow_with_ticket(kc, fx, ticket, false, 0, 0);
	ticket = kcache_arm(kc, fx->fd, false);
	assert_true(kcache_ticket_taken(ticket));
	allow_with_ticket(kc, fx, ticket, true, 1, 1);
	kcache_record(kc, fx->fd, GK_VERDICT_DENY, &fx->st, 0, 0, kcache_epoch(kc));
	assert_int_equal(count_op(OP_OTHER), 2);   /* its mark removed, as its lease went */
	kcache_get_stats(kc, &ks);
	assert_int_equal(ks.leases_held, 0);
	kcache_close(kc);
}

/* bpf mode's question before a read: a writer, or a shared writable
 * mapping left by one, is seen; a reader is not; and nothing of the
 * question stays (a writer opens at once after it). */
static void test_writer_open_seen(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(kcache_writer_probe(fx->fd), 0);
	int writer = open(fx->path, O_RDWR | O_CLOEXEC);
	assert_true(writer >= 0);
	assert_int_equal(kcache_writer_probe(fx->fd), EAGAIN);
	void *map = mmap(NULL, 12, PROT_READ | PROT_WRITE, MAP_SHARED, writer, 0);
	assert_true(map != MAP_FAILED);
	close(writer);
	assert_int_equal(kcache_writer_probe(fx->fd), EAGAIN);
	munmap(map, 12);
	assert_int_equal(kcache_writer_probe(fx->fd), 0);
	writer = open(fx->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(writer >= 0);
	close(writer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_old_epoch_records_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_waits_for_a_record_in_progress, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_arm_caches_no_allow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_open_seen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
