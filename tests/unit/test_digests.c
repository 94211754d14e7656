/* Unit tests for the digest store (gatekeeper/digests.h): digests kept
 * across restarts, forgotten when a file is written or its device goes.
 * Everything lives in a fresh directory (trust_test_util.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "gatekeeper/digests.h"
#include "gatekeeper/trust.h"
#include "settle_util.h"
#include "trust_test_util.h"

static void digest_store(void **state)
{
	struct fx *fx = *state;
	char err[256], path[256];
	unsigned char sha[GK_SHA256_LEN], md5[16], sha2[GK_SHA256_LEN], md52[16];
	struct digests_stats before, after;
	struct file_id id;
	int fd;
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	put(fx, "root/usr/bin/loose", "content one\n");
	snprintf(path, sizeof(path), "%s/usr/bin/loose", fx->root);
	fd = open(path, O_RDONLY);
	settle_file(fd);
	/* A UUID of zeros (a filesystem that never set one) is no identity. */
	char ident[DIGESTS_FS_ID_MAX];
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_int_equal(digests_fs_identity(fd, id.dev, ident, sizeof(ident)), 0);
	assert_null(strstr(ident, "uuid:00000000000000000000000000000000"));
	digests_get_stats(g, &before);
	assert_int_equal(digests_read(g, fd, &id, sha, md5, NULL), 0);
	assert_int_equal(digests_read(g, fd, &id, sha2, md52, NULL), 0);
	digests_get_stats(g, &after);
	assert_int_equal(after.hits - before.hits, 1);
	assert_memory_equal(sha, sha2, sizeof(sha));
	assert_memory_equal(md5, md52, sizeof(md5));
	/* A write through a mapping need not move ctime: forgotten, re-read. */
	digests_forget(g, fd, id.dev, id.ino);
	assert_int_equal(digests_read(g, fd, &id, sha2, md52, NULL), 0);
	digests_get_stats(g, &before);
	assert_int_equal(before.hits, after.hits);
	close(fd);
	/* Any change moves ctime: a different key. */
	put(fx, "root/usr/bin/loose", "content two\n");
	fd = open(path, O_RDONLY);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_int_equal(digests_read(g, fd, &id, sha2, md52, NULL), 0);
	assert_memory_not_equal(sha, sha2, sizeof(sha));
	close(fd);
	digests_close(g);
}

/* A written file whose stored row no longer matches it (its ctime moved)
 * needs no memory: many of them leave the store read (it was not, once
 * two met in one slot). One whose row still matches (a write through a
 * shared mapping need not move ctime) has its row dropped: a store opened
 * later finds none. */
static void digest_store_forgets_written_files(void **state)
{
	struct fx *fx = *state;
	enum { N = 300 };
	char err[256], rel[64], path[256];
	unsigned char sha[GK_SHA256_LEN], md5[16];
	struct digests_stats st;
	struct file_id id;
	int fds[N];
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	for (int i = 0; i < N; i++) {
		snprintf(rel, sizeof(rel), "root/usr/bin/written%d", i);
		put(fx, rel, rel);
		snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
		assert_true((fds[i] = open(path, O_RDONLY)) >= 0);
	}
	settle_file(fds[N - 1]);   /* the last one written */
	for (int i = 0; i < N; i++) {
		assert_int_equal(file_id_of_fd(fds[i], &id), 0);
		assert_true(id.settled);
		assert_int_equal(digests_read(g, fds[i], &id, sha, md5, NULL), 0);
	}
	for (int i = 1; i < N; i++) {
		snprintf(path, sizeof(path), "%s/root/usr/bin/written%d", fx->dir, i);
		int w = open(path, O_WRONLY);
		assert_true(w >= 0);
		assert_int_equal(pwrite(w, "w", 1, 0), 1);
		close(w);
		assert_int_equal(file_id_of_fd(fds[i], &id), 0);
		digests_forget(g, fds[i], id.dev, id.ino);
	}
	assert_int_equal(file_id_of_fd(fds[0], &id), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.stored, N);
	assert_int_equal(digests_read(g, fds[0], &id, sha, md5, NULL), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.hits, 1);
	digests_forget(g, fds[0], id.dev, id.ino);
	digests_close(g);
	g = digests_open(fx->checked, err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(digests_read(g, fds[0], &id, sha, md5, NULL), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.hits, 0);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	digests_close(g);
}

/* A device gone (unmounted) may come back changed under the same inodes,
 * sizes and ctimes: its rows go, for this store and the next one opened. */
static void digest_store_forgets_a_gone_device(void **state)
{
	struct fx *fx = *state;
	char err[256], path[256];
	unsigned char sha[GK_SHA256_LEN], md5[16];
	struct digests_stats st;
	struct file_id id;
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	put(fx, "root/usr/bin/stick", "content on a stick\n");
	snprintf(path, sizeof(path), "%s/usr/bin/stick", fx->root);
	int fd = open(path, O_RDONLY);
	settle_file(fd);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_int_equal(digests_read(g, fd, &id, sha, md5, NULL), 0);   /* stored */
	digests_forget_dev(g, id.dev + 1);                                  /* another device */
	assert_int_equal(digests_read(g, fd, &id, sha, md5, NULL), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.hits, 1);
	digests_forget_dev(g, id.dev);
	assert_int_equal(digests_read(g, fd, &id, sha, md5, NULL), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.hits, 1);   /* read again, not from the store */
	digests_close(g);
	/* stored again by that read: a store opened after the next forget finds none */
	g = digests_open(fx->checked, err, sizeof(err));
	assert_non_null(g);
	digests_forget_dev(g, id.dev);
	digests_close(g);
	g = digests_open(fx->checked, err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(digests_read(g, fd, &id, sha, md5, NULL), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.hits, 0);
	close(fd);
	digests_close(g);
}

static void digest_store_reopened(void **state)
{
	struct fx *fx = *state;
	char err[256], path[256];
	unsigned char sha[GK_SHA256_LEN], md5[16], sha2[GK_SHA256_LEN], md52[16];
	struct digests_stats st;
	struct file_id id;

	digests_close(NULL);
	put(fx, "root/usr/bin/again", "content\n");
	snprintf(path, sizeof(path), "%s/usr/bin/again", fx->root);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	settle_file(fd);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_int_equal(digests_read(NULL, fd, &id, sha, md5, NULL), 0);
	digests_forget(NULL, fd, id.dev, id.ino);
	digests_get_stats(NULL, &st);
	assert_int_equal(st.hits + st.misses + st.stored, 0);
	for (int round = 0; round < 2; round++) {
		struct digests *g = digests_open(fx->checked, err, sizeof(err));
		assert_non_null(g);
		assert_int_equal(digests_read(g, fd, &id, sha2, md52, NULL), 0);
		assert_memory_equal(sha, sha2, sizeof(sha));
		assert_memory_equal(md5, md52, sizeof(md5));
		digests_get_stats(g, &st);
		/* first open: read and stored; second: found in the store */
		assert_int_equal(st.hits, round == 0 ? 0 : 1);
		assert_int_equal(st.stored, round == 0 ? 1 : 0);
		digests_close(g);
	}
	close(fd);
}

/* Reads fd's digests through g: the store's hits so far. */
static uint64_t read_hits(struct digests *g, int fd, const struct file_id *id)
{
	unsigned char sha[GK_SHA256_LEN], md5[16];
	struct digests_stats st;

	assert_int_equal(digests_read(g, fd, id, sha, md5, NULL), 0);
	digests_get_stats(g, &st);
	return st.hits;
}

/* A settled file NAME under the root, open (flags), its digests read once
 * through g (and so stored); its identity in id. */
static int stored_file(const struct fx *fx, struct digests *g, const char *name, int flags,
		       struct file_id *id)
{
	char rel[128], path[256];
	unsigned char sha[GK_SHA256_LEN], md5[16];

	snprintf(rel, sizeof(rel), "root/usr/bin/%s", name);
	put(fx, rel, "content\n");
	snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
	int fd = open(path, flags);
	assert_true(fd >= 0);
	settle_file(fd);
	assert_int_equal(file_id_of_fd(fd, id), 0);
	assert_int_equal(digests_read(g, fd, id, sha, md5, NULL), 0);
	return fd;
}

/* A miss that is not sure its file was not written has it read again: its
 * row is not read until then, and is read again after. No row is dropped. */
static void digest_store_distrusted_until_read_again(void **state)
{
	struct fx *fx = *state;
	char err[256];
	struct digests_stats st;
	struct file_id id;
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	int fd = stored_file(fx, g, "unsure", O_RDONLY, &id);
	digests_distrust(g, id.dev, id.ino);
	assert_int_equal(read_hits(g, fd, &id), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.stored, 2);
	assert_int_equal(read_hits(g, fd, &id), 1);
	digests_distrust(NULL, id.dev, id.ino);
	close(fd);
	digests_close(g);
}

/* While another connection holds the store's write lock, a written
 * file's row cannot be dropped: it stays unread, also after the file is
 * read again and its new row cannot be stored either, and it is dropped
 * at close, once the lock is gone: a store opened later finds none. */
static void digest_store_drop_waits_out_a_locked_store(void **state)
{
	struct fx *fx = *state;
	char err[256];
	unsigned char sha[GK_SHA256_LEN], md5[16];
	struct digests_stats st;
	struct file_id id;
	sqlite3 *other;
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	int fd = stored_file(fx, g, "locked", O_RDONLY, &id);
	assert_int_equal(sqlite3_open(fx->db, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	digests_forget(g, fd, id.dev, id.ino);   /* a mapping write: the row still matches */
	assert_int_equal(digests_read(g, fd, &id, sha, md5, NULL), 0);   /* read, not stored */
	assert_int_equal(read_hits(g, fd, &id), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.stored, 1);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_true(db_digests_unsure(fx->checked));
	digests_close(g);
	assert_false(db_digests_unsure(fx->checked));   /* dropped at close after all */
	g = digests_open(fx->checked, err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(read_hits(g, fd, &id), 0);
	close(fd);
	digests_close(g);
}

/* A file someone holds open for writing (or mapped writable and shared,
 * after closing) can change without a new ctime: its digests are read
 * but not kept, so no close the daemon misses (a crash, a stop) can leave
 * a stored row stale. Once the writer is gone, they are kept. */
static void digest_store_keeps_nothing_a_writer_holds(void **state)
{
	struct fx *fx = *state;
	char err[256], path[256];
	struct digests_stats st;
	struct file_id id;
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	put(fx, "root/usr/bin/mapped", "content of a mapped file\n");
	snprintf(path, sizeof(path), "%s/usr/bin/mapped", fx->root);
	int fd = open(path, O_RDONLY);
	int w = open(path, O_RDWR);
	assert_true(fd >= 0 && w >= 0);
	settle_file(fd);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_true(id.settled);
	assert_int_equal(read_hits(g, fd, &id), 0);
	void *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, w, 0);
	assert_true(map != MAP_FAILED);
	close(w);   /* the mapping holds the file open for writing */
	assert_int_equal(read_hits(g, fd, &id), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.stored, 0);
	assert_int_equal(munmap(map, 4096), 0);
	/* a lease on the caller's description (the kernel cache's) stays */
	assert_int_equal(fcntl(fd, F_SETLEASE, F_RDLCK), 0);
	assert_int_equal(read_hits(g, fd, &id), 0);
	assert_int_equal(fcntl(fd, F_GETLEASE), F_RDLCK);
	assert_int_equal(fcntl(fd, F_SETLEASE, F_UNLCK), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.stored, 1);
	assert_int_equal(read_hits(g, fd, &id), 1);
	close(fd);
	digests_close(g);
}

/* On tmpfs a shared mapping, once read, is written without a fault: no
 * write of it moves the ctime, so no digest of a file there is kept. */
static void digest_store_keeps_nothing_on_tmpfs(void **state)
{
	struct fx *fx = *state;
	char err[256], self[64];
	struct digests_stats st;
	struct file_id id;
	struct statfs sf;
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	int w = memfd_create("gk-test-digests", MFD_CLOEXEC);   /* shmem, as tmpfs */
	assert_true(w >= 0);
	assert_int_equal(write(w, "tmpfs content\n", 14), 14);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", w);
	int fd = open(self, O_RDONLY);
	close(w);   /* no writer left */
	assert_true(fd >= 0);
	assert_int_equal(fstatfs(fd, &sf), 0);
	assert_true(sf.f_type == TMPFS_MAGIC);
	settle_file(fd);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_true(id.settled);
	char ident[DIGESTS_FS_ID_MAX];
	assert_int_equal(digests_fs_identity(fd, id.dev, ident, sizeof(ident)), 0);
	assert_int_equal(read_hits(g, fd, &id), 0);
	assert_int_equal(read_hits(g, fd, &id), 0);
	digests_get_stats(g, &st);
	assert_int_equal(st.stored, 0);
	close(fd);
	digests_close(g);
}

/* PATH.digests-in-use names the boot the store is in use on, until a
 * clean close. One of this boot (the daemon was killed) keeps the digests;
 * one of another boot (the machine went down: a file's new ctime may have
 * been lost while its new content was not) drops them all. */
static void digest_store_dropped_after_the_machine_went_down(void **state)
{
	struct fx *fx = *state;
	char err[256], mark[4300], boot[64];
	struct file_id id;
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	snprintf(mark, sizeof(mark), "%s.digests-in-use", fx->db);
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	assert_non_null(f);
	assert_non_null(fgets(boot, sizeof(boot), f));
	fclose(f);
	assert_int_equal(db_digests_in_use_get(fx->checked, err, sizeof(err)), 1);
	assert_string_equal(err, boot);
	int fd = stored_file(fx, g, "boot", O_RDONLY, &id);
	digests_close(g);
	assert_int_equal(access(mark, F_OK), -1);   /* closed cleanly */
	assert_int_equal(db_digests_in_use_set(fx->checked, boot), 0);   /* killed */
	g = digests_open(fx->checked, err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(read_hits(g, fd, &id), 1);
	digests_close(g);
	assert_int_equal(db_digests_in_use_set(fx->checked, "another boot\n"), 0);
	g = digests_open(fx->checked, err, sizeof(err));
	assert_non_null(g);
	assert_int_equal(read_hits(g, fd, &id), 0);
	assert_int_equal(read_hits(g, fd, &id), 1);   /* stored again */
	close(fd);
	digests_close(g);
	assert_int_equal(db_digests_in_use_get(fx->checked, err, sizeof(err)), 0);
}

/* Closes lost: no stored digest is read for the rest of the run, and the
 * mark beside the store makes the next open drop them all (and the mark). */
static void digest_store_closes_lost(void **state)
{
	struct fx *fx = *state;
	char err[256];
	struct file_id id;
	struct digests *g = digests_open(fx->checked, err, sizeof(err));

	assert_non_null(g);
	int fd = stored_file(fx, g, "lost", O_RDONLY, &id);
	struct digests_stats st;
	digests_get_stats(g, &st);
	assert_null(st.unread_why);
	assert_false(db_digests_unsure(fx->checked));
	digests_closes_lost(g);
	assert_true(db_digests_unsure(fx->checked));
	assert_int_equal(read_hits(g, fd, &id), 0);
	digests_get_stats(g, &st);
	assert_string_equal(st.unread_why, "closes of written files were lost");
	digests_close(g);
	assert_true(db_digests_unsure(fx->checked));   /* kept: it cannot tell which */
	g = digests_open(fx->checked, err, sizeof(err));
	assert_non_null(g);
	assert_false(db_digests_unsure(fx->checked));
	digests_get_stats(g, &st);
	assert_null(st.unread_why);   /* all dropped: read again */
	/* dropped at the open, though stored again after the loss */
	assert_int_equal(read_hits(g, fd, &id), 0);
	assert_int_equal(read_hits(g, fd, &id), 1);
	digests_closes_lost(NULL);
	close(fd);
	digests_close(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(digest_store, setup, teardown),
		cmocka_unit_test_setup_teardown(digest_store_forgets_written_files, setup, teardown),
		cmocka_unit_test_setup_teardown(digest_store_forgets_a_gone_device, setup, teardown),
		cmocka_unit_test_setup_teardown(digest_store_reopened, setup, teardown),
		cmocka_unit_test_setup_teardown(digest_store_distrusted_until_read_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(digest_store_drop_waits_out_a_locked_store, setup,
						teardown),
		cmocka_unit_test_setup_teardown(digest_store_closes_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(digest_store_keeps_nothing_a_writer_holds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(digest_store_keeps_nothing_on_tmpfs, setup, teardown),
		cmocka_unit_test_setup_teardown(digest_store_dropped_after_the_machine_went_down, setup,
						teardown),
	};

	log_init(true);
	return cmocka_run_group_tests_name("digests", tests, NULL, NULL);
}
