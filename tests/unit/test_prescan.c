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

/* A close-write record: fd the file the kernel opened for us, or, with
 * FAN_REPORT_FD_ERROR, -errno when it could not. */
static struct fanotify_event_metadata close_record(int fd)
{
	return (struct fanotify_event_metadata){
		.event_len = sizeof(struct fanotify_event_metadata),
		.vers = FANOTIFY_METADATA_VERSION,
		.metadata_len = sizeof(struct fanotify_event_metadata),
		.mask = FAN_CLOSE_WRITE, .fd = fd, .pid = getpid(),
	};
}

static void write_close(int pipe_fd, int fd)
{
	struct fanotify_event_metadata m = close_record(fd);
	assert_int_equal(write(pipe_fd, &m, sizeof(m)), (ssize_t)sizeof(m));
}

static void write_failed_close(int pipe_fd, int error)
{
	write_close(pipe_fd, -error);
}

/* A close reader on a pipe, and a watched file whose digest is known. */
struct reader_fx {
	struct fixture *f;
	int pipefd[2];
	struct gk_prescan *ps;
	int known;
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
};

/* pipe_flags: O_NONBLOCK as a fanotify group is, or 0 for a read that
 * blocks. */
static void reader_setup(struct reader_fx *r, int pipe_flags)
{
	r->f = setup_with("default: allow\n", true, 1, 16);
	assert_int_equal(pipe2(r->pipefd, O_CLOEXEC | pipe_flags), 0);
	r->ps = prescan_start(&r->f->d, r->pipefd[0], 1);
	assert_non_null(r->ps);
	r->known = known_file(r->f, "known", "#!/bin/sh\necho known\n", r->sha);
	assert_int_equal(file_id_of_fd(r->known, &r->id), 0);
}

static void reader_teardown(struct reader_fx *r)
{
	prescan_stop(r->ps);
	close(r->pipefd[1]);
	close(r->known);
	teardown_fixture(r->f);
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
	struct reader_fx r;
	reader_setup(&r, O_NONBLOCK);
	struct hash_cache *hashes = r.f->d.hashes;
	write_failed_close(r.pipefd[1], ENXIO);
	write_failed_close(r.pipefd[1], EPERM);
	closes_handled(r.ps, &r.id);
	assert_true(hash_cache_lookup(hashes, &r.id, r.sha));
	write_failed_close(r.pipefd[1], EMFILE);
	closes_handled(r.ps, &r.id);
	assert_false(hash_cache_lookup(hashes, &r.id, r.sha));
	assert_int_equal(identify_fd(hashes, r.known, &r.id, r.sha), 0);   /* read again: kept */
	assert_true(hash_cache_lookup(hashes, &r.id, r.sha));
	reader_teardown(&r);
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
	struct reader_fx r;
	pthread_t holder;
	reader_setup(&r, O_NONBLOCK);
	struct lock_holder h = { .d = &r.f->d };
	int written = watched_file(r.f, "written", "data\n");
	assert_int_equal(pthread_create(&holder, NULL, hold_for_write, &h), 0);
	while (!atomic_load(&h.held))
		usleep(100);
	write_close(r.pipefd[1], dup(written));   /* the reader takes the policy lock for it */
	bool handled = prescan_before_miss(r.ps, &r.id, gk_mono_us());
	assert_int_equal(pthread_join(holder, NULL), 0);   /* before anything can fail */
	assert_true(handled);
	assert_int_equal(atomic_load(&r.f->d.stats.miss_close_waits), 1);
	assert_int_equal(atomic_load(&r.f->d.stats.miss_digests_rehashed), 0);
	assert_true(hash_cache_lookup(r.f->d.hashes, &r.id, r.sha));
	close(written);
	reader_teardown(&r);
}

/* A reader asleep in the group's read (where a lease holder can keep its
 * open) is held: the miss stops waiting after about 2 ms, not at the end of
 * its budget, and has the file hashed anew. */
static void test_reader_held_in_read_is_given_up(void **state)
{
	(void)state;
	struct reader_fx r;
	reader_setup(&r, 0);   /* a read that blocks */
	/* a full batch (PRESCAN_READ_EVENTS) in one write: the reader reads
	 * again at once, and sleeps in that read */
	struct fanotify_event_metadata batch[128];
	for (size_t i = 0; i < 128; i++)
		batch[i] = close_record(-ENXIO);
	assert_int_equal(write(r.pipefd[1], batch, sizeof(batch)), (ssize_t)sizeof(batch));
	assert_true(reader_blocked_in_read());
	assert_false(prescan_before_miss(r.ps, &r.id, gk_mono_us()));
	assert_int_equal(atomic_load(&r.f->d.stats.miss_close_waits_long), 0);
	assert_int_equal(atomic_load(&r.f->d.stats.miss_digests_rehashed), 1);
	write_failed_close(r.pipefd[1], ENXIO);   /* lets the read return */
	reader_teardown(&r);
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
