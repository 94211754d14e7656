/* policy: lists of paths (watch, hash-list files) and the small helpers the
 * parser shares: message quoting, typo hints, path normalisation. */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

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
	memcpy(buf, text, keep);
	n = keep;
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

bool policy_out_of_memory(struct policy_parser *pp)
{
	policy_error_plain(pp->errs, pp->name, "out of memory");
	return false;
}

char *policy_path_value(struct policy_parser *pp, const yaml_event_t *value, const char *what)
{
	const char *text = (const char *)value->data.scalar.value;
	size_t len = value->data.scalar.length;
	const char *problem = NULL;
	char q[64], *copy;

	/* Paths appear in messages and logs: none that would need escaping. */
	for (size_t i = 0, u = 0; i < len && !problem; i += u ? u : 1) {
		u = gk_utf8_len((const unsigned char *)text + i, len - i);
		if (gk_control_seq((const unsigned char *)text + i, u))
			problem = "contains a control character or line separator";
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

static bool append_path(struct policy_parser *pp, const struct path_list_spec *spec,
			struct path_list *list, char *path, const yaml_event_t *value)
{
	char **grown;
	char q[64];

	for (size_t i = 0; i < *list->n; i++) {
		if (strcmp((*list->items)[i], path) == 0) {
			policy_error_at(pp, &value->start_mark, "%s '%s' is listed twice", spec->path,
					policy_quote(q, sizeof(q), path, strlen(path)));
			return false;
		}
	}
	grown = realloc(*list->items, (*list->n + 1) * sizeof(**list->items));
	if (!grown)
		return policy_out_of_memory(pp);
	*list->items = grown;
	grown[(*list->n)++] = path;
	return true;
}

static void parse_path_entry(struct policy_parser *pp, const struct path_list_spec *spec,
			     struct path_list *list, const yaml_event_t *ev, size_t index)
{
	char *path;

	if (index > POLICY_MAX_LIST) {
		if (index == POLICY_MAX_LIST + 1)
			policy_error_at(pp, &ev->start_mark, "more than %d %s", POLICY_MAX_LIST,
					spec->plural);
		return;
	}
	if (ev->type == YAML_ALIAS_EVENT)
		return; /* already reported */
	if (ev->type != YAML_SCALAR_EVENT) {
		policy_error_at(pp, &ev->start_mark, "%s %zu must be a path, not a %s", spec->entry,
				index, policy_node_kind(ev));
		return;
	}
	if (policy_scalar_is_null(ev)) {
		policy_error_at(pp, &ev->start_mark, "%s %zu is empty", spec->entry, index);
		return;
	}
	path = policy_path_value(pp, ev, spec->path);
	if (path && !append_path(pp, spec, list, path, ev))
		free(path);
}

struct path_list_ctx {
	const struct path_list_spec *spec;
	struct path_list *list;
};

/* One item of a path list (policy_item_fn): a nested node is reported, skipped. */
static int path_item(struct policy_parser *pp, const yaml_event_t *ev, size_t index, void *ctx)
{
	struct path_list_ctx *c = ctx;

	parse_path_entry(pp, c->spec, c->list, ev, index);
	return policy_skip_node(pp, ev);
}

int policy_parse_path_list(struct policy_parser *pp, const yaml_event_t *value,
			   const struct path_list_spec *spec, struct path_list *list)
{
	size_t entries = 0;
	struct path_list_ctx c = { spec, list };

	if (value->type == YAML_ALIAS_EVENT)
		return 0;
	if (value->type != YAML_SEQUENCE_START_EVENT) {
		policy_error_at(pp, &value->start_mark, "%s must be a list of %s, not a %s",
				spec->label, spec->expected, policy_node_kind(value));
		return policy_skip_node(pp, value);
	}
	if (policy_each_item(pp, path_item, &c, &entries) < 0)
		return -1;
	if (entries == 0)
		policy_error_at(pp, &value->start_mark, "%s must list at least one %s", spec->label,
				spec->one);
	return 0;
}

int policy_parse_watch(struct policy_parser *pp, const yaml_event_t *value)
{
	static const struct path_list_spec spec = {
		.label = "'watch'", .expected = "absolute directories", .one = "directory",
		.entry = "watch entry", .path = "watch path", .plural = "watch paths",
	};
	struct path_list list = {&pp->policy->watch, &pp->policy->n_watch};

	return policy_parse_path_list(pp, value, &spec, &list);
}
