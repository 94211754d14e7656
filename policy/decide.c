/* policy: decide a verdict for one file from what the daemon knows about it,
 * plus the name and hex helpers everyone shares. */
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

/* Is `path` the directory `top` itself or anything below it? "/" holds
 * every absolute path; "/opt/x" holds "/opt/x/y" but not "/opt/xy". */
static bool path_within(const char *top, const char *path)
{
	size_t len = strlen(top);

	if (path[0] != '/')
		return false;
	if (len == 1 && top[0] == '/')
		return true;
	return strncmp(top, path, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

/* The next '/'-separated component after *cursor, advancing it. */
static bool next_component(const char **cursor, const char **start, size_t *len)
{
	const char *c = *cursor;

	while (*c == '/')
		c++;
	if (!*c) {
		*cursor = c;
		return false;
	}
	*start = c;
	while (*c && *c != '/')
		c++;
	*len = (size_t)(c - *start);
	*cursor = c;
	return true;
}

static bool component_matches(const char *pat, size_t pat_len, const char *name, size_t name_len)
{
	char pat_buf[PATH_MAX], name_buf[PATH_MAX];

	if (pat_len >= sizeof(pat_buf) || name_len >= sizeof(name_buf))
		return false;
	memcpy(pat_buf, pat, pat_len);
	pat_buf[pat_len] = '\0';
	memcpy(name_buf, name, name_len);
	name_buf[name_len] = '\0';
	return fnmatch(pat_buf, name_buf, FNM_PATHNAME) == 0;
}

/* Glob semantics, component by component:
 *  - a component "**" matches zero or more whole components, so the
 *    pattern /opt/ ** / *.sh (without the spaces) matches /opt/a.sh and
 *    /opt/x/y/a.sh, and /opt/ ** matches everything below /opt;
 *  - every other component is matched against exactly one path component
 *    with fnmatch(3) (FNM_PATHNAME): '*', '?' and '[...]' never cross '/'.
 *  - a leading '.' is not special ('*' matches ".hidden"): hiding a file
 *    must not hide it from a deny rule.
 * The parser refuses "**" inside a component ("/opt/a**").
 * Matching is the classic wildcard walk with one backtrack point (the last
 * "**"), which is exact here because each other component consumes exactly
 * one path component: at most O(pattern x path) fnmatch calls. */
static bool glob_matches(const char *pattern, const char *path)
{
	const char *pat = pattern, *str = path;
	const char *star_pat = NULL, *star_str = NULL;

	for (;;) {
		const char *pc = NULL, *sc = NULL;
		size_t pl = 0, sl = 0;
		bool have_pat = next_component(&pat, &pc, &pl);
		bool have_str;

		if (have_pat && pl == 2 && pc[0] == '*' && pc[1] == '*') {
			star_pat = pat;
			star_str = str;
			continue;
		}
		have_str = next_component(&str, &sc, &sl);
		if (!have_pat && !have_str)
			return true;
		if (have_pat && have_str && component_matches(pc, pl, sc, sl))
			continue;
		if (!have_str || !star_pat)
			return false;
		/* Let the last "**" swallow one more component and retry. */
		if (!next_component(&star_str, &sc, &sl))
			return false;
		pat = star_pat;
		str = star_str;
	}
}

static bool rule_matches_path(const struct gk_rule *rule, const char *path)
{
	if (rule->match == GK_MATCH_PATH)
		return path_within(rule->pattern, path);
	if (rule->match == GK_MATCH_GLOB)
		return path[0] == '/' && glob_matches(rule->pattern, path);
	return false;
}

static bool rule_matches(const struct gk_rule *rule, const struct gk_file_facts *facts)
{
	if (rule->match == GK_MATCH_SHA256)
		return facts->sha256 && memcmp(rule->sha256, facts->sha256, GK_SHA256_LEN) == 0;
	return facts->path && rule_matches_path(rule, facts->path);
}

/* The deciding rule of one level (hash rules, or path and glob rules): the
 * first deny if any matches (deny beats allow), else the first allow. */
static const struct gk_rule *level_rule(const struct gk_policy *policy,
					const struct gk_file_facts *facts, bool hash_level)
{
	const struct gk_rule *first_allow = NULL;

	for (size_t i = 0; i < policy->n_rules; i++) {
		const struct gk_rule *rule = &policy->rules[i];

		if ((rule->match == GK_MATCH_SHA256) != hash_level || !rule_matches(rule, facts))
			continue;
		if (rule->action == GK_VERDICT_DENY)
			return rule;
		if (!first_allow)
			first_allow = rule;
	}
	return first_allow;
}

static void set_decision(struct gk_decision *out, enum gk_verdict verdict, enum gk_source source,
			 const char *detail)
{
	out->verdict = verdict;
	out->source = source;
	snprintf(out->detail, sizeof(out->detail), "%s", detail ? detail : "");
}

static void set_rule_decision(struct gk_decision *out, const struct gk_policy *policy,
			      const struct gk_rule *rule, enum gk_source source)
{
	set_decision(out, rule->action, source, NULL);
	snprintf(out->detail, sizeof(out->detail), "rule %zu (line %u)",
		 (size_t)(rule - policy->rules) + 1, rule->line);
}

/* A file whose path is unknown (NULL) is treated as watched: not knowing
 * where it lives must not exempt it. Paths are compared as given; the daemon
 * passes canonical ones (from the event fd). */
void policy_decide(const struct gk_policy *policy, const struct gk_file_facts *facts,
		   struct gk_decision *out)
{
	const struct gk_rule *rule;

	set_decision(out, GK_VERDICT_ALLOW, GK_SOURCE_NONE, NULL);
	if (facts->admin == GK_VERDICT_ALLOW || facts->admin == GK_VERDICT_DENY) {
		set_decision(out, facts->admin, GK_SOURCE_ADMIN, NULL);
		return;
	}
	if (!policy)
		return;
	rule = level_rule(policy, facts, true);
	if (rule) {
		set_rule_decision(out, policy, rule, GK_SOURCE_POLICY_HASH);
		return;
	}
	if (facts->path && !policy_path_watched(policy, facts->path)) {
		set_decision(out, GK_VERDICT_ALLOW, GK_SOURCE_UNWATCHED, NULL);
		return;
	}
	rule = level_rule(policy, facts, false);
	if (rule) {
		set_rule_decision(out, policy, rule, GK_SOURCE_POLICY_PATH);
		return;
	}
	/* A scanner can only deny: a clean scan is no reason to allow what
	 * `default: deny` would refuse, so ALLOW falls through to the default. */
	if (facts->scan == GK_VERDICT_DENY) {
		set_decision(out, GK_VERDICT_DENY, GK_SOURCE_SCANNER, facts->scan_detail);
		return;
	}
	if (facts->scan_error) {
		set_decision(out, policy->on_error, GK_SOURCE_ON_ERROR, facts->scan_error_reason);
		return;
	}
	set_decision(out, policy->default_verdict, GK_SOURCE_DEFAULT, NULL);
}

bool policy_path_watched(const struct gk_policy *policy, const char *path)
{
	if (!policy || !path)
		return false;
	for (size_t i = 0; i < policy->n_watch; i++) {
		if (path_within(policy->watch[i], path))
			return true;
	}
	return false;
}

const char *gk_verdict_name(enum gk_verdict v)
{
	switch (v) {
	case GK_VERDICT_ALLOW:
		return "allow";
	case GK_VERDICT_DENY:
		return "deny";
	case GK_VERDICT_UNKNOWN:
		break;
	}
	return "unknown";
}

static const char *const source_names[] = {
	[GK_SOURCE_NONE] = "none",
	[GK_SOURCE_ADMIN] = "admin",
	[GK_SOURCE_POLICY_HASH] = "policy-hash",
	[GK_SOURCE_POLICY_PATH] = "policy-path",
	[GK_SOURCE_SCANNER] = "scanner",
	[GK_SOURCE_DEFAULT] = "default",
	[GK_SOURCE_ON_ERROR] = "on-error",
	[GK_SOURCE_UNWATCHED] = "unwatched",
};

#define N_SOURCES (sizeof(source_names) / sizeof(source_names[0]))

const char *gk_source_name(enum gk_source s)
{
	if ((size_t)s >= N_SOURCES)
		return "none";
	return source_names[s];
}

enum gk_source gk_source_from_name(const char *name)
{
	for (size_t i = 0; name && i < N_SOURCES; i++) {
		if (strcmp(name, source_names[i]) == 0)
			return (enum gk_source)i;
	}
	return GK_SOURCE_NONE;
}

enum gk_verdict gk_verdict_from_name(const char *name)
{
	if (name && strcmp(name, "allow") == 0)
		return GK_VERDICT_ALLOW;
	if (name && strcmp(name, "deny") == 0)
		return GK_VERDICT_DENY;
	return GK_VERDICT_UNKNOWN;
}

const char *gk_mode_name(enum gk_mode m)
{
	return m == GK_MODE_MONITOR ? "monitor" : "enforce";
}

void gk_sha256_to_hex(const unsigned char sha[GK_SHA256_LEN], char hex[GK_SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < GK_SHA256_LEN; i++) {
		hex[2 * i] = digits[sha[i] >> 4];
		hex[2 * i + 1] = digits[sha[i] & 0x0f];
	}
	hex[GK_SHA256_HEX_LEN] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int gk_sha256_from_hex(const char *hex, unsigned char sha[GK_SHA256_LEN])
{
	unsigned char out[GK_SHA256_LEN];

	if (!hex)
		return -1;
	for (size_t i = 0; i < GK_SHA256_LEN; i++) {
		int hi = hex_digit(hex[2 * i]);
		int lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	if (hex[GK_SHA256_HEX_LEN] != '\0')
		return -1;
	memcpy(sha, out, GK_SHA256_LEN);
	return 0;
}
