/* policy: read a policy file and walk libyaml's event stream into a
 * struct gk_policy, collecting every error as "file:line:column: message".
 *
 * The event API (not the document API) is used on purpose: aliases arrive as
 * events and are refused before anything could expand them (billion laughs),
 * and scalars keep their exact text (a sha256 of digits stays a string). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "policy/policy_internal.h"

enum top_key {
	KEY_MODE,
	KEY_WATCH,
	KEY_DEFAULT,
	KEY_ON_ERROR,
	KEY_TIMEOUT,
	KEY_ADMIN_GROUP,
	KEY_RULES,
	KEY_COUNT,
};

static const char *const top_keys[KEY_COUNT] = {
	"mode", "watch", "default", "on_error", "decision_timeout_ms", "admin_group", "rules",
};

static const char *const mode_names[] = {"enforce", "monitor"};
static const char *const verdict_names[] = {"allow", "deny"};

#define TIMEOUT_MIN_MS 10u
#define TIMEOUT_MAX_MS 600000u
#define TIMEOUT_DEFAULT_MS 5000u
#define GROUP_NAME_MAX 255

static void add_message(struct gk_policy_errors *errs, const char *prefix, const char *fmt,
			va_list ap)
{
	if (errs->count < GK_POLICY_MAX_ERRORS) {
		char *msg = errs->msg[errs->count];
		size_t size = sizeof(errs->msg[0]);
		int n = snprintf(msg, size, "%s", prefix);

		if (n >= 0 && (size_t)n < size)
			vsnprintf(msg + n, size - (size_t)n, fmt, ap);
	}
	errs->count++;
}

void policy_error_at(struct policy_parser *pp, const yaml_mark_t *mark, const char *fmt, ...)
{
	char prefix[300];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s:%zu:%zu: ", pp->name, mark->line + 1,
		 mark->column + 1);
	va_start(ap, fmt);
	add_message(pp->errs, prefix, fmt, ap);
	va_end(ap);
}

void policy_error_plain(struct gk_policy_errors *errs, const char *name, const char *fmt, ...)
{
	char prefix[300];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s: ", name);
	va_start(ap, fmt);
	add_message(errs, prefix, fmt, ap);
	va_end(ap);
}

/* Reader (encoding) errors carry a byte offset, not a mark. */
static yaml_mark_t mark_of_offset(const char *text, size_t len, size_t offset)
{
	yaml_mark_t mark = {.index = offset};

	for (size_t i = 0; i < offset && i < len; i++) {
		if (text[i] == '\n') {
			mark.line++;
			mark.column = 0;
		} else {
			mark.column++;
		}
	}
	return mark;
}

static void report_yaml_error(struct policy_parser *pp)
{
	const yaml_parser_t *y = &pp->yaml;
	const char *problem = y->problem ? y->problem : "unknown problem";

	/* Messages about values read so far could be artefacts of the broken
	 * syntax (an unclosed '[' reads as a list): the syntax error alone is
	 * the one clear line. */
	pp->errs->count = 0;
	if (y->error == YAML_MEMORY_ERROR) {
		policy_error_plain(pp->errs, pp->name, "out of memory while parsing");
	} else if (y->error == YAML_READER_ERROR) {
		yaml_mark_t mark = mark_of_offset(pp->text, pp->len, y->problem_offset);

		if (y->problem_value >= 0)
			policy_error_at(pp, &mark, "bad text encoding: %s (byte 0x%02x)", problem,
					(unsigned)y->problem_value);
		else
			policy_error_at(pp, &mark, "bad text encoding: %s", problem);
	} else if (y->context) {
		policy_error_at(pp, &y->problem_mark, "YAML syntax error: %s (%s at line %zu)",
				problem, y->context, y->context_mark.line + 1);
	} else {
		policy_error_at(pp, &y->problem_mark, "YAML syntax error: %s", problem);
	}
}

int policy_next_event(struct policy_parser *pp, yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL;

	if (pp->fatal || !yaml_parser_parse(&pp->yaml, ev)) {
		if (!pp->fatal)
			report_yaml_error(pp);
		pp->fatal = true;
		return -1;
	}
	if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) {
		if (++pp->depth > POLICY_MAX_DEPTH) {
			policy_error_at(pp, &ev->start_mark, "nested deeper than %d levels",
					POLICY_MAX_DEPTH);
			yaml_event_delete(ev);
			pp->fatal = true;
			return -1;
		}
	} else if (ev->type == YAML_SEQUENCE_END_EVENT || ev->type == YAML_MAPPING_END_EVENT) {
		pp->depth--;
	}
	if (ev->type == YAML_SCALAR_EVENT)
		anchor = ev->data.scalar.anchor;
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		anchor = ev->data.sequence_start.anchor;
	else if (ev->type == YAML_MAPPING_START_EVENT)
		anchor = ev->data.mapping_start.anchor;
	if (anchor) {
		char q[64];

		policy_error_at(pp, &ev->start_mark, "anchors (&%s) are not allowed in a policy",
				policy_quote(q, sizeof(q), (const char *)anchor,
					     strlen((const char *)anchor)));
	}
	if (ev->type == YAML_ALIAS_EVENT) {
		char q[64];
		const char *name = (const char *)ev->data.alias.anchor;

		policy_error_at(pp, &ev->start_mark, "aliases (*%s) are not allowed in a policy",
				policy_quote(q, sizeof(q), name, strlen(name)));
	}
	return 0;
}

int policy_skip_node(struct policy_parser *pp, const yaml_event_t *first)
{
	size_t depth;

	if (first->type != YAML_SEQUENCE_START_EVENT && first->type != YAML_MAPPING_START_EVENT)
		return 0;
	/* Iterative, so a deeply nested value cannot exhaust the stack. */
	for (depth = 1; depth > 0;) {
		yaml_event_t ev;

		if (policy_next_event(pp, &ev))
			return -1;
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
			depth--;
		yaml_event_delete(&ev);
	}
	return 0;
}

/* The scalar text of `value` for `key`, or NULL after reporting why not. */
static const char *scalar_for_key(struct policy_parser *pp, const char *key,
				  const yaml_event_t *value, const char *expected, int *rc)
{
	*rc = 0;
	if (value->type == YAML_ALIAS_EVENT)
		return NULL; /* already reported */
	if (value->type != YAML_SCALAR_EVENT) {
		policy_error_at(pp, &value->start_mark, "'%s' must be %s, not a %s", key, expected,
				policy_node_kind(value));
		*rc = policy_skip_node(pp, value);
		return NULL;
	}
	if (policy_scalar_is_null(value)) {
		policy_error_at(pp, &value->start_mark, "'%s' has no value (expected %s)", key,
				expected);
		return NULL;
	}
	if (memchr(value->data.scalar.value, '\0', value->data.scalar.length)) {
		policy_error_at(pp, &value->start_mark, "'%s' contains a NUL character", key);
		return NULL;
	}
	return (const char *)value->data.scalar.value;
}

/* One of `choices` (index into *out), reporting anything else. */
static int parse_choice(struct policy_parser *pp, const char *key, const yaml_event_t *value,
			const char *const *choices, size_t n_choices, int *out)
{
	char expected[64], q[64];
	const char *text, *hint;
	int rc;

	snprintf(expected, sizeof(expected), "%s or %s", choices[0], choices[1]);
	text = scalar_for_key(pp, key, value, expected, &rc);
	if (!text)
		return rc;
	for (size_t i = 0; i < n_choices; i++) {
		if (strcmp(text, choices[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	policy_quote(q, sizeof(q), text, value->data.scalar.length);
	hint = policy_suggest(text, choices, n_choices);
	if (hint)
		policy_error_at(pp, &value->start_mark, "'%s' must be %s, not '%s' (did you mean '%s'?)",
				key, expected, q, hint);
	else
		policy_error_at(pp, &value->start_mark, "'%s' must be %s, not '%s'", key, expected, q);
	return 0;
}

static int parse_timeout(struct policy_parser *pp, const yaml_event_t *value)
{
	const char *key = top_keys[KEY_TIMEOUT];
	const char *text;
	unsigned long ms = 0;
	size_t len;
	char q[64];
	int rc;

	text = scalar_for_key(pp, key, value, "a number of milliseconds", &rc);
	if (!text)
		return rc;
	len = value->data.scalar.length;
	if (len == 0 || len > 9 || strspn(text, "0123456789") != len) {
		policy_error_at(pp, &value->start_mark,
				"'%s' must be a whole number of milliseconds (%u..%u), not '%s'", key,
				TIMEOUT_MIN_MS, TIMEOUT_MAX_MS, policy_quote(q, sizeof(q), text, len));
		return 0;
	}
	ms = strtoul(text, NULL, 10);
	if (ms < TIMEOUT_MIN_MS || ms > TIMEOUT_MAX_MS) {
		policy_error_at(pp, &value->start_mark, "'%s' is %lu; it must be between %u and %u",
				key, ms, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS);
		return 0;
	}
	pp->policy->decision_timeout_ms = (unsigned)ms;
	return 0;
}

static int parse_admin_group(struct policy_parser *pp, const yaml_event_t *value)
{
	const char *key = top_keys[KEY_ADMIN_GROUP];
	const char *text;
	size_t len;
	char q[64];
	int rc;

	text = scalar_for_key(pp, key, value, "a group name", &rc);
	if (!text)
		return rc;
	len = value->data.scalar.length;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c <= ' ' || c == 0x7f || c == ':' || c == ',') {
			policy_error_at(pp, &value->start_mark,
					"'%s' must be a group name, not '%s' (no spaces, ':' or ',')", key,
					policy_quote(q, sizeof(q), text, len));
			return 0;
		}
	}
	if (len > GROUP_NAME_MAX) {
		policy_error_at(pp, &value->start_mark, "'%s' is longer than %d characters", key,
				GROUP_NAME_MAX);
		return 0;
	}
	pp->policy->admin_group = strdup(text);
	if (!pp->policy->admin_group)
		policy_error_plain(pp->errs, pp->name, "out of memory");
	return 0;
}

static int parse_top_value(struct policy_parser *pp, enum top_key key, const yaml_event_t *value)
{
	struct gk_policy *p = pp->policy;
	int choice = -1, rc = 0;

	switch (key) {
	case KEY_MODE:
		rc = parse_choice(pp, top_keys[key], value, mode_names, 2, &choice);
		if (choice >= 0)
			p->mode = choice == 0 ? GK_MODE_ENFORCE : GK_MODE_MONITOR;
		return rc;
	case KEY_DEFAULT:
	case KEY_ON_ERROR:
		rc = parse_choice(pp, top_keys[key], value, verdict_names, 2, &choice);
		if (choice >= 0) {
			enum gk_verdict v = choice == 0 ? GK_VERDICT_ALLOW : GK_VERDICT_DENY;

			if (key == KEY_DEFAULT)
				p->default_verdict = v;
			else
				p->on_error = v;
		}
		return rc;
	case KEY_TIMEOUT:
		return parse_timeout(pp, value);
	case KEY_ADMIN_GROUP:
		return parse_admin_group(pp, value);
	case KEY_WATCH:
		return policy_parse_watch(pp, value);
	case KEY_RULES:
		return policy_parse_rules(pp, value);
	case KEY_COUNT:
		break;
	}
	return 0;
}

/* The key's index, or KEY_COUNT after reporting an unknown or repeated key. */
static enum top_key classify_key(struct policy_parser *pp, const yaml_event_t *key,
				 unsigned seen_line[KEY_COUNT])
{
	const char *text = (const char *)key->data.scalar.value;
	char q[64];

	policy_quote(q, sizeof(q), text, key->data.scalar.length);
	for (int k = 0; k < KEY_COUNT; k++) {
		if (key->data.scalar.length != strlen(top_keys[k]) || strcmp(text, top_keys[k]) != 0)
			continue;
		if (seen_line[k]) {
			policy_error_at(pp, &key->start_mark, "duplicate key '%s' (first at line %u)",
					q, seen_line[k]);
			return KEY_COUNT;
		}
		seen_line[k] = (unsigned)key->start_mark.line + 1;
		return (enum top_key)k;
	}
	const char *hint = policy_suggest(text, top_keys, KEY_COUNT);

	if (hint)
		policy_error_at(pp, &key->start_mark, "unknown key '%s' (did you mean '%s'?)", q,
				hint);
	else
		policy_error_at(pp, &key->start_mark, "unknown key '%s'", q);
	return KEY_COUNT;
}

static int parse_top_map(struct policy_parser *pp, const yaml_event_t *start)
{
	unsigned seen_line[KEY_COUNT] = {0};
	static const enum top_key required[] = {KEY_MODE, KEY_WATCH, KEY_DEFAULT};

	for (;;) {
		yaml_event_t key, value;
		enum top_key k = KEY_COUNT;
		int rc;

		if (policy_next_event(pp, &key))
			return -1;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			break;
		}
		if (key.type == YAML_SCALAR_EVENT)
			k = classify_key(pp, &key, seen_line);
		else if (key.type != YAML_ALIAS_EVENT)
			policy_error_at(pp, &key.start_mark, "keys must be plain words, not a %s",
					policy_node_kind(&key));
		rc = policy_skip_node(pp, &key);
		yaml_event_delete(&key);
		if (rc || policy_next_event(pp, &value))
			return -1;
		rc = k == KEY_COUNT ? policy_skip_node(pp, &value) : parse_top_value(pp, k, &value);
		yaml_event_delete(&value);
		if (rc)
			return -1;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!seen_line[required[i]])
			policy_error_at(pp, &start->start_mark, "missing required key '%s'",
					top_keys[required[i]]);
	}
	if (!seen_line[KEY_ON_ERROR])
		pp->policy->on_error = pp->policy->default_verdict;
	return 0;
}

static int parse_root(struct policy_parser *pp, const yaml_event_t *root)
{
	static const yaml_mark_t top = {0, 0, 0};

	if (root->type == YAML_MAPPING_START_EVENT)
		return parse_top_map(pp, root);
	if (root->type == YAML_SCALAR_EVENT && policy_scalar_is_null(root)) {
		policy_error_at(pp, &top, "empty policy (expected keys mode, watch and default)");
		return 0;
	}
	if (root->type != YAML_ALIAS_EVENT)
		policy_error_at(pp, &root->start_mark,
				"a policy must be a map of keys (mode, watch, default, ...), not a %s",
				policy_node_kind(root));
	return policy_skip_node(pp, root);
}

/* stream-start, [document-start, root node, document-end], stream-end */
static void parse_stream(struct policy_parser *pp)
{
	static const yaml_mark_t top = {0, 0, 0};
	yaml_event_t ev;
	int rc;

	for (int step = 0; step < 5; step++) {
		if (policy_next_event(pp, &ev))
			return;
		rc = 0;
		if (step == 1 && ev.type == YAML_STREAM_END_EVENT) {
			policy_error_at(pp, &top, "empty policy (expected keys mode, watch and default)");
			rc = -1;
		} else if (step == 2) {
			rc = parse_root(pp, &ev);
		} else if (step == 4 && ev.type == YAML_DOCUMENT_START_EVENT) {
			policy_error_at(pp, &ev.start_mark,
					"a policy is one YAML document; found a second one");
		}
		yaml_event_delete(&ev);
		if (rc)
			return;
	}
}

static void digest_hex(const char *text, size_t len, char hex[GK_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(text, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != GK_SHA256_LEN) {
		hex[0] = '\0';
		return;
	}
	gk_sha256_to_hex(md, hex);
}

static struct gk_policy *policy_new(const char *name, const char *text, size_t len)
{
	struct gk_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->name = strdup(name);
	p->text = malloc(len + 1);
	if (!p->name || !p->text) {
		policy_free(p);
		return NULL;
	}
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->text_len = len;
	digest_hex(text, len, p->sha256_hex);
	p->mode = GK_MODE_MONITOR;
	p->default_verdict = GK_VERDICT_ALLOW;
	p->on_error = GK_VERDICT_ALLOW;
	p->decision_timeout_ms = TIMEOUT_DEFAULT_MS;
	return p;
}

/* Refusals that need no YAML: size and NUL bytes (libyaml would stop at a NUL). */
static bool text_acceptable(struct policy_parser *pp, const char *text, size_t len)
{
	const char *nul;

	if (len > GK_POLICY_MAX_BYTES) {
		policy_error_plain(pp->errs, pp->name, "policy is %zu bytes; the limit is %d", len,
				   GK_POLICY_MAX_BYTES);
		return false;
	}
	nul = memchr(text, '\0', len);
	if (nul) {
		yaml_mark_t mark = mark_of_offset(text, len, (size_t)(nul - text));

		policy_error_at(pp, &mark, "NUL byte in policy text");
		return false;
	}
	return true;
}

struct gk_policy *policy_parse(const char *name, const char *text, size_t len,
			       struct gk_policy_errors *errs)
{
	struct gk_policy_errors local;
	struct policy_parser pp = {.name = name ? name : "<policy>", .text = text, .len = len};
	struct gk_policy *result = NULL;

	pp.errs = errs ? errs : &local;
	pp.errs->count = 0;
	if (!text && len > 0) {
		policy_error_plain(pp.errs, pp.name, "no policy text");
		return NULL;
	}
	if (!text)
		text = "";
	pp.text = text;
	if (!text_acceptable(&pp, text, len))
		return NULL;
	pp.policy = policy_new(pp.name, text, len);
	if (!pp.policy || !yaml_parser_initialize(&pp.yaml)) {
		policy_error_plain(pp.errs, pp.name, "out of memory");
		policy_free(pp.policy);
		return NULL;
	}
	yaml_parser_set_input_string(&pp.yaml, (const unsigned char *)text, len);
	parse_stream(&pp);
	yaml_parser_delete(&pp.yaml);
	if (pp.errs->count == 0) {
		result = pp.policy;
		pp.policy = NULL;
	}
	policy_free(pp.policy);
	return result;
}

void policy_free(struct gk_policy *policy)
{
	if (!policy)
		return;
	for (size_t i = 0; i < policy->n_watch; i++)
		free(policy->watch[i]);
	free(policy->watch);
	for (size_t i = 0; i < policy->n_rules; i++)
		free(policy->rules[i].pattern);
	free(policy->rules);
	free(policy->admin_group);
	free(policy->text);
	free(policy->name);
	free(policy);
}
