/* The close reader without root: a pipe stands in for its fanotify group.
 * The test writes close-write records into it and asks, as a miss does,
 * whether every close queued before is handled (prescan_before_miss). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/syscall.h>

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

/* A close-write record of a file the kernel opened for us as fd. */
static void write_close(int pipe_fd, int fd)
{
	struct fanotify_event_metadata m = {
		.event_len = sizeof(m), .vers = FANOTIFY_METADATA_VERSION,
		.metadata_len = sizeof(m), .mask = FAN_CLOSE_WRITE, .fd = fd, .pid = getpid(),
	};
	assert_int_equal(write(pipe_fd, &m, sizeof(m)), (ssize_t)sizeof(m));
}

/* The newest close reader's /proc/self/task/TID/syscall line, or "" (the
 * newest: one a failed test left behind is older). */
static void reader_syscall(char *text, size_t size)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	long newest = -1;
	assert_non_null(dir);
	text[0] = '\0';
	while ((e = readdir(dir))) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, "gk-prescan-rd\n") &&
		    atol(e->d_name) > newest)
			newest = atol(e->d_name);
		fclose(f);
	}
	closedir(dir);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall", newest);
	FILE *f = newest < 0 ? NULL : fopen(path, "r");
	if (f) {
		if (!fgets(text, (int)size, f))
			text[0] = '\0';
		fclose(f);
	}
}

/* Until the close reader sleeps in a read; false after 10 s. */
static bool reader_blocked_in_read(void)
{
	char want[24], text[128];
	snprintf(want, sizeof(want), "%ld ", (long)SYS_read);
	for (int tries = 0; tries < 10000; tries++) {
		reader_syscall(text, sizeof(text));
		if (!strncmp(text, want, strlen(want)))
			return true;
		usleep(1000);
	}
	return false;
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

struct lock_holder {
	struct gk_daemon *d;
	atomic_bool held;
};

/* The policy lock, until a miss has waited 12 ms: past the 2 ms after
 * which a held reader is given up, well within the 30 ms budget. */
static void *hold_for_write(void *arg)
{
	struct lock_holder *h = arg;
	pthread_rwlock_wrlock(&h->d->policy_lock);
	atomic_store(&h->held, true);
	while (!atomic_load(&h->d->stats.miss_close_waits))
		usleep(100);
	usleep(12000);
	pthread_rwlock_unlock(&h->d->policy_lock);
	return NULL;
}

/* A reader asleep on one of the daemon's own locks is not held: its
 * holder runs. A miss waits for it and trusts the digest. On a
 * busy host, such a wait gave up and sent a known file to the workers. */
static void test_reader_on_own_lock_is_waited_for(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\n", true, 1, 16);
	unsigned char sha[GK_SHA256_LEN];
	struct file_id id;
	int pipefd[2];
	pthread_t holder;
	struct lock_holder h = { .d = &f->d };
	assert_int_equal(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
	struct gk_prescan *ps = prescan_start(&f->d, pipefd[0], 1);
	assert_non_null(ps);
	int known = known_file(f, "known", "#!/bin/sh\necho known\n", sha);
	int written = watched_file(f, "written", "data\n");
	assert_int_equal(file_id_of_fd(known, &id), 0);
	assert_int_equal(pthread_create(&holder, NULL, hold_for_write, &h), 0);
	while (!atomic_load(&h.held))
		usleep(100);
	write_close(pipefd[1], dup(written));   /* the reader takes the policy lock for it */
	bool handled = prescan_before_miss(ps, &id, gk_mono_us());
	assert_int_equal(pthread_join(holder, NULL), 0);   /* before anything can fail */
	assert_true(handled);
	assert_int_equal(atomic_load(&f->d.stats.miss_close_waits), 1);
	assert_int_equal(atomic_load(&f->d.stats.miss_digests_rehashed), 0);
	assert_true(hash_cache_lookup(f->d.hashes, &id, sha));
	prescan_stop(ps);
	close(pipefd[1]);
	close(written);
	close(known);
	teardown_fixture(f);
}

/* A reader asleep in the group's read (where a lease holder can keep its
 * open) is held: the miss stops waiting after about 2 ms, not at the end of
 * its budget, and has the file hashed anew. */
static void test_reader_held_in_read_is_given_up(void **state)
{
	(void)state;
	struct fixture *f = setup_with("default: allow\n", true, 1, 16);
	unsigned char sha[GK_SHA256_LEN];
	struct file_id id;
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);   /* a read that blocks */
	struct gk_prescan *ps = prescan_start(&f->d, pipefd[0], 1);
	assert_non_null(ps);
	int known = known_file(f, "known", "#!/bin/sh\necho known\n", sha);
	assert_int_equal(file_id_of_fd(known, &id), 0);
	/* a full batch in one write: the reader reads again at once, and
	 * sleeps in that read */
	struct fanotify_event_metadata batch[128];
	for (size_t i = 0; i < 128; i++)
		batch[i] = (struct fanotify_event_metadata){
			.event_len = sizeof(batch[i]), .vers = FANOTIFY_METADATA_VERSION,
			.metadata_len = sizeof(batch[i]), .mask = FAN_CLOSE_WRITE, .fd = -ENXIO,
		};
	assert_int_equal(write(pipefd[1], batch, sizeof(batch)), (ssize_t)sizeof(batch));
	assert_true(reader_blocked_in_read());
	assert_false(prescan_before_miss(ps, &id, gk_mono_us()));
	assert_int_equal(atomic_load(&f->d.stats.miss_close_waits_long), 0);
	assert_int_equal(atomic_load(&f->d.stats.miss_digests_rehashed), 1);
	write_failed_close(pipefd[1], ENXIO);   /* lets the read return */
	prescan_stop(ps);
	close(pipefd[1]);
	close(known);
	teardown_fixture(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lost_closes),
		cmocka_unit_test(test_reader_on_own_lock_is_waited_for),
		cmocka_unit_test(test_reader_held_in_read_is_given_up),
	};
	log_init(true);
	return cmocka_run_group_tests_name("prescan", tests, NULL, NULL);
}
