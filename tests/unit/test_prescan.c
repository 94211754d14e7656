/* The close reader without root: a pipe stands in for its fanotify group.
 * The test writes close-write records into it and asks, as a miss does,
 * whether every close queued before is handled (prescan_before_miss). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_events_util.h"

/* A close-write record whose file the kernel could not open for us: with
 * FAN_REPORT_FD_ERROR, fd is -errno. */
static void write_failed_close(int pipe_fd, int error)
{
	struct fanotify_event_metadata m = {
		.event_len = sizeof(m), .vers = FANOTIFY_METADATA_VERSION,
		.metadata_len = sizeof(m), .mask = FAN_CLOSE_WRITE, .fd = -error,
		.pid = getpid(),
	};
	assert_int_equal(write(pipe_fd, &m, sizeof(m)), (ssize_t)sizeof(m));
}

/* Until the miss finds every close queued so far handled. */
static void closes_handled(struct gk_prescan *ps, const struct file_id *id)
{
	for (int i = 0; i < 1000 && !prescan_before_miss(ps, id, gk_mono_us()); i++)
		usleep(1000);
}

/* A close that fails for anyone's reasons (a write to /dev/tty: the daemon
 * has no terminal, ENXIO; a refusal, EPERM, which is also FAN_NOFD) leaves
 * the digests kept; a close lost to the daemon's own exhaustion (EMFILE)
 * leaves none trusted. */
static void test_lost_closes(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\n", true, 1, 16);
	unsigned char sha[GK_SHA256_LEN];
	struct file_id id;
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
	struct gk_prescan *ps = prescan_start(&f->d, pipefd[0], 1);
	assert_non_null(ps);
	int fd = known_file(f, "known", "#!/bin/sh\necho known\n", sha);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	write_failed_close(pipefd[1], ENXIO);
	write_failed_close(pipefd[1], EPERM);
	closes_handled(ps, &id);
	assert_true(hash_cache_lookup(f->d.hashes, &id, sha));
	write_failed_close(pipefd[1], EMFILE);
	closes_handled(ps, &id);
	assert_false(hash_cache_lookup(f->d.hashes, &id, sha));
	assert_int_equal(identify_fd(f->d.hashes, fd, &id, sha), 0);   /* read again: kept */
	assert_true(hash_cache_lookup(f->d.hashes, &id, sha));
	prescan_stop(ps);
	close(pipefd[1]);
	close(fd);
	teardown_fixture(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lost_closes),
	};
	log_init(true);
	return cmocka_run_group_tests_name("prescan", tests, NULL, NULL);
}
