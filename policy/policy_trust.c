/* policy: the `trust:` section -- where trusted software comes from.
 *
 *   trust: [dpkg]
 *   trust:
 *     - dpkg: {admindir: /var/lib/dpkg, root: /}
 *
 * A list, so that sources can be added later (rpm, a signed manifest) and
 * the order is the order they are asked in. Each entry is a source name, or
 * a one-key map from the name to its settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

static const char *const source_names[] = {"dpkg"};
#define N_SOURCE_NAMES (sizeof(source_names) / sizeof(source_names[0]))
enum dpkg_key { DPKG_ADMINDIR, DPKG_ROOT, DPKG_KEY_COUNT };
static const char *const dpkg_keys[] = {"admindir", "root"};

#define TRUST_EXAMPLE "[dpkg] or [{dpkg: {admindir: /var/lib/dpkg}}]"
#define DPKG_EXAMPLE "{admindir: /var/lib/dpkg, root: /}"
#define TRUST_MAX_SOURCES 8

struct dpkg_ctx {
	struct gk_trust_source *src;
	bool admindir_given;
};

static int dpkg_value(struct policy_parser *pp, void *ctxp, int key, const yaml_event_t *key_ev,
		      const yaml_event_t *value)
{
	struct dpkg_ctx *ctx = ctxp;
	const char *label = key == DPKG_ROOT ? "'trust.dpkg.root'" : "'trust.dpkg.admindir'";
	char **slot = key == DPKG_ROOT ? &ctx->src->root : &ctx->src->admindir;
	char *path;
	int rc;

	(void)key_ev;
	if (!policy_scalar(pp, label, value, "an absolute directory", &rc))
		return rc;
	path = policy_path_value(pp, value, key == DPKG_ROOT ? "dpkg root" : "dpkg admindir");
	if (!path)
		return 0;
	free(*slot);
	*slot = path;
	if (key == DPKG_ADMINDIR)
		ctx->admindir_given = true;
	return 0;
}

/* admindir defaults to ROOT/var/lib/dpkg, as with dpkg --root. */
static bool dpkg_defaults(struct policy_parser *pp, struct dpkg_ctx *ctx)
{
	struct gk_trust_source *src = ctx->src;
	size_t len;

	if (!src->root && !(src->root = strdup("/")))
		return policy_out_of_memory(pp);
	if (ctx->admindir_given)
		return true;
	free(src->admindir);
	len = strlen(src->root) + sizeof(GK_DPKG_DEFAULT_ADMINDIR);
	src->admindir = malloc(len);
	if (!src->admindir)
		return policy_out_of_memory(pp);
	snprintf(src->admindir, len, "%s%s", strcmp(src->root, "/") ? src->root : "",
		 GK_DPKG_DEFAULT_ADMINDIR);
	return true;
}

/* A source name: "dpkg", with a hint for a typo. -1 after reporting. */
static int source_kind(struct policy_parser *pp, const yaml_event_t *ev, size_t index)
{
	const char *text = (const char *)ev->data.scalar.value;
	const char *hint;
	char q[64];

	for (size_t i = 0; i < N_SOURCE_NAMES; i++) {
		if (strcmp(text, source_names[i]) == 0 && strlen(text) == ev->data.scalar.length)
			return (int)i;
	}
	policy_quote(q, sizeof(q), text, ev->data.scalar.length);
	hint = policy_suggest(text, source_names, N_SOURCE_NAMES);
	policy_error_at(pp, &ev->start_mark, "trust source %zu: unknown source '%s'%s%s%s", index,
			q, hint ? " (did you mean '" : " (known: dpkg)", hint ? hint : "",
			hint ? "'?)" : "");
	return -1;
}

static struct gk_trust_source *add_source(struct policy_parser *pp, int kind,
					  const yaml_event_t *ev, size_t index)
{
	struct gk_policy *p = pp->policy;
	struct gk_trust_source *grown;

	for (size_t i = 0; i < p->n_trust; i++) {
		if ((int)p->trust[i].kind == kind) {
			policy_error_at(pp, &ev->start_mark,
					"trust source %zu: '%s' is listed twice (first at line %u)",
					index, source_names[kind], p->trust[i].line);
			return NULL;
		}
	}
	grown = realloc(p->trust, (p->n_trust + 1) * sizeof(*p->trust));
	if (!grown) {
		policy_out_of_memory(pp);
		return NULL;
	}
	p->trust = grown;
	grown[p->n_trust] = (struct gk_trust_source){.kind = (enum gk_trust_kind)kind,
						     .line = (unsigned)ev->start_mark.line + 1};
	return &grown[p->n_trust++];
}

/* `{dpkg: SETTINGS}`: the map's start event is read; reads up to its end. */
static int parse_source_map(struct policy_parser *pp, const yaml_event_t *start, size_t index)
{
	yaml_event_t key, value, end;
	struct dpkg_ctx ctx = {0};
	struct policy_map map = {.where = "trust.dpkg: ", .keys = dpkg_keys,
				 .n_keys = DPKG_KEY_COUNT};
	int kind = -1, rc = 0, is_map;

	if (policy_next_event(pp, &key))
		return -1;
	if (key.type == YAML_MAPPING_END_EVENT) {
		policy_error_at(pp, &start->start_mark, "trust source %zu is an empty map (like "
				TRUST_EXAMPLE ")", index);
		yaml_event_delete(&key);
		return 0;
	}
	if (key.type == YAML_SCALAR_EVENT)
		kind = source_kind(pp, &key, index);
	else if (key.type != YAML_ALIAS_EVENT)
		policy_error_at(pp, &key.start_mark, "trust source %zu: a source name must be a "
				"word, not a %s", index, policy_node_kind(&key));
	if (policy_skip_node(pp, &key) || policy_next_event(pp, &value)) {
		yaml_event_delete(&key);
		return -1;
	}
	ctx.src = kind >= 0 ? add_source(pp, kind, &key, index) : NULL;
	if (!ctx.src) {
		rc = policy_skip_node(pp, &value);
	} else {
		is_map = policy_expect_map(pp, "'trust.dpkg'", &value, true, DPKG_EXAMPLE);
		rc = is_map < 0 ? -1 : is_map ? policy_walk_map(pp, &map, dpkg_value, &ctx) : 0;
		if (!rc)
			dpkg_defaults(pp, &ctx);
	}
	yaml_event_delete(&key);
	yaml_event_delete(&value);
	if (rc || policy_next_event(pp, &end))
		return -1;
	if (end.type != YAML_MAPPING_END_EVENT) {
		policy_error_at(pp, &end.start_mark, "trust source %zu: one source per list entry "
				"(like " TRUST_EXAMPLE ")", index);
		rc = policy_skip_node(pp, &end);
		/* The rest of the map: key/value pairs up to its end. */
		while (!rc && end.type != YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&end);
			if (policy_next_event(pp, &end))
				return -1;
			rc = policy_skip_node(pp, &end);
		}
	}
	yaml_event_delete(&end);
	return rc;
}

/* One item of `trust:` (policy_item_fn). */
static int parse_source(struct policy_parser *pp, const yaml_event_t *ev, size_t index, void *unused)
{
	struct dpkg_ctx ctx = {0};
	int kind;

	(void)unused;
	if (index > TRUST_MAX_SOURCES) {
		if (index == TRUST_MAX_SOURCES + 1)
			policy_error_at(pp, &ev->start_mark, "more than %d trust sources",
					TRUST_MAX_SOURCES);
		return policy_skip_node(pp, ev);
	}
	if (ev->type == YAML_MAPPING_START_EVENT)
		return parse_source_map(pp, ev, index);
	if (ev->type == YAML_ALIAS_EVENT)
		return 0;
	if (ev->type != YAML_SCALAR_EVENT || policy_scalar_is_null(ev)) {
		policy_error_at(pp, &ev->start_mark, "trust source %zu must be a source name or a "
				"map (like " TRUST_EXAMPLE "), not %s", index,
				ev->type == YAML_SCALAR_EVENT ? "empty" : "a list");
		return policy_skip_node(pp, ev);
	}
	kind = source_kind(pp, ev, index);
	ctx.src = kind >= 0 ? add_source(pp, kind, ev, index) : NULL;
	if (ctx.src)
		dpkg_defaults(pp, &ctx);
	return 0;
}

int policy_parse_trust(struct policy_parser *pp, const yaml_event_t *value)
{
	if (value->type == YAML_ALIAS_EVENT || policy_scalar_is_null(value))
		return 0; /* `trust:` with nothing after it: no trust sources */
	if (value->type != YAML_SEQUENCE_START_EVENT) {
		policy_error_at(pp, &value->start_mark,
				"'trust' must be a list of sources like " TRUST_EXAMPLE ", not a %s",
				policy_node_kind(value));
		return policy_skip_node(pp, value);
	}
	return policy_each_item(pp, parse_source, NULL, NULL);
}

void policy_free_trust(struct gk_policy *policy)
{
	for (size_t i = 0; i < policy->n_trust; i++) {
		free(policy->trust[i].root);
		free(policy->trust[i].admindir);
	}
	free(policy->trust);
}
