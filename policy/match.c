/* policy: where a path falls -- subtrees (watch, path rules, scan entries)
 * and globs. */
#include <fnmatch.h>
#include <limits.h>
#include <string.h>

#include "policy/policy_internal.h"

/* "/" holds every absolute path; "/opt/x" holds "/opt/x/y" but not "/opt/xy". */
bool policy_path_within(const char *top, const char *path)
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

bool policy_rule_matches_path(const struct gk_rule *rule, const char *path)
{
	if (rule->match == GK_MATCH_PATH)
		return policy_path_within(rule->pattern, path);
	if (rule->match == GK_MATCH_GLOB)
		return path[0] == '/' && glob_matches(rule->pattern, path);
	return false;
}

