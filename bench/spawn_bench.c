/* spawn_bench: posix_spawn+waitpid latency of exec targets under several
 * conditions, interleaved in rounds so that drift (other load, frequency,
 * page cache) hits every condition alike.
 *
 *   spawn_bench [--rounds R] [--warmup W] [--storm P] [--hog] [--interleave [--copies K]] SPECFILE
 *
 * SPECFILE: one condition per line, fields separated by tabs:
 *   NAME  ITERS  MODE  TARGET  [ARG...]
 * MODE plain  exec TARGET.
 *      flush  run ARG... (untimed, must exit 0) before each exec of TARGET;
 *             used to drop the daemon's kernel cache so the exec is a miss.
 *      fresh  before each exec write a new file next to TARGET with TARGET's
 *             bytes plus a unique tail (new inode, new SHA-256), exec that,
 *             unlink it: the first exec of content never seen before.
 *             With ARG (a directory on the same filesystem, outside the
 *             daemon's watched tree), the file is written there and
 *             hard-linked next to TARGET: the daemon's close-write pre-scan
 *             sees it closed outside its watched tree (a link, unlike a
 *             rename, leaves the path it was closed under in place), so the
 *             exec is a true miss that hashes.
 * Each round runs every condition once (ITERS timed execs after W untimed
 * ones) in a new shuffled order (fixed seed: runs are repeatable), with a
 * short pause between blocks: a fixed order would let one condition always
 * inherit the after-effects of the same predecessor (a daemon's audit
 * writes, a cache flush) and bias it.
 * --interleave: no blocks; a round is ITERS cycles (every condition the same
 * ITERS) and a cycle runs one iteration of every condition, in an order
 * shuffled anew each cycle, each after a 1 ms pause. The JSON then adds
 * "seq_us", the samples in cycle order (-1 for a failed one): sample i of
 * two conditions ran within a few ms of each other, so their difference is
 * free of drift slower than that (the paired targets of bench/report.py).
 * --copies K: a plain or flush condition execs not TARGET but TARGET.cJ,
 * J = cycle mod K: K files of TARGET's bytes, written anew at the start of
 * every round, the conditions' files in turn, and removed at the end. Two
 * copies of one program on this VM differ by up to 10 us an exec (where
 * their pages sit); each condition then runs on K x R placements.
 * --storm P: P processes exec the same condition at once (plain only);
 * --hog: one CPU-bound process spins for the whole run.
 * Prints one JSON object per condition on stdout. Never judges the numbers;
 * a failed exec (non-zero exit, spawn error) is counted and reported. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn_bench.h"

extern char **environ;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static int64_t pct(const int64_t *v, size_t n, double p)
{
	size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	return v[rank == 0 ? 0 : (rank > n ? n - 1 : rank - 1)];
}

static void note_failure(struct cond *c, const char *fmt, const char *what, int code)
{
	if (c->failed++ != 0)
		return;
	snprintf(c->first_failure, sizeof(c->first_failure), fmt, what, code);
	for (char *p = c->first_failure; *p; p++)   /* it goes into a JSON string */
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '_';
}

/* Spawn path with argv and wait for it. Returns the wait status, or -1 with
 * errno (posix_spawn's error) when it could not start. */
static int spawn_wait(const char *path, char *const argv[], bool quiet)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;

	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	rc = posix_spawn(&pid, path, quiet ? &fa : NULL, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* One timed exec of path; returns ns, or -1 after counting a failure. */
static int64_t timed_exec(struct cond *c, char *path)
{
	char *argv[] = { path, NULL };
	int64_t t0 = now_ns();
	int status = spawn_wait(path, argv, false);
	int64_t dt = now_ns() - t0;

	if (status < 0) {
		note_failure(c, "spawn %s: errno %d", path, errno);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		note_failure(c, "%s: wait status %d", path, status);
		return -1;
	}
	return dt;
}

/* PATH: c's TARGET bytes, plus TAIL when not NULL. */
static int write_file(const struct cond *c, const char *path, const char *tail)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	size_t n = tail ? strlen(tail) : 0;
	int rc = -1;

	if (fd < 0)
		return -1;
	if (write(fd, c->fresh_bytes, c->fresh_len) != (ssize_t)c->fresh_len ||
	    (tail && write(fd, tail, n) != (ssize_t)n))
		goto cleanup;
	rc = 0;
cleanup:
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

static int write_fresh(const struct cond *c, const char *path, long serial)
{
	char tail[96];

	snprintf(tail, sizeof(tail), "\ngk-bench fresh %d %ld %lld\n", (int)getpid(), serial,
		 (long long)now_ns());
	return write_file(c, path, tail);
}

/* --copies: write (or, with remove, delete) every condition's K files TARGET.cJ. */
static int write_copies(struct cond *conds, int n, long k, bool remove)
{
	char path[4200], tmp[4210];

	for (long j = 0; j < k; j++) {
		for (int i = 0; i < n; i++) {
			if (conds[i].mode == MODE_FRESH)
				continue;
			snprintf(path, sizeof(path), "%s.c%ld", conds[i].target, j);
			snprintf(tmp, sizeof(tmp), "%s.tmp", path);
			unlink(tmp);
			if (remove) {
				unlink(path);
			} else if (write_file(&conds[i], tmp, NULL) < 0 || rename(tmp, path) < 0) {
				fprintf(stderr, "spawn_bench: cannot write %s: %s\n", path, strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

/* One iteration: the untimed preparation its mode asks for, then the timed
 * exec. Returns ns or -1. */
static int64_t iteration(struct cond *c, long serial)
{
	static char path[4200];

	if (c->mode == MODE_FLUSH) {
		int st = spawn_wait(c->flush_argv[0], c->flush_argv, true);
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			note_failure(c, "flush command %s failed (status %d)", c->flush_argv[0], st);
			return -1;
		}
	}
	if (c->mode != MODE_FRESH) {
		if (c->copy < 0)
			return timed_exec(c, c->target);
		snprintf(path, sizeof(path), "%s.c%ld", c->target, c->copy);
		return timed_exec(c, path);
	}
	static char staged[4200];
	snprintf(path, sizeof(path), "%s.fresh.%ld", c->target, serial);
	if (c->stage_dir)
		snprintf(staged, sizeof(staged), "%s/fresh.%ld", c->stage_dir, serial);
	if (write_fresh(c, c->stage_dir ? staged : path, serial) < 0 ||
	    (c->stage_dir && link(staged, path) < 0)) {
		note_failure(c, "cannot write %s: errno %d", path, errno);
		return -1;
	}
	int64_t dt = timed_exec(c, path);
	unlink(path);
	if (c->stage_dir)
		unlink(staged);
	return dt;
}

/* Fisher-Yates with xorshift64: the order of one round. */
static void shuffle(int *order, int n, uint64_t *state)
{
	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = n - 1; i > 0; i--) {
		*state ^= *state << 13;
		*state ^= *state >> 7;
		*state ^= *state << 17;
		int j = (int)(*state % (uint64_t)(i + 1));
		int tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
}

static int add_sample(struct cond *c, int64_t ns)
{
	if (c->n_samples == c->cap_samples) {
		size_t cap = c->cap_samples ? c->cap_samples * 2 : 1024;
		int64_t *s = realloc(c->samples, cap * sizeof(*s));
		if (!s)
			return -1;
		c->samples = s;
		c->cap_samples = cap;
	}
	c->samples[c->n_samples++] = ns;
	return 0;
}

static int64_t block_median(const int64_t *v, size_t n)
{
	int64_t *copy = malloc(n * sizeof(*copy));
	int64_t m = 0;

	if (!copy || n == 0) {
		free(copy);
		return 0;
	}
	memcpy(copy, v, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), cmp_i64);
	m = pct(copy, n, 50);
	free(copy);
	return m;
}

/* Sequential block: W warm-ups, then ITERS timed iterations. */
static int run_block(struct cond *c, const struct options *o, long round, long *serial)
{
	size_t first = c->n_samples;

	for (long i = 0; i < o->warmup; i++)
		iteration(c, (*serial)++);
	for (long i = 0; i < c->iters; i++) {
		int64_t ns = iteration(c, (*serial)++);
		if (ns >= 0 && add_sample(c, ns) < 0)
			return -1;
	}
	c->round_median[round] = block_median(c->samples + first, c->n_samples - first);
	return 0;
}

/* --interleave: one round of ITERS cycles (after W untimed ones), each cycle
 * one iteration of every condition in a fresh order. */
static int run_interleaved_round(struct cond *conds, int n, const struct options *o, long round,
				 long *serial, uint64_t *rng)
{
	const struct timespec gap = { 0, SETTLE_NS / 25 }, settle = { 0, SETTLE_NS };
	size_t first[MAX_CONDS];
	int order[MAX_CONDS];

	for (int k = 0; k < n; k++)
		first[k] = conds[k].n_samples;
	if (o->copies && write_copies(conds, n, o->copies, false) < 0)
		return -1;
	/* A file read within two clock ticks of its last write has its digest
	 * neither kept nor cached (gatekeeperd(8)): let the copies settle, or
	 * the first cycles would measure a hash instead of a known verdict. */
	nanosleep(&settle, NULL);
	for (long i = -o->warmup; i < conds[0].iters; i++) {
		shuffle(order, n, rng);
		for (int k = 0; k < n; k++) {
			struct cond *c = &conds[order[k]];
			c->copy = o->copies ? (i + o->warmup) % o->copies : -1;
			nanosleep(&gap, NULL);
			int64_t ns = iteration(c, (*serial)++);
			if (i < 0)
				continue;
			if (ns >= 0 && add_sample(c, ns) < 0)
				return -1;
			c->seq[c->n_seq++] = ns;
		}
	}
	for (int k = 0; k < n; k++)
		conds[k].round_median[round] = block_median(conds[k].samples + first[k],
							    conds[k].n_samples - first[k]);
	return 0;
}

/* Storm block: P processes, each ITERS timed execs of a plain target, all
 * released at once; their samples come back through shared memory. */
static int run_storm_block(struct cond *c, const struct options *o, long round)
{
	size_t n = (size_t)(o->storm * c->iters);
	int64_t *shared = mmap(NULL, n * sizeof(int64_t), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t kids[64];
	int gate[2], rc = -1;
	long started = 0;
	size_t first = c->n_samples;

	if (shared == MAP_FAILED || pipe(gate) < 0)
		return -1;
	for (; started < o->storm; started++) {
		pid_t pid = fork();
		if (pid < 0)
			goto cleanup;
		if (pid == 0) {
			char b;
			close(gate[1]);
			if (read(gate[0], &b, 1) < 0)
				_exit(3);
			for (long i = 0; i < o->warmup; i++)
				timed_exec(c, c->target);
			long bad = 0;
			for (long i = 0; i < c->iters; i++) {
				int64_t ns = timed_exec(c, c->target);
				shared[started * c->iters + i] = ns;
				bad += ns < 0;
			}
			_exit(bad ? 1 : 0);
		}
		kids[started] = pid;
	}
	close(gate[1]);   /* EOF releases every spawner at once */
	gate[1] = -1;
	rc = 0;
cleanup:
	if (gate[1] >= 0)
		close(gate[1]);
	close(gate[0]);
	for (long k = 0; k < started; k++) {
		int st;
		while (waitpid(kids[k], &st, 0) < 0 && errno == EINTR)
			;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (shared[i] < 0)
			note_failure(c, "%s: storm exec failed (%d)", c->target, 0);
		else if (add_sample(c, shared[i]) < 0)
			rc = -1;
	}
	if (rc == 0)
		c->round_median[round] = block_median(c->samples + first, c->n_samples - first);
	munmap(shared, n * sizeof(int64_t));
	return rc;
}

static void print_json(struct cond *c, const struct options *o)
{
	int64_t *v = c->samples;
	size_t n = c->n_samples;
	double sum = 0;

	qsort(v, n, sizeof(*v), cmp_i64);
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	printf("{\"name\":\"%s\",\"n\":%zu,\"failed\":%ld,\"first_failure\":\"%s\"", c->name, n,
	       c->failed, c->first_failure);
	if (n) {
		printf(",\"min_us\":%.1f,\"p10_us\":%.1f,\"p25_us\":%.1f,\"median_us\":%.1f,"
		       "\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f",
		       v[0] / 1e3, pct(v, n, 10) / 1e3, pct(v, n, 25) / 1e3, pct(v, n, 50) / 1e3,
		       pct(v, n, 90) / 1e3, pct(v, n, 99) / 1e3, v[n - 1] / 1e3, sum / (double)n / 1e3);
	}
	printf(",\"round_medians_us\":[");
	for (long r = 0; r < o->rounds; r++)
		printf("%s%.1f", r ? "," : "", c->round_median[r] / 1e3);
	printf("]");
	if (o->interleave) {
		printf(",\"seq_us\":[");
		for (size_t i = 0; i < c->n_seq; i++)
			printf("%s%.1f", i ? "," : "", c->seq[i] < 0 ? -1.0 : (double)c->seq[i] / 1e3);
		printf("]");
	}
	printf("}\n");
}

static int prepare_interleave(struct cond *conds, int n, const struct options *o)
{
	for (int i = 0; i < n; i++) {
		struct cond *c = &conds[i];
		if (o->storm || c->iters != conds[0].iters) {
			fprintf(stderr, "spawn_bench: --interleave takes conditions of equal ITERS, "
				"without --storm (%s)\n", c->name);
			return -1;
		}
		c->seq = malloc((size_t)(o->rounds * c->iters) * sizeof(int64_t));
		if (!c->seq) {
			fprintf(stderr, "spawn_bench: out of memory for %s\n", c->name);
			return -1;
		}
		if (o->copies && c->mode != MODE_FRESH && load_target(c) < 0) {
			fprintf(stderr, "spawn_bench: cannot read %s: %s\n", c->target, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static pid_t start_hog(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		volatile uint64_t x = 0;
		for (;;)
			x++;
	}
	return pid;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "rounds", required_argument, NULL, 'r' }, { "warmup", required_argument, NULL, 'w' },
		{ "storm", required_argument, NULL, 's' }, { "hog", no_argument, NULL, 'H' },
		{ "interleave", no_argument, NULL, 'I' }, { "copies", required_argument, NULL, 'c' },
		{ 0 } };
	int ch;

	*o = (struct options){ .rounds = 8, .warmup = 5 };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		long *dst = ch == 'r' ? &o->rounds : ch == 'w' ? &o->warmup : ch == 'c' ? &o->copies :
			    &o->storm;
		char *end;
		if (ch == 'H' || ch == 'I') {
			*(ch == 'H' ? &o->hog : &o->interleave) = true;
			continue;
		}
		if (ch == '?')
			return -1;
		*dst = strtol(optarg, &end, 10);
		if (*end || *dst < 0 || *dst > MAX_ROUNDS || (ch == 'r' && *dst < 1) ||
		    (ch == 's' && *dst > 64)) {
			fprintf(stderr, "spawn_bench: bad value '%s' for --%s\n", optarg,
				ch == 'r' ? "rounds" : ch == 'w' ? "warmup" : ch == 'c' ? "copies" : "storm");
			return -1;
		}
	}
	if (optind != argc - 1 || (o->copies && !o->interleave)) {
		fprintf(stderr, "usage: spawn_bench [--rounds R] [--warmup W] [--storm P] [--hog] "
			"[--interleave [--copies K]] SPECFILE\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct cond conds[MAX_CONDS];
	char *text[MAX_CONDS] = { 0 };
	struct options o;
	int n = 0, rc = 2, order[MAX_CONDS];
	long serial = 0;
	pid_t hog = -1;
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	const struct timespec settle = { 0, SETTLE_NS };

	if (parse_options(argc, argv, &o) < 0 || read_spec(argv[optind], conds, &n, text) < 0)
		goto cleanup;
	for (int i = 0; o.storm && i < n; i++) {
		if (conds[i].mode != MODE_PLAIN) {
			fprintf(stderr, "spawn_bench: --storm takes plain conditions only (%s)\n",
				conds[i].name);
			goto cleanup;
		}
	}
	if (o.interleave && prepare_interleave(conds, n, &o) < 0)
		goto cleanup;
	rc = 1;
	if (o.hog && (hog = start_hog()) < 0)
		goto cleanup;
	for (long r = 0; o.interleave && r < o.rounds; r++) {
		if (run_interleaved_round(conds, n, &o, r, &serial, &rng) < 0) {
			fprintf(stderr, "spawn_bench: round %ld: %s\n", r, strerror(errno));
			goto cleanup;
		}
	}
	for (long r = 0; !o.interleave && r < o.rounds; r++) {
		shuffle(order, n, &rng);
		for (int k = 0; k < n; k++) {
			struct cond *c = &conds[order[k]];
			nanosleep(&settle, NULL);
			if ((o.storm ? run_storm_block(c, &o, r) : run_block(c, &o, r, &serial)) < 0) {
				fprintf(stderr, "spawn_bench: %s: %s\n", c->name, strerror(errno));
				goto cleanup;
			}
		}
	}
	for (int i = 0; i < n; i++)
		print_json(&conds[i], &o);
	rc = 0;
	write_copies(conds, n, o.copies, true);
cleanup:
	if (hog > 0) {
		kill(hog, SIGKILL);
		waitpid(hog, NULL, 0);
	}
	for (int i = 0; i < n; i++) {
		free(conds[i].samples);
		free(conds[i].seq);
		free(conds[i].fresh_bytes);
		free(text[i]);
	}
	return rc;
}
