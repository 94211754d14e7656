/* Unit tests for the ClamAV engine of scanner/: tiny databases written at
 * run time (an .ndb hex signature for the EICAR string, an .hsb SHA-256
 * signature for a small file), no network, no freshclam. Covers detection,
 * missing and corrupt databases, recovery, limits, archives, the watch of
 * the database directory, and reloads while scans run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <zlib.h>

#include "test_scanner_util.h"

static const char small_text[] = "hello small test file\n";
static const char third_text[] = "a third sample, listed only later\n";
static const char clean_text[] = "#!/bin/sh\necho a clean script\n";

struct fixture {
	char *dir;
	char db[1024];                     /* the database directory */
	char tmp[1100];                    /* the scanner's private scratch tmpfs goes there */
	char *eicar, *small, *third, *clean;
	char eicar_hex[160];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx || !(fx->dir = scratch_dir()))
		return -1;
	snprintf(fx->db, sizeof(fx->db), "%s/db", fx->dir);
	snprintf(fx->tmp, sizeof(fx->tmp), "%s/tmp", fx->dir);
	if (mkdir(fx->tmp, 0755) < 0)
		return -1;
	char eicar[80];
	eicar_string(eicar, sizeof(eicar));
	for (size_t i = 0; eicar[i]; i++)
		snprintf(fx->eicar_hex + 2 * i, 3, "%02x", (unsigned char)eicar[i]);
	fx->eicar = write_file(fx->dir, "eicar.com", eicar, (size_t)-1);
	fx->small = write_file(fx->dir, "small.bin", small_text, (size_t)-1);
	fx->third = write_file(fx->dir, "third.bin", third_text, (size_t)-1);
	fx->clean = write_file(fx->dir, "clean.sh", clean_text, (size_t)-1);
	scanner_set_logger(test_logger, NULL);
	*state = fx;
	return fx->eicar && fx->small && fx->third && fx->clean ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	free(fx->eicar);
	free(fx->small);
	free(fx->third);
	free(fx->clean);
	scratch_remove(fx->dir);
	free(fx);
	return 0;
}

static void db_write(struct fixture *fx, const char *name, const char *text)
{
	mkdir(fx->db, 0755);
	char *p = write_file(fx->db, name, text, (size_t)-1);
	assert_non_null(p);
	free(p);
}

static void db_remove(struct fixture *fx, const char *name)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", fx->db, name);
	assert_int_equal(unlink(path), 0);
}

/* .hsb: "sha256:size:name", the ClamAV hash-signature format. */
static void hsb_line(const char *text, const char *name, char *out, size_t size)
{
	char hex[65];
	sha256_hex_of(text, strlen(text), hex);
	snprintf(out, size, "%s:%zu:%s\n", hex, strlen(text), name);
}

static void db_write_good(struct fixture *fx)
{
	char ndb[256], hsb[256];
	snprintf(ndb, sizeof(ndb), "Test.EICAR.NDB:0:*:%s\n", fx->eicar_hex);
	hsb_line(small_text, "Test.Small.HSB", hsb, sizeof(hsb));
	db_write(fx, "test.ndb", ndb);
	db_write(fx, "test.hsb", hsb);
}

static struct scanner *open_clamav(struct fixture *fx, const struct scanner_clamav_config *extra,
				   char *err, size_t errlen)
{
	struct scanner_clamav_config cfg = { .check_interval_ms = 0 };
	if (extra)
		cfg = *extra;
	cfg.db_dir = fx->db;
	cfg.tmp_dir = fx->tmp;
	cfg.scand_path = test_scand_path();
	return scanner_clamav_open(&cfg, err, errlen);
}

static void expect_infected(struct scanner *s, const char *path, const char *name_prefix)
{
	struct scan_result r;
	scan_path(s, path, &r);
	if (r.status != SCAN_INFECTED || strncmp(r.detail, name_prefix, strlen(name_prefix)))
		fail_msg("%s: got status %d \"%s\", want a detection %s*", path, r.status,
			 r.detail, name_prefix);
}

static void expect_status(struct scanner *s, const char *path, enum scan_status status,
			  const char *detail_part)
{
	struct scan_result r;
	scan_path(s, path, &r);
	if (r.status != status || !strstr(r.detail, detail_part))
		fail_msg("%s: got status %d \"%s\", want %d with \"%s\"", path, r.status,
			 r.detail, status, detail_part);
}

static void test_clamav_detects_and_clean(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	db_write_good(fx);
	struct scanner *s = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(err, "");
	struct scanner_status st;
	scanner_status(s, &st);
	assert_string_equal(st.engine, "clamav");
	assert_true(st.available);
	assert_int_equal(st.signatures, 2);

	expect_infected(s, fx->eicar, "Test.EICAR.NDB");
	expect_infected(s, fx->small, "Test.Small.HSB");
	expect_status(s, fx->clean, SCAN_CLEAN, "");
	expect_status(s, fx->third, SCAN_CLEAN, "");
	if (access("/usr/bin/true", R_OK) == 0)
		expect_status(s, "/usr/bin/true", SCAN_CLEAN, "");   /* an ELF, parsed */

	/* Wherever the offset stands, the whole file is scanned. */
	int fd = open(fx->eicar, O_RDONLY);
	assert_true(fd >= 0);
	lseek(fd, 7, SEEK_SET);
	struct scan_result r;
	scanner_scan_fd(s, fd, NULL, &r);
	assert_int_equal(r.status, SCAN_INFECTED);
	close(fd);

	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	scanner_scan_fd(s, pipefd[0], NULL, &r);
	assert_int_equal(r.status, SCAN_ERROR);
	assert_string_equal(r.detail, "not a regular file");
	close(pipefd[0]);
	close(pipefd[1]);
	scanner_close(s);
}

/* The file is read through the fd alone: with its path gone, it is still
 * scanned whole (libclamav is given no name to open). */
static void test_clamav_reads_only_the_fd(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	db_write_good(fx);
	struct scanner *s = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(s);
	int fd = open(fx->eicar, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(unlink(fx->eicar), 0);
	struct scan_result r;
	scanner_scan_fd(s, fd, NULL, &r);
	close(fd);
	assert_int_equal(r.status, SCAN_INFECTED);
	/* a memfd, which has no path either: the scanner process gets it
	 * opened again through /proc/self/fd, like any file */
	char eicar[80];
	eicar_string(eicar, sizeof(eicar));
	fd = memfd_create("gk-eicar", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, eicar, strlen(eicar)), (ssize_t)strlen(eicar));
	scanner_scan_fd(s, fd, NULL, &r);
	close(fd);
	assert_int_equal(r.status, SCAN_INFECTED);
	/* a FIFO is refused at once (opening it again would wait for a writer) */
	char fifo[1200];
	snprintf(fifo, sizeof(fifo), "%s/fifo", fx->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fd = open(fifo, O_RDWR | O_NONBLOCK);
	scanner_scan_fd(s, fd, NULL, &r);
	close(fd);
	assert_int_equal(r.status, SCAN_ERROR);
	assert_string_equal(r.detail, "not a regular file");
	scanner_close(s);
}

static void test_clamav_missing_dir_then_recovers(void **state)
{
	struct fixture *fx = *state;
	char err[256], want[1200];
	struct scanner *s = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(s);
	snprintf(want, sizeof(want),
		 "%s: cannot open the ClamAV database directory: No such file or directory", fx->db);
	assert_string_equal(err, want);
	expect_status(s, fx->eicar, SCAN_ERROR, "unavailable: ");
	expect_status(s, fx->eicar, SCAN_ERROR, "cannot open the ClamAV database directory");
	struct scanner_status st;
	scanner_status(s, &st);
	assert_false(st.available);
	assert_string_equal(st.last_error, want);

	db_write_good(fx);
	assert_int_equal(scanner_reload_wait(s, 30000, err, sizeof(err)), 0);
	expect_infected(s, fx->eicar, "Test.EICAR.NDB");
	scanner_status(s, &st);
	assert_true(st.available);
	assert_string_equal(st.last_error, "");
	scanner_close(s);
}

static void test_clamav_corrupt_db_then_recovers(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	db_write(fx, "bad.ndb", "garbage\n");
	struct scanner *s = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(s);
	/* One line naming the file and what is wrong with it. */
	assert_non_null(strstr(err, "/db/bad.ndb: Malformed database"));
	assert_non_null(strstr(err, "line 1"));
	assert_null(strchr(err, '\n'));
	expect_status(s, fx->eicar, SCAN_ERROR, "unavailable: ");
	expect_status(s, fx->eicar, SCAN_ERROR, "bad.ndb");

	db_remove(fx, "bad.ndb");
	db_write_good(fx);
	assert_int_equal(scanner_reload_wait(s, 30000, err, sizeof(err)), 0);
	expect_infected(s, fx->eicar, "Test.EICAR.NDB");
	scanner_close(s);
}

static void test_clamav_empty_dir(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	mkdir(fx->db, 0755);
	struct scanner *s = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(s);
	assert_non_null(strstr(err, fx->db));
	assert_non_null(strstr(err, "No supported database files"));
	expect_status(s, fx->eicar, SCAN_ERROR, "unavailable: ");
	scanner_close(s);
}

static void test_clamav_bad_reload_keeps_old(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	db_write_good(fx);
	struct scanner *s = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(s);
	db_write(fx, "broken.hsb", "nothex:12:Foo\n");
	assert_int_equal(scanner_reload_wait(s, 30000, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/db/broken.hsb"));
	expect_infected(s, fx->eicar, "Test.EICAR.NDB");
	struct scanner_status st;
	scanner_status(s, &st);
	assert_true(st.available);
	assert_int_equal(st.generation, 1);
	assert_int_equal(st.reloads_failed, 1);
	assert_non_null(strstr(st.last_error, "broken.hsb"));

	db_remove(fx, "broken.hsb");
	assert_int_equal(scanner_reload_wait(s, 30000, err, sizeof(err)), 0);
	scanner_status(s, &st);
	assert_int_equal(st.generation, 2);
	scanner_close(s);
}

/* Deterministic bytes that no signature matches and no unpacker takes. */
static char *write_noise(struct fixture *fx, const char *name, size_t size)
{
	unsigned char *buf = malloc(size);
	assert_non_null(buf);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	char *p = write_file(fx->dir, name, buf, size);
	free(buf);
	assert_non_null(p);
	return p;
}

static void test_clamav_limits(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	db_write_good(fx);
	struct scanner_clamav_config cfg = { .limits = { .max_file_size = 100 } };
	struct scanner *s = open_clamav(fx, &cfg, err, sizeof(err));
	assert_non_null(s);
	expect_infected(s, fx->eicar, "Test.EICAR.NDB");   /* 68 bytes: under the limit */
	char *mid = write_noise(fx, "mid.bin", 200);
	expect_status(s, mid, SCAN_ERROR, "limit exceeded: max_file_size (200 > 100 bytes)");
	scanner_close(s);

	/* 50 ms: libclamav's own limit answers before the daemon's kill
	 * (50 + 250 ms); 1 ms would also catch a cold first scan of the EICAR
	 * file in a fresh scanner process */
	cfg.limits.max_file_size = 256u << 20;
	cfg.limits.max_scan_ms = 50;
	s = open_clamav(fx, &cfg, err, sizeof(err));
	assert_non_null(s);
	char *big = write_noise(fx, "big.bin", 48u << 20);
	expect_status(s, big, SCAN_ERROR, "limit exceeded: max_scan_ms");
	scanner_close(s);
	free(mid);
	free(big);

	cfg.limits.max_file_size = 1ull << 40;
	assert_null(open_clamav(fx, &cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "below 2^31"));
}

static void test_clamav_archives(void **state)
{
	struct fixture *fx = *state;
	char err[256], eicar[80], path[1200];
	db_write_good(fx);
	eicar_string(eicar, sizeof(eicar));
	snprintf(path, sizeof(path), "%s/eicar.gz", fx->dir);
	gzFile gz = gzopen(path, "wb");
	assert_non_null(gz);
	assert_int_equal(gzwrite(gz, eicar, (unsigned)strlen(eicar)), (int)strlen(eicar));
	assert_int_equal(gzclose(gz), Z_OK);

	struct scanner *s = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(s);
	expect_infected(s, path, "Test.EICAR.NDB");
	scanner_close(s);

	struct scanner_clamav_config cfg = { .no_archives = true };
	s = open_clamav(fx, &cfg, err, sizeof(err));
	assert_non_null(s);
	expect_status(s, path, SCAN_CLEAN, "");
	scanner_close(s);
}

/* libclamav makes a directory per scan and answers clean when it cannot:
 * that must come back as an error, never as clean. */
static void test_clamav_tmp_dir_problems_are_errors(void **state)
{
	struct fixture *fx = *state;
	char err[256], tmp[1100], want[1200];
	db_write_good(fx);
	snprintf(tmp, sizeof(tmp), "%s/scan-tmp", fx->dir);
	struct scanner_clamav_config cfg = { .db_dir = fx->db, .tmp_dir = tmp,
					     .scand_path = test_scand_path() };
	struct scanner *s = scanner_clamav_open(&cfg, err, sizeof(err));
	assert_non_null(s);
	/* the scanner process mounts its private scratch tmpfs there */
	snprintf(want, sizeof(want),
		 "sandbox: mount a scratch tmpfs on %s: No such file or directory", tmp);
	assert_string_equal(err, want);
	expect_status(s, fx->eicar, SCAN_ERROR, "unavailable: ");
	scanner_close(s);

	assert_int_equal(mkdir(tmp, 0700), 0);
	s = scanner_clamav_open(&cfg, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(err, "");
	expect_infected(s, fx->eicar, "Test.EICAR.NDB");
	assert_int_equal(rmdir(tmp), 0);
	expect_status(s, fx->eicar, SCAN_ERROR, "clamav: ");
	expect_status(s, fx->clean, SCAN_ERROR, "temporary directory");
	scanner_close(s);
}

/* A new database file is seen by the reload thread without any call. */
static void test_clamav_watch_reloads(void **state)
{
	struct fixture *fx = *state;
	char err[256], hsb[256];
	db_write_good(fx);
	struct scanner_clamav_config cfg = { .check_interval_ms = 50 };
	struct scanner *s = open_clamav(fx, &cfg, err, sizeof(err));
	assert_non_null(s);
	expect_status(s, fx->third, SCAN_CLEAN, "");

	hsb_line(third_text, "Test.Third.HSB", hsb, sizeof(hsb));
	db_write(fx, "third.hsb", hsb);
	struct scan_result r = { .status = SCAN_CLEAN };
	for (int i = 0; i < 500 && r.status != SCAN_INFECTED; i++) {
		sleep_ms(10);
		scan_path(s, fx->third, &r);
	}
	assert_int_equal(r.status, SCAN_INFECTED);
	/* the reload thread logs after the swap (and after ending the old
	 * scanner process): the line may come a little after the detection */
	for (int i = 0; i < 500 && !test_log_has("clamav: loaded 3 signatures"); i++)
		sleep_ms(10);
	assert_true(test_log_has("clamav: loaded 3 signatures"));
	scanner_close(s);
}

static void test_clamav_background_load(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	db_write_good(fx);
	struct scanner_clamav_config cfg = { .load_in_background = true };
	struct scanner *s = open_clamav(fx, &cfg, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(err, "");
	struct scan_result r;
	scan_path(s, fx->eicar, &r);
	assert_true(r.status == SCAN_INFECTED ||
		    (r.status == SCAN_ERROR && strcmp(r.detail, "unavailable: loading") == 0));
	struct scanner_status st = { .available = false };
	for (int i = 0; i < 3000 && !st.available; i++) {
		sleep_ms(10);
		scanner_status(s, &st);
	}
	assert_true(st.available);
	expect_infected(s, fx->eicar, "Test.EICAR.NDB");
	scanner_close(s);
}

static void test_scan_all_clamav_and_hashlist(void **state)
{
	struct fixture *fx = *state;
	char err[256], hex[65], list[256];
	sha256_hex_of(clean_text, strlen(clean_text), hex);
	snprintf(list, sizeof(list), "%s Hash.Listed\n", hex);
	char *list_path = write_file(fx->dir, "list.txt", list, (size_t)-1);
	const char *files[] = { list_path };
	struct scanner_hashlist_config hcfg = { .files = files, .n_files = 1 };
	struct scanner *hl = scanner_hashlist_open(&hcfg, err, sizeof(err));
	struct scanner *missing = open_clamav(fx, NULL, err, sizeof(err));   /* no db yet */
	db_write_good(fx);
	struct scanner *clam = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(hl);
	assert_non_null(missing);
	assert_non_null(clam);

	struct scanner *good[] = { hl, clam }, *degraded[] = { hl, missing };
	int fd_clean = open(fx->clean, O_RDONLY), fd_eicar = open(fx->eicar, O_RDONLY);
	struct scan_result r;
	scanner_scan_all(good, 2, fd_clean, NULL, &r);
	assert_int_equal(r.status, SCAN_INFECTED);
	assert_string_equal(r.detail, "Hash.Listed");
	scanner_scan_all(good, 2, fd_eicar, NULL, &r);
	assert_int_equal(r.status, SCAN_INFECTED);
	assert_non_null(strstr(r.detail, "Test.EICAR.NDB"));
	scanner_scan_all(degraded, 2, fd_eicar, NULL, &r);
	assert_int_equal(r.status, SCAN_ERROR);
	assert_non_null(strstr(r.detail, "clamav: unavailable: "));
	close(fd_clean);
	close(fd_eicar);
	scanner_close(hl);
	scanner_close(missing);
	scanner_close(clam);
	free(list_path);
}

/* ---- reloads while scans run ---- */

struct load {
	struct scanner *s;
	struct fixture *fx;
	atomic_bool stop;
	atomic_long scans, errors, wrong;
	atomic_llong max_us;
};

static void *scan_loop(void *arg)
{
	struct load *ld = arg;
	const char *paths[] = { ld->fx->eicar, ld->fx->small, ld->fx->clean };
	const enum scan_status want[] = { SCAN_INFECTED, SCAN_INFECTED, SCAN_CLEAN };
	for (unsigned i = 0; !atomic_load(&ld->stop); i++) {
		struct scan_result r;
		int64_t t0 = now_us();
		scan_path(ld->s, paths[i % 3], &r);
		long long took = now_us() - t0, seen = atomic_load(&ld->max_us);
		while (took > seen && !atomic_compare_exchange_weak(&ld->max_us, &seen, took))
			;
		atomic_fetch_add(&ld->scans, 1);
		if (r.status == SCAN_ERROR)
			atomic_fetch_add(&ld->errors, 1);
		else if (r.status != want[i % 3])
			atomic_fetch_add(&ld->wrong, 1);
	}
	return NULL;
}

/* A database large enough that compiling it takes a visible time. */
static void db_write_filler(struct fixture *fx, unsigned n)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/filler.ndb", fx->db);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	uint64_t x = 0x2545f4914f6cdd1dull;
	for (unsigned i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fprintf(f, "Test.Filler.%u:0:*:%016llx%016llx\n", i, (unsigned long long)x,
			(unsigned long long)(x * 0x9e3779b97f4a7c15ull));
	}
	assert_int_equal(fclose(f), 0);
}

static void test_clamav_reload_while_scanning(void **state)
{
	struct fixture *fx = *state;
	char err[256], hsb[256];
	db_write_good(fx);
	db_write_filler(fx, 250000);
	struct load ld = { .fx = fx };
	ld.s = open_clamav(fx, NULL, err, sizeof(err));
	assert_non_null(ld.s);
	assert_string_equal(err, "");
	expect_status(ld.s, fx->third, SCAN_CLEAN, "");

	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, scan_loop, &ld), 0);
	sleep_ms(100);
	hsb_line(third_text, "Test.Third.HSB", hsb, sizeof(hsb));
	db_write(fx, "third.hsb", hsb);
	long before = atomic_load(&ld.scans);
	atomic_store(&ld.max_us, 0);
	int64_t t0 = now_us();
	int rc = scanner_reload_wait(ld.s, 60000, err, sizeof(err));
	int64_t reload_us = now_us() - t0;
	long during = atomic_load(&ld.scans) - before;
	long long max_us = atomic_load(&ld.max_us);
	atomic_store(&ld.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);

	print_message("# reload took %lld ms; %ld scans ran during it, the slowest %lld us\n",
		      (long long)reload_us / 1000, during, max_us);
	assert_int_equal(rc, 0);
	assert_int_equal(atomic_load(&ld.errors), 0);
	assert_int_equal(atomic_load(&ld.wrong), 0);
	/* Scans went on through the load and compile, none waited for it: a
	 * scan that waited would take about as long as the whole reload. The
	 * margin is for CPU contention (2 cores, 3 scanning threads, 1 loading). */
	assert_true(during >= 20);
	assert_true(max_us < reload_us * 3 / 4);
	expect_infected(ld.s, fx->third, "Test.Third.HSB");
	struct scanner_status st;
	scanner_status(ld.s, &st);
	assert_int_equal(st.generation, 2);
	assert_int_equal(st.signatures, 250003);
	scanner_close(ld.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clamav_detects_and_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_reads_only_the_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_missing_dir_then_recovers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clamav_corrupt_db_then_recovers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clamav_empty_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_bad_reload_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_archives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_tmp_dir_problems_are_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clamav_watch_reloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_background_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_all_clamav_and_hashlist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_reload_while_scanning, setup, teardown),
	};
	return cmocka_run_group_tests_name("scanner_clamav", tests, NULL, NULL);
}
