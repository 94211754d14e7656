/* spawn_bench: posix_spawn+waitpid latency of exec targets under several
 * conditions, interleaved in rounds so that drift (other load, frequency,
 * page cache) hits every condition alike.
 *
 *   spawn_bench [--rounds R] [--warmup W] [--storm P] [--hog] SPECFILE
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

extern char **environ;

#define MAX_CONDS 32
#define MAX_ARGS 16
#define MAX_ROUNDS 1000
#define SETTLE_NS (25 * 1000000L)   /* pause between blocks */

enum mode { MODE_PLAIN, MODE_FLUSH, MODE_FRESH };

struct cond {
	char name[64];
	long iters;
	enum mode mode;
	char *target;
	char *flush_argv[MAX_ARGS + 1];
	char *stage_dir;                  /* MODE_FRESH: where to write before the rename */
	unsigned char *fresh_bytes;       /* TARGET's content, for MODE_FRESH */
	size_t fresh_len;
	int64_t *samples;                 /* ns, all rounds */
	size_t n_samples, cap_samples;
	int64_t round_median[MAX_ROUNDS];
	long failed;
	char first_failure[160];
};

struct options {
	long rounds, warmup, storm;
	bool hog;
};

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

static int write_fresh(const struct cond *c, const char *path, long serial)
{
	char tail[96];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	int n = snprintf(tail, sizeof(tail), "\ngk-bench fresh %d %ld %lld\n", (int)getpid(),
			 serial, (long long)now_ns());
	int rc = -1;

	if (fd < 0)
		return -1;
	if (write(fd, c->fresh_bytes, c->fresh_len) != (ssize_t)c->fresh_len ||
	    write(fd, tail, (size_t)n) != n)
		goto cleanup;
	rc = 0;
cleanup:
	if (close(fd) < 0)
		rc = -1;
	return rc;
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
	if (c->mode != MODE_FRESH)
		return timed_exec(c, c->target);
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

static int load_fresh(struct cond *c)
{
	struct stat st;
	int fd = open(c->target, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0)
		goto cleanup;
	c->fresh_len = (size_t)st.st_size;
	c->fresh_bytes = malloc(c->fresh_len ? c->fresh_len : 1);
	if (!c->fresh_bytes || read(fd, c->fresh_bytes, c->fresh_len) != (ssize_t)c->fresh_len)
		goto cleanup;
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Parse one spec line (modified in place; the strings stay in it). */
static int parse_line(char *line, struct cond *c, const char *file, int lineno)
{
	char *field[4 + MAX_ARGS];
	int n = 0;
	char *save = NULL, *end;

	for (char *tok = strtok_r(line, "\t\n", &save); tok && n < 4 + MAX_ARGS;
	     tok = strtok_r(NULL, "\t\n", &save))
		field[n++] = tok;
	memset(c, 0, sizeof(*c));
	if (n < 4) {
		fprintf(stderr, "%s:%d: need NAME ITERS MODE TARGET, tab-separated\n", file, lineno);
		return -1;
	}
	snprintf(c->name, sizeof(c->name), "%s", field[0]);
	c->iters = strtol(field[1], &end, 10);
	if (*end || c->iters < 1 || c->iters > 1000000) {
		fprintf(stderr, "%s:%d: ITERS '%s' is not a number from 1 to 1000000\n", file, lineno,
			field[1]);
		return -1;
	}
	c->mode = !strcmp(field[2], "plain") ? MODE_PLAIN : !strcmp(field[2], "flush") ? MODE_FLUSH :
		  !strcmp(field[2], "fresh") ? MODE_FRESH : (enum mode)-1;
	if ((int)c->mode < 0 || (c->mode == MODE_FLUSH && n < 5) || (c->mode == MODE_PLAIN && n > 4) ||
	    (c->mode == MODE_FRESH && n > 5)) {
		fprintf(stderr, "%s:%d: MODE '%s' must be plain, fresh [STAGE_DIR], or flush COMMAND...\n",
			file, lineno, field[2]);
		return -1;
	}
	c->target = field[3];
	if (c->mode == MODE_FRESH && n == 5)
		c->stage_dir = field[4];
	for (int i = 4; c->mode == MODE_FLUSH && i < n; i++)
		c->flush_argv[i - 4] = field[i];
	if (c->mode == MODE_FRESH && load_fresh(c) < 0) {
		fprintf(stderr, "%s:%d: cannot read %s: %s\n", file, lineno, c->target, strerror(errno));
		return -1;
	}
	return 0;
}

static int read_spec(const char *file, struct cond *conds, int *n_conds, char **text)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, n = 0, rc = -1;

	if (!f) {
		fprintf(stderr, "spawn_bench: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (n == MAX_CONDS) {
			fprintf(stderr, "%s:%d: more than %d conditions\n", file, lineno, MAX_CONDS);
			goto cleanup;
		}
		text[n] = strdup(line);
		if (!text[n] || parse_line(text[n], &conds[n], file, lineno) < 0)
			goto cleanup;
		n++;
	}
	*n_conds = n;
	rc = n > 0 ? 0 : -1;
	if (n == 0)
		fprintf(stderr, "%s: no conditions\n", file);
cleanup:
	free(line);
	fclose(f);
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
	printf("]}\n");
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
		{ 0 } };
	int ch;

	*o = (struct options){ .rounds = 8, .warmup = 5 };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		long *dst = ch == 'r' ? &o->rounds : ch == 'w' ? &o->warmup : &o->storm;
		char *end;
		if (ch == 'H') {
			o->hog = true;
			continue;
		}
		if (ch == '?')
			return -1;
		*dst = strtol(optarg, &end, 10);
		if (*end || *dst < 0 || *dst > MAX_ROUNDS || (ch == 'r' && *dst < 1) ||
		    (ch == 's' && *dst > 64)) {
			fprintf(stderr, "spawn_bench: bad value '%s' for --%s\n", optarg,
				ch == 'r' ? "rounds" : ch == 'w' ? "warmup" : "storm");
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: spawn_bench [--rounds R] [--warmup W] [--storm P] [--hog] SPECFILE\n");
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
	rc = 1;
	if (o.hog && (hog = start_hog()) < 0)
		goto cleanup;
	for (long r = 0; r < o.rounds; r++) {
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
cleanup:
	if (hog > 0) {
		kill(hog, SIGKILL);
		waitpid(hog, NULL, 0);
	}
	for (int i = 0; i < n; i++) {
		free(conds[i].samples);
		free(conds[i].fresh_bytes);
		free(text[i]);
	}
	return rc;
}
