/* policy: the `rules:` list. A rule matches by content (sha256), by place
 * (path, glob), by scan result (scanner) or by place and scan result, and
 * either gives a verdict (allow, deny) or asks for a scan (scan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

enum rule_key { RULE_PATH, RULE_GLOB, RULE_SHA256, RULE_SCANNER, RULE_ACTION, RULE_KEY_COUNT };

static const char *const rule_keys[RULE_KEY_COUNT] = {"path", "glob", "sha256", "scanner",
						      "action"};
enum rule_action { ACTION_ALLOW, ACTION_DENY, ACTION_SCAN, ACTION_COUNT };
static const char *const action_names[ACTION_COUNT] = {"allow", "deny", "scan"};
/* Index + 1 is the enum gk_scanner_match. */
static const char *const scanner_names[] = {"infected", "clean", "error"};

#define RULE_EXAMPLE "{path: /opt/x, action: deny}"

struct rule_state {
	struct gk_rule rule;
	size_t index;                 /* 1-based, in file order */
	char where[40];               /* "rule N: " */
	struct policy_map map;
	int matcher;                  /* RULE_PATH/GLOB/SHA256, or -1 */
	int action;                   /* enum rule_action, or -1 */
	yaml_mark_t action_mark, scanner_mark;
};

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

static int parse_matcher(struct policy_parser *pp, struct rule_state *rs, int key,
			 const yaml_event_t *value)
{
	char what[48], q[80];

	snprintf(what, sizeof(what), "rule %zu: %s", rs->index, rule_keys[key]);
	if (value->type != YAML_SCALAR_EVENT || policy_scalar_is_null(value)) {
		if (value->type != YAML_ALIAS_EVENT)
			policy_error_at(pp, &value->start_mark, "%s must be %s, not %s", what,
					key == RULE_SHA256 ? "64 hex digits" : "an absolute path",
					value->type == YAML_SCALAR_EVENT ? "empty" : "a list or map");
		return policy_skip_node(pp, value);
	}
	rs->rule.match = key == RULE_PATH ? GK_MATCH_PATH
			 : key == RULE_GLOB ? GK_MATCH_GLOB : GK_MATCH_SHA256;
	if (key == RULE_SHA256) {
		const char *text = (const char *)value->data.scalar.value;

		if (value->data.scalar.length != GK_SHA256_HEX_LEN ||
		    gk_sha256_from_hex(text, rs->rule.sha256) != 0)
			policy_error_at(pp, &value->start_mark, "%s must be 64 hex digits, not '%s'",
					what, policy_quote(q, sizeof(q), text, value->data.scalar.length));
		return 0;
	}
	rs->rule.pattern = policy_path_value(pp, value, what);
	if (rs->rule.pattern && key == RULE_GLOB && glob_problem(rs->rule.pattern))
		policy_error_at(pp, &value->start_mark, "%s '%s' %s", what,
				policy_quote(q, sizeof(q), rs->rule.pattern, strlen(rs->rule.pattern)),
				glob_problem(rs->rule.pattern));
	return 0;
}

/* A second matcher, or sha256 with scanner: reported at the later key. */
static bool matcher_conflict(struct policy_parser *pp, struct rule_state *rs, int key,
			     const yaml_event_t *key_ev)
{
	bool has_scanner = rs->map.seen_line[RULE_SCANNER] && key != RULE_SCANNER;

	if (key != RULE_SCANNER && rs->matcher >= 0) {
		policy_error_at(pp, &key_ev->start_mark,
				"rule %zu: '%s' and '%s' cannot be combined; give exactly one of path, glob or sha256",
				rs->index, rule_keys[rs->matcher], rule_keys[key]);
		return true;
	}
	if ((key == RULE_SCANNER && rs->matcher == RULE_SHA256) ||
	    (key == RULE_SHA256 && has_scanner)) {
		policy_error_at(pp, &key_ev->start_mark,
				"rule %zu: 'sha256' and 'scanner' cannot be combined; a scanner condition goes with path, glob or nothing",
				rs->index);
		return true;
	}
	return false;
}

static int rule_value(struct policy_parser *pp, void *ctx, int key, const yaml_event_t *key_ev,
		      const yaml_event_t *value)
{
	struct rule_state *rs = ctx;
	char label[64];
	int choice = -1, rc;

	if (key == RULE_ACTION) {
		snprintf(label, sizeof(label), "rule %zu: action", rs->index);
		rs->action_mark = value->start_mark;
		return policy_parse_choice(pp, label, value, action_names, ACTION_COUNT, &rs->action);
	}
	if (matcher_conflict(pp, rs, key, key_ev))
		return policy_skip_node(pp, value);
	if (key != RULE_SCANNER) {
		rs->matcher = key;
		return parse_matcher(pp, rs, key, value);
	}
	snprintf(label, sizeof(label), "rule %zu: scanner", rs->index);
	rs->scanner_mark = value->start_mark;
	rc = policy_parse_choice(pp, label, value, scanner_names, 3, &choice);
	if (choice >= 0)
		rs->rule.scanner = (enum gk_scanner_match)(choice + 1);
	return rc;
}

/* Combinations that are well-formed but can never mean anything. */
static void check_action(struct policy_parser *pp, struct rule_state *rs)
{
	if (rs->action == ACTION_SCAN && rs->matcher == RULE_SHA256)
		policy_error_at(pp, &rs->action_mark,
				"rule %zu: action scan needs a path or glob (a sha256 rule already decides by content)",
				rs->index);
	else if (rs->action == ACTION_SCAN && rs->rule.scanner != GK_SCANNER_ANY)
		policy_error_at(pp, &rs->action_mark,
				"rule %zu: action scan cannot have a scanner condition (it decides whether to scan)",
				rs->index);
	else if (rs->action == ACTION_ALLOW && rs->rule.scanner == GK_SCANNER_INFECTED)
		policy_error_at(pp, &rs->scanner_mark,
				"rule %zu: 'scanner: infected' cannot allow: an infected file is denied at the scanner level (allow it by sha256 or path rule instead)",
				rs->index);
}

static bool append_rule(struct policy_parser *pp, const struct gk_rule *rule)
{
	struct gk_policy *p = pp->policy;
	struct gk_rule *grown = realloc(p->rules, (p->n_rules + 1) * sizeof(*p->rules));

	if (!grown)
		return policy_out_of_memory(pp);
	p->rules = grown;
	p->rules[p->n_rules++] = *rule;
	return true;
}

static int parse_rule(struct policy_parser *pp, const yaml_event_t *start, size_t index)
{
	struct rule_state rs = {.index = index, .matcher = -1, .action = -1};
	size_t errors_before = pp->errs->count;
	int rc;

	snprintf(rs.where, sizeof(rs.where), "rule %zu: ", index);
	rs.map = (struct policy_map){.where = rs.where, .keys = rule_keys, .n_keys = RULE_KEY_COUNT};
	rs.rule.line = (unsigned)start->start_mark.line + 1;
	rc = policy_walk_map(pp, &rs.map, rule_value, &rs);
	if (rc == 0 && rs.matcher < 0 && rs.rule.scanner == GK_SCANNER_ANY &&
	    pp->errs->count == errors_before)
		policy_error_at(pp, &start->start_mark,
				"rule %zu needs one of path, glob, sha256 or scanner (like " RULE_EXAMPLE ")",
				index);
	if (rc == 0 && !rs.map.seen_line[RULE_ACTION])
		policy_error_at(pp, &start->start_mark, "rule %zu: missing required key 'action'",
				index);
	if (rc == 0 && pp->errs->count == errors_before)
		check_action(pp, &rs);
	if (rs.matcher < 0)
		rs.rule.match = GK_MATCH_SCANNER;
	rs.rule.scan = rs.action == ACTION_SCAN;
	rs.rule.action = rs.action == ACTION_ALLOW ? GK_VERDICT_ALLOW
			 : rs.action == ACTION_DENY ? GK_VERDICT_DENY : GK_VERDICT_UNKNOWN;
	if (rc == 0 && pp->errs->count == errors_before && append_rule(pp, &rs.rule))
		return 0;
	free(rs.rule.pattern);
	return rc;
}

int policy_parse_rules(struct policy_parser *pp, const yaml_event_t *value)
{
	static const struct policy_map_list rules = {
		.key = "rules", .what = "rules", .item = "rule", .example = RULE_EXAMPLE,
		.max = SIZE_MAX, .parse_item = parse_rule,
	};
	return policy_parse_map_list(pp, value, &rules);
}
