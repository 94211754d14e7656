/* Private to the policy subsystem's .c files: the parser's shared state and helpers. Other
 * subsystems use policy/policy.h only. */
#ifndef GK_POLICY_INTERNAL_H
#define GK_POLICY_INTERNAL_H

#include <yaml.h>

#include "policy/policy.h"

/* Something checked once the whole document is read, because what it refers
 * to may come later in the file: an engine named in `scan:` that must be
 * configured under `scanners:`, a `scan:` path that must meet a watch. */
enum policy_ref_kind { REF_ENGINE_HASHLIST, REF_ENGINE_CLAMAV, REF_SCAN_PATH };
struct policy_ref {
	enum policy_ref_kind kind;
	size_t entry;      /* 1-based scan entry */
	yaml_mark_t mark;
	const char *path;  /* REF_SCAN_PATH: the entry's, owned by the policy */
};

struct policy_parser {
	yaml_parser_t yaml;
	const char *name;
	const char *text; /* for positions of reader (encoding) errors */
	size_t len;
	struct gk_policy_errors *errs;
	struct gk_policy *policy;
	bool fatal; /* libyaml gave up (syntax or memory) or input too deep */
	unsigned depth; /* open lists and maps */
	bool hashlist_seen, clamav_seen; /* configured under `scanners:` */
	struct policy_ref *refs;
	size_t n_refs;
};

void policy_error_at(struct policy_parser *pp, const yaml_mark_t *mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void policy_error_plain(struct gk_policy_errors *errs, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A real policy nests three levels deep. libyaml spends time proportional to
 * the depth on every token, so 1 MiB of '[' would take hours: stop early. */
#define POLICY_MAX_DEPTH 32
/* Each watch path becomes a fanotify mark; duplicates are found pairwise
 * (the same bound holds for hash-list files and `scan:` entries). */
#define POLICY_MAX_WATCH 1024
#define POLICY_MAX_LIST POLICY_MAX_WATCH

/* decision_timeout_ms and max_scan_time_ms */
#define POLICY_MS_MIN 10u
#define POLICY_MS_MAX 600000u
#define SCAN_MAX_FILE_SIZE_MAX (16ull << 30)
#define AUDIT_RETAIN_DAYS_DEFAULT 30u
#define AUDIT_RETAIN_DAYS_MAX 3650u
#define AUDIT_MAX_ROWS_DEFAULT 1000000u
#define METRICS_INTERVAL_DEFAULT_S 15u
#define METRICS_INTERVAL_MAX_S 3600u
#define AUDIT_MAX_ROWS_MIN 1000u
#define AUDIT_MAX_ROWS_MAX 1000000000u

/* Next event; reports libyaml errors, anchors, aliases and excessive
 * nesting. -1 when fatal. */
int policy_next_event(struct policy_parser *pp, yaml_event_t *ev);
/* Consume the rest of the node that `first` opened. -1 when fatal. */
int policy_skip_node(struct policy_parser *pp, const yaml_event_t *first);
/* The items of a sequence whose start event was read: item gets each one's
 * first event and 1-based index, and consumes a nested node. 0 at the end
 * of the sequence (*count: the items, if count is not NULL); -1 when
 * reading or item fails (fatal). */
typedef int policy_item_fn(struct policy_parser *pp, const yaml_event_t *ev, size_t index,
			   void *ctx);
int policy_each_item(struct policy_parser *pp, policy_item_fn *item, void *ctx, size_t *count);

/* A list of maps (`rules:`, `scan:`): parse_item gets each map's start
 * event and its 1-based index. Anything else is reported with the
 * descriptions given; entries past max (SIZE_MAX: none) are refused. */
struct policy_map_list {
	const char *key;        /* "rules" */
	const char *what;       /* "rules" in "'rules' must be a list of rules like" */
	const char *item;       /* "rule" in "rule 3 must be a map like" */
	const char *too_many;   /* "more than %d scan entries" (with max) */
	const char *example;
	size_t max;
	int (*parse_item)(struct policy_parser *pp, const yaml_event_t *start, size_t index);
};
int policy_parse_map_list(struct policy_parser *pp, const yaml_event_t *value,
			  const struct policy_map_list *list);

/* "scalar", "list", "map", "alias" */
const char *policy_node_kind(const yaml_event_t *ev);
bool policy_scalar_is_null(const yaml_event_t *ev);
/* A shortened copy of user text for messages (whole UTF-8 characters;
 * the message escapes what no line may show raw: add_message). */
const char *policy_quote(char *buf, size_t size, const char *text, size_t len);
/* The closest of `valid` to `word` when close enough to be a typo, else NULL. */
const char *policy_suggest(const char *word, const char *const *valid, size_t n_valid);

/* Normalise an absolute path or glob in place: collapse '//', drop '.' and a
 * trailing '/'. Returns NULL on success or why it was refused. */
const char *policy_normalise_path(char *path);
/* A normalised copy of a path-like scalar; NULL after reporting
 * "<what> '<text>' <problem>". */
char *policy_path_value(struct policy_parser *pp, const yaml_event_t *value, const char *what);
bool policy_out_of_memory(struct policy_parser *pp); /* reports it; returns false */

/* A list of distinct absolute paths (watch, hash-list files) and how its
 * messages name things. */
struct path_list_spec {
	const char *label;    /* "'watch'" */
	const char *expected; /* "absolute directories" */
	const char *one;      /* "directory" */
	const char *entry;    /* "watch entry" (N) */
	const char *path;     /* "watch path" ('P') */
	const char *plural;   /* "watch paths" */
};
struct path_list {
	char ***items;
	size_t *n;
};
/* At least one entry, at most POLICY_MAX_LIST, no repeats. */
int policy_parse_path_list(struct policy_parser *pp, const yaml_event_t *value,
			   const struct path_list_spec *spec, struct path_list *list);

/* ---- maps (policy_map.c) ---- */

#define POLICY_MAP_MAX_KEYS 24
/* One map being read: its valid keys and where each was first seen. */
struct policy_map {
	const char *where;      /* message prefix: "", "rule 2: ", "audit: " */
	const char *const *keys;
	size_t n_keys;
	unsigned seen_line[POLICY_MAP_MAX_KEYS]; /* 1-based; 0: not seen */
};
/* Called for each valid, first-seen key; consumes the whole value node. */
typedef int (*policy_key_fn)(struct policy_parser *pp, void *ctx, int key,
			     const yaml_event_t *key_ev, const yaml_event_t *value);
/* Walks the map whose start event the caller has read, up to its end.
 * Unknown (with a did-you-mean hint), repeated and non-scalar keys are
 * reported and their values skipped. -1 when fatal. */
int policy_walk_map(struct policy_parser *pp, struct policy_map *map, policy_key_fn fn,
		    void *ctx);
/* For a map-valued key: reports a non-map (`label` must be a map, ...) and
 * skips it; 1 when value is a map to walk, 0 when not, -1 when fatal. A null
 * value is a map only if null_ok. */
int policy_expect_map(struct policy_parser *pp, const char *label, const yaml_event_t *value,
		      bool null_ok, const char *example);

/* ---- scalar values (policy_map.c); `label` names the value in messages,
 * e.g. "'mode'" or "rule 2: action". They consume the value node. ---- */

/* The scalar's text, or NULL after reporting why not (*rc: -1 when fatal). */
const char *policy_scalar(struct policy_parser *pp, const char *label, const yaml_event_t *value,
			  const char *expected, int *rc);
/* One of choices (index in *out, untouched on error). -1 when fatal. */
int policy_parse_choice(struct policy_parser *pp, const char *label, const yaml_event_t *value,
			const char *const *choices, size_t n_choices, int *out);
/* A whole number in min..max; `unit` ("milliseconds", "days", NULL) for messages. */
int policy_parse_uint(struct policy_parser *pp, const char *label, const yaml_event_t *value,
		      uint64_t min, uint64_t max, const char *unit, uint64_t *out);
/* Bytes, with an optional K, M or G suffix (powers of 1024), in min..max. */
int policy_parse_size(struct policy_parser *pp, const char *label, const yaml_event_t *value,
		      uint64_t min, uint64_t max, uint64_t *out);
int policy_parse_bool(struct policy_parser *pp, const char *label, const yaml_event_t *value,
		      bool *out);

/* Value handlers: `value` is the value's first event; they consume the rest. */
int policy_parse_watch(struct policy_parser *pp, const yaml_event_t *value);
int policy_parse_rules(struct policy_parser *pp, const yaml_event_t *value);
int policy_parse_scanners(struct policy_parser *pp, const yaml_event_t *value);
int policy_parse_scan(struct policy_parser *pp, const yaml_event_t *value);
int policy_parse_audit(struct policy_parser *pp, const yaml_event_t *value);
int policy_parse_trust(struct policy_parser *pp, const yaml_event_t *value);
void policy_free_trust(struct gk_policy *policy);
int policy_parse_metrics(struct policy_parser *pp, const yaml_event_t *value);
/* The checks that need the whole document (struct policy_ref). */
void policy_check_refs(struct policy_parser *pp);

/* ---- matching (match.c) ---- */

/* Is path the directory top itself or anything below it? */
bool policy_path_within(const char *top, const char *path);
/* Does a PATH or GLOB rule's pattern match path? */
bool policy_rule_matches_path(const struct gk_rule *rule, const char *path);

#endif
