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
	KEY_OVERLOAD,
	KEY_SCANNERS,
	KEY_SCAN,
	KEY_AUDIT,
	KEY_TRUST,
	KEY_FANOTIFY_CACHE,
	KEY_METRICS,
	KEY_FILELESS,
	KEY_UNMARKED,
	KEY_OVERLAYFS_CACHE,
	KEY_COUNT,
};

static const char *const top_keys[KEY_COUNT] = {
	"mode", "watch", "default", "on_error", "decision_timeout_ms", "admin_group", "rules",
	"overload", "scanners", "scan", "audit", "trust", "fanotify_cache", "metrics", "fileless",
	"unmarked_filesystems", "overlayfs_cache",
};
_Static_assert(KEY_COUNT <= POLICY_MAP_MAX_KEYS, "top-level keys fit a policy_map");

static const char *const mode_names[] = {"enforce", "monitor"};
static const char *const verdict_names[] = {"allow", "deny"};
static const char *const fanotify_cache_names[] = {"leases", "off"};
static const char *const overlayfs_cache_names[] = {"off", "root_owned"};

#define TIMEOUT_DEFAULT_MS 5000u
#define GROUP_NAME_MAX 255

/* A name that leaves this much room or less is shortened no further: past
 * that, the message's own tail gives way instead. */
#define NAME_KEEP_MIN 48

/* "NAME" LOC MESSAGE in one bounded message, on one line: whatever no line
 * may show raw (gk_control_seq), in the name or the message, is escaped.
 * An over-long name (a deep path) loses its beginning, shown as "...", so
 * that LOC (":LINE:COL: ") and the message, which say what is wrong and
 * where, are never cut for it. */
static void add_message(struct gk_policy_errors *errs, const char *name, const char *loc,
			const char *fmt, va_list ap)
{
	if (errs->count < GK_POLICY_MAX_ERRORS) {
		char *msg = errs->msg[errs->count];
		size_t size = sizeof(errs->msg[0]);
		char raw[sizeof(errs->msg[0])], text[4 * sizeof(errs->msg[0])];
		char shown[8 * sizeof(errs->msg[0])];
		int t = vsnprintf(raw, sizeof(raw), fmt, ap);
		size_t tlen = gk_text_escape(text, sizeof(text), raw, t < 0 ? 0 : strlen(raw), NULL);
		/* Of the name, its end says most: at most twice what fits is read. */
		size_t from = strlen(name) > 2 * size ? strlen(name) - 2 * size : 0;
		while (from && ((unsigned char)name[from] & 0xc0) == 0x80)
			from++;
		size_t nlen = gk_text_escape(shown, sizeof(shown), name + from, strlen(name + from), NULL);
		size_t fixed = strlen(loc) + tlen;
		size_t room = fixed + 1 < size ? size - 1 - fixed : 0;
		int n;

		if (room < NAME_KEEP_MIN)
			room = NAME_KEEP_MIN;
		if (nlen <= room) {
			n = snprintf(msg, size, "%s%s%s", shown, loc, text);
		} else {
			const char *tail = shown + nlen - (room - 3);

			while (((unsigned char)*tail & 0xc0) == 0x80)   /* not inside a UTF-8 character */
				tail++;
			n = snprintf(msg, size, "...%s%s%s", tail, loc, text);
		}
		if ((n > 0 && (size_t)n >= size) || (t > 0 && (size_t)t >= sizeof(raw))) {
			size_t cut = size - 4;   /* the message's end was cut: say so */

			while (cut && ((unsigned char)msg[cut] & 0xc0) == 0x80)
				cut--;
			memcpy(msg + cut, "...", 4);
		}
	}
	errs->count++;
}

void policy_error_at(struct policy_parser *pp, const yaml_mark_t *mark, const char *fmt, ...)
{
	char loc[48];
	va_list ap;

	snprintf(loc, sizeof(loc), ":%zu:%zu: ", mark->line + 1, mark->column + 1);
	va_start(ap, fmt);
	add_message(pp->errs, pp->name, loc, fmt, ap);
	va_end(ap);
}

void policy_error_plain(struct gk_policy_errors *errs, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_message(errs, name, ": ", fmt, ap);
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

int policy_each_item(struct policy_parser *pp, policy_item_fn *item, void *ctx, size_t *count)
{
	for (size_t n = 0;;) {
		yaml_event_t ev;

		if (policy_next_event(pp, &ev))
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			if (count)
				*count = n;
			return 0;
		}
		int rc = item(pp, &ev, ++n, ctx);
		yaml_event_delete(&ev);
		if (rc)
			return -1;
	}
}

static int parse_timeout(struct policy_parser *pp, const yaml_event_t *value)
{
	uint64_t ms = 0;
	int rc = policy_parse_uint(pp, "'decision_timeout_ms'", value, POLICY_MS_MIN,
				   POLICY_MS_MAX, "milliseconds", &ms);

	if (ms)
		pp->policy->decision_timeout_ms = (unsigned)ms;
	return rc;
}

static int parse_admin_group(struct policy_parser *pp, const yaml_event_t *value)
{
	const char *key = top_keys[KEY_ADMIN_GROUP];
	const char *text;
	size_t len;
	char q[64];
	int rc;

	text = policy_scalar(pp, "'admin_group'", value, "a group name", &rc);
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
		policy_out_of_memory(pp);
	return 0;
}

/* One of allow/deny for `default`, `on_error`, `overload`, `fileless` or
 * `unmarked_filesystems`. */
static int parse_verdict(struct policy_parser *pp, enum top_key key, const yaml_event_t *value,
			 enum gk_verdict *out)
{
	char label[40];
	int choice = -1;
	int rc;

	snprintf(label, sizeof(label), "'%s'", top_keys[key]);
	rc = policy_parse_choice(pp, label, value, verdict_names, 2, &choice);
	if (choice >= 0)
		*out = choice == 0 ? GK_VERDICT_ALLOW : GK_VERDICT_DENY;
	return rc;
}

static int parse_top_value(struct policy_parser *pp, void *ctx, int key,
			   const yaml_event_t *key_ev, const yaml_event_t *value)
{
	struct gk_policy *p = pp->policy;
	int choice = -1, rc = 0;

	(void)ctx;
	(void)key_ev;
	switch ((enum top_key)key) {
	case KEY_MODE:
		rc = policy_parse_choice(pp, "'mode'", value, mode_names, 2, &choice);
		if (choice >= 0)
			p->mode = choice == 0 ? GK_MODE_ENFORCE : GK_MODE_MONITOR;
		return rc;
	case KEY_DEFAULT:
		return parse_verdict(pp, KEY_DEFAULT, value, &p->default_verdict);
	case KEY_ON_ERROR:
		return parse_verdict(pp, KEY_ON_ERROR, value, &p->on_error);
	case KEY_OVERLOAD:
		return parse_verdict(pp, KEY_OVERLOAD, value, &p->overload);
	case KEY_TIMEOUT:
		return parse_timeout(pp, value);
	case KEY_ADMIN_GROUP:
		return parse_admin_group(pp, value);
	case KEY_WATCH:
		return policy_parse_watch(pp, value);
	case KEY_RULES:
		return policy_parse_rules(pp, value);
	case KEY_SCANNERS:
		return policy_parse_scanners(pp, value);
	case KEY_SCAN:
		return policy_parse_scan(pp, value);
	case KEY_AUDIT:
		return policy_parse_audit(pp, value);
	case KEY_TRUST:
		return policy_parse_trust(pp, value);
	case KEY_FANOTIFY_CACHE:
		rc = policy_parse_choice(pp, "'fanotify_cache'", value, fanotify_cache_names, 2, &choice);
		if (choice >= 0)
			p->fanotify_cache = choice == 0 ? GK_FANOTIFY_CACHE_LEASES : GK_FANOTIFY_CACHE_OFF;
		return rc;
	case KEY_OVERLAYFS_CACHE:
		rc = policy_parse_choice(pp, "'overlayfs_cache'", value, overlayfs_cache_names, 2,
					 &choice);
		if (choice >= 0)
			p->overlayfs_cache = choice == 0 ? GK_OVERLAYFS_CACHE_OFF
							 : GK_OVERLAYFS_CACHE_ROOT_OWNED;
		return rc;
	case KEY_METRICS:
		return policy_parse_metrics(pp, value);
	case KEY_FILELESS:
		return parse_verdict(pp, KEY_FILELESS, value, &p->fileless);
	case KEY_UNMARKED:
		return parse_verdict(pp, KEY_UNMARKED, value, &p->unmarked_filesystems);
	case KEY_COUNT:
		break;
	}
	return policy_skip_node(pp, value);
}

static bool watches_root(const struct gk_policy *p)
{
	for (size_t i = 0; i < p->n_watch; i++)
		if (!strcmp(p->watch[i], "/"))
			return true;
	return false;
}

static int parse_top_map(struct policy_parser *pp, const yaml_event_t *start)
{
	static const enum top_key required[] = {KEY_MODE, KEY_WATCH, KEY_DEFAULT};
	struct policy_map map = {.where = "", .keys = top_keys, .n_keys = KEY_COUNT};
	struct gk_policy *p = pp->policy;

	if (policy_walk_map(pp, &map, parse_top_value, NULL))
		return -1;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!map.seen_line[required[i]])
			policy_error_at(pp, &start->start_mark, "missing required key '%s'",
					top_keys[required[i]]);
	}
	if (!map.seen_line[KEY_ON_ERROR])
		p->on_error = p->default_verdict;
	if (!map.seen_line[KEY_OVERLOAD])
		p->overload = p->on_error;
	if (p->unmarked_filesystems == GK_VERDICT_DENY && !watches_root(p)) {
		yaml_mark_t at = {0, map.seen_line[KEY_UNMARKED] - 1, 0};
		policy_error_at(pp, &at, "'unmarked_filesystems: deny' needs '/' in 'watch': it "
			        "refuses programs on every filesystem without the daemon's mark");
	}
	policy_check_refs(pp);
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
	pthread_mutex_init(&p->sha256_lock, NULL);
	p->name = strdup(name);
	p->text = malloc(len + 1);
	if (!p->name || !p->text) {
		policy_free(p);
		return NULL;
	}
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->text_len = len;
	p->mode = GK_MODE_MONITOR;
	p->default_verdict = GK_VERDICT_ALLOW;
	p->on_error = GK_VERDICT_ALLOW;
	p->decision_timeout_ms = TIMEOUT_DEFAULT_MS;
	p->overload = GK_VERDICT_ALLOW;
	p->fileless = GK_VERDICT_ALLOW;
	p->unmarked_filesystems = GK_VERDICT_ALLOW;
	p->scanners.clamav_enabled = GK_ENGINE_OFF;
	p->scanners.clamav_database = strdup(GK_CLAMAV_DEFAULT_DB);
	p->audit.log_allows = true;
	p->audit.retain_days = AUDIT_RETAIN_DAYS_DEFAULT;
	p->audit.max_rows = AUDIT_MAX_ROWS_DEFAULT;
	p->metrics.interval_s = METRICS_INTERVAL_DEFAULT_S;
	if (!p->scanners.clamav_database) {
		policy_free(p);
		return NULL;
	}
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
	free(pp.refs);
	if (pp.errs->count == 0) {
		result = pp.policy;
		pp.policy = NULL;
		for (size_t i = 0; i < result->n_rules; i++) {
			bool hash = result->rules[i].match == GK_MATCH_SHA256;
			result->hash_rules |= hash;
			result->hash_rules_deny |= hash && result->rules[i].action == GK_VERDICT_DENY;
			result->verdict_by_path |= result->rules[i].match == GK_MATCH_PATH ||
						   result->rules[i].match == GK_MATCH_GLOB;
		}
		result->verdict_by_path |= result->n_scan > 0;
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
	for (size_t i = 0; i < policy->scanners.n_hashlist_files; i++)
		free(policy->scanners.hashlist_files[i]);
	free(policy->scanners.hashlist_files);
	free(policy->scanners.clamav_database);
	for (size_t i = 0; i < policy->n_scan; i++)
		free(policy->scan[i].path);
	free(policy->scan);
	policy_free_trust(policy);
	free(policy->admin_group);
	free(policy->metrics.textfile);
	free(policy->text);
	free(policy->name);
	pthread_mutex_destroy(&policy->sha256_lock);
	free(policy);
}

const char *policy_sha256_hex(struct gk_policy *policy)
{
	if (atomic_load(&policy->sha256_done))
		return policy->sha256_hex;
	pthread_mutex_lock(&policy->sha256_lock);
	if (!atomic_load(&policy->sha256_done)) {
		digest_hex(policy->text, policy->text_len, policy->sha256_hex);
		atomic_store(&policy->sha256_done, true);
	}
	pthread_mutex_unlock(&policy->sha256_lock);
	return policy->sha256_hex;
}
