/* gatekeeper-ctl top: a live view of exec decisions, like filetop. It reads
 * the daemon's subscribe stream (never the database) and counts, per
 * program and per directory, since it started: execs, kernel-cache
 * decisions, daemon decisions, denies, would-denies, p50/p99 latency and
 * the time of decisions a scan made. Interactive: keys sort (e x k d w p s
 * n), q quits. -b prints plain snapshots (-n of them) for scripts. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/ctl/ctl.h"

#define LAT_BUCKETS 32   /* log2 of microseconds */

struct row {
	char *name;
	uint64_t execs, kernel, daemon, denies, would, scan_us;
	uint64_t lat[LAT_BUCKETS];
};

struct table {
	struct row *v;
	size_t n, cap;
};

enum sort_key { SORT_EXECS, SORT_KERNEL, SORT_DAEMON, SORT_DENY, SORT_WOULD, SORT_P99, SORT_SCAN, SORT_NAME };
static const char sort_keys[] = "exkdwpsn";
static const char *const sort_names[] = { "execs", "kernel", "daemon", "deny", "would-deny", "p99",
					  "scan", "name" };

struct top {
	struct table prog, dir;
	enum sort_key sort;
	uint64_t total, dropped;
	double delay_s;
	long snapshots;        /* -n: 0 forever */
	bool batch;
	bool quit;             /* the user pressed q */
	int64_t started_us;
};

static struct row *row_for(struct table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, name))
			return &t->v[i];
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct row *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	struct row *r = &t->v[t->n];
	*r = (struct row){ .name = strdup(name) };
	if (!r->name)
		return NULL;
	t->n++;
	return r;
}

static void count(struct row *r, const struct reply *rec)
{
	if (!r)
		return;
	const char *kind = reply_get(rec, "kind"), *verdict = reply_get(rec, "verdict");
	const char *source = reply_get(rec, "source");
	int64_t lat = reply_num(rec, "latency_us", 0);
	bool kernel = kind && !strcmp(kind, "kernel");
	r->execs++;
	if (kernel)
		r->kernel++;
	else
		r->daemon++;
	if (verdict && !strcmp(verdict, "deny"))
		r->denies++;
	if (reply_num(rec, "would_deny", 0))
		r->would++;
	if (source && !strcmp(source, "scanner"))
		r->scan_us += (uint64_t)(lat > 0 ? lat : 0);
	if (!kernel) {
		unsigned b = 0;
		while (b + 1 < LAT_BUCKETS && (1ll << (b + 1)) <= lat)
			b++;
		r->lat[b]++;
	}
}

static void take(struct top *t, const struct reply *rec)
{
	int64_t lost = reply_num(rec, "dropped", 0);
	if (lost > 0)
		t->dropped += (uint64_t)lost;
	const char *path = reply_get(rec, "path");
	if (!reply_get(rec, "time_us") || !path)
		return;
	t->total++;
	count(row_for(&t->prog, path[0] ? path : "(no file)"), rec);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	count(row_for(&t->dir, slash ? dir : "(no file)"), rec);
}

/* The upper bound of the bucket holding the pct-th percentile, in us. */
static uint64_t percentile(const struct row *r, double pct)
{
	uint64_t n = 0, seen = 0;
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		n += r->lat[b];
	if (!n)
		return 0;
	uint64_t rank = (uint64_t)(pct / 100.0 * (double)n + 0.999999);
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		if ((seen += r->lat[b]) >= rank)
			return (1ull << (b + 1)) - 1;
	return 0;
}

static uint64_t key_of(const struct row *r, enum sort_key sort_by)
{
	switch (sort_by) {
	case SORT_EXECS: return r->execs;
	case SORT_KERNEL: return r->kernel;
	case SORT_DAEMON: return r->daemon;
	case SORT_DENY: return r->denies;
	case SORT_WOULD: return r->would;
	case SORT_P99: return percentile(r, 99);
	case SORT_SCAN: return r->scan_us;
	case SORT_NAME: break;
	}
	return 0;
}

/* qsort_r's comparator; ctx: the enum sort_key to sort by. */
static int compare_rows(const void *a, const void *b, void *ctx)
{
	const struct row *x = a, *y = b;
	enum sort_key sort_by = *(const enum sort_key *)ctx;
	if (sort_by == SORT_NAME)
		return strcmp(x->name, y->name);
	uint64_t kx = key_of(x, sort_by), ky = key_of(y, sort_by);
	if (kx != ky)
		return kx > ky ? -1 : 1;
	return x->execs != y->execs ? (x->execs > y->execs ? -1 : 1) : strcmp(x->name, y->name);
}

static void print_table(const char *title, struct table *t, enum sort_key sort_by, size_t max_rows)
{
	if (t->n)   /* an empty table may have no array (qsort wants one) */
		qsort_r(t->v, t->n, sizeof(*t->v), compare_rows, &sort_by);
	printf("%8s %7s %7s %6s %6s %8s %8s %8s  %s\n", "EXECS", "KERNEL", "DAEMON", "DENY", "WDENY",
	       "P50us", "P99us", "SCANms", title);
	for (size_t i = 0; i < t->n && i < max_rows; i++) {
		const struct row *r = &t->v[i];
		printf("%8llu %7llu %7llu %6llu %6llu %8llu %8llu %8.1f  ", (unsigned long long)r->execs,
		       (unsigned long long)r->kernel, (unsigned long long)r->daemon,
		       (unsigned long long)r->denies, (unsigned long long)r->would,
		       (unsigned long long)percentile(r, 50), (unsigned long long)percentile(r, 99),
		       (double)r->scan_us / 1000.0);
		put_clean(stdout, r->name);   /* a program's name is anyone's to choose */
		putchar('\n');
	}
}

static void render(struct top *t)
{
	struct winsize ws = { .ws_row = 50, .ws_col = 120 };
	char since[40];
	if (!t->batch) {
		ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
		fputs("\033[H\033[2J", stdout);
	}
	size_t rows = ws.ws_row > 12 ? (size_t)(ws.ws_row - 8) / 2 : 2;
	format_time_us(t->started_us, since, sizeof(since));
	printf("gatekeeper top - %llu decisions since %s, sorted by %s\n", (unsigned long long)t->total,
	       since, sort_names[t->sort]);
	if (t->dropped)
		printf("  %llu decisions lost: this viewer was too slow\n", (unsigned long long)t->dropped);
	if (!t->batch)
		printf("keys: e x k d w p s n sort (execs, kernel, daemon, deny, would-deny, p99, scan, name), q quit\n");
	putchar('\n');
	print_table("PROGRAM", &t->prog, t->sort, t->batch ? (size_t)-1 : rows);
	putchar('\n');
	print_table("DIRECTORY", &t->dir, t->sort, t->batch ? (size_t)-1 : rows);
	if (t->batch)
		puts("");
	fflush(stdout);
}

static int top_opts(int argc, char **argv, struct top *t)
{
	static const struct option longopts[] = {
		{ "delay", required_argument, NULL, 'd' }, { "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'n' }, { "sort", required_argument, NULL, 'o' },
		{ 0 } };
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "+d:bn:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			t->delay_s = strtod(optarg, &end);
			if (*end || !(t->delay_s >= 0.1 && t->delay_s <= 3600))
				return ctl_fail(EXIT_USAGE, "-d: '%s' is not a number of seconds (0.1 to 3600)", optarg);
			break;
		case 'b': t->batch = true; break;
		case 'n':
			t->snapshots = strtol(optarg, &end, 10);
			if (*end || t->snapshots < 1)
				return ctl_fail(EXIT_USAGE, "-n: '%s' is not a positive number", optarg);
			break;
		case 'o': {
			size_t i;
			for (i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]) && strcmp(optarg, sort_names[i]); i++)
				;
			if (i == sizeof(sort_names) / sizeof(sort_names[0]))
				return ctl_fail(EXIT_USAGE, "--sort: '%s' is not one of execs, kernel, daemon, "
						"deny, would-deny, p99, scan, name", optarg);
			t->sort = (enum sort_key)i;
			break;
		}
		default:
			return ctl_fail(EXIT_USAGE, "usage: gatekeeper-ctl top [-d SECONDS] [-b] [-n N] [--sort COLUMN]");
		}
	}
	if (optind != argc)
		return ctl_fail(EXIT_USAGE, "usage: gatekeeper-ctl top [-d SECONDS] [-b] [-n N] [--sort COLUMN]");
	return EXIT_OK;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A key from the terminal: sort or quit. Returns false to quit. */
static bool on_key(struct top *t)
{
	char k;
	if (read(STDIN_FILENO, &k, 1) != 1)
		return true;
	if (k == 'q') {
		t->quit = true;
		return false;
	}
	const char *at = strchr(sort_keys, k);
	if (at && k)
		t->sort = (enum sort_key)(at - sort_keys);
	render(t);
	return true;
}

/* Feed records until the next refresh is due; false when the stream ended
 * or the user quit. */
static bool pump(struct top *t, struct stream *st, bool keys, int64_t due_ms)
{
	struct reply r;
	for (;;) {
		int64_t left = due_ms - mono_ms();
		if (left <= 0)
			return true;
		/* records already buffered first, without waiting */
		int got = stream_next(st, &r, 0);
		if (got == 1) {
			take(t, &r);
			continue;
		}
		if (got < 0)
			return false;
		struct pollfd p[2] = { { .fd = st->fd, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
		int pr = poll(p, keys ? 2 : 1, (int)left);
		if (pr < 0 && errno != EINTR)
			return false;
		if (keys && (p[1].revents & POLLIN) && !on_key(t))
			return false;
	}
}

int verb_top(const struct ctl *c, int argc, char **argv)
{
	struct top t = { .delay_s = 1.0 };
	struct stream *st = NULL;
	int rc = top_opts(argc, argv, &t);
	if (rc != EXIT_OK || (rc = subscribe_open(c, &st)) != EXIT_OK)
		return rc;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	t.started_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	struct termios saved, raw;
	bool keys = !t.batch && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (keys) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	bool live = true;
	for (long shown = 0; live && (!t.snapshots || shown < t.snapshots); shown++) {
		live = pump(&t, st, keys, mono_ms() + (int64_t)(t.delay_s * 1000));
		render(&t);
	}
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	stream_close(st);
	for (size_t i = 0; i < t.prog.n; i++)
		free(t.prog.v[i].name);
	for (size_t i = 0; i < t.dir.n; i++)
		free(t.dir.v[i].name);
	free(t.prog.v);
	free(t.dir.v);
	if (!keys && !live)   /* the last render showed what came before the end */
		fflush(stdout);
	return live || t.quit ? EXIT_OK : ctl_fail(EXIT_UNREACHABLE, "gatekeeperd closed the live stream");
}
