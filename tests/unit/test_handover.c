/* identify_fd_guarded: a caller that finds the file being hashed waits for
 * that hash, and takes the hasher's digest of content whose ctime had not
 * settled only under the same lease, still standing (the guard). Reads are
 * counted by the digest store: each one is a store miss. And the store's key
 * for a filesystem (digests_fs_identity). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/digests.h"

#define BIG (96u << 20)   /* long enough a read for the waiter to arrive */
#define GUARD 7

struct fx {
	char dir[64], db[96], path[96];
	struct gk_db *checked;
	struct digests *store;
	struct hash_cache *hc;
	atomic_bool guard_stands;
};

struct hasher {
	struct fx *fx;
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
	int rc;
};

static bool fake_guard(void *ctx, const struct file_id *id, uint64_t guard)
{
	struct fx *fx = ctx;
	(void)id;
	return guard == GUARD && atomic_load(&fx->guard_stands);
}

static uint64_t reads(struct fx *fx)
{
	struct digests_stats st;
	digests_get_stats(fx->store, &st);
	return st.misses;
}

static void *hash_it(void *arg)
{
	struct hasher *h = arg;
	int fd = open(h->fx->path, O_RDONLY | O_CLOEXEC);
	/* The ctime moves now, just before the identity is taken: unsettled
	 * however long this thread took to start (a loaded machine, TSan). */
	if (fd >= 0 && fchmod(fd, 0644) < 0) {
		close(fd);
		fd = -1;
	}
	h->rc = fd < 0 ? -1 : identify_fd_guarded(h->fx->hc, fd, &h->id, h->sha, NULL, GUARD);
	close(fd);
	return NULL;
}

/* A fresh, unsettled file (new content each time: no digest stored). */
static void write_big(struct fx *fx, unsigned round)
{
	int fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char *buf = calloc(1, 1u << 20);
	assert_true(fd >= 0 && buf);
	for (unsigned i = 0; i < BIG >> 20; i++) {
		snprintf(buf, 64, "round %u chunk %u", round, i);
		assert_int_equal(write(fd, buf, 1u << 20), 1 << 20);
	}
	free(buf);
	close(fd);
}

/* One hasher, then a waiter with waiter_guard. Returns the waiter's reads;
 * -1 when the hasher's identity had settled (the round proves nothing). */
static long round_with(struct fx *fx, unsigned round, uint64_t waiter_guard)
{
	struct hasher h = { .fx = fx };
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
	pthread_t t;
	write_big(fx, round);
	uint64_t before = reads(fx);
	assert_int_equal(pthread_create(&t, NULL, hash_it, &h), 0);
	while (reads(fx) == before)   /* the hasher has claimed the file and reads */
		usleep(100);
	int fd = open(fx->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(identify_fd_guarded(fx->hc, fd, &id, sha, NULL, waiter_guard), 0);
	close(fd);
	pthread_join(t, NULL);
	assert_int_equal(h.rc, 0);
	assert_memory_equal(h.sha, sha, GK_SHA256_LEN);
	return h.id.settled ? -1 : (long)(reads(fx) - before - 1);
}

static void check(struct fx *fx, uint64_t waiter_guard, bool stands, long want_reads)
{
	atomic_store(&fx->guard_stands, stands);
	for (unsigned round = 0; round < 10; round++) {
		long n = round_with(fx, round, waiter_guard);
		if (n < 0)
			continue;
		assert_int_equal(n, want_reads);
		return;
	}
	fail_msg("no round read the file before its ctime settled");
}

static void handed_only_under_a_standing_lease(void **state)
{
	struct fx *fx = *state;
	check(fx, GUARD, true, 0);      /* same lease, standing: taken */
	check(fx, GUARD, false, 1);     /* broken since: read again */
	check(fx, GUARD + 1, true, 1);  /* another lease: read again */
	check(fx, 0, true, 1);          /* none: read again */
}

static int setup(void **state)
{
	char err[256];
	struct fx *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/gk-handover.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->db, sizeof(fx->db), "%s/gk.db", fx->dir);
	snprintf(fx->path, sizeof(fx->path), "%s/big", fx->dir);
	if (!(fx->checked = db_open(fx->db, err, sizeof(err))))
		return -1;
	fx->store = digests_open(fx->checked, err, sizeof(err));
	fx->hc = hash_cache_new();
	if (!fx->store || !fx->hc)
		return -1;
	hash_cache_use_store(fx->hc, fx->store);
	hash_cache_use_guard(fx->hc, fake_guard, fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];
	hash_cache_free(fx->hc);
	digests_close(fx->store);
	db_close(fx->checked);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

/* The store's key for a filesystem is not its UUID alone: a USB stick can
 * copy it, btrfs subvolumes share it. f_fsid and the device are in it too. */
static void fs_identity_names_device(void **state)
{
	struct fx *fx = *state;
	char ident[DIGESTS_FS_ID_MAX], dev[48];
	struct stat st;
	int fd = open(fx->dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	assert_int_equal(digests_fs_identity(fd, st.st_dev, ident, sizeof(ident)), 0);
	snprintf(dev, sizeof(dev), "dev:%u:%u:", major(st.st_dev), minor(st.st_dev));
	assert_memory_equal(ident, dev, strlen(dev));   /* first: a device's rows are one range */
	assert_non_null(strstr(ident, "fsid:"));
	assert_int_equal(digests_fs_identity(fd, st.st_dev, ident, 20), -1);   /* cut short: none */
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(handed_only_under_a_standing_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(fs_identity_names_device, setup, teardown),
	};
	return cmocka_run_group_tests_name("handover", tests, NULL, NULL);
}
