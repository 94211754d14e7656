/* gatekeeper-ctl log: the audit log, newest last, filtered by time,
 * verdict and path; -f follows new decisions live (the subscribe stream). */
#include <fnmatch.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatekeeper/ctl/ctl.h"

struct log_opts {
	int64_t since_us, until_us;
	int64_t last;            /* only among the newest N rows; -1: all */
	const char *verdict;     /* allow | deny | would-deny | NULL */
	const char *path_glob;
	bool follow;
};

#define FOLLOW_LAST 10

static const char usage_line[] =
	"usage: gatekeeper-ctl log [--since TIME] [--until TIME] [--verdict allow|deny|would-deny]\n"
	"                          [--path GLOB] [--json] [-f]";

static int parse_opts(int argc, char **argv, struct log_opts *o, bool *json)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 'S' }, { "until", required_argument, NULL, 'U' },
		{ "verdict", required_argument, NULL, 'v' }, { "path", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' }, { "follow", no_argument, NULL, 'f' }, { 0 } };
	int c;
	*o = (struct log_opts){ .last = -1 };
	while ((c = getopt_long(argc, argv, "+fj", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
		case 'U':
			if (parse_time(optarg, c == 'S' ? &o->since_us : &o->until_us) < 0)
				return ctl_fail(EXIT_USAGE, "--%s: '%s' is not a time (like 2026-01-31T12:00, "
						"@1767225600, 10m, 2h ago)", c == 'S' ? "since" : "until", optarg);
			break;
		case 'v':
			if (strcmp(optarg, "allow") && strcmp(optarg, "deny") && strcmp(optarg, "would-deny"))
				return ctl_fail(EXIT_USAGE, "--verdict: '%s' is not allow, deny or would-deny", optarg);
			o->verdict = optarg;
			break;
		case 'p':
			if (strchr(optarg, '\n'))
				return ctl_fail(EXIT_USAGE, "--path: a glob with a newline cannot be sent");
			o->path_glob = optarg;
			break;
		case 'j': *json = true; break;
		case 'f': o->follow = true; break;
		default: return ctl_fail(EXIT_USAGE, "%s", usage_line);
		}
	}
	if (optind != argc)
		return ctl_fail(EXIT_USAGE, "%s", usage_line);
	/* like tail -f: without a start, follow from the last few decisions */
	if (o->follow && !o->since_us && !o->until_us)
		o->last = FOLLOW_LAST;
	return EXIT_OK;
}

static bool is_would_deny(const struct reply *r)
{
	return reply_num(r, "would_deny", 0) != 0;
}

/* The same filter the daemon applies to the log, for live records. */
static bool wanted(const struct log_opts *o, const struct reply *r)
{
	int64_t t = reply_num(r, "time_us", 0);
	const char *v = reply_get(r, "verdict"), *path = reply_get(r, "path");
	if (t < o->since_us || (o->until_us && t > o->until_us))
		return false;
	if (o->verdict) {
		bool wd = is_would_deny(r);
		if (!strcmp(o->verdict, "would-deny") ? !wd :
		    !strcmp(o->verdict, "allow") ? (wd || !v || strcmp(v, "allow")) : (!v || strcmp(v, "deny")))
			return false;
	}
	return !o->path_glob || (path && fnmatch(o->path_glob, path, 0) == 0);
}

void print_decision(const struct reply *r, bool json)
{
	if (json) {
		print_json(stdout, r->f, r->n);
		return;
	}
	char when[40];
	int64_t t = reply_num(r, "time_us", 0);
	const char *detail = reply_get(r, "detail"), *v = reply_get(r, "verdict");
	format_time_us(t, when, sizeof(when));
	when[strlen(when) - 1] = '\0';   /* the Z goes after the microseconds */
	printf("%s.%06lldZ %-10s %-11s ", when, (long long)(t % 1000000),
	       is_would_deny(r) ? "would-deny" : v ? v : "?",
	       reply_get(r, "source") ? reply_get(r, "source") : "?");
	put_clean(stdout, reply_get(r, "path"));
	fputs(" exe=", stdout);
	put_clean(stdout, reply_get(r, "exe"));
	printf(" pid=%lld latency_us=%lld", (long long)reply_num(r, "pid", 0),
	       (long long)reply_num(r, "latency_us", 0));
	if (detail && detail[0]) {
		fputs(" detail=\"", stdout);
		put_clean(stdout, detail);
		putchar('"');
	}
	putchar('\n');
}

/* One page of the history after *after_id, each record to fn; returns
 * EXIT_* and sets *rows. */
static int log_page(const struct ctl *c, const struct log_opts *o, int64_t *after_id,
		    int64_t *last_time, int *rows, log_fn fn, void *ctx)
{
	char line[PROTO_MAX_REQUEST + 1];
	int s = -1, rc;
	char last[40] = "";
	if (o->last >= 0 && *after_id == 0)
		snprintf(last, sizeof(last), " last=%lld", (long long)o->last);
	snprintf(line, sizeof(line), "log after=%lld since=%lld until=%lld match=%s%s%s%s\n",
		 (long long)*after_id, (long long)o->since_us, (long long)o->until_us,
		 o->verdict ? o->verdict : "any", last, o->path_glob ? " path=" : "",
		 o->path_glob ? o->path_glob : "");
	if ((rc = ctl_connect(c->socket_path, &s)) != EXIT_OK)
		return rc;
	if (ctl_send(s, line, -1) < 0) {
		close(s);
		return ctl_fail(EXIT_UNREACHABLE, "lost the connection to gatekeeperd");
	}
	struct stream *st = calloc(1, sizeof(*st));
	struct reply r;
	*rows = 0;
	rc = EXIT_UNREACHABLE;
	if (st) {
		st->fd = s;
		if (stream_next(st, &r, 30000) == 1) {
			rc = r.error ? ctl_fail(r.code, "%s", r.error) : EXIT_OK;
			while (rc == EXIT_OK && stream_next(st, &r, 30000) == 1) {
				if (r.error) {
					rc = ctl_fail(r.code, "%s", r.error);
					break;
				}
				*after_id = reply_num(&r, "id", *after_id);
				*last_time = reply_num(&r, "time_us", *last_time);
				fn(ctx, &r);
				(*rows)++;
			}
		} else {
			ctl_fail(rc, "gatekeeperd closed the connection without a reply");
		}
	}
	free(st);
	close(s);
	return rc;
}

static void print_record(void *ctx, const struct reply *r)
{
	print_decision(r, ((const struct ctl *)ctx)->json);
}

int ctl_log_walk(const struct ctl *c, int64_t since_us, const char *verdict, log_fn fn, void *ctx)
{
	struct log_opts o = { .since_us = since_us, .verdict = verdict, .last = -1 };
	int64_t after = 0, last_time = 0;
	int rows, rc;
	do
		rc = log_page(c, &o, &after, &last_time, &rows, fn, ctx);
	while (rc == EXIT_OK && rows > 0);
	return rc;
}

/* Open the live stream: its header must say ok. */
int subscribe_open(const struct ctl *c, struct stream **out)
{
	int s = -1, rc = ctl_connect(c->socket_path, &s);
	struct reply r = { 0 };
	if (rc != EXIT_OK)
		return rc;
	struct stream *st = calloc(1, sizeof(*st));
	if (!st || ctl_send(s, "subscribe\n", -1) < 0) {
		free(st);
		close(s);
		return ctl_fail(EXIT_UNREACHABLE, "cannot subscribe to gatekeeperd's decisions");
	}
	st->fd = s;
	if (stream_next(st, &r, 10000) != 1 || r.error || !reply_get(&r, "ok")) {
		rc = r.error ? ctl_fail(r.code, "subscribe: %s", r.error)
			     : ctl_fail(EXIT_UNREACHABLE, "gatekeeperd did not accept the subscription");
		stream_close(st);
		return rc;
	}
	/* A header sent without its blank line runs into the first record. */
	if (reply_get(&r, "time_us"))
		stream_unread(st);
	*out = st;
	return EXIT_OK;
}

int verb_log(const struct ctl *c0, int argc, char **argv)
{
	struct ctl c = *c0;
	struct log_opts o;
	int rc = parse_opts(argc, argv, &o, &c.json), rows;
	struct stream *live = NULL;
	if (rc != EXIT_OK)
		return rc;
	/* Subscribe before reading the history, so no decision falls between. */
	if (o.follow && (rc = subscribe_open(&c, &live)) != EXIT_OK)
		return rc;
	int64_t after = 0, last_time = 0;
	do
		rc = log_page(&c, &o, &after, &last_time, &rows, print_record, &c);
	while (rc == EXIT_OK && rows > 0);
	fflush(stdout);
	if (rc != EXIT_OK || !live) {
		stream_close(live);
		return rc;
	}
	struct reply r;
	while (stream_next(live, &r, -1) == 1) {
		int64_t lost = reply_num(&r, "dropped", 0);
		if (lost > 0)
			fprintf(stderr, "gatekeeper-ctl: %lld decisions not shown (this viewer was too slow)\n",
				(long long)lost);
		if (!reply_get(&r, "time_us") || reply_num(&r, "time_us", 0) <= last_time || !wanted(&o, &r))
			continue;
		print_decision(&r, c.json);
		fflush(stdout);
	}
	stream_close(live);
	return ctl_fail(EXIT_UNREACHABLE, "gatekeeperd closed the live stream");
}
