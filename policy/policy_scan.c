/* policy: the `scan:` list (engines and limits per subtree) and the checks
 * that need the whole document: every engine a `scan:` entry names must be
 * configured under `scanners:`, and every `scan:` path must meet a watch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

enum scan_key { SCAN_PATH, SCAN_ENGINES, SCAN_MAX_FILE_SIZE, SCAN_MAX_TIME, SCAN_KEY_COUNT };
static const char *const scan_keys[] = {"path", "engines", "max_file_size", "max_scan_time_ms"};
/* Index order is enum policy_ref_kind's engines. */
static const char *const engine_names[] = {"hashlist", "clamav"};

#define SCAN_EXAMPLE "{path: /home, engines: [hashlist, clamav]}"

struct scan_state {
	struct gk_scan_subtree entry;
	size_t index;       /* 1-based, in file order */
	char where[40];     /* "scan entry N: " */
	struct policy_map map;
	yaml_mark_t path_mark;
};

static bool add_ref(struct policy_parser *pp, enum policy_ref_kind kind, size_t entry,
		    const yaml_mark_t *mark)
{
	struct policy_ref *grown = realloc(pp->refs, (pp->n_refs + 1) * sizeof(*pp->refs));

	if (!grown)
		return policy_out_of_memory(pp);
	pp->refs = grown;
	pp->refs[pp->n_refs++] = (struct policy_ref){.kind = kind, .entry = entry, .mark = *mark};
	return true;
}

/* One item of `engines:` (policy_item_fn; ctx: the scan_state). */
static int parse_engine(struct policy_parser *pp, const yaml_event_t *ev, size_t index, void *ctx)
{
	struct scan_state *ss = ctx;
	char label[64];
	int choice = -1;
	bool *slot;

	(void)index;   /* the scan entry's index is the one reported */
	snprintf(label, sizeof(label), "scan entry %zu: engine", ss->index);
	if (policy_parse_choice(pp, label, ev, engine_names, 2, &choice))
		return -1;
	if (choice < 0)
		return 0;
	slot = choice == 0 ? &ss->entry.hashlist : &ss->entry.clamav;
	if (*slot) {
		policy_error_at(pp, &ev->start_mark, "scan entry %zu: engine '%s' is listed twice",
				ss->index, engine_names[choice]);
		return 0;
	}
	*slot = true;
	add_ref(pp, choice == 0 ? REF_ENGINE_HASHLIST : REF_ENGINE_CLAMAV, ss->index,
		&ev->start_mark);
	return 0;
}

static int parse_engines(struct policy_parser *pp, struct scan_state *ss, const yaml_event_t *value)
{
	ss->entry.engines_given = true;
	if (value->type == YAML_ALIAS_EVENT)
		return 0;
	if (value->type != YAML_SEQUENCE_START_EVENT) {
		policy_error_at(pp, &value->start_mark,
				"scan entry %zu: engines must be a list like [hashlist, clamav] ([] for no scanning), not %s",
				ss->index, policy_scalar_is_null(value) ? "empty"
					   : value->type == YAML_SCALAR_EVENT ? "a scalar" : "a map");
		return policy_skip_node(pp, value);
	}
	return policy_each_item(pp, parse_engine, ss, NULL);   /* consumes a nested node too */
}

static int parse_scan_path(struct policy_parser *pp, struct scan_state *ss,
			   const yaml_event_t *value)
{
	char label[48];
	int rc;

	snprintf(label, sizeof(label), "scan entry %zu: path", ss->index);
	if (!policy_scalar(pp, label, value, "an absolute path", &rc))
		return rc;
	ss->path_mark = value->start_mark;
	ss->entry.path = policy_path_value(pp, value, label);
	return 0;
}

static int scan_value(struct policy_parser *pp, void *ctx, int key, const yaml_event_t *key_ev,
		      const yaml_event_t *value)
{
	struct scan_state *ss = ctx;
	char label[64];
	uint64_t n = 0;
	int rc;

	(void)key_ev;
	snprintf(label, sizeof(label), "scan entry %zu: %s", ss->index, scan_keys[key]);
	switch ((enum scan_key)key) {
	case SCAN_PATH:
		return parse_scan_path(pp, ss, value);
	case SCAN_ENGINES:
		return parse_engines(pp, ss, value);
	case SCAN_MAX_FILE_SIZE:
		return policy_parse_size(pp, label, value, 1, SCAN_MAX_FILE_SIZE_MAX,
					 &ss->entry.max_file_size);
	case SCAN_MAX_TIME:
		rc = policy_parse_uint(pp, label, value, POLICY_MS_MIN, POLICY_MS_MAX,
				       "milliseconds", &n);
		if (n)
			ss->entry.max_scan_time_ms = (unsigned)n;
		return rc;
	case SCAN_KEY_COUNT:
		break;
	}
	return policy_skip_node(pp, value);
}

/* Adds the entry unless its path is already taken. */
static bool append_scan(struct policy_parser *pp, struct scan_state *ss)
{
	struct gk_policy *p = pp->policy;
	struct gk_scan_subtree *grown;
	char q[64];

	for (size_t i = 0; i < p->n_scan; i++) {
		if (strcmp(p->scan[i].path, ss->entry.path) == 0) {
			policy_error_at(pp, &ss->path_mark,
					"scan entry %zu: path '%s' is already given by the entry at line %u",
					ss->index, policy_quote(q, sizeof(q), ss->entry.path,
								strlen(ss->entry.path)),
					p->scan[i].line);
			return false;
		}
	}
	if (!add_ref(pp, REF_SCAN_PATH, ss->index, &ss->path_mark))
		return false;
	pp->refs[pp->n_refs - 1].path = ss->entry.path;
	grown = realloc(p->scan, (p->n_scan + 1) * sizeof(*p->scan));
	if (!grown)
		return policy_out_of_memory(pp);
	p->scan = grown;
	p->scan[p->n_scan++] = ss->entry;
	return true;
}

static int parse_scan_entry(struct policy_parser *pp, const yaml_event_t *start, size_t index)
{
	struct scan_state ss = {.index = index};
	size_t errors_before = pp->errs->count, refs_before = pp->n_refs;
	int rc;

	snprintf(ss.where, sizeof(ss.where), "scan entry %zu: ", index);
	ss.map = (struct policy_map){.where = ss.where, .keys = scan_keys, .n_keys = SCAN_KEY_COUNT};
	ss.entry.max_file_size = GK_SCAN_DEFAULT_MAX_FILE_SIZE;
	ss.entry.max_scan_time_ms = GK_SCAN_DEFAULT_MAX_SCAN_MS;
	ss.entry.line = (unsigned)start->start_mark.line + 1;
	rc = policy_walk_map(pp, &ss.map, scan_value, &ss);
	if (rc == 0 && !ss.map.seen_line[SCAN_PATH])
		policy_error_at(pp, &start->start_mark,
				"scan entry %zu: missing required key 'path' (like " SCAN_EXAMPLE ")",
				index);
	if (rc == 0 && pp->errs->count == errors_before && append_scan(pp, &ss))
		return 0;
	pp->n_refs = refs_before; /* a broken entry's engines and path are not checked */
	free(ss.entry.path);
	return rc;
}

int policy_parse_scan(struct policy_parser *pp, const yaml_event_t *value)
{
	static const struct policy_map_list scan = {
		.key = "scan", .what = "subtrees", .item = "scan entry", .example = SCAN_EXAMPLE,
		.too_many = "more than %d scan entries", .max = POLICY_MAX_LIST,
		.parse_item = parse_scan_entry,
	};
	return policy_parse_map_list(pp, value, &scan);
}

static bool meets_a_watch(const struct gk_policy *p, const char *path)
{
	for (size_t i = 0; i < p->n_watch; i++) {
		if (policy_path_within(p->watch[i], path) || policy_path_within(path, p->watch[i]))
			return true;
	}
	return false;
}

void policy_check_refs(struct policy_parser *pp)
{
	const struct gk_policy *p = pp->policy;
	char q[64];

	for (size_t i = 0; i < pp->n_refs; i++) {
		const struct policy_ref *r = &pp->refs[i];

		if ((r->kind == REF_ENGINE_HASHLIST && !pp->hashlist_seen) ||
		    (r->kind == REF_ENGINE_CLAMAV && !pp->clamav_seen))
			policy_error_at(pp, &r->mark,
					"scan entry %zu: engine '%s' is not configured under 'scanners'",
					r->entry, engine_names[r->kind]);
		else if (r->kind == REF_SCAN_PATH && p->n_watch > 0 && !meets_a_watch(p, r->path))
			policy_error_at(pp, &r->mark,
					"scan entry %zu: path '%s' is outside every watched directory, so it would never apply",
					r->entry, policy_quote(q, sizeof(q), r->path, strlen(r->path)));
	}
}
