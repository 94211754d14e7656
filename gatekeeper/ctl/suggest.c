/* gatekeeper-ctl policy suggest: from monitor mode to enforce. The
 * would-denies of the audit log become allow rules, one per content (or
 * path), each with a comment saying where it came from; printed as the
 * running policy with those rules added, checked by the parser first. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "gatekeeper/ctl/ctl.h"
#include "policy/policy.h"

struct seen {
	char *key;              /* sha256 hex or path */
	char *path, *exe;       /* first seen */
	int64_t first_us;
	long count;
	bool by_path;           /* no hash: a path rule stands in */
};

struct collect {
	struct seen *v;
	size_t n, cap;
	bool by_path;
	bool oom;
};

static void collect_one(void *ctx, const struct reply *r)
{
	struct collect *c = ctx;
	const char *sha = reply_get(r, "sha256"), *path = reply_get(r, "path");
	if (!path || !path[0])
		return;   /* fileless: no rule can name it */
	bool by_path = c->by_path || !sha || strlen(sha) != GK_SHA256_HEX_LEN;
	const char *key = by_path ? path : sha;
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].by_path == by_path && !strcmp(c->v[i].key, key)) {
			const char *exe = reply_get(r, "exe");
			c->v[i].count++;
			if (!strcmp(c->v[i].exe, "?") && exe && exe[0]) {   /* the first had none */
				char *copy = strdup(exe);
				if (copy) {
					free(c->v[i].exe);
					c->v[i].exe = copy;
				}
			}
			return;
		}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct seen *v = realloc(c->v, cap * sizeof(*v));
		if (!v) {
			c->oom = true;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	const char *exe = reply_get(r, "exe");
	c->v[c->n] = (struct seen){ .key = strdup(key), .path = strdup(path),
				    .exe = strdup(exe && exe[0] ? exe : "?"),
				    .first_us = reply_num(r, "time_us", 0), .count = 1, .by_path = by_path };
	if (!c->v[c->n].key || !c->v[c->n].path || !c->v[c->n].exe)
		c->oom = true;
	c->n++;
}

/* Where the top-level `rules:` value sits in the text, and its shape. */
struct rules_spot {
	bool found;
	yaml_event_type_t type;    /* SEQUENCE_START or SCALAR (null) */
	bool flow;
	size_t start, end;         /* byte offsets of the value */
	size_t item_column;        /* block sequence: the column of its '-' */
};

static int find_rules(const char *text, size_t len, struct rules_spot *spot)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0;
	bool key = false, want_value = false;
	*spot = (struct rules_spot){ 0 };
	if (!yaml_parser_initialize(&p))
		return -1;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (rc == 0 && yaml_parser_parse(&p, &ev)) {
		yaml_event_type_t t = ev.type;
		if (want_value && depth == 1) {
			want_value = false;
			spot->found = true;
			spot->type = t;
			spot->start = ev.start_mark.index;
			spot->end = ev.end_mark.index;
			spot->flow = t == YAML_SEQUENCE_START_EVENT &&
				     ev.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
			spot->item_column = ev.start_mark.column;
			if (t == YAML_SEQUENCE_START_EVENT) {
				/* find its end: count nesting until the matching end */
				int inner = 1;
				yaml_event_delete(&ev);
				while (inner > 0 && yaml_parser_parse(&p, &ev)) {
					if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
						inner++;
					else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
						inner--;
					if (inner == 0)
						spot->end = ev.end_mark.index;
					t = ev.type;
					if (inner > 0)
						yaml_event_delete(&ev);
				}
			} else if (t != YAML_SCALAR_EVENT) {
				rc = -1;
			}
			yaml_event_delete(&ev);
			break;
		}
		if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT) {
			if (++depth == 1)
				key = t == YAML_MAPPING_START_EVENT;
		} else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT) {
			if (--depth == 1)
				key = true;   /* a nested value ended: a key comes next */
		} else if (t == YAML_SCALAR_EVENT && depth == 1) {
			if (key && !strcmp((const char *)ev.data.scalar.value, "rules"))
				want_value = true;
			key = !key;
		}
		if (t == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		yaml_event_delete(&ev);
	}
	if (p.error != YAML_NO_ERROR)
		rc = -1;
	yaml_parser_delete(&p);
	return rc;
}

/* A string for a comment: one line, control bytes escaped (put_clean). */
static void put_comment_text(FILE *out, const char *s)
{
	put_clean(out, s);
}

/* A double-quoted YAML scalar; C1 controls as \u00XX (YAML allows none raw). */
static void put_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)
			fprintf(out, "\\u00%02x", *++p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void put_comment(FILE *out, const struct seen *e, size_t indent)
{
	char when[40];
	format_time_us(e->first_us, when, sizeof(when));
	fprintf(out, "%*s# ", (int)indent, "");
	put_comment_text(out, e->path);
	fprintf(out, ": first seen %s, %ld run%s, run by ", when, e->count, e->count == 1 ? "" : "s");
	put_comment_text(out, strcmp(e->exe, "?") ? e->exe : "(exe not known: the process was gone)");
	fputc('\n', out);
}

static void put_rule(FILE *out, const struct seen *e, size_t indent, bool flow)
{
	if (flow) {
		fputs(e->by_path ? "{path: " : "{sha256: ", out);
		put_quoted(out, e->key);
		fputs(", action: allow}", out);
		return;
	}
	put_comment(out, e, indent);
	fprintf(out, "%*s- {%s: ", (int)indent, "", e->by_path ? "path" : "sha256");
	put_quoted(out, e->key);
	fputs(", action: allow}\n", out);
}

/* The running policy with the rules added, into a new string. */
static char *merge(const char *text, size_t len, const struct collect *c, const struct rules_spot *spot)
{
	char *outbuf = NULL;
	size_t outlen = 0;
	FILE *out = open_memstream(&outbuf, &outlen);
	if (!out)
		return NULL;
	if (!spot->found) {
		fwrite(text, 1, len, out);
		if (len && text[len - 1] != '\n')
			fputc('\n', out);
		fputs("rules:\n", out);
		for (size_t i = 0; i < c->n; i++)
			put_rule(out, &c->v[i], 2, false);
	} else if (spot->type == YAML_SCALAR_EVENT) {   /* rules: (nothing) */
		fwrite(text, 1, spot->start, out);
		fputc('\n', out);
		for (size_t i = 0; i < c->n; i++)
			put_rule(out, &c->v[i], 2, false);
		fwrite(text + spot->end, 1, len - spot->end, out);
	} else if (spot->flow) {   /* rules: [...]: entries before the ']' */
		size_t close = spot->end - 1;
		bool empty = true;
		for (size_t i = spot->start + 1; i < close && empty; i++)
			empty = text[i] == ' ' || text[i] == '\n' || text[i] == '\t';
		/* flow entries take no comments: theirs go above the rules line */
		size_t line = spot->start;
		while (line > 0 && text[line - 1] != '\n')
			line--;
		fwrite(text, 1, line, out);
		for (size_t i = 0; i < c->n; i++)
			put_comment(out, &c->v[i], 0);
		fwrite(text + line, 1, close - line, out);
		for (size_t i = 0; i < c->n; i++) {
			fputs(i || !empty ? ", " : "", out);
			put_rule(out, &c->v[i], 0, true);
		}
		fwrite(text + close, 1, len - close, out);
	} else {   /* a block list: new items after its last one */
		size_t at = spot->end;
		while (at > spot->start && at <= len && text[at - 1] != '\n')
			at--;   /* the start of the line where the list ended */
		if (at == spot->start)
			at = len;
		while (at >= 2 && at > spot->start && text[at - 1] == '\n' && text[at - 2] == '\n')
			at--;   /* before the blank lines that end the list */
		fwrite(text, 1, at, out);
		if (at && text[at - 1] != '\n')
			fputc('\n', out);
		for (size_t i = 0; i < c->n; i++)
			put_rule(out, &c->v[i], spot->item_column, false);
		fwrite(text + at, 1, len - at, out);
	}
	if (fclose(out) != 0) {
		free(outbuf);
		return NULL;
	}
	return outbuf;
}

/* Content (or paths) the policy text already names: not suggested again. */
static bool already_named(const char *text, const struct seen *e)
{
	return strstr(text, e->key) != NULL;
}

static int suggest_opts(int argc, char **argv, int64_t *since, bool *by_path)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 'S' }, { "by", required_argument, NULL, 'b' }, { 0 } };
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c == 'S' && parse_time(optarg, since) == 0)
			continue;
		if (c == 'S')
			return ctl_fail(EXIT_USAGE, "--since: '%s' is not a time (like 2026-01-31T12:00, 1d)", optarg);
		if (c == 'b' && (!strcmp(optarg, "sha256") || !strcmp(optarg, "path"))) {
			*by_path = !strcmp(optarg, "path");
			continue;
		}
		if (c == 'b')
			return ctl_fail(EXIT_USAGE, "--by: '%s' is not sha256 or path", optarg);
		return ctl_fail(EXIT_USAGE, "usage: gatekeeper-ctl policy suggest [--since TIME] [--by sha256|path]");
	}
	if (optind != argc)
		return ctl_fail(EXIT_USAGE, "usage: gatekeeper-ctl policy suggest [--since TIME] [--by sha256|path]");
	return EXIT_OK;
}

int ctl_policy_suggest(const struct ctl *c, int argc, char **argv)
{
	int64_t since = 0;
	struct collect col = { 0 };
	struct reply shown;
	int rc = suggest_opts(argc - 1, argv + 1, &since, &col.by_path);
	if (rc != EXIT_OK)
		return rc;
	if ((rc = ctl_call(c, "policy-show\n", -1, &shown)) != EXIT_OK)
		return rc;
	const char *text = reply_get(&shown, "text"), *name = reply_get(&shown, "policy");
	if (shown.error || !text) {
		rc = ctl_report(c, "policy-show", &shown);
		reply_free(&shown);
		return rc ? rc : EXIT_REFUSED;
	}
	rc = ctl_log_walk(c, since, "would-deny", collect_one, &col);
	struct rules_spot spot;
	size_t kept = 0, runs = 0;
	for (size_t i = 0; i < col.n; i++) {
		runs += (size_t)col.v[i].count;
		if (!already_named(text, &col.v[i]))
			col.v[kept++] = col.v[i];
		else
			free(col.v[i].key), free(col.v[i].path), free(col.v[i].exe);
	}
	col.n = kept;
	char *merged = NULL;
	if (rc == EXIT_OK && col.oom)
		rc = ctl_fail(EXIT_REFUSED, "out of memory");
	if (rc == EXIT_OK && find_rules(text, strlen(text), &spot) < 0)
		rc = ctl_fail(EXIT_REFUSED, "the running policy could not be read back as YAML");
	if (rc == EXIT_OK && !(merged = col.n ? merge(text, strlen(text), &col, &spot) : strdup(text)))
		rc = ctl_fail(EXIT_REFUSED, "out of memory");
	if (rc == EXIT_OK) {
		/* never print what policy check would refuse */
		struct gk_policy_errors errs = { 0 };
		struct gk_policy *p = policy_parse(name ? name : "suggested", merged, strlen(merged), &errs);
		if (!p)
			rc = ctl_fail(EXIT_REFUSED, "the suggested policy does not parse (a bug): %s", errs.msg[0]);
		policy_free(p);
	}
	if (rc == EXIT_OK) {
		fputs(merged, stdout);
		fprintf(stderr, "# %zu rule%s suggested from %zu would-deny decision%s%s\n", col.n,
			col.n == 1 ? "" : "s", runs, runs == 1 ? "" : "s",
			col.n ? "; check, then apply with mode: enforce" : " (nothing new: the running policy)");
	}
	for (size_t i = 0; i < col.n; i++)
		free(col.v[i].key), free(col.v[i].path), free(col.v[i].exe);
	free(col.v);
	free(merged);
	reply_free(&shown);
	return rc;
}
