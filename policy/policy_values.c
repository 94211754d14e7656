/* policy: the list-valued keys (watch, rules) and the small helpers the
 * parser shares: message quoting, typo hints, path normalisation. */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

enum rule_key { RULE_PATH, RULE_GLOB, RULE_SHA256, RULE_ACTION, RULE_KEY_COUNT };

static const char *const rule_keys[RULE_KEY_COUNT] = {"path", "glob", "sha256", "action"};
static const char *const verdict_names[] = {"allow", "deny"};

#define RULE_EXAMPLE "{path: /opt/x, action: deny}"
#define HINT_WORD_MAX 64

const char *policy_node_kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return "scalar";
	case YAML_SEQUENCE_START_EVENT:
		return "list";
	case YAML_MAPPING_START_EVENT:
		return "map";
	case YAML_ALIAS_EVENT:
		return "alias";
	default:
		return "node";
	}
}

bool policy_scalar_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

const char *policy_quote(char *buf, size_t size, const char *text, size_t len)
{
	size_t keep = len, n = 0;
	bool cut = false;

	if (size < 8) {
		buf[0] = '\0';
		return buf;
	}
	if (keep > size - 4) {
		keep = size - 4;
		/* Do not split a UTF-8 sequence. */
		while (keep > 0 && ((unsigned char)text[keep] & 0xc0) == 0x80)
			keep--;
		cut = true;
	}
	for (size_t i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)text[i];

		buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (cut) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* Optimal string alignment distance (a swap of two neighbours counts one),
 * ignoring case: "mdoe" is one edit from "mode". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[HINT_WORD_MAX + 1][HINT_WORD_MAX + 1];

	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

const char *policy_suggest(const char *word, const char *const *valid, size_t n_valid)
{
	const char *best = NULL;
	size_t best_distance = SIZE_MAX;

	if (strlen(word) > HINT_WORD_MAX)
		return NULL;
	for (size_t i = 0; i < n_valid; i++) {
		size_t len = strlen(valid[i]);
		/* Short words tolerate one edit, longer ones a quarter of their
		 * length (at least two): more than that is a different word. */
		size_t limit = len <= 5 ? 1 : len < 12 ? 2 : len / 4;
		size_t d;

		if (len > HINT_WORD_MAX)
			continue;
		d = edit_distance(word, valid[i]);
		if (d <= limit && d < best_distance) {
			best = valid[i];
			best_distance = d;
		}
	}
	return best;
}

const char *policy_normalise_path(char *path)
{
	char *out = path;
	const char *in = path;

	if (path[0] != '/')
		return "is not an absolute path";
	if (strlen(path) >= PATH_MAX)
		return "is longer than PATH_MAX";
	while (*in) {
		const char *part;
		size_t len;

		while (*in == '/')
			in++;
		if (!*in)
			break;
		part = in;
		while (*in && *in != '/')
			in++;
		len = (size_t)(in - part);
		if (len == 1 && part[0] == '.')
			continue;
		if (len == 2 && part[0] == '.' && part[1] == '.')
			return "has a '..' component";
		*out++ = '/';
		memmove(out, part, len);
		out += len;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
	return NULL;
}

/* A copy of a path-like scalar, normalised; NULL after reporting why not. */
static char *path_value(struct policy_parser *pp, const yaml_event_t *value, const char *what)
{
	const char *text = (const char *)value->data.scalar.value;
	size_t len = value->data.scalar.length;
	const char *problem = NULL;
	char q[64], *copy;

	for (size_t i = 0; i < len && !problem; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f)
			problem = "contains a control character";
	}
	copy = problem ? NULL : strdup(text);
	if (!problem && !copy)
		problem = "could not be copied (out of memory)";
	if (!problem)
		problem = policy_normalise_path(copy);
	if (problem) {
		policy_error_at(pp, &value->start_mark, "%s '%s' %s", what,
				policy_quote(q, sizeof(q), text, len), problem);
		free(copy);
		return NULL;
	}
	return copy;
}

static bool append_watch(struct policy_parser *pp, char *path, const yaml_event_t *value)
{
	struct gk_policy *p = pp->policy;
	char **grown;
	char q[64];

	for (size_t i = 0; i < p->n_watch; i++) {
		if (strcmp(p->watch[i], path) == 0) {
			policy_error_at(pp, &value->start_mark, "watch path '%s' is listed twice",
					policy_quote(q, sizeof(q), path, strlen(path)));
			return false;
		}
	}
	grown = realloc(p->watch, (p->n_watch + 1) * sizeof(*p->watch));
	if (!grown) {
		policy_error_plain(pp->errs, pp->name, "out of memory");
		return false;
	}
	p->watch = grown;
	p->watch[p->n_watch++] = path;
	return true;
}

static void parse_watch_entry(struct policy_parser *pp, const yaml_event_t *ev, size_t index)
{
	char *path;

	if (index > POLICY_MAX_WATCH) {
		if (index == POLICY_MAX_WATCH + 1)
			policy_error_at(pp, &ev->start_mark, "more than %d watch paths",
					POLICY_MAX_WATCH);
		return;
	}
	if (ev->type == YAML_ALIAS_EVENT)
		return; /* already reported */
	if (ev->type != YAML_SCALAR_EVENT) {
		policy_error_at(pp, &ev->start_mark, "watch entry %zu must be a path, not a %s",
				index, policy_node_kind(ev));
		return;
	}
	if (policy_scalar_is_null(ev)) {
		policy_error_at(pp, &ev->start_mark, "watch entry %zu is empty", index);
		return;
	}
	path = path_value(pp, ev, "watch path");
	if (path && !append_watch(pp, path, ev))
		free(path);
}

int policy_parse_watch(struct policy_parser *pp, const yaml_event_t *value)
{
	size_t entries = 0;

	if (value->type == YAML_ALIAS_EVENT)
		return 0;
	if (value->type != YAML_SEQUENCE_START_EVENT) {
		policy_error_at(pp, &value->start_mark,
				"'watch' must be a list of absolute directories, not a %s",
				policy_node_kind(value));
		return policy_skip_node(pp, value);
	}
	for (;;) {
		yaml_event_t ev;
		int rc;

		if (policy_next_event(pp, &ev))
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		parse_watch_entry(pp, &ev, ++entries);
		rc = policy_skip_node(pp, &ev);
		yaml_event_delete(&ev);
		if (rc)
			return -1;
	}
	if (entries == 0)
		policy_error_at(pp, &value->start_mark, "'watch' must list at least one directory");
	return 0;
}

/* '**' crosses directories only as a whole component (/opt/ ** /x without
 * the spaces); inside a name (/opt/a**) it would silently mean '*', so it is
 * refused. */
static const char *glob_problem(const char *pattern)
{
	for (const char *p = strstr(pattern, "**"); p; p = strstr(p + 2, "**")) {
		bool starts = p[-1] == '/';
		bool ends = p[2] == '/' || p[2] == '\0';

		if (!starts || !ends)
			return "uses '**' inside a name; '**' must be a whole component, as in /opt/**/*.sh";
	}
	return NULL;
}

struct rule_state {
	struct gk_rule rule;
	size_t index;                 /* 1-based, in file order */
	unsigned seen_line[RULE_KEY_COUNT];
	int matcher;                  /* RULE_PATH/GLOB/SHA256, or -1 */
	bool bad;
};

static void parse_matcher(struct policy_parser *pp, struct rule_state *rs, int key,
			  const yaml_event_t *value)
{
	char what[48], q[80];

	snprintf(what, sizeof(what), "rule %zu: %s", rs->index, rule_keys[key]);
	if (value->type != YAML_SCALAR_EVENT || policy_scalar_is_null(value)) {
		if (value->type != YAML_ALIAS_EVENT)
			policy_error_at(pp, &value->start_mark, "%s must be %s, not %s", what,
					key == RULE_SHA256 ? "64 hex digits" : "an absolute path",
					value->type == YAML_SCALAR_EVENT ? "empty" : "a list or map");
		rs->bad = true;
		return;
	}
	rs->rule.match = key == RULE_PATH ? GK_MATCH_PATH
			 : key == RULE_GLOB ? GK_MATCH_GLOB : GK_MATCH_SHA256;
	if (key == RULE_SHA256) {
		const char *text = (const char *)value->data.scalar.value;

		if (value->data.scalar.length != GK_SHA256_HEX_LEN ||
		    gk_sha256_from_hex(text, rs->rule.sha256) != 0) {
			policy_error_at(pp, &value->start_mark, "%s must be 64 hex digits, not '%s'",
					what, policy_quote(q, sizeof(q), text, value->data.scalar.length));
			rs->bad = true;
		}
		return;
	}
	rs->rule.pattern = path_value(pp, value, what);
	if (!rs->rule.pattern) {
		rs->bad = true;
	} else if (key == RULE_GLOB && glob_problem(rs->rule.pattern)) {
		policy_error_at(pp, &value->start_mark, "%s '%s' %s", what,
				policy_quote(q, sizeof(q), rs->rule.pattern, strlen(rs->rule.pattern)),
				glob_problem(rs->rule.pattern));
		rs->bad = true;
	}
}

/* The rule key's index, or -1 after reporting an unknown, repeated or
 * conflicting key. */
static int classify_rule_key(struct policy_parser *pp, struct rule_state *rs,
			     const yaml_event_t *key)
{
	const char *text = (const char *)key->data.scalar.value;
	const char *hint;
	char q[64];

	policy_quote(q, sizeof(q), text, key->data.scalar.length);
	for (int k = 0; k < RULE_KEY_COUNT; k++) {
		if (key->data.scalar.length != strlen(rule_keys[k]) || strcmp(text, rule_keys[k]))
			continue;
		if (rs->seen_line[k]) {
			policy_error_at(pp, &key->start_mark,
					"rule %zu: duplicate key '%s' (first at line %u)", rs->index, q,
					rs->seen_line[k]);
			return -1;
		}
		rs->seen_line[k] = (unsigned)key->start_mark.line + 1;
		if (k != RULE_ACTION && rs->matcher >= 0) {
			policy_error_at(pp, &key->start_mark,
					"rule %zu: '%s' and '%s' cannot be combined; give exactly one of path, glob or sha256",
					rs->index, rule_keys[rs->matcher], q);
			rs->bad = true;
			return -1;
		}
		if (k != RULE_ACTION)
			rs->matcher = k;
		return k;
	}
	hint = policy_suggest(text, rule_keys, RULE_KEY_COUNT);
	if (hint)
		policy_error_at(pp, &key->start_mark, "rule %zu: unknown key '%s' (did you mean '%s'?)",
				rs->index, q, hint);
	else
		policy_error_at(pp, &key->start_mark, "rule %zu: unknown key '%s'", rs->index, q);
	rs->bad = true;
	return -1;
}

static void parse_action(struct policy_parser *pp, struct rule_state *rs, const yaml_event_t *value)
{
	const char *text = (const char *)value->data.scalar.value;
	char q[64];

	if (value->type == YAML_SCALAR_EVENT && !policy_scalar_is_null(value)) {
		for (size_t i = 0; i < 2; i++) {
			if (value->data.scalar.length == strlen(verdict_names[i]) &&
			    strcmp(text, verdict_names[i]) == 0) {
				rs->rule.action = i == 0 ? GK_VERDICT_ALLOW : GK_VERDICT_DENY;
				return;
			}
		}
		const char *hint = policy_suggest(text, verdict_names, 2);

		policy_error_at(pp, &value->start_mark,
				"rule %zu: action must be allow or deny, not '%s'%s%s%s", rs->index,
				policy_quote(q, sizeof(q), text, value->data.scalar.length),
				hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
	} else if (value->type != YAML_ALIAS_EVENT) {
		policy_error_at(pp, &value->start_mark, "rule %zu: action must be allow or deny, not %s",
				rs->index, value->type == YAML_SCALAR_EVENT ? "empty" : "a list or map");
	}
	rs->bad = true;
}

static bool append_rule(struct policy_parser *pp, const struct gk_rule *rule)
{
	struct gk_policy *p = pp->policy;
	struct gk_rule *grown = realloc(p->rules, (p->n_rules + 1) * sizeof(*p->rules));

	if (!grown) {
		policy_error_plain(pp->errs, pp->name, "out of memory");
		return false;
	}
	p->rules = grown;
	p->rules[p->n_rules++] = *rule;
	return true;
}

/* Walks one rule's keys; the caller has read its mapping-start event. */
static int parse_rule_keys(struct policy_parser *pp, struct rule_state *rs)
{
	for (;;) {
		yaml_event_t key, value;
		int k = -1, rc;

		if (policy_next_event(pp, &key))
			return -1;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			return 0;
		}
		if (key.type == YAML_SCALAR_EVENT)
			k = classify_rule_key(pp, rs, &key);
		else if (key.type != YAML_ALIAS_EVENT)
			policy_error_at(pp, &key.start_mark, "rule %zu: keys must be plain words, not a %s",
					rs->index, policy_node_kind(&key));
		rc = policy_skip_node(pp, &key);
		yaml_event_delete(&key);
		if (rc || policy_next_event(pp, &value))
			return -1;
		if (k == RULE_ACTION)
			parse_action(pp, rs, &value);
		else if (k >= 0)
			parse_matcher(pp, rs, k, &value);
		else
			rs->bad = true;
		rc = policy_skip_node(pp, &value);
		yaml_event_delete(&value);
		if (rc)
			return -1;
	}
}

static int parse_rule(struct policy_parser *pp, const yaml_event_t *start, size_t index)
{
	struct rule_state rs = {.index = index, .matcher = -1};
	int rc;

	rs.rule.line = (unsigned)start->start_mark.line + 1;
	rc = parse_rule_keys(pp, &rs);
	if (rc == 0 && rs.matcher < 0 && !rs.bad) {
		policy_error_at(pp, &start->start_mark,
				"rule %zu needs one of path, glob or sha256 (like " RULE_EXAMPLE ")",
				index);
		rs.bad = true;
	}
	if (rc == 0 && !rs.seen_line[RULE_ACTION]) {
		policy_error_at(pp, &start->start_mark, "rule %zu: missing required key 'action'",
				index);
		rs.bad = true;
	}
	if (rc == 0 && !rs.bad && append_rule(pp, &rs.rule))
		return 0;
	free(rs.rule.pattern);
	return rc;
}

int policy_parse_rules(struct policy_parser *pp, const yaml_event_t *value)
{
	size_t index = 0;

	if (value->type == YAML_ALIAS_EVENT || policy_scalar_is_null(value))
		return 0; /* "rules:" with nothing after it: no rules */
	if (value->type != YAML_SEQUENCE_START_EVENT) {
		policy_error_at(pp, &value->start_mark, "'rules' must be a list of rules like "
				RULE_EXAMPLE ", not a %s", policy_node_kind(value));
		return policy_skip_node(pp, value);
	}
	for (;;) {
		yaml_event_t ev;
		int rc = 0;

		if (policy_next_event(pp, &ev))
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		index++;
		if (ev.type == YAML_MAPPING_START_EVENT) {
			rc = parse_rule(pp, &ev, index);
		} else {
			if (ev.type != YAML_ALIAS_EVENT)
				policy_error_at(pp, &ev.start_mark,
						"rule %zu must be a map like " RULE_EXAMPLE ", not a %s",
						index, policy_node_kind(&ev));
			rc = policy_skip_node(pp, &ev);
		}
		yaml_event_delete(&ev);
		if (rc)
			return -1;
	}
}
