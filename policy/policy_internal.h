/* Private to the policy subsystem's .c files: the parser's shared state and helpers. Other
 * subsystems use policy/policy.h only. */
#ifndef GK_POLICY_INTERNAL_H
#define GK_POLICY_INTERNAL_H

#include <yaml.h>

#include "policy/policy.h"

struct policy_parser {
	yaml_parser_t yaml;
	const char *name;
	const char *text; /* for positions of reader (encoding) errors */
	size_t len;
	struct gk_policy_errors *errs;
	struct gk_policy *policy;
	bool fatal; /* libyaml gave up (syntax or memory) or input too deep */
	unsigned depth; /* open lists and maps */
};

void policy_error_at(struct policy_parser *pp, const yaml_mark_t *mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void policy_error_plain(struct gk_policy_errors *errs, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A real policy nests three levels deep. libyaml spends time proportional to
 * the depth on every token, so 1 MiB of '[' would take hours: stop early. */
#define POLICY_MAX_DEPTH 32
/* Each watch path becomes a fanotify mark; duplicates are found pairwise. */
#define POLICY_MAX_WATCH 1024

/* Next event; reports libyaml errors, anchors, aliases and excessive
 * nesting. -1 when fatal. */
int policy_next_event(struct policy_parser *pp, yaml_event_t *ev);
/* Consume the rest of the node that `first` opened. -1 when fatal. */
int policy_skip_node(struct policy_parser *pp, const yaml_event_t *first);

/* "scalar", "list", "map", "alias" */
const char *policy_node_kind(const yaml_event_t *ev);
bool policy_scalar_is_null(const yaml_event_t *ev);
/* A printable, shortened copy of user text for messages. */
const char *policy_quote(char *buf, size_t size, const char *text, size_t len);
/* The closest of `valid` to `word` when close enough to be a typo, else NULL. */
const char *policy_suggest(const char *word, const char *const *valid, size_t n_valid);

/* Normalise an absolute path or glob in place: collapse '//', drop '.' and a
 * trailing '/'. Returns NULL on success or why it was refused. */
const char *policy_normalise_path(char *path);

/* Value handlers: `value` is the value's first event; they consume the rest. */
int policy_parse_watch(struct policy_parser *pp, const yaml_event_t *value);
int policy_parse_rules(struct policy_parser *pp, const yaml_event_t *value);

#endif
