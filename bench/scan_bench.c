/* scan_bench: what the scanner engines cost, measured through scanner.h.
 *
 *   scan_bench [--db DIR] [--filler N] [--filler-hsb N] [--threads N] [--dir DIR]
 *              [--max-files N]
 *
 * Without --db it writes the unit tests' database (an EICAR .ndb signature,
 * one .hsb SHA-256 signature) into a temporary directory, plus N random
 * 32-hex-digit .ndb body signatures with --filler and N random .hsb SHA-256
 * signatures with --filler-hsb (stand-ins for a real database's size: most
 * of ClamAV's signatures are hashes; no network, no freshclam). Then:
 *   - engine load: time of scanner_clamav_open, RSS before and after;
 *   - reload: time of scanner_reload_wait (a second engine is built beside
 *     the first), and the peak RSS it reached;
 *   - throughput over every ELF file under --dir (default /usr/bin, read
 *     once before timing so the page cache is warm): one thread, then
 *     --threads threads (default: online CPUs), each pass with a freshly
 *     loaded engine so libclamav's clean-file cache never answers;
 *   - the hash-list engine over the same files, for comparison.
 *   - the same in process (libclamav in this program, as the daemon did
 *     before issue 12) and through gatekeeper-scand (the daemon's way: the
 *     fd over a socket to a confined process), one thread each, in the
 *     same run: scan_process_overhead_us_p50 is what the separation adds
 *     per scan;
 * Prints "key: value" lines; never judges the numbers. Not a test. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scanner/engine.h"
#include "scanner/scanner.h"

#define MAX_FILES 20000

struct file {
	char *path;
	off_t size;
};

struct bench {
	const char *db_dir, *scan_dir;
	unsigned filler, filler_hsb, threads, max_files;
	struct file *files;
	size_t n_files;
	uint64_t total_bytes;
	char tmp_db[256];
};

struct pass {
	struct scanner *s;
	const struct bench *b;
	atomic_size_t next;
	atomic_uint_fast64_t infected, errors;
	uint64_t *lat_us;              /* per file */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS or VmHWM of this process, in MiB. */
static double proc_mib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kib = 0;
	size_t klen = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			kib = strtod(line + klen + 1, NULL);
	if (f)
		fclose(f);
	return kib / 1024.0;
}

/* ---- the database ---- */

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static uint64_t next_random(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x * 0x9e3779b97f4a7c15ull;
}

static int write_filler(const char *dir, const char *name, unsigned n, bool hashes)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	uint64_t x = hashes ? 0x5851f42d4c957f2dull : 0x2545f4914f6cdd1dull;
	for (unsigned i = 0; i < n; i++) {
		unsigned long long a = next_random(&x), b = next_random(&x);
		if (hashes)
			fprintf(f, "%016llx%016llx%016llx%016llx:%u:Bench.Hash.%u\n", a, b,
				(unsigned long long)next_random(&x),
				(unsigned long long)next_random(&x), 1000 + i % 100000, i);
		else
			fprintf(f, "Bench.Filler.%u:0:*:%016llx%016llx\n", i, a, b);
	}
	return fclose(f);
}

/* The unit tests' database: EICAR as an .ndb hex signature (the string is
 * assembled here, never stored whole) and one .hsb "sha256:size:name". */
static int make_test_db(struct bench *b)
{
	snprintf(b->tmp_db, sizeof(b->tmp_db), "/tmp/gk-scan-bench-XXXXXX");
	if (!mkdtemp(b->tmp_db))
		return -1;
	chmod(b->tmp_db, 0755);   /* the scanner process reads it as its own user */
	char eicar[80], ndb[256];
	snprintf(eicar, sizeof(eicar), "%s%s%s", "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
		 "EICAR-STANDARD-ANTIVIRUS", "-TEST-FILE!$H+H*");
	int len = snprintf(ndb, sizeof(ndb), "Test.EICAR.NDB:0:*:");
	for (size_t i = 0; eicar[i]; i++)
		len += snprintf(ndb + len, sizeof(ndb) - (size_t)len, "%02x", (unsigned char)eicar[i]);
	snprintf(ndb + len, sizeof(ndb) - (size_t)len, "\n");
	/* SHA-256 of "hello small test file\n" (22 bytes). */
	const char *hsb = "08442d027de892a35c259b2f84585b6cc7c0b42d475a52c4881e735097cfdc5b"
			  ":22:Test.Small.HSB\n";
	if (write_text(b->tmp_db, "test.ndb", ndb) || write_text(b->tmp_db, "test.hsb", hsb))
		return -1;
	if (b->filler && write_filler(b->tmp_db, "filler.ndb", b->filler, false))
		return -1;
	if (b->filler_hsb && write_filler(b->tmp_db, "filler.hsb", b->filler_hsb, true))
		return -1;
	b->db_dir = b->tmp_db;
	return 0;
}

static void remove_test_db(struct bench *b)
{
	if (!b->tmp_db[0])
		return;
	const char *names[] = { "test.ndb", "test.hsb", "filler.ndb", "filler.hsb" };
	char path[512];
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", b->tmp_db, names[i]);
		unlink(path);
	}
	rmdir(b->tmp_db);
}

/* ---- the files ---- */

static bool is_elf(int fd)
{
	unsigned char magic[4];
	return pread(fd, magic, 4, 0) == 4 && memcmp(magic, "\177ELF", 4) == 0;
}

/* Reading it whole warms the page cache, so passes time scanning, not disk. */
static void warm(int fd)
{
	static char buf[1 << 16];
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n <= 0)
			break;
		off += n;
	}
}

static int collect_elf_files(struct bench *b)
{
	DIR *d = opendir(b->scan_dir);
	if (!d) {
		fprintf(stderr, "scan_bench: %s: %s\n", b->scan_dir, strerror(errno));
		return -1;
	}
	b->files = calloc(MAX_FILES, sizeof(*b->files));
	struct dirent *de;
	while (b->files && (de = readdir(d)) && b->n_files < b->max_files) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", b->scan_dir, de->d_name);
		struct stat sb;
		if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;   /* symlinks would count a file twice */
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (is_elf(fd)) {
			warm(fd);
			b->files[b->n_files].path = strdup(path);
			b->files[b->n_files++].size = sb.st_size;
			b->total_bytes += (uint64_t)sb.st_size;
		}
		close(fd);
	}
	closedir(d);
	return b->files ? 0 : -1;
}

/* ---- scanning passes ---- */

static void *pass_worker(void *arg)
{
	struct pass *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->b->n_files)
			break;
		int fd = open(p->b->files[i].path, O_RDONLY | O_CLOEXEC);
		struct scan_result r = { .status = SCAN_ERROR };
		double t0 = now_s();
		if (fd >= 0) {
			scanner_scan_fd(p->s, fd, NULL, &r);
			close(fd);
		}
		p->lat_us[i] = (uint64_t)((now_s() - t0) * 1e6);
		if (r.status == SCAN_INFECTED)
			atomic_fetch_add(&p->infected, 1);
		else if (r.status == SCAN_ERROR)
			atomic_fetch_add(&p->errors, 1);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t run_pass(const char *label, struct scanner *s, const struct bench *b,
			 unsigned threads)
{
	struct pass p = { .s = s, .b = b };
	p.lat_us = calloc(b->n_files ? b->n_files : 1, sizeof(*p.lat_us));
	pthread_t th[64];
	if (threads > 64)
		threads = 64;
	double t0 = now_s();
	unsigned started = 0;
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&th[started], NULL, pass_worker, &p) == 0)
			started++;
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	double secs = now_s() - t0;
	qsort(p.lat_us, b->n_files, sizeof(*p.lat_us), cmp_u64);
	size_t n = b->n_files;
	printf("%s_threads: %u\n", label, started);
	printf("%s_seconds: %.3f\n", label, secs);
	printf("%s_mb_per_s: %.1f\n", label, (double)b->total_bytes / 1e6 / secs);
	printf("%s_files_per_s: %.0f\n", label, (double)n / secs);
	printf("%s_latency_us_p50: %llu\n", label, n ? (unsigned long long)p.lat_us[n / 2] : 0ull);
	printf("%s_latency_us_p99: %llu\n", label,
	       n ? (unsigned long long)p.lat_us[n * 99 / 100] : 0ull);
	printf("%s_latency_us_max: %llu\n", label, n ? (unsigned long long)p.lat_us[n - 1] : 0ull);
	printf("%s_infected: %llu\n", label, (unsigned long long)atomic_load(&p.infected));
	printf("%s_errors: %llu\n", label, (unsigned long long)atomic_load(&p.errors));
	uint64_t p50 = n ? p.lat_us[n / 2] : 0;
	free(p.lat_us);
	return p50;
}

/* gatekeeper-scand of the build tree: BUILD/bench/scan_bench -> BUILD/. */
static const char *scand_path(void)
{
	static char path[4200];
	return scanner_path_from_self("../gatekeeper-scand", path, sizeof(path)) == 0 ? path : NULL;
}

/* in_process: libclamav in this program; else gatekeeper-scand processes. */
static struct scanner *open_engine(const struct bench *b, bool in_process, double *secs)
{
	char err[256] = "";
	struct scanner_clamav_config cfg = { .db_dir = b->db_dir, .scand_path = scand_path(),
					     .processes = b->threads };
	double t0 = now_s();
	struct scanner *s = NULL;
	if (in_process) {
		/* libclamav makes a directory per scan: on a tmpfs, as the
		 * scanner process's private one is */
		cfg.tmp_dir = "/dev/shm";
		void *c = scanner_clamav_cfg_new(&cfg, err, sizeof(err));
		s = c ? scanner_start(&scanner_clamav_ops, c, 0, false, NULL, err, sizeof(err)) : NULL;
	} else {
		s = scanner_clamav_open(&cfg, err, sizeof(err));
	}
	*secs = now_s() - t0;
	if (!s || err[0]) {
		fprintf(stderr, "scan_bench: %s\n", err);
		scanner_close(s);
		return NULL;
	}
	return s;
}

/* One small file scanned n times: after the first scan libclamav's clean
 * cache answers, so what is left is the cost of the call itself (in
 * process: a function call; separated: sendmsg of the fd, the worker's
 * fstat and cache lookup, the reply). p50 in microseconds. */
static double small_pass(const char *label, struct scanner *s, const char *path, unsigned n)
{
	uint64_t *lat = calloc(n, sizeof(*lat));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!lat || fd < 0) {
		free(lat);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct scan_result r;
		double t0 = now_s();
		scanner_scan_fd(s, fd, NULL, &r);
		lat[i] = (uint64_t)((now_s() - t0) * 1e9);
	}
	close(fd);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	double p50 = (double)lat[n / 2] / 1000.0, p99 = (double)lat[n * 99 / 100] / 1000.0;
	printf("%s_small_file_us_p50: %.1f\n%s_small_file_us_p99: %.1f\n", label, p50, label, p99);
	free(lat);
	return p50;
}

/* The same files in process and through the scanner process, one thread
 * each, with fresh engines (libclamav's clean cache never answers). */
static const char *smallest_file(const struct bench *b)
{
	size_t best = 0;
	for (size_t i = 1; i < b->n_files; i++)
		if (b->files[i].size < b->files[best].size)
			best = i;
	printf("small_file_bytes: %lld\n", (long long)b->files[best].size);
	return b->files[best].path;
}

static int compare_process(const struct bench *b)
{
	const char *small = smallest_file(b);
	double secs;
	struct scanner *s = open_engine(b, true, &secs);
	if (!s)
		return -1;
	uint64_t in = run_pass("inprocess_1thread", s, b, 1);
	double small_in = small_pass("inprocess", s, small, 2000);
	scanner_close(s);
	if (!(s = open_engine(b, false, &secs)))
		return -1;
	printf("process_load_ms: %.0f\n", secs * 1000);
	printf("rss_mib_caller_with_process_engine: %.1f\n", proc_mib("VmRSS"));
	uint64_t out = run_pass("process_1thread", s, b, 1);
	double small_out = small_pass("process", s, small, 2000);
	scanner_close(s);
	printf("scan_process_overhead_us_p50: %lld\n", (long long)out - (long long)in);
	printf("scan_process_overhead_small_file_us_p50: %.1f\n", small_out - small_in);
	return 0;
}

/* ---- main ---- */

static int parse_args(int argc, char **argv, struct bench *b)
{
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return -1;
		if (strcmp(argv[i], "--db") == 0)
			b->db_dir = v;
		else if (strcmp(argv[i], "--dir") == 0)
			b->scan_dir = v;
		else if (strcmp(argv[i], "--filler") == 0)
			b->filler = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i], "--filler-hsb") == 0)
			b->filler_hsb = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i], "--threads") == 0)
			b->threads = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i], "--max-files") == 0)
			b->max_files = (unsigned)strtoul(v, NULL, 10);
		else
			return -1;
		i++;
	}
	return 0;
}

static void hashlist_pass(const struct bench *b)
{
	char err[256];
	const char *files[] = { "/dev/null" };
	struct scanner_hashlist_config cfg = { .files = files, .n_files = 1 };
	struct scanner *s = scanner_hashlist_open(&cfg, err, sizeof(err));
	if (!s)
		return;
	run_pass("hashlist_1thread", s, b, 1);
	scanner_close(s);
}

int main(int argc, char **argv)
{
	struct bench b = { .scan_dir = "/usr/bin", .max_files = MAX_FILES };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	b.threads = cpus > 0 ? (unsigned)cpus : 1;
	if (parse_args(argc, argv, &b) < 0 || !b.threads || b.max_files > MAX_FILES) {
		fprintf(stderr, "usage: scan_bench [--db DIR] [--filler N] [--filler-hsb N] "
				"[--threads N] [--dir DIR] [--max-files N<=%d]\n", MAX_FILES);
		return 2;
	}
	int rc = 1;
	double rss0 = proc_mib("VmRSS"), load_s = 0, reload_s = 0;
	if (!b.db_dir && make_test_db(&b) < 0) {
		fprintf(stderr, "scan_bench: cannot write the test database: %s\n", strerror(errno));
		goto cleanup;
	}
	if (collect_elf_files(&b) < 0)
		goto cleanup;
	printf("database: %s%s\n", b.db_dir, b.tmp_db[0] ? " (test database)" : "");
	printf("filler_ndb_signatures: %u\nfiller_hsb_signatures: %u\n", b.filler, b.filler_hsb);
	printf("elf_files: %zu\nelf_bytes: %llu\n", b.n_files, (unsigned long long)b.total_bytes);

	struct scanner *s = open_engine(&b, true, &load_s);
	if (!s)
		goto cleanup;
	struct scanner_status st;
	scanner_status(s, &st);
	printf("signatures: %u\n", st.signatures);
	printf("load_ms: %.0f\n", load_s * 1000);
	printf("rss_mib_before_load: %.1f\nrss_mib_after_load: %.1f\n", rss0, proc_mib("VmRSS"));
	double t0 = now_s();
	char err[256];
	if (scanner_reload_wait(s, 600000, err, sizeof(err)) == 0)
		reload_s = now_s() - t0;
	printf("reload_ms: %.0f\n", reload_s * 1000);
	printf("rss_mib_peak: %.1f\n", proc_mib("VmHWM"));
	run_pass("clamav_1thread", s, &b, 1);
	scanner_close(s);

	if (!(s = open_engine(&b, true, &load_s)))
		goto cleanup;
	run_pass("clamav_nthreads", s, &b, b.threads);
	scanner_close(s);
	if (!(s = open_engine(&b, false, &load_s)))
		goto cleanup;
	run_pass("process_nthreads", s, &b, b.threads);
	scanner_close(s);
	if (b.n_files && compare_process(&b) < 0)
		goto cleanup;
	hashlist_pass(&b);
	rc = 0;
cleanup:
	for (size_t i = 0; i < b.n_files; i++)
		free(b.files[i].path);
	free(b.files);
	remove_test_db(&b);
	return rc;
}
