/* policy: decide a verdict for one file from what the daemon knows about it,
 * plan its scan, plus the name and hex helpers everyone shares. */
#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"

/* The rule levels of DESIGN.md's precedence that rules can fill. */
enum rule_level {
	LEVEL_HASH,  /* sha256 rules */
	LEVEL_PATH,  /* path and glob rules without a scanner condition */
	LEVEL_CLEAN, /* `scanner: clean` rules */
	LEVEL_ERROR, /* `scanner: error` rules */
};

static bool rule_in_level(const struct gk_rule *rule, enum rule_level level)
{
	if (rule->scan)
		return false; /* asks for a scan, gives no verdict */
	switch (level) {
	case LEVEL_HASH:
		return rule->match == GK_MATCH_SHA256;
	case LEVEL_PATH:
		return rule->match != GK_MATCH_SHA256 && rule->scanner == GK_SCANNER_ANY;
	case LEVEL_CLEAN:
		return rule->scanner == GK_SCANNER_CLEAN;
	case LEVEL_ERROR:
		return rule->scanner == GK_SCANNER_ERROR;
	}
	return false;
}

/* A scanner-only rule holds every watched path, an unknown one included. */
static bool rule_matches(const struct gk_rule *rule, const struct gk_file_facts *facts)
{
	if (rule->match == GK_MATCH_SHA256)
		return facts->sha256 && memcmp(rule->sha256, facts->sha256, GK_SHA256_LEN) == 0;
	if (rule->match == GK_MATCH_SCANNER)
		return true;
	return facts->path && policy_rule_matches_path(rule, facts->path);
}

/* The deciding rule of one level: the first deny if any matches (deny
 * beats allow), else the first allow. */
static const struct gk_rule *level_rule(const struct gk_policy *policy,
					const struct gk_file_facts *facts, enum rule_level level)
{
	const struct gk_rule *first_allow = NULL;

	for (size_t i = 0; i < policy->n_rules; i++) {
		const struct gk_rule *rule = &policy->rules[i];

		if (!rule_in_level(rule, level) || !rule_matches(rule, facts))
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

/* detail: "rule N (line L)", then ": <why>" when there is a why. */
static void set_rule_decision(struct gk_decision *out, const struct gk_policy *policy,
			      const struct gk_rule *rule, enum gk_source source, const char *why)
{
	set_decision(out, rule->action, source, NULL);
	snprintf(out->detail, sizeof(out->detail), "rule %zu (line %u)%s%s",
		 (size_t)(rule - policy->rules) + 1, rule->line, why && *why ? ": " : "",
		 why ? why : "");
}

/* The scanner level. Returns false when the scan decided nothing. An
 * infected file is denied whatever the rules (the parser refuses
 * `scanner: infected` with allow); an error's decision, by rule or by
 * on_error, keeps source on-error so that it is never cached. */
static bool decide_by_scan(const struct gk_policy *policy, const struct gk_file_facts *facts,
			   struct gk_decision *out)
{
	const struct gk_rule *rule;

	if (facts->scan == GK_VERDICT_DENY) {
		set_decision(out, GK_VERDICT_DENY, GK_SOURCE_SCANNER, facts->scan_detail);
		return true;
	}
	if (facts->scan_error) {
		rule = level_rule(policy, facts, LEVEL_ERROR);
		if (rule)
			set_rule_decision(out, policy, rule, GK_SOURCE_ON_ERROR,
					  facts->scan_error_reason);
		else
			set_decision(out, policy->on_error, GK_SOURCE_ON_ERROR,
				     facts->scan_error_reason);
		return true;
	}
	/* Clean is no reason to allow on its own: only a `scanner: clean`
	 * rule turns it into a verdict; otherwise the default applies. */
	rule = facts->scan == GK_VERDICT_ALLOW ? level_rule(policy, facts, LEVEL_CLEAN) : NULL;
	if (rule)
		set_rule_decision(out, policy, rule, GK_SOURCE_SCANNER, NULL);
	return rule != NULL;
}

void gk_trust_why_not(enum gk_trust_match m, const char *pkg, char *out, size_t size)
{
	pkg = pkg && *pkg ? pkg : "its package";
	switch (m) {
	case GK_TRUST_DIFFERS:
		snprintf(out, size, "differs from the digest dpkg recorded for %s", pkg);
		return;
	case GK_TRUST_NO_DIGEST:
		snprintf(out, size, "dpkg recorded no digest for it (%s)", pkg);
		return;
	case GK_TRUST_NOT_PACKAGED:
		snprintf(out, size, "not in any package");
		return;
	case GK_TRUST_UNKNOWN:
	case GK_TRUST_MATCH:
		break;
	}
	if (size)
		out[0] = '\0';
}

/* A packaged file that trust refused keeps the reason in the detail of
 * whatever decided instead, so the audit row says why trust did not apply. */
static void note_untrusted(const struct gk_file_facts *facts, struct gk_decision *out)
{
	char why[120];
	size_t len = strlen(out->detail);

	if (facts->trust != GK_TRUST_DIFFERS && facts->trust != GK_TRUST_NO_DIGEST)
		return;
	gk_trust_why_not(facts->trust, facts->trust_detail, why, sizeof(why));
	snprintf(out->detail + len, sizeof(out->detail) - len, "%s%s", len ? "; " : "", why);
}

static void decide_untrusted(const struct gk_policy *policy, const struct gk_file_facts *facts,
			     struct gk_decision *out)
{
	const struct gk_rule *rule = level_rule(policy, facts, LEVEL_PATH);

	if (rule)
		set_rule_decision(out, policy, rule, GK_SOURCE_POLICY_PATH, NULL);
	else if (!decide_by_scan(policy, facts, out))
		set_decision(out, policy->default_verdict, GK_SOURCE_DEFAULT, NULL);
	note_untrusted(facts, out);
}

/* A file whose path is unknown (NULL) is treated as watched: not knowing
 * where it lives must not exempt it. Paths are compared as given; the daemon
 * passes canonical ones (from the event fd). */
void policy_decide(const struct gk_policy *policy, const struct gk_file_facts *facts,
		   struct gk_decision *out)
{
	const struct gk_rule *rule;

	set_decision(out, GK_VERDICT_ALLOW, GK_SOURCE_NONE, NULL);
	if (facts->fileless && policy && policy->fileless == GK_VERDICT_DENY) {
		set_decision(out, GK_VERDICT_DENY, GK_SOURCE_FILELESS,
			     "fileless: deny (no file name: memfd, O_TMPFILE or deleted)");
		return;
	}
	if (facts->admin == GK_VERDICT_ALLOW || facts->admin == GK_VERDICT_DENY) {
		set_decision(out, facts->admin, GK_SOURCE_ADMIN, NULL);
		return;
	}
	if (!policy)
		return;
	rule = level_rule(policy, facts, LEVEL_HASH);
	if (rule) {
		set_rule_decision(out, policy, rule, GK_SOURCE_POLICY_HASH, NULL);
		return;
	}
	if (!policy_facts_watched(policy, facts)) {
		set_decision(out, GK_VERDICT_ALLOW, GK_SOURCE_UNWATCHED, NULL);
		return;
	}
	/* Trust only ever allows: there is no deny at its level to beat it. */
	if (policy->n_trust > 0 && facts->trust == GK_TRUST_MATCH) {
		set_decision(out, GK_VERDICT_ALLOW, GK_SOURCE_TRUST, facts->trust_detail);
		return;
	}
	decide_untrusted(policy, facts, out);
}

/* The most specific `scan:` entry holding path, or NULL. */
static const struct gk_scan_subtree *scan_subtree_of(const struct gk_policy *policy,
						     const char *path)
{
	const struct gk_scan_subtree *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; path && i < policy->n_scan; i++) {
		const struct gk_scan_subtree *s = &policy->scan[i];
		size_t len = strlen(s->path);

		if (policy_path_within(s->path, path) && (!best || len > best_len)) {
			best = s;
			best_len = len;
		}
	}
	return best;
}

static bool scan_forced(const struct gk_policy *policy, const char *path)
{
	for (size_t i = 0; path && i < policy->n_rules; i++) {
		if (policy->rules[i].scan && policy_rule_matches_path(&policy->rules[i], path))
			return true;
	}
	return false;
}

bool policy_facts_watched(const struct gk_policy *policy, const struct gk_file_facts *facts)
{
	if (facts->watch != GK_WATCH_FROM_PATH)
		return facts->watch == GK_WATCH_INSIDE;
	return !facts->path || policy_path_watched(policy, facts->path);
}

bool policy_scan_plan(const struct gk_policy *policy, const char *path, struct gk_scan_plan *out)
{
	struct gk_file_facts facts = { .path = path };
	return policy_scan_plan_for(policy, &facts, out);
}

bool policy_scan_plan_for(const struct gk_policy *policy, const struct gk_file_facts *facts,
			  struct gk_scan_plan *out)
{
	const struct gk_scan_subtree *entry;
	const char *path = facts->path;
	bool hashlist_on, clamav_on;

	*out = (struct gk_scan_plan){.max_file_size = GK_SCAN_DEFAULT_MAX_FILE_SIZE,
				     .max_scan_time_ms = GK_SCAN_DEFAULT_MAX_SCAN_MS};
	if (!policy || !policy_facts_watched(policy, facts))
		return false;
	hashlist_on = policy->scanners.n_hashlist_files > 0;
	clamav_on = policy->scanners.clamav_active;
	entry = scan_subtree_of(policy, path);
	if (entry) {
		out->max_file_size = entry->max_file_size;
		out->max_scan_time_ms = entry->max_scan_time_ms;
	}
	if (entry && entry->engines_given) {
		out->hashlist = entry->hashlist && hashlist_on;
		out->clamav = entry->clamav && clamav_on;
	}
	if (!entry || !entry->engines_given || (!out->hashlist && !out->clamav &&
						scan_forced(policy, path))) {
		out->hashlist = hashlist_on;
		out->clamav = clamav_on;
	}
	return out->hashlist || out->clamav;
}

bool policy_path_watched(const struct gk_policy *policy, const char *path)
{
	if (!policy || !path)
		return false;
	for (size_t i = 0; i < policy->n_watch; i++) {
		if (policy_path_within(policy->watch[i], path))
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
	[GK_SOURCE_TRUST] = "trust",
	[GK_SOURCE_FILELESS] = "fileless",
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
