/* Unit tests of the decision whether a scan's result may be kept under the
 * digest read before it (file_reread_check), and of scan.c's cache obeying
 * it (scan_with_plan): a scan reads the file again, later, and what it read
 * may not be the content the digest names. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/kcache.h"
#include "test_scanner_util.h"

static void test_reread_check_cases(void **state)
{
	(void)state;
	const struct file_id settled = { .dev = 8, .ino = 42, .size = 100, .ctime_ns = 1000,
					 .nlink = 1, .settled = true };
	struct file_id unsettled = settled, now = settled;
	unsettled.settled = false;
	/* the identity as it was, and a write after it would have moved it */
	assert_int_equal(file_reread_check(&settled, &now, false, false), FILE_REREAD_KEEP);
	/* a ctime within the clock's tick: only a lease since before the read vouches */
	assert_int_equal(file_reread_check(&unsettled, &now, true, false), FILE_REREAD_KEEP);
	assert_int_equal(file_reread_check(&unsettled, &now, false, false), FILE_REREAD_FOR_NOW);
	/* FUSE, NFS...: each read may serve other bytes, whatever the identity */
	assert_int_equal(file_reread_check(&settled, &now, true, true), FILE_REREAD_FOR_NOW);
	/* any move of the identity: the scan read other content */
	assert_int_equal(file_reread_check(&settled, NULL, true, false), FILE_REREAD_CHANGED);
	now.size = 99;
	assert_int_equal(file_reread_check(&settled, &now, true, false), FILE_REREAD_CHANGED);
	now = settled;
	now.ctime_ns++;
	assert_int_equal(file_reread_check(&settled, &now, true, false), FILE_REREAD_CHANGED);
	now = settled;
	now.ino++;
	assert_int_equal(file_reread_check(&settled, &now, true, false), FILE_REREAD_CHANGED);
	now = settled;
	now.settled = false;   /* not part of the identity */
	assert_int_equal(file_reread_check(&settled, &now, false, false), FILE_REREAD_KEEP);
}

struct fixture {
	struct gk_daemon d;
	char *dir, *clean, *bad;
	unsigned char sha_clean[GK_SHA256_LEN], sha_bad[GK_SHA256_LEN];
};

static const char bad_text[] = "pretend malware\n";

static void sha_of(const char *text, unsigned char sha[GK_SHA256_LEN])
{
	char hex[65];
	sha256_hex_of(text, strlen(text), hex);
	for (int i = 0; i < GK_SHA256_LEN; i++)
		sscanf(hex + 2 * i, "%2hhx", &sha[i]);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char list[200], policy[1200], hex[65], err[256];
	struct gk_policy_errors errs = { 0 };
	if (!f || !(f->dir = scratch_dir()))
		return -1;
	f->clean = write_file(f->dir, "clean", "a clean program\n", (size_t)-1);
	f->bad = write_file(f->dir, "bad", bad_text, (size_t)-1);
	sha_of("a clean program\n", f->sha_clean);
	sha_of(bad_text, f->sha_bad);
	sha256_hex_of(bad_text, strlen(bad_text), hex);
	snprintf(list, sizeof(list), "%s  Test.Bad\n", hex);
	char *list_path = write_file(f->dir, "list.txt", list, (size_t)-1);
	snprintf(policy, sizeof(policy),
		 "mode: enforce\nwatch: [%s]\ndefault: allow\nscanners:\n  hashlist: {files: [%s]}\n",
		 f->dir, list_path ? list_path : "/nonexistent");
	free(list_path);
	f->d.policy = policy_parse("test.yaml", policy, strlen(policy), &errs);
	if (!f->d.policy)
		fail_msg("policy: %s", errs.msg[0]);
	assert_non_null(f->clean);
	assert_non_null(f->bad);
	pthread_rwlock_init(&f->d.policy_lock, NULL);
	f->d.kc = kcache_open(-1, 0, false, KCACHE_BPF_NEVER);
	assert_non_null(f->d.kc);
	f->d.scanners = scan_set_for(&f->d, NULL, f->d.policy, err, sizeof(err));
	if (!f->d.scanners)
		fail_msg("scan_set_for: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	scan_set_put(f->d.scanners);
	kcache_close(f->d.kc);
	policy_free(f->d.policy);
	pthread_rwlock_destroy(&f->d.policy_lock);
	free(f->clean);
	free(f->bad);
	scratch_remove(f->dir);
	free(f);
	return 0;
}

/* What the test's reread says, and how often it was asked. */
struct told {
	enum file_reread says;
	int asked;
};

static enum file_reread tell(void *ctx, int fd)
{
	struct told *t = ctx;
	assert_true(fd >= 0);
	t->asked++;
	return t->says;
}

static const struct gk_scan_plan plan = { .hashlist = true, .max_file_size = 1 << 20,
					  .max_scan_time_ms = 5000 };

/* Scan path under sha as t says; returns the scans run (cache hits: 0). */
static uint64_t scan(struct fixture *f, const char *path, const unsigned char *sha, struct told *t,
		     struct scan_result *r)
{
	uint64_t before, after, us;
	const struct scan_reread reread = { tell, t };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	scan_set_times(f->d.scanners, &before, &us);
	enum file_reread seen = scan_with_plan(f->d.scanners, fd, sha, &plan, &reread, r);
	scan_set_times(f->d.scanners, &after, &us);
	close(fd);
	/* what the check said, or KEEP for a result read from the cache */
	assert_int_equal(seen, after != before ? t->says : FILE_REREAD_KEEP);
	return after - before;
}

#define CHANGED "file changed while it was scanned"

/* Scan the clean or the bad file, under its own digest, as t says: expect
 * scans scans run (0: the cache answered), status and detail. */
static void expect(struct fixture *f, bool bad, struct told *t, uint64_t scans,
		   enum scan_status status, const char *detail)
{
	struct scan_result r;
	assert_int_equal(scan(f, bad ? f->bad : f->clean, bad ? f->sha_bad : f->sha_clean, t, &r),
			 scans);
	assert_int_equal(r.status, status);
	assert_string_equal(r.detail, detail);
}

static void test_kept_only_when_unchanged_and_guarded(void **state)
{
	struct fixture *f = *state;
	struct told t = { FILE_REREAD_FOR_NOW, 0 };
	/* used for this judgement, never kept: each asks the engine again */
	expect(f, false, &t, 1, SCAN_CLEAN, "");
	expect(f, false, &t, 1, SCAN_CLEAN, "");
	assert_int_equal(t.asked, 2);
	/* kept: the next scan of that content is the cache's, nothing read */
	t.says = FILE_REREAD_KEEP;
	expect(f, false, &t, 1, SCAN_CLEAN, "");
	expect(f, false, &t, 0, SCAN_CLEAN, "");
	assert_int_equal(t.asked, 3);
}

static void test_changed_file_is_a_scan_error_and_not_kept(void **state)
{
	struct fixture *f = *state;
	struct told t = { FILE_REREAD_CHANGED, 0 };
	struct scan_result r;
	/* a clean of other content is no clean for this digest */
	expect(f, false, &t, 1, SCAN_ERROR, CHANGED);
	/* a hash list's detection goes by the digest: it stands, for now */
	int fd = open(f->bad, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	const struct scan_reread reread = { tell, &t };
	assert_int_equal(scan_with_plan(f->d.scanners, fd, f->sha_bad, &plan, &reread, &r),
			 FILE_REREAD_FOR_NOW);
	close(fd);
	assert_int_equal(r.status, SCAN_INFECTED);
	assert_string_equal(r.detail, "Test.Bad");
	/* and neither was kept: scanned again, and decided now */
	t.says = FILE_REREAD_KEEP;
	expect(f, false, &t, 1, SCAN_CLEAN, "");
	expect(f, true, &t, 1, SCAN_INFECTED, "Test.Bad");
	expect(f, true, &t, 0, SCAN_INFECTED, "Test.Bad");
}

/* No check given (a caller that read nothing else): kept as before. */
static void test_without_check_kept(void **state)
{
	struct fixture *f = *state;
	struct scan_result r;
	uint64_t before, after, us;
	int fd = open(f->clean, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	scan_set_times(f->d.scanners, &before, &us);
	assert_int_equal(scan_with_plan(f->d.scanners, fd, f->sha_clean, &plan, NULL, &r),
			 FILE_REREAD_KEEP);
	assert_int_equal(scan_with_plan(f->d.scanners, fd, f->sha_clean, &plan, NULL, &r),
			 FILE_REREAD_KEEP);
	scan_set_times(f->d.scanners, &after, &us);
	close(fd);
	assert_int_equal(after - before, 1);
	assert_int_equal(r.status, SCAN_CLEAN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reread_check_cases),
		cmocka_unit_test_setup_teardown(test_kept_only_when_unchanged_and_guarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_file_is_a_scan_error_and_not_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_without_check_kept, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
