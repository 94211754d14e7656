/* Unit tests for scanner/: the hash-list engine and the engine-independent
 * part (reference-counted swaps, reloads, the watch, scanner_scan_all).
 * The ClamAV engine: test_scanner_clamav.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_scanner_util.h"

static const char sample_a[] = "malware sample one\n";
static const char sample_b[] = "malware sample two\n";
static const char sample_good[] = "a clean program\n";

struct fixture {
	char *dir;
	char *a, *b, *good;          /* sample files */
	char hex_a[65], hex_b[65];
	char list[1024];             /* the hash-list path */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx || !(fx->dir = scratch_dir()))
		return -1;
	fx->a = write_file(fx->dir, "a.bin", sample_a, (size_t)-1);
	fx->b = write_file(fx->dir, "b.bin", sample_b, (size_t)-1);
	fx->good = write_file(fx->dir, "good.bin", sample_good, (size_t)-1);
	sha256_hex_of(sample_a, strlen(sample_a), fx->hex_a);
	sha256_hex_of(sample_b, strlen(sample_b), fx->hex_b);
	snprintf(fx->list, sizeof(fx->list), "%s/list.txt", fx->dir);
	scanner_set_logger(test_logger, NULL);
	*state = fx;
	return fx->a && fx->b && fx->good ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	free(fx->a);
	free(fx->b);
	free(fx->good);
	scratch_remove(fx->dir);
	free(fx);
	return 0;
}

static void write_list(struct fixture *fx, const char *text)
{
	char *p = write_file(fx->dir, "list.txt", text, (size_t)-1);
	assert_non_null(p);
	free(p);
}

static struct scanner *open_list(struct fixture *fx, unsigned check_ms, char *err, size_t errlen)
{
	const char *files[] = { fx->list };
	struct scanner_hashlist_config cfg = { .files = files, .n_files = 1,
					       .check_interval_ms = check_ms };
	return scanner_hashlist_open(&cfg, err, errlen);
}

static void expect_scan(struct scanner *s, const char *path, enum scan_status status,
			const char *detail)
{
	struct scan_result r;
	scan_path(s, path, &r);
	if (r.status != status || strcmp(r.detail, detail) != 0)
		fail_msg("%s: got status %d \"%s\", want %d \"%s\"", path, r.status, r.detail,
			 status, detail);
}

static void test_hashlist_infected_and_clean(void **state)
{
	struct fixture *fx = *state;
	char text[512], upper[65], err[256], where[1100];
	for (int i = 0; i < 65; i++)
		upper[i] = (char)(fx->hex_b[i] >= 'a' ? fx->hex_b[i] - 'a' + 'A' : fx->hex_b[i]);
	snprintf(text, sizeof(text), "# test list\n\n%s   Test.Bad.A  \n%s\r\n", fx->hex_a, upper);
	write_list(fx, text);
	struct scanner *s = open_list(fx, 0, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(err, "");

	expect_scan(s, fx->a, SCAN_INFECTED, "Test.Bad.A");
	snprintf(where, sizeof(where), "%s:4", fx->list);   /* no name: where it is listed */
	expect_scan(s, fx->b, SCAN_INFECTED, where);
	expect_scan(s, fx->good, SCAN_CLEAN, "");

	/* A hash the caller computed is used as is: nothing is read. */
	unsigned char sha[32];
	for (int i = 0; i < 32; i++)
		sscanf(fx->hex_a + 2 * i, "%2hhx", &sha[i]);
	struct scan_result r;
	scanner_scan_fd(s, -1, sha, &r);
	assert_int_equal(r.status, SCAN_INFECTED);
	assert_string_equal(r.detail, "Test.Bad.A");

	/* The fd offset does not matter: reads are pread from 0. */
	int fd = open(fx->a, O_RDONLY);
	assert_true(fd >= 0);
	lseek(fd, 0, SEEK_END);
	scanner_scan_fd(s, fd, NULL, &r);
	close(fd);
	assert_int_equal(r.status, SCAN_INFECTED);

	struct scanner_status st;
	scanner_status(s, &st);
	assert_string_equal(st.engine, "hashlist");
	assert_true(st.available);
	assert_int_equal(st.signatures, 2);
	assert_int_equal(st.generation, 1);
	assert_int_equal(st.scans, 5);
	assert_int_equal(st.infected, 4);
	assert_int_equal(st.errors, 0);
	scanner_close(s);
}

static void test_hashlist_duplicate_first_wins(void **state)
{
	struct fixture *fx = *state;
	char text[512], err[256];
	snprintf(text, sizeof(text), "%s First\n%s Second\n", fx->hex_a, fx->hex_a);
	write_list(fx, text);
	struct scanner *s = open_list(fx, 0, err, sizeof(err));
	assert_non_null(s);
	expect_scan(s, fx->a, SCAN_INFECTED, "First");
	scanner_close(s);
}

static void test_hashlist_bad_lines(void **state)
{
	struct fixture *fx = *state;
	char long_name[200];
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	const struct {
		const char *second_line, *why;
	} cases[] = {
		{ "not-a-hash Name", "expected a SHA-256 as 64 hex digits, then an optional name" },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		  "expected a SHA-256 as 64 hex digits, then an optional name" },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
		  "expected a SHA-256 as 64 hex digits, then an optional name" },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
		  "expected a SHA-256 as 64 hex digits, then an optional name" },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef Bad\x01Name",
		  "a control character in the name" },
		{ NULL, "the name is longer than 159 characters" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512], err[256], want[1200], unavailable[1300];
		snprintf(text, sizeof(text), "%s Good\n%s%s\n", fx->hex_a,
			 cases[i].second_line ? cases[i].second_line
					      : "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef ",
			 cases[i].second_line ? "" : long_name);
		write_list(fx, text);
		struct scanner *s = open_list(fx, 0, err, sizeof(err));
		assert_non_null(s);
		snprintf(want, sizeof(want), "%s:2: %s", fx->list, cases[i].why);
		assert_string_equal(err, want);

		/* Nothing half-loaded: every scan says why the engine is unavailable. */
		struct scan_result r;
		scan_path(s, fx->a, &r);
		assert_int_equal(r.status, SCAN_ERROR);
		snprintf(unavailable, sizeof(unavailable), "unavailable: %s", want);
		unavailable[SCANNER_DETAIL_MAX - 1] = '\0';
		assert_string_equal(r.detail, unavailable);
		struct scanner_status st;
		scanner_status(s, &st);
		assert_false(st.available);
		assert_string_equal(st.last_error, want);
		scanner_close(s);
	}
}

static void test_hashlist_missing_file(void **state)
{
	struct fixture *fx = *state;
	char err[256], want[1200];
	struct scanner *s = open_list(fx, 0, err, sizeof(err));
	assert_non_null(s);
	snprintf(want, sizeof(want), "%s: cannot open hash list: No such file or directory",
		 fx->list);
	assert_string_equal(err, want);
	struct scan_result r;
	scan_path(s, fx->a, &r);
	assert_int_equal(r.status, SCAN_ERROR);
	assert_non_null(strstr(r.detail, "unavailable: "));
	assert_non_null(strstr(r.detail, "cannot open hash list"));
	scanner_close(s);
}

/* open_list's error for a list path that is not a regular file */
static void expect_refused(const char *path, const char *why)
{
	char err[256], want[1200];
	const char *files[] = { path };
	struct scanner_hashlist_config cfg = { .files = files, .n_files = 1 };
	struct scanner *s = scanner_hashlist_open(&cfg, err, sizeof(err));
	assert_non_null(s);
	snprintf(want, sizeof(want), "%s: cannot open hash list: %s", path, why);
	assert_string_equal(err, want);
	struct scanner_status st;
	scanner_status(s, &st);
	assert_false(st.available);
	scanner_close(s);
}

/* A device, a directory, a FIFO (whose open or read would wait for a writer
 * forever) and a file over the size cap are refused at once, by name. */
static void test_hashlist_refuses_what_is_not_a_list_file(void **state)
{
	struct fixture *fx = *state;
	char path[1024];
	alarm(20);   /* a wait on the FIFO ends the test instead of hanging it */
	expect_refused("/dev/null", "a device, not a regular file");
	expect_refused(fx->dir, "a directory, not a regular file");
	snprintf(path, sizeof(path), "%s/fifo", fx->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_refused(path, "a FIFO, not a regular file");
	snprintf(path, sizeof(path), "%s/huge", fx->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)SCANNER_HASHLIST_MAX_BYTES + 1), 0);   /* sparse */
	close(fd);
	expect_refused(path, "larger than the 1 GiB a hash list may hold");
	alarm(0);
}

/* The check reads the lists as an open does, with the same errors, and
 * starts nothing. */
static void test_hashlist_check(void **state)
{
	struct fixture *fx = *state;
	char text[256], err[256], want[1200];
	const char *files[] = { fx->list };
	snprintf(text, sizeof(text), "# a comment\n%s Good\n", fx->hex_a);
	write_list(fx, text);
	memset(err, 'x', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	assert_int_equal(scanner_hashlist_check(files, 1, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	snprintf(text, sizeof(text), "%s Good\nnot-a-hash\n", fx->hex_a);
	write_list(fx, text);
	assert_int_equal(scanner_hashlist_check(files, 1, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: expected a SHA-256 as 64 hex digits, then an optional name",
		 fx->list);
	assert_string_equal(err, want);
	const char *dev[] = { "/dev/null" };
	assert_int_equal(scanner_hashlist_check(dev, 1, err, sizeof(err)), -1);
	assert_string_equal(err, "/dev/null: cannot open hash list: a device, not a regular file");
}

static void test_hashlist_bad_reload_keeps_old_then_recovers(void **state)
{
	struct fixture *fx = *state;
	char text[512], err[256];
	snprintf(text, sizeof(text), "%s Test.Bad.A\n", fx->hex_a);
	write_list(fx, text);
	struct scanner *s = open_list(fx, 0, err, sizeof(err));
	assert_non_null(s);
	expect_scan(s, fx->a, SCAN_INFECTED, "Test.Bad.A");

	write_list(fx, "zz\n");
	assert_int_equal(scanner_reload_wait(s, 5000, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "list.txt:1: expected a SHA-256"));
	expect_scan(s, fx->a, SCAN_INFECTED, "Test.Bad.A");   /* the old set stays */
	struct scanner_status st;
	scanner_status(s, &st);
	assert_true(st.available);
	assert_int_equal(st.reloads_failed, 1);
	assert_int_equal(st.generation, 1);
	assert_non_null(strstr(st.last_error, "list.txt:1:"));

	snprintf(text, sizeof(text), "%s Test.Bad.B\n", fx->hex_b);
	write_list(fx, text);
	assert_int_equal(scanner_reload_wait(s, 5000, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	expect_scan(s, fx->a, SCAN_CLEAN, "");
	expect_scan(s, fx->b, SCAN_INFECTED, "Test.Bad.B");
	scanner_status(s, &st);
	assert_int_equal(st.generation, 2);
	assert_string_equal(st.last_error, "");
	scanner_close(s);
}

static void count_swap(void *ctx, const char *engine)
{
	assert_string_equal(engine, "hashlist");
	(*(int *)ctx)++;
}

/* Each scanner calls its own hook, for a set its reload thread puts in
 * force: not for the open's own load, nor for a reload that failed. */
static void test_swap_hook_is_the_scanners_own(void **state)
{
	struct fixture *fx = *state;
	char text[512], err[256];
	int swaps_a = 0, swaps_b = 0;
	snprintf(text, sizeof(text), "%s Test.Bad.A\n", fx->hex_a);
	write_list(fx, text);
	const char *files[] = { fx->list };
	struct scanner_hashlist_config cfg_a = { .files = files, .n_files = 1,
						 .on_swap = { count_swap, &swaps_a } };
	struct scanner_hashlist_config cfg_b = { .files = files, .n_files = 1,
						 .on_swap = { count_swap, &swaps_b } };
	struct scanner *a = scanner_hashlist_open(&cfg_a, err, sizeof(err));
	struct scanner *b = scanner_hashlist_open(&cfg_b, err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(swaps_a + swaps_b, 0);

	assert_int_equal(scanner_reload_wait(a, 5000, err, sizeof(err)), 0);
	assert_int_equal(swaps_a, 1);
	assert_int_equal(swaps_b, 0);
	write_list(fx, "zz\n");
	assert_int_equal(scanner_reload_wait(a, 5000, err, sizeof(err)), -1);
	assert_int_equal(swaps_a, 1);
	snprintf(text, sizeof(text), "%s Test.Bad.B\n", fx->hex_b);
	write_list(fx, text);
	assert_int_equal(scanner_reload_wait(b, 5000, err, sizeof(err)), 0);
	assert_int_equal(swaps_a, 1);
	assert_int_equal(swaps_b, 1);
	scanner_close(a);
	scanner_close(b);
}

static void test_hashlist_starts_broken_then_recovers(void **state)
{
	struct fixture *fx = *state;
	char text[512], err[256];
	write_list(fx, "bad line\n");
	struct scanner *s = open_list(fx, 0, err, sizeof(err));
	assert_non_null(s);
	assert_non_null(strstr(err, "list.txt:1:"));
	struct scan_result r;
	scan_path(s, fx->a, &r);
	assert_int_equal(r.status, SCAN_ERROR);

	snprintf(text, sizeof(text), "%s Test.Bad.A\n", fx->hex_a);
	write_list(fx, text);
	assert_int_equal(scanner_reload_wait(s, 5000, err, sizeof(err)), 0);
	expect_scan(s, fx->a, SCAN_INFECTED, "Test.Bad.A");
	scanner_close(s);
}

/* A change of the list file is picked up by the reload thread alone. */
static void test_hashlist_watch_reloads(void **state)
{
	struct fixture *fx = *state;
	char text[512], err[256];
	snprintf(text, sizeof(text), "%s Test.Bad.A\n", fx->hex_a);
	write_list(fx, text);
	struct scanner *s = open_list(fx, 20, err, sizeof(err));
	assert_non_null(s);
	expect_scan(s, fx->b, SCAN_CLEAN, "");

	snprintf(text, sizeof(text), "%s Test.Bad.A\n%s Test.Bad.B\n", fx->hex_a, fx->hex_b);
	write_list(fx, text);
	struct scan_result r = { .status = SCAN_CLEAN };
	for (int i = 0; i < 300 && r.status != SCAN_INFECTED; i++) {
		sleep_ms(10);
		scan_path(s, fx->b, &r);
	}
	assert_int_equal(r.status, SCAN_INFECTED);
	assert_string_equal(r.detail, "Test.Bad.B");
	assert_true(test_log_has("hashlist: loaded 2 signatures"));
	scanner_close(s);
}

static void test_scan_all(void **state)
{
	struct fixture *fx = *state;
	char text[512], err[256];
	snprintf(text, sizeof(text), "%s Test.Bad.A\n", fx->hex_a);
	write_list(fx, text);
	struct scanner *with_a = open_list(fx, 0, err, sizeof(err));
	write_list(fx, "broken\n");
	struct scanner *broken = open_list(fx, 0, err, sizeof(err));
	assert_non_null(with_a);
	assert_non_null(broken);

	int fd_a = open(fx->a, O_RDONLY), fd_good = open(fx->good, O_RDONLY);
	struct scan_result r;
	struct scanner *both[] = { broken, with_a };
	scanner_scan_all(both, 2, fd_a, NULL, &r);      /* a detection beats an error */
	assert_int_equal(r.status, SCAN_INFECTED);
	assert_string_equal(r.detail, "Test.Bad.A");
	scanner_scan_all(both, 2, fd_good, NULL, &r);   /* an error beats clean */
	assert_int_equal(r.status, SCAN_ERROR);
	assert_non_null(strstr(r.detail, "hashlist: unavailable: "));
	scanner_scan_all(both + 1, 1, fd_good, NULL, &r);
	assert_int_equal(r.status, SCAN_CLEAN);
	scanner_scan_all(NULL, 0, fd_good, NULL, &r);
	assert_int_equal(r.status, SCAN_CLEAN);
	close(fd_a);
	close(fd_good);
	scanner_close(with_a);
	scanner_close(broken);
}

/* ---- swaps under load ---- */

struct load {
	struct scanner *s;
	struct fixture *fx;
	atomic_bool stop;
	atomic_long scans, errors, misses;
};

static void *scan_loop(void *arg)
{
	struct load *ld = arg;
	while (!atomic_load(&ld->stop)) {
		struct scan_result r;
		scan_path(ld->s, ld->fx->a, &r);   /* listed in every version */
		atomic_fetch_add(&ld->scans, 1);
		if (r.status == SCAN_ERROR)
			atomic_fetch_add(&ld->errors, 1);
		else if (r.status != SCAN_INFECTED)
			atomic_fetch_add(&ld->misses, 1);
	}
	return NULL;
}

static void test_hashlist_swaps_under_load(void **state)
{
	struct fixture *fx = *state;
	char v1[512], v2[512], err[256];
	snprintf(v1, sizeof(v1), "%s Test.Bad.A\n", fx->hex_a);
	snprintf(v2, sizeof(v2), "%s Test.Bad.A\n%s Test.Bad.B\n", fx->hex_a, fx->hex_b);
	write_list(fx, v1);
	struct load ld = { .fx = fx };
	ld.s = open_list(fx, 0, err, sizeof(err));
	assert_non_null(ld.s);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, scan_loop, &ld), 0);
	for (int i = 0; i < 40; i++) {
		write_list(fx, i % 2 ? v1 : v2);
		assert_int_equal(scanner_reload_wait(ld.s, 5000, err, sizeof(err)), 0);
	}
	atomic_store(&ld.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_true(atomic_load(&ld.scans) > 0);
	assert_int_equal(atomic_load(&ld.errors), 0);
	assert_int_equal(atomic_load(&ld.misses), 0);
	expect_scan(ld.s, fx->b, SCAN_CLEAN, "");   /* the last version was v1 */
	struct scanner_status st;
	scanner_status(ld.s, &st);
	assert_int_equal(st.generation, 41);
	scanner_close(ld.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hashlist_infected_and_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_duplicate_first_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_refuses_what_is_not_a_list_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_bad_reload_keeps_old_then_recovers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_starts_broken_then_recovers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_watch_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_hook_is_the_scanners_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashlist_swaps_under_load, setup, teardown),
	};
	return cmocka_run_group_tests_name("scanner", tests, NULL, NULL);
}
