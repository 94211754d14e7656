/* policy: reading maps (valid keys, typos, repeats) and typed scalar values
 * (choices, bounded numbers, sizes, booleans), shared by every section. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

#define NUMBER_MAX_DIGITS 19 /* fits uint64_t whatever the digits */

/* The key's index, or -1 after reporting an unknown or repeated key. */
static int classify_key(struct policy_parser *pp, struct policy_map *map, const yaml_event_t *key)
{
	const char *text = (const char *)key->data.scalar.value;
	size_t len = key->data.scalar.length;
	const char *hint;
	char q[64];

	policy_quote(q, sizeof(q), text, len);
	for (size_t k = 0; k < map->n_keys; k++) {
		if (len != strlen(map->keys[k]) || strcmp(text, map->keys[k]) != 0)
			continue;
		if (map->seen_line[k]) {
			policy_error_at(pp, &key->start_mark, "%sduplicate key '%s' (first at line %u)",
					map->where, q, map->seen_line[k]);
			return -1;
		}
		map->seen_line[k] = (unsigned)key->start_mark.line + 1;
		return (int)k;
	}
	hint = policy_suggest(text, map->keys, map->n_keys);
	if (hint)
		policy_error_at(pp, &key->start_mark, "%sunknown key '%s' (did you mean '%s'?)",
				map->where, q, hint);
	else
		policy_error_at(pp, &key->start_mark, "%sunknown key '%s'", map->where, q);
	return -1;
}

int policy_walk_map(struct policy_parser *pp, struct policy_map *map, policy_key_fn fn,
		    void *ctx)
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
			k = classify_key(pp, map, &key);
		else if (key.type != YAML_ALIAS_EVENT)
			policy_error_at(pp, &key.start_mark, "%skeys must be plain words, not a %s",
					map->where, policy_node_kind(&key));
		rc = policy_skip_node(pp, &key);
		if (rc || policy_next_event(pp, &value)) {
			yaml_event_delete(&key);
			return -1;
		}
		rc = k < 0 ? policy_skip_node(pp, &value) : fn(pp, ctx, k, &key, &value);
		yaml_event_delete(&key);
		yaml_event_delete(&value);
		if (rc)
			return -1;
	}
}

int policy_expect_map(struct policy_parser *pp, const char *label, const yaml_event_t *value,
		      bool null_ok, const char *example)
{
	if (value->type == YAML_MAPPING_START_EVENT)
		return 1;
	if (value->type == YAML_ALIAS_EVENT)
		return 0; /* already reported */
	if (policy_scalar_is_null(value)) {
		if (!null_ok)
			policy_error_at(pp, &value->start_mark, "%s has no value (expected a map like %s)",
					label, example);
		return 0;
	}
	policy_error_at(pp, &value->start_mark, "%s must be a map like %s, not a %s", label, example,
			policy_node_kind(value));
	return policy_skip_node(pp, value) ? -1 : 0;
}

const char *policy_scalar(struct policy_parser *pp, const char *label, const yaml_event_t *value,
			  const char *expected, int *rc)
{
	*rc = 0;
	if (value->type == YAML_ALIAS_EVENT)
		return NULL; /* already reported */
	if (value->type != YAML_SCALAR_EVENT) {
		policy_error_at(pp, &value->start_mark, "%s must be %s, not a %s", label, expected,
				policy_node_kind(value));
		*rc = policy_skip_node(pp, value);
		return NULL;
	}
	if (policy_scalar_is_null(value)) {
		policy_error_at(pp, &value->start_mark, "%s has no value (expected %s)", label,
				expected);
		return NULL;
	}
	if (memchr(value->data.scalar.value, '\0', value->data.scalar.length)) {
		policy_error_at(pp, &value->start_mark, "%s contains a NUL character", label);
		return NULL;
	}
	return (const char *)value->data.scalar.value;
}

/* "a or b", "a, b or c" */
static void list_choices(char *buf, size_t size, const char *const *choices, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(buf + used, size - used, "%s%s", sep, choices[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int policy_parse_choice(struct policy_parser *pp, const char *label, const yaml_event_t *value,
			const char *const *choices, size_t n_choices, int *out)
{
	char expected[96], q[64];
	const char *text, *hint;
	size_t len;
	int rc;

	list_choices(expected, sizeof(expected), choices, n_choices);
	text = policy_scalar(pp, label, value, expected, &rc);
	if (!text)
		return rc;
	len = value->data.scalar.length;
	for (size_t i = 0; i < n_choices; i++) {
		if (len == strlen(choices[i]) && strcmp(text, choices[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	policy_quote(q, sizeof(q), text, len);
	hint = policy_suggest(text, choices, n_choices);
	if (hint)
		policy_error_at(pp, &value->start_mark, "%s must be %s, not '%s' (did you mean '%s'?)",
				label, expected, q, hint);
	else
		policy_error_at(pp, &value->start_mark, "%s must be %s, not '%s'", label, expected, q);
	return 0;
}

int policy_parse_bool(struct policy_parser *pp, const char *label, const yaml_event_t *value,
		      bool *out)
{
	static const char *const bools[] = {"true", "false"};
	int choice = -1;
	int rc = policy_parse_choice(pp, label, value, bools, 2, &choice);

	if (choice >= 0)
		*out = choice == 0;
	return rc;
}

/* Decimal digits only, at most NUMBER_MAX_DIGITS of them. */
static bool digits_value(const char *text, size_t len, uint64_t *out)
{
	if (len == 0 || len > NUMBER_MAX_DIGITS || strspn(text, "0123456789") < len)
		return false;
	*out = 0;
	for (size_t i = 0; i < len; i++)
		*out = *out * 10 + (uint64_t)(text[i] - '0');
	return true;
}

int policy_parse_uint(struct policy_parser *pp, const char *label, const yaml_event_t *value,
		      uint64_t min, uint64_t max, const char *unit, uint64_t *out)
{
	const char *text;
	uint64_t n = 0;
	char q[64];
	int rc;

	text = policy_scalar(pp, label, value, unit ? "a number" : "a whole number", &rc);
	if (!text)
		return rc;
	if (!digits_value(text, value->data.scalar.length, &n)) {
		policy_error_at(pp, &value->start_mark,
				"%s must be a whole number%s%s (%" PRIu64 "..%" PRIu64 "), not '%s'",
				label, unit ? " of " : "", unit ? unit : "", min, max,
				policy_quote(q, sizeof(q), text, value->data.scalar.length));
		return 0;
	}
	if (n < min || n > max) {
		policy_error_at(pp, &value->start_mark,
				"%s is %" PRIu64 "; it must be between %" PRIu64 " and %" PRIu64, label,
				n, min, max);
		return 0;
	}
	*out = n;
	return 0;
}

/* 16G, 64M, 512K or plain bytes, whichever is exact. */
static void format_size(char *buf, size_t size, uint64_t bytes)
{
	static const char suffix[] = "GMK";

	for (int i = 0; i < 3; i++) {
		uint64_t unit = 1ull << (10 * (3 - i));

		if (bytes >= unit && bytes % unit == 0) {
			snprintf(buf, size, "%" PRIu64 "%c", bytes / unit, suffix[i]);
			return;
		}
	}
	snprintf(buf, size, "%" PRIu64, bytes);
}

/* The multiplier of a K/M/G suffix (either case), 0 for anything else. */
static uint64_t suffix_unit(char c)
{
	switch (c) {
	case 'K': case 'k':
		return 1ull << 10;
	case 'M': case 'm':
		return 1ull << 20;
	case 'G': case 'g':
		return 1ull << 30;
	default:
		return 0;
	}
}

int policy_parse_size(struct policy_parser *pp, const char *label, const yaml_event_t *value,
		      uint64_t min, uint64_t max, uint64_t *out)
{
	const char *text;
	size_t len;
	uint64_t n = 0, unit = 1;
	char q[64], lo[32], hi[32];
	int rc;

	text = policy_scalar(pp, label, value, "a size like 64M", &rc);
	if (!text)
		return rc;
	len = value->data.scalar.length;
	if (len > 1 && suffix_unit(text[len - 1])) {
		unit = suffix_unit(text[len - 1]);
		len--;
	}
	policy_quote(q, sizeof(q), text, value->data.scalar.length);
	if (!digits_value(text, len, &n)) {
		policy_error_at(pp, &value->start_mark,
				"%s must be a number of bytes with an optional K, M or G suffix "
				"(like 64M), not '%s'", label, q);
		return 0;
	}
	format_size(lo, sizeof(lo), min);
	format_size(hi, sizeof(hi), max);
	if (n > max / unit || n * unit < min || n * unit > max) {
		policy_error_at(pp, &value->start_mark, "%s is %s; it must be between %s and %s",
				label, q, lo, hi);
		return 0;
	}
	*out = n * unit;
	return 0;
}

int policy_parse_map_list(struct policy_parser *pp, const yaml_event_t *value,
			  const struct policy_map_list *list)
{
	size_t index = 0;

	if (value->type == YAML_ALIAS_EVENT || policy_scalar_is_null(value))
		return 0; /* "rules:" with nothing after it: an empty list */
	if (value->type != YAML_SEQUENCE_START_EVENT) {
		policy_error_at(pp, &value->start_mark, "'%s' must be a list of %s like %s, not a %s",
				list->key, list->what, list->example, policy_node_kind(value));
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
		bool within = ++index <= list->max;
		if (index == list->max + 1)
			policy_error_at(pp, &ev.start_mark, list->too_many, (int)list->max);
		if (ev.type == YAML_MAPPING_START_EVENT && within) {
			rc = list->parse_item(pp, &ev, index);
		} else {
			if (ev.type != YAML_ALIAS_EVENT && within)
				policy_error_at(pp, &ev.start_mark, "%s %zu must be a map like %s, not a %s",
						list->item, index, list->example, policy_node_kind(&ev));
			rc = policy_skip_node(pp, &ev);
		}
		yaml_event_delete(&ev);
		if (rc)
			return -1;
	}
}
