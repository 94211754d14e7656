/* Unit tests for policy/: decision precedence, subtree and glob matching,
 * name and hex helpers. Parsing and loading: test_policy.c.
 * Each table row runs as its own cmocka test, so TAP output names it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_policy_util.h"


/* ---- decision precedence ---- */

static const char decide_yaml[] =
	"mode: enforce\n"                              /* 1 */
	"watch:\n"                                     /* 2 */
	"  - /w\n"                                     /* 3 */
	"  - /v/sub\n"                                 /* 4 */
	"default: deny\n"                              /* 5 */
	"on_error: allow\n"                            /* 6 */
	"rules:\n"                                     /* 7 */
	"  - {sha256: " H64_A ", action: allow}\n"     /* 8:  rule 1 */
	"  - {sha256: " H64_B ", action: deny}\n"      /* 9:  rule 2 */
	"  - {sha256: " H64_C ", action: allow}\n"     /* 10: rule 3 */
	"  - {sha256: " H64_C ", action: deny}\n"      /* 11: rule 4 */
	"  - {path: /w/allowed, action: allow}\n"      /* 12: rule 5 */
	"  - {path: /w/mixed, action: allow}\n"        /* 13: rule 6 */
	"  - {glob: \"/w/mixed/*.sh\", action: deny}\n" /* 14: rule 7 */
	"  - {glob: \"/w/**/bad-*\", action: deny}\n"  /* 15: rule 8 */
	"  - {path: /outside, action: deny}\n";        /* 16: rule 9 */

enum hash_id { NO_HASH, HASH_A, HASH_B, HASH_C, HASH_D };

struct decide_case {
	const char *name;
	const char *path;
	enum hash_id hash;
	enum gk_verdict admin, scan;
	const char *scan_detail;
	bool scan_error;
	const char *reason;
	enum gk_verdict want;
	enum gk_source source;
	const char *detail;
};

#define A GK_VERDICT_ALLOW
#define D GK_VERDICT_DENY
#define U GK_VERDICT_UNKNOWN

static const struct decide_case decide_cases[] = {
	{"admin deny beats hash allow", "/w/x", HASH_A, D, U, NULL, false, NULL, D, GK_SOURCE_ADMIN, ""},
	{"admin allow beats hash deny", "/w/x", HASH_B, A, D, "Eicar", false, NULL, A, GK_SOURCE_ADMIN, ""},
	{"admin applies unwatched", "/elsewhere/x", NO_HASH, D, U, NULL, false, NULL, D, GK_SOURCE_ADMIN, ""},
	{"hash allow beats path deny and scanner", "/w/mixed/a.sh", HASH_A, U, D, "Eicar", false, NULL, A,
	 GK_SOURCE_POLICY_HASH, "rule 1 (line 8)"},
	{"hash deny beats path allow", "/w/allowed/x", HASH_B, U, U, NULL, false, NULL, D,
	 GK_SOURCE_POLICY_HASH, "rule 2 (line 9)"},
	{"hash deny beats hash allow", "/w/x", HASH_C, U, U, NULL, false, NULL, D, GK_SOURCE_POLICY_HASH,
	 "rule 4 (line 11)"},
	{"hash rule applies unwatched", "/elsewhere/x", HASH_B, U, U, NULL, false, NULL, D,
	 GK_SOURCE_POLICY_HASH, "rule 2 (line 9)"},
	{"unwatched allows", "/elsewhere/x", HASH_D, U, D, "Eicar", true, "boom", A, GK_SOURCE_UNWATCHED, ""},
	{"path rules stop at the watch", "/outside/x", NO_HASH, U, U, NULL, false, NULL, A,
	 GK_SOURCE_UNWATCHED, ""},
	{"path allow beats scanner", "/w/allowed/bin/x", HASH_D, U, D, "Eicar", false, NULL, A,
	 GK_SOURCE_POLICY_PATH, "rule 5 (line 12)"},
	{"path deny beats path allow", "/w/mixed/a.sh", NO_HASH, U, U, NULL, false, NULL, D,
	 GK_SOURCE_POLICY_PATH, "rule 7 (line 14)"},
	{"path allow when deny glob misses", "/w/mixed/a.txt", NO_HASH, U, U, NULL, false, NULL, A,
	 GK_SOURCE_POLICY_PATH, "rule 6 (line 13)"},
	{"deep ** glob", "/w/a/b/bad-x", NO_HASH, U, U, NULL, false, NULL, D, GK_SOURCE_POLICY_PATH,
	 "rule 8 (line 15)"},
	{"scanner deny", "/w/x", HASH_D, U, D, "Eicar-Test-Signature", false, NULL, D, GK_SOURCE_SCANNER,
	 "Eicar-Test-Signature"},
	{"scanner deny beats scan error", "/w/x", NO_HASH, U, D, "Sig", true, "limit", D,
	 GK_SOURCE_SCANNER, "Sig"},
	{"scan error uses on_error", "/w/x", NO_HASH, U, U, NULL, true, "scan timed out", A,
	 GK_SOURCE_ON_ERROR, "scan timed out"},
	{"scan error without reason", "/w/x", NO_HASH, U, U, NULL, true, NULL, A, GK_SOURCE_ON_ERROR, ""},
	{"clean scan falls to default", "/w/x", NO_HASH, U, A, NULL, false, NULL, D, GK_SOURCE_DEFAULT, ""},
	{"nothing known: default", "/w/x", NO_HASH, U, U, NULL, false, NULL, D, GK_SOURCE_DEFAULT, ""},
	{"unknown path counts as watched", NULL, NO_HASH, U, U, NULL, false, NULL, D, GK_SOURCE_DEFAULT, ""},
	{"watch subtree top itself", "/v/sub", NO_HASH, U, U, NULL, false, NULL, D, GK_SOURCE_DEFAULT, ""},
	{"watch subtree parent", "/v", NO_HASH, U, U, NULL, false, NULL, A, GK_SOURCE_UNWATCHED, ""},
	{"watch sibling prefix", "/v/subx/a", NO_HASH, U, U, NULL, false, NULL, A, GK_SOURCE_UNWATCHED, ""},
};

/* Rules by scanner result, and scan rules, which give no verdict. */
static const char scanner_yaml[] =
	"mode: enforce\n"                                          /* 1 */
	"watch: [/w, /u]\n"                                        /* 2 */
	"default: deny\n"                                          /* 3 */
	"on_error: allow\n"                                        /* 4 */
	"rules:\n"                                                 /* 5 */
	"  - {path: /w/dl, scanner: clean, action: allow}\n"       /* 6:  rule 1 */
	"  - {glob: \"/w/dl/*.sh\", scanner: clean, action: deny}\n" /* 7: rule 2 */
	"  - {scanner: error, action: deny}\n"                     /* 8:  rule 3 */
	"  - {path: /u/lax, scanner: error, action: allow}\n"      /* 9:  rule 4 */
	"  - {path: /w/trusted, action: allow}\n"                  /* 10: rule 5 */
	"  - {sha256: " H64_A ", action: allow}\n"                 /* 11: rule 6 */
	"  - {path: /w/dl/sub, action: scan}\n"                    /* 12: rule 7 */
	"  - {scanner: infected, action: deny}\n"                  /* 13: rule 8 */
	"  - {path: /u, action: scan}\n";                          /* 14: rule 9 */

static const struct decide_case scanner_cases[] = {
	{"clean + scanner rule allows", "/w/dl/x", NO_HASH, U, A, NULL, false, NULL, A,
	 GK_SOURCE_SCANNER, "rule 1 (line 6)"},
	{"clean: scanner rule deny beats allow", "/w/dl/x.sh", NO_HASH, U, A, NULL, false, NULL, D,
	 GK_SOURCE_SCANNER, "rule 2 (line 7)"},
	{"clean outside the scanner rule: default", "/w/x", NO_HASH, U, A, NULL, false, NULL, D,
	 GK_SOURCE_DEFAULT, ""},
	{"not scanned: scanner rules do not apply", "/w/dl/x", NO_HASH, U, U, NULL, false, NULL, D,
	 GK_SOURCE_DEFAULT, ""},
	{"infected where clean would be allowed", "/w/dl/x", NO_HASH, U, D, "Eicar", false, NULL, D,
	 GK_SOURCE_SCANNER, "Eicar"},
	{"path allow beats infected", "/w/trusted/x", NO_HASH, U, D, "Eicar", false, NULL, A,
	 GK_SOURCE_POLICY_PATH, "rule 5 (line 10)"},
	{"hash allow beats infected", "/w/dl/x", HASH_A, U, D, "Eicar", false, NULL, A,
	 GK_SOURCE_POLICY_HASH, "rule 6 (line 11)"},
	{"admin deny beats scanner allow", "/w/dl/x", NO_HASH, D, A, NULL, false, NULL, D,
	 GK_SOURCE_ADMIN, ""},
	{"error: scanner rule instead of on_error", "/w/x", NO_HASH, U, U, NULL, true, "timed out", D,
	 GK_SOURCE_ON_ERROR, "rule 3 (line 8): timed out"},
	{"error: deny rule beats allow rule", "/u/lax/x", NO_HASH, U, U, NULL, true, "limit", D,
	 GK_SOURCE_ON_ERROR, "rule 3 (line 8): limit"},
	{"error without reason", "/w/x", NO_HASH, U, U, NULL, true, NULL, D, GK_SOURCE_ON_ERROR,
	 "rule 3 (line 8)"},
	{"error beats clean", "/w/dl/x", NO_HASH, U, A, NULL, true, "one engine failed", D,
	 GK_SOURCE_ON_ERROR, "rule 3 (line 8): one engine failed"},
	{"infected beats error", "/w/x", NO_HASH, U, D, "Sig", true, "limit", D, GK_SOURCE_SCANNER,
	 "Sig"},
	{"error unwatched: scanner rules stop at the watch", "/x/y", NO_HASH, U, U, NULL, true, "t", A,
	 GK_SOURCE_UNWATCHED, ""},
	{"scan rule gives no verdict", "/w/dl/sub/x", NO_HASH, U, U, NULL, false, NULL, D,
	 GK_SOURCE_DEFAULT, ""},
	{"scan rule subtree, clean", "/w/dl/sub/x", NO_HASH, U, A, NULL, false, NULL, A,
	 GK_SOURCE_SCANNER, "rule 1 (line 6)"},
	{"unknown path: scanner-only rules apply", NULL, NO_HASH, U, U, NULL, true, "r", D,
	 GK_SOURCE_ON_ERROR, "rule 3 (line 8): r"},
	{"unknown path: path scanner rules do not", NULL, NO_HASH, U, A, NULL, false, NULL, D,
	 GK_SOURCE_DEFAULT, ""},
};

static void run_decide_case(const char *yaml, const struct decide_case *c)
{
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("d.yaml", yaml, strlen(yaml), &errs);
	unsigned char sha[GK_SHA256_LEN];
	struct gk_file_facts facts = {
		.path = c->path, .admin = c->admin, .scan = c->scan, .scan_detail = c->scan_detail,
		.scan_error = c->scan_error, .scan_error_reason = c->reason,
	};
	struct gk_decision out;

	if (!p)
		fail_msg("%s", errs.msg[0]);
	if (c->hash != NO_HASH) {
		memset(sha, 0xaa + 0x11 * (c->hash - HASH_A), sizeof(sha));
		facts.sha256 = sha;
	}
	memset(&out, 0x5a, sizeof(out));
	policy_decide(p, &facts, &out);
	assert_string_equal(gk_verdict_name(out.verdict), gk_verdict_name(c->want));
	assert_string_equal(gk_source_name(out.source), gk_source_name(c->source));
	assert_string_equal(out.detail, c->detail);
	policy_free(p);
}

static void decide_case(void **state)
{
	run_decide_case(decide_yaml, *state);
}

static void scanner_case(void **state)
{
	run_decide_case(scanner_yaml, *state);
}

/* `fileless` defaults to allow. `fileless: deny` refuses a program with no
 * file name before any rule, admin allow included (the kernel refuses it by
 * route, not by content); `fileless: allow` leaves it to the usual
 * precedence. */
static void decide_fileless(void **state)
{
	static const char *const yaml[] = {
		"mode: enforce\nwatch: [/w]\ndefault: allow\nfileless: deny\n",
		"mode: enforce\nwatch: [/w]\ndefault: allow\nfileless: allow\n",
		"mode: enforce\nwatch: [/w]\ndefault: allow\n",
	};
	struct gk_policy_errors errs;
	struct gk_decision out;
	struct gk_policy *deny = policy_parse("d.yaml", yaml[0], strlen(yaml[0]), &errs);
	struct gk_policy *allow = policy_parse("a.yaml", yaml[1], strlen(yaml[1]), &errs);
	struct gk_file_facts f = { .path = "/w/#123 (deleted)", .admin = GK_VERDICT_ALLOW,
				   .fileless = true };

	(void)state;
	struct gk_policy *unset = policy_parse("u.yaml", yaml[2], strlen(yaml[2]), &errs);

	assert_non_null(deny);
	assert_non_null(allow);
	assert_non_null(unset);
	assert_int_equal(deny->fileless, GK_VERDICT_DENY);
	assert_int_equal(allow->fileless, GK_VERDICT_ALLOW);
	assert_int_equal(unset->fileless, GK_VERDICT_ALLOW);
	policy_free(unset);
	policy_decide(deny, &f, &out);
	assert_int_equal(out.verdict, GK_VERDICT_DENY);
	assert_int_equal(out.source, GK_SOURCE_FILELESS);
	assert_string_equal(gk_source_name(out.source), "fileless");
	policy_decide(allow, &f, &out);
	assert_int_equal(out.verdict, GK_VERDICT_ALLOW);
	assert_int_equal(out.source, GK_SOURCE_ADMIN);
	f.fileless = false;
	f.admin = GK_VERDICT_UNKNOWN;
	policy_decide(deny, &f, &out);
	assert_int_equal(out.source, GK_SOURCE_DEFAULT);
	policy_free(deny);
	policy_free(allow);
}

static void decide_without_policy(void **state)
{
	struct gk_file_facts facts = {.path = "/x", .admin = GK_VERDICT_UNKNOWN};
	struct gk_decision out;

	(void)state;
	policy_decide(NULL, &facts, &out);
	assert_int_equal(out.verdict, GK_VERDICT_ALLOW);
	assert_int_equal(out.source, GK_SOURCE_NONE);
	facts.admin = GK_VERDICT_DENY;
	policy_decide(NULL, &facts, &out);
	assert_int_equal(out.verdict, GK_VERDICT_DENY);
	assert_int_equal(out.source, GK_SOURCE_ADMIN);
	assert_false(policy_path_watched(NULL, "/x"));
}

/* ---- glob and subtree matching, through a one-rule policy ---- */

struct match_case {
	const char *kind; /* "glob" or "path" */
	const char *pattern;
	const char *path;
	bool match;
};

static const struct match_case match_cases[] = {
	{"glob", "/opt/*.sh", "/opt/a.sh", true},
	{"glob", "/opt/*.sh", "/opt/x/a.sh", false},
	{"glob", "/opt/**/*.sh", "/opt/a.sh", true},
	{"glob", "/opt/**/*.sh", "/opt/x/y/a.sh", true},
	{"glob", "/opt/**/*.sh", "/opt/x/y/a.py", false},
	{"glob", "/opt/**/*.sh", "/optx/a.sh", false},
	{"glob", "/opt/**", "/opt/x/y", true},
	{"glob", "/opt/**", "/op/x", false},
	{"glob", "/**/bin/*", "/bin/ls", true},
	{"glob", "/**/bin/*", "/usr/local/bin/x", true},
	{"glob", "/**/bin/*", "/usr/bin", false},
	{"glob", "/a/**/b/**/c", "/a/b/c", true},
	{"glob", "/a/**/b/**/c", "/a/x/b/y/z/c", true},
	{"glob", "/a/**/b/**/c", "/a/x/y/c", false},
	{"glob", "/x/**/**/y", "/x/y", true},
	{"glob", "/tmp/*", "/tmp/.hidden", true},
	{"glob", "/tmp/?", "/tmp/a", true},
	{"glob", "/tmp/?", "/tmp/ab", false},
	{"glob", "/tmp/[ab]x", "/tmp/bx", true},
	{"glob", "/tmp/[ab]x", "/tmp/cx", false},
	{"glob", "/tmp/*x", "/tmp/a/x", false},
	{"glob", "/home/*/.local/bin/*", "/home/u/.local/bin/tool", true},
	{"path", "/opt/x", "/opt/x", true},
	{"path", "/opt/x", "/opt/x/y/z", true},
	{"path", "/opt/x", "/opt/xy", false},
	{"path", "/opt/x", "/opt", false},
	{"path", "/", "/anything/at/all", true},
};

static void match_case(void **state)
{
	const struct match_case *c = *state;
	char yaml[512];
	struct gk_policy_errors errs;
	struct gk_policy *p;
	struct gk_file_facts facts = {.path = c->path};
	struct gk_decision out;

	snprintf(yaml, sizeof(yaml),
		 "mode: enforce\nwatch: [/]\ndefault: allow\nrules:\n  - {%s: \"%s\", action: deny}\n",
		 c->kind, c->pattern);
	p = policy_parse("m.yaml", yaml, strlen(yaml), &errs);
	if (!p)
		fail_msg("%s", errs.msg[0]);
	policy_decide(p, &facts, &out);
	assert_int_equal(out.verdict, c->match ? GK_VERDICT_DENY : GK_VERDICT_ALLOW);
	assert_int_equal(out.source, c->match ? GK_SOURCE_POLICY_PATH : GK_SOURCE_DEFAULT);
	policy_free(p);
}

static void path_watched(void **state)
{
	static const char yaml[] = "mode: enforce\nwatch: [/home, /usr/local, /a/b/c]\ndefault: allow\n";
	static const char root[] = "mode: enforce\nwatch: [/]\ndefault: allow\n";
	struct gk_policy *p = policy_parse("w.yaml", yaml, strlen(yaml), NULL);
	struct gk_policy *r = policy_parse("r.yaml", root, strlen(root), NULL);

	(void)state;
	assert_non_null(p);
	assert_non_null(r);
	assert_true(policy_path_watched(p, "/home"));
	assert_true(policy_path_watched(p, "/home/u/bin/x"));
	assert_true(policy_path_watched(p, "/usr/local/bin/x"));
	assert_true(policy_path_watched(p, "/a/b/c/d"));
	assert_false(policy_path_watched(p, "/homer/x"));
	assert_false(policy_path_watched(p, "/usr/bin/x"));
	assert_false(policy_path_watched(p, "/a/b"));
	assert_false(policy_path_watched(p, "/"));
	assert_false(policy_path_watched(p, NULL));
	assert_true(policy_path_watched(r, "/"));
	assert_true(policy_path_watched(r, "/usr/bin/ls"));
	assert_false(policy_path_watched(r, "relative/path"));
	policy_free(p);
	policy_free(r);
}

/* The daemon says once per event whether a file is watched; that fact,
 * not the path, decides. Whether any hash rule can deny is compiled. */
static void watch_fact_and_hash_rules(void **state)
{
	static const char deny[] = "mode: enforce\nwatch: [/w]\ndefault: deny\nrules:\n"
		"  - {sha256: \"" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab"
		"ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "ab" "\", action: deny}\n";
	static const char allow[] = "mode: enforce\nwatch: [/w]\ndefault: deny\nrules:\n"
		"  - {path: /w/ok, action: allow}\n";
	struct gk_policy *d = policy_parse("d.yaml", deny, strlen(deny), NULL);
	struct gk_policy *a = policy_parse("a.yaml", allow, strlen(allow), NULL);
	struct gk_file_facts f = {.path = "/w/x", .watch = GK_WATCH_OUTSIDE};
	struct gk_decision out;
	struct gk_scan_plan plan;

	(void)state;
	assert_non_null(d);
	assert_non_null(a);
	assert_true(d->hash_rules_deny);
	assert_false(a->hash_rules_deny);
	/* a path rule makes defaults depend on the path; a hash rule does not */
	assert_true(a->verdict_by_path);
	assert_false(d->verdict_by_path);
	policy_decide(a, &f, &out);
	assert_int_equal(out.source, GK_SOURCE_UNWATCHED);
	f = (struct gk_file_facts){.path = "/elsewhere", .watch = GK_WATCH_INSIDE};
	policy_decide(a, &f, &out);
	assert_int_equal(out.source, GK_SOURCE_DEFAULT);
	f.watch = GK_WATCH_FROM_PATH;
	policy_decide(a, &f, &out);
	assert_int_equal(out.source, GK_SOURCE_UNWATCHED);
	f = (struct gk_file_facts){.path = "/w/x", .watch = GK_WATCH_OUTSIDE};
	assert_false(policy_scan_plan_for(a, &f, &plan));
	policy_free(d);
	policy_free(a);
}

/* ---- scan plans ---- */

#define NO_DIR "/nonexistent/gk-test-clamav"
#define PLAN_HEAD "mode: enforce\nwatch: [/w, /v]\ndefault: allow\n"

static const char *const plan_yamls[] = {
	/* 0: both engines on, nested subtrees, a scan rule */
	PLAN_HEAD "scanners:\n  hashlist: {files: [/h]}\n  clamav: {enabled: true}\n"
	"scan:\n"
	"  - {path: /w, max_file_size: 1M}\n"
	"  - {path: /w/quick, engines: [hashlist], max_scan_time_ms: 100}\n"
	"  - {path: /w/none, engines: []}\n"
	"  - {path: /w/none/deep, engines: [clamav]}\n"
	"rules:\n  - {glob: \"/w/none/*.bin\", action: scan}\n",
	/* 1: clamav auto without its database, so only the hash list */
	PLAN_HEAD "scanners:\n  hashlist: {files: [/h]}\n  clamav: {database: " NO_DIR "}\n"
	"scan:\n  - {path: /w/c, engines: [clamav]}\n  - {path: /w/d, engines: [clamav]}\n"
	"  - {path: /v, engines: []}\n"
	"rules:\n  - {path: /w/d, action: scan}\n",
	/* 2: no engine configured at all */
	PLAN_HEAD "rules:\n  - {path: /w, action: scan}\n",
	/* 3: clamav switched off */
	PLAN_HEAD "scanners: {clamav: {enabled: false, database: /tmp}}\n",
};

struct plan_case {
	const char *name;
	int policy;          /* index in plan_yamls, -1: no policy */
	const char *path;
	bool hashlist, clamav;
	uint64_t max_file_size;
	unsigned max_scan_time_ms;
};

#define M64 (64ull << 20)

static const struct plan_case plan_cases[] = {
	{"plan: subtree limits, default engines", 0, "/w/x", true, true, 1 << 20, 5000},
	{"plan: subtree top itself", 0, "/w", true, true, 1 << 20, 5000},
	{"plan: longest subtree wins", 0, "/w/quick/a", true, false, M64, 100},
	{"plan: sibling prefix is not inside", 0, "/w/quickx/a", true, true, 1 << 20, 5000},
	{"plan: engines [] scans nothing", 0, "/w/none/a", false, false, M64, 5000},
	{"plan: scan rule forces every engine", 0, "/w/none/a.bin", true, true, M64, 5000},
	{"plan: deeper subtree, own engines", 0, "/w/none/deep/a.bin", false, true, M64, 5000},
	{"plan: watched, no entry: defaults", 0, "/v/x", true, true, M64, 5000},
	{"plan: unwatched: nothing", 0, "/elsewhere/x", false, false, M64, 5000},
	{"plan: unknown path: defaults", 0, NULL, true, true, M64, 5000},
	{"plan: auto without database is off", 1, "/w/x", true, false, M64, 5000},
	{"plan: only engine listed is off", 1, "/w/c/x", false, false, M64, 5000},
	{"plan: forced scan takes the engine that is on", 1, "/w/d/x", true, false, M64, 5000},
	{"plan: engines [] and no scan rule", 1, "/v/x", false, false, M64, 5000},
	{"plan: no engine configured", 2, "/w/x", false, false, M64, 5000},
	{"plan: clamav switched off", 3, "/w/x", false, false, M64, 5000},
	{"plan: no policy", -1, "/w/x", false, false, M64, 5000},
};

static void plan_case(void **state)
{
	const struct plan_case *c = *state;
	struct gk_policy_errors errs;
	struct gk_policy *p = NULL;
	struct gk_scan_plan plan;
	bool any;

	if (c->policy >= 0) {
		const char *yaml = plan_yamls[c->policy];

		p = policy_parse("p.yaml", yaml, strlen(yaml), &errs);
		if (!p)
			fail_msg("%s", errs.msg[0]);
	}
	memset(&plan, 0x5a, sizeof(plan));
	any = policy_scan_plan(p, c->path, &plan);
	assert_int_equal(plan.hashlist, c->hashlist);
	assert_int_equal(plan.clamav, c->clamav);
	assert_int_equal(any, c->hashlist || c->clamav);
	assert_int_equal(plan.max_file_size, c->max_file_size);
	assert_int_equal(plan.max_scan_time_ms, c->max_scan_time_ms);
	policy_free(p);
}

/* ---- name and hex helpers ---- */

static void name_helpers(void **state)
{
	static const char *const sources[] = {"none", "admin", "policy-hash", "policy-path",
					      "scanner", "default", "on-error", "unwatched"};

	(void)state;
	for (int s = GK_SOURCE_NONE; s <= GK_SOURCE_UNWATCHED; s++) {
		assert_string_equal(gk_source_name((enum gk_source)s), sources[s]);
		assert_int_equal(gk_source_from_name(sources[s]), s);
	}
	assert_int_equal(gk_source_from_name("bogus"), GK_SOURCE_NONE);
	assert_int_equal(gk_source_from_name(NULL), GK_SOURCE_NONE);
	assert_string_equal(gk_source_name((enum gk_source)99), "none");
	assert_string_equal(gk_verdict_name(GK_VERDICT_ALLOW), "allow");
	assert_string_equal(gk_verdict_name(GK_VERDICT_DENY), "deny");
	assert_string_equal(gk_verdict_name(GK_VERDICT_UNKNOWN), "unknown");
	assert_int_equal(gk_verdict_from_name("allow"), GK_VERDICT_ALLOW);
	assert_int_equal(gk_verdict_from_name("deny"), GK_VERDICT_DENY);
	assert_int_equal(gk_verdict_from_name("Deny"), GK_VERDICT_UNKNOWN);
	assert_int_equal(gk_verdict_from_name(NULL), GK_VERDICT_UNKNOWN);
	assert_string_equal(gk_mode_name(GK_MODE_ENFORCE), "enforce");
	assert_string_equal(gk_mode_name(GK_MODE_MONITOR), "monitor");
}

static void hex_helpers(void **state)
{
	unsigned char sha[GK_SHA256_LEN], back[GK_SHA256_LEN];
	char hex[GK_SHA256_HEX_LEN + 1];

	(void)state;
	for (size_t i = 0; i < GK_SHA256_LEN; i++)
		sha[i] = (unsigned char)(i * 8 + 1);
	gk_sha256_to_hex(sha, hex);
	assert_string_equal(hex, "0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9");
	assert_int_equal(gk_sha256_from_hex(hex, back), 0);
	assert_memory_equal(sha, back, GK_SHA256_LEN);
	assert_int_equal(gk_sha256_from_hex("0109111921293139414951596169717981899199A1A9B1B9"
					    "C1C9D1D9E1E9F1F9", back), 0);
	assert_memory_equal(sha, back, GK_SHA256_LEN);

	memset(back, 0x77, sizeof(back));
	assert_int_equal(gk_sha256_from_hex(H64_A "0", back), -1);        /* 65 */
	assert_int_equal(gk_sha256_from_hex(H64_A + 1, back), -1);        /* 63 */
	assert_int_equal(gk_sha256_from_hex("", back), -1);
	assert_int_equal(gk_sha256_from_hex(NULL, back), -1);
	memcpy(hex, H64_A, sizeof(hex));
	hex[17] = 'x';
	assert_int_equal(gk_sha256_from_hex(hex, back), -1);
	hex[17] = ' ';
	assert_int_equal(gk_sha256_from_hex(hex, back), -1);
	hex[17] = '\0';
	assert_int_equal(gk_sha256_from_hex(hex, back), -1);
	for (size_t i = 0; i < GK_SHA256_LEN; i++)
		assert_int_equal(back[i], 0x77); /* untouched on failure */
}

/* gk_hex_decode, the one hex decoder (policy, hash lists, admin table, dpkg). */
struct hex_case {
	const char *hex;
	size_t len, size;
	int want;                  /* bytes, or -1 */
	unsigned char out[4];
};
static const struct hex_case hex_cases[] = {
	{ "00ff7f80", 8, 4, 4, { 0x00, 0xff, 0x7f, 0x80 } },
	{ "ABcdEf01", 8, 4, 4, { 0xab, 0xcd, 0xef, 0x01 } },   /* either case */
	{ "abcdefXY", 4, 4, 2, { 0xab, 0xcd } },               /* only len read */
	{ "", 0, 4, 0, { 0 } },
	{ "abc", 3, 4, -1, { 0 } },                            /* odd length */
	{ "abcd0", 5, 4, -1, { 0 } },
	{ "ab", 4, 4, -1, { 0 } },                             /* shorter than len */
	{ "0g12", 4, 4, -1, { 0 } },                           /* bad characters */
	{ "12 4", 4, 4, -1, { 0 } },
	{ "-123", 4, 4, -1, { 0 } },
	{ "1:23", 4, 4, -1, { 0 } },
	{ "@AFG", 4, 4, -1, { 0 } },
	{ "`aff", 4, 4, -1, { 0 } },
	{ "0x12", 4, 4, -1, { 0 } },
	{ "a\xc3\xa9" "b", 4, 4, -1, { 0 } },
	{ "aabbccdd", 8, 3, -1, { 0 } },                       /* out too small */
	{ NULL, 2, 4, -1, { 0 } },
};

static void hex_decode_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(hex_cases); i++) {
		const struct hex_case *c = &hex_cases[i];
		unsigned char out[4];
		memset(out, 0x77, sizeof(out));
		int got = gk_hex_decode(c->hex, c->len, out, c->size);
		if (got != c->want)
			fail_msg("case %zu (\"%s\", %zu): got %d, want %d", i, c->hex ? c->hex : "NULL",
				 c->len, got, c->want);
		for (size_t k = 0; k < sizeof(out); k++) {
			int want = (int)k < c->want ? c->out[k] : 0x77;   /* the rest untouched */
			if (out[k] != want)
				fail_msg("case %zu: byte %zu is %#x, want %#x", i, k, out[k], want);
		}
	}
}

/* ---- runner: one cmocka test per table row ---- */

int main(void)
{
	static const struct single_test singles[] = {
		{"decide without policy", decide_without_policy},
		{"fileless setting", decide_fileless},
		{"policy_path_watched subtrees", path_watched},
		{"watch fact and compiled hash rules", watch_fact_and_hash_rules},
		{"name helpers", name_helpers},
		{"hex helpers", hex_helpers},
		{"hex decode table", hex_decode_table},
	};
	static char names[N_OF(match_cases)][160];
	struct CMUnitTest tests[N_OF(decide_cases) + N_OF(scanner_cases) + N_OF(plan_cases) +
				N_OF(match_cases) + N_OF(singles)];
	size_t n = 0;

	for (size_t i = 0; i < N_OF(decide_cases); i++)
		add_test(tests, &n, decide_cases[i].name, decide_case, &decide_cases[i]);
	for (size_t i = 0; i < N_OF(scanner_cases); i++)
		add_test(tests, &n, scanner_cases[i].name, scanner_case, &scanner_cases[i]);
	for (size_t i = 0; i < N_OF(plan_cases); i++)
		add_test(tests, &n, plan_cases[i].name, plan_case, &plan_cases[i]);
	for (size_t i = 0; i < N_OF(match_cases); i++) {
		snprintf(names[i], sizeof(names[i]), "%s %s %s %s", match_cases[i].kind,
			 match_cases[i].pattern, match_cases[i].match ? "matches" : "misses",
			 match_cases[i].path);
		add_test(tests, &n, names[i], match_case, &match_cases[i]);
	}
	add_singles(tests, &n, singles, N_OF(singles));
	return run_table("policy_decide", tests, n);
}
