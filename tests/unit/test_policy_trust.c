/* Unit tests for the `trust:` section: parsing (exact positions and
 * messages) and where trust sits in policy_decide's precedence. Each table
 * row runs as its own cmocka test, so TAP output names it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_policy_util.h"

#define HEAD "mode: enforce\nwatch: [/w]\ndefault: deny\n"

/* ---- parsing ---- */

struct good_case {
	const char *name, *yaml;
	size_t n_trust;
	const char *root, *admindir;
};

static const struct good_case good_cases[] = {
	{"trust: [dpkg]", HEAD "trust: [dpkg]\n", 1, "/", "/var/lib/dpkg"},
	{"trust: block list", HEAD "trust:\n  - dpkg\n", 1, "/", "/var/lib/dpkg"},
	{"dpkg with admindir", HEAD "trust: [{dpkg: {admindir: /x/db/}}]\n", 1, "/", "/x/db"},
	{"dpkg with root: admindir below it", HEAD "trust: [{dpkg: {root: /srv/r}}]\n", 1,
	 "/srv/r", "/srv/r/var/lib/dpkg"},
	{"dpkg with root and admindir", HEAD "trust:\n  - dpkg:\n      root: /r\n"
	 "      admindir: /a\n", 1, "/r", "/a"},
	{"dpkg: with no settings", HEAD "trust: [{dpkg: }]\n", 1, "/", "/var/lib/dpkg"},
	{"empty trust: no sources", HEAD "trust:\n", 0, NULL, NULL},
	{"trust: [] no sources", HEAD "trust: []\n", 0, NULL, NULL},
	{"no trust key", HEAD, 0, NULL, NULL},
};

static void good_case(void **state)
{
	const struct good_case *c = *state;
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("t.yaml", c->yaml, strlen(c->yaml), &errs);

	if (!p)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(p->n_trust, c->n_trust);
	if (c->n_trust) {
		assert_int_equal(p->trust[0].kind, GK_TRUST_DPKG);
		assert_string_equal(p->trust[0].root, c->root);
		assert_string_equal(p->trust[0].admindir, c->admindir);
	}
	policy_free(p);
}

struct bad_case {
	const char *name, *yaml, *first; /* first: the whole first message */
	size_t count;
};

static const struct bad_case bad_cases[] = {
	{"unknown source with hint", HEAD "trust: [dpgk]\n",
	 "t.yaml:4:9: trust source 1: unknown source 'dpgk' (did you mean 'dpkg'?)", 1},
	{"unknown source", HEAD "trust: [rpm]\n",
	 "t.yaml:4:9: trust source 1: unknown source 'rpm' (known: dpkg)", 1},
	{"source listed twice", HEAD "trust:\n  - dpkg\n  - {dpkg: {admindir: /x}}\n",
	 "t.yaml:6:6: trust source 2: 'dpkg' is listed twice (first at line 5)", 1},
	{"trust is a scalar", HEAD "trust: dpkg\n",
	 "t.yaml:4:8: 'trust' must be a list of sources like [dpkg] or "
	 "[{dpkg: {admindir: /var/lib/dpkg}}], not a scalar", 1},
	{"trust is a map", HEAD "trust: {dpkg: {}}\n",
	 "t.yaml:4:8: 'trust' must be a list of sources like [dpkg] or "
	 "[{dpkg: {admindir: /var/lib/dpkg}}], not a map", 1},
	{"relative admindir", HEAD "trust: [{dpkg: {admindir: var/lib/dpkg}}]\n",
	 "t.yaml:4:27: dpkg admindir 'var/lib/dpkg' is not an absolute path", 1},
	{"typo in a dpkg key", HEAD "trust: [{dpkg: {admindr: /x}}]\n",
	 "t.yaml:4:17: trust.dpkg: unknown key 'admindr' (did you mean 'admindir'?)", 1},
	{"two sources in one entry", HEAD "trust: [{dpkg: {}, rpm: {}}]\n",
	 "t.yaml:4:20: trust source 1: one source per list entry (like [dpkg] or "
	 "[{dpkg: {admindir: /var/lib/dpkg}}])", 1},
	{"empty entry", HEAD "trust: [~]\n",
	 "t.yaml:4:9: trust source 1 must be a source name or a map (like [dpkg] or "
	 "[{dpkg: {admindir: /var/lib/dpkg}}]), not empty", 1},
	{"dpkg settings a list", HEAD "trust: [{dpkg: [/x]}]\n",
	 "t.yaml:4:16: 'trust.dpkg' must be a map like {admindir: /var/lib/dpkg, root: /}, "
	 "not a list", 1},
	{"root a number list", HEAD "trust: [{dpkg: {root: [1]}}]\n",
	 "t.yaml:4:23: 'trust.dpkg.root' must be an absolute directory, not a list", 1},
};

static void bad_case(void **state)
{
	const struct bad_case *c = *state;
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("t.yaml", c->yaml, strlen(c->yaml), &errs);

	assert_null(p);
	assert_string_equal(errs.msg[0], c->first);
	assert_int_equal(errs.count, c->count);
}

/* ---- precedence: admin > hash rule > trust > path rule > scanner > default ---- */

static const char decide_yaml[] =
	HEAD                                            /* 1-3 */
	"rules:\n"                                      /* 4 */
	"  - {sha256: " H64_A ", action: allow}\n"      /* 5: rule 1 */
	"  - {sha256: " H64_B ", action: deny}\n"       /* 6: rule 2 */
	"  - {path: /w/denied, action: deny}\n"         /* 7: rule 3 */
	"  - {path: /w/allowed, action: allow}\n"       /* 8: rule 4 */
	"  - {scanner: clean, action: allow}\n"         /* 9: rule 5 */
	"trust: [dpkg]\n";

#define A GK_VERDICT_ALLOW
#define D GK_VERDICT_DENY
#define U GK_VERDICT_UNKNOWN
#define T_MATCH GK_TRUST_MATCH
#define T_DIFF GK_TRUST_DIFFERS
#define T_NODIG GK_TRUST_NO_DIGEST
#define T_NONE GK_TRUST_NOT_PACKAGED
#define T_UNK GK_TRUST_UNKNOWN

struct decide_case {
	const char *name;
	const char *path;
	char hash;                 /* 'a', 'b' or 0 */
	enum gk_verdict admin, scan;
	bool scan_error;
	enum gk_trust_match trust;
	const char *trust_detail;
	bool no_trust_section;
	enum gk_verdict want;
	enum gk_source source;
	const char *detail;
};

static const struct decide_case decide_cases[] = {
	{"trusted: allowed by trust", "/w/x", 0, U, U, false, T_MATCH, "dpkg coreutils 9.1-1",
	 false, A, GK_SOURCE_TRUST, "dpkg coreutils 9.1-1"},
	{"admin deny beats trust", "/w/x", 0, D, U, false, T_MATCH, "dpkg c 1", false, D,
	 GK_SOURCE_ADMIN, ""},
	{"hash deny beats trust", "/w/x", 'b', U, U, false, T_MATCH, "dpkg c 1", false, D,
	 GK_SOURCE_POLICY_HASH, "rule 2 (line 6)"},
	{"hash allow beats trust (same verdict, higher level)", "/w/x", 'a', U, U, false, T_MATCH,
	 "dpkg c 1", false, A, GK_SOURCE_POLICY_HASH, "rule 1 (line 5)"},
	{"trust beats path deny", "/w/denied/x", 0, U, U, false, T_MATCH, "dpkg c 1", false, A,
	 GK_SOURCE_TRUST, "dpkg c 1"},
	{"trust beats scanner infected", "/w/x", 0, U, D, false, T_MATCH, "dpkg c 1", false, A,
	 GK_SOURCE_TRUST, "dpkg c 1"},
	{"trust beats scan error", "/w/x", 0, U, U, true, T_MATCH, "dpkg c 1", false, A,
	 GK_SOURCE_TRUST, "dpkg c 1"},
	{"differs: default, with why", "/w/x", 0, U, U, false, T_DIFF, "coreutils", false, D,
	 GK_SOURCE_DEFAULT, "differs from the digest dpkg recorded for coreutils"},
	{"differs: path deny, with why", "/w/denied/x", 0, U, U, false, T_DIFF, "coreutils", false,
	 D, GK_SOURCE_POLICY_PATH, "rule 3 (line 7); differs from the digest dpkg recorded for "
	 "coreutils"},
	{"differs: path allow still allows", "/w/allowed/x", 0, U, U, false, T_DIFF, "c", false, A,
	 GK_SOURCE_POLICY_PATH, "rule 4 (line 8); differs from the digest dpkg recorded for c"},
	{"differs: clean scan rule", "/w/x", 0, U, A, false, T_DIFF, "c", false, A,
	 GK_SOURCE_SCANNER, "rule 5 (line 9); differs from the digest dpkg recorded for c"},
	{"no digest: default, with why", "/w/x", 0, U, U, false, T_NODIG, "c", false, D,
	 GK_SOURCE_DEFAULT, "dpkg recorded no digest for it (c)"},
	{"not packaged: default, no note", "/w/x", 0, U, U, false, T_NONE, NULL, false, D,
	 GK_SOURCE_DEFAULT, ""},
	{"trust not asked: default", "/w/x", 0, U, U, false, T_UNK, NULL, false, D,
	 GK_SOURCE_DEFAULT, ""},
	{"unwatched stays unwatched", "/elsewhere/x", 0, U, U, false, T_MATCH, "dpkg c 1", false,
	 A, GK_SOURCE_UNWATCHED, ""},
	{"no trust section: a match is ignored", "/w/x", 0, U, U, false, T_MATCH, "dpkg c 1", true,
	 D, GK_SOURCE_DEFAULT, ""},
};

static void decide_case(void **state)
{
	const struct decide_case *c = *state;
	static const char plain_yaml[] = HEAD;
	const char *yaml = c->no_trust_section ? plain_yaml : decide_yaml;
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("d.yaml", yaml, strlen(yaml), &errs);
	unsigned char sha[GK_SHA256_LEN];
	struct gk_file_facts facts = {.path = c->path, .admin = c->admin, .scan = c->scan,
				      .scan_detail = c->scan == D ? "Eicar" : NULL,
				      .scan_error = c->scan_error, .scan_error_reason = "boom",
				      .trust = c->trust, .trust_detail = c->trust_detail};
	struct gk_decision out;

	if (!p)
		fail_msg("%s", errs.msg[0]);
	if (c->hash) {
		memset(sha, c->hash == 'a' ? 0xaa : 0xbb, sizeof(sha));
		facts.sha256 = sha;
	}
	policy_decide(p, &facts, &out);
	assert_string_equal(gk_verdict_name(out.verdict), gk_verdict_name(c->want));
	assert_string_equal(gk_source_name(out.source), gk_source_name(c->source));
	assert_string_equal(out.detail, c->detail);
	policy_free(p);
}

static void names(void **state)
{
	char why[160];

	(void)state;
	assert_string_equal(gk_source_name(GK_SOURCE_TRUST), "trust");
	assert_int_equal(gk_source_from_name("trust"), GK_SOURCE_TRUST);
	gk_trust_why_not(GK_TRUST_NOT_PACKAGED, NULL, why, sizeof(why));
	assert_string_equal(why, "not in any package");
	gk_trust_why_not(GK_TRUST_DIFFERS, "coreutils", why, sizeof(why));
	assert_string_equal(why, "differs from the digest dpkg recorded for coreutils");
	gk_trust_why_not(GK_TRUST_MATCH, "x", why, sizeof(why));
	assert_string_equal(why, "");
}

/* The shipped default has no trust; its commented host-allowlisting
 * profile, uncommented, is a valid policy that trusts dpkg on the whole host
 * and still starts in monitor mode. Runs from the repository root. */
static void packaged_profile(void **state)
{
	static const char begin[] = "# ---- host allowlisting profile (begin) ----\n";
	static const char end[] = "# ---- host allowlisting profile (end) ----\n";
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_load("packaging/policy.yaml", &errs);
	char text[8192], out[8192], line[512];
	size_t n = 0, len = 0;
	bool inside = false, started = false;
	FILE *f;

	(void)state;
	if (!p)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(p->n_trust, 0);
	policy_free(p);
	f = fopen("packaging/policy.yaml", "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (char *cur = text, *nl; (nl = strchr(cur, '\n')); cur = nl + 1) {
		snprintf(line, sizeof(line), "%.*s", (int)(nl - cur + 1), cur);
		if (!strcmp(line, begin))
			inside = started = true;
		else if (!strcmp(line, end))
			inside = false;
		else if (inside && !strncmp(line, "# ", 2))
			len += (size_t)snprintf(out + len, sizeof(out) - len, "%s", line + 2);
	}
	assert_true(started);
	/* The lines before "mode:" are prose. */
	const char *yaml = strstr(out, "\nmode: ");
	assert_non_null(yaml);
	yaml++;
	p = policy_parse("profile", yaml, strlen(yaml), &errs);
	if (!p)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(p->mode, GK_MODE_MONITOR);
	assert_int_equal(p->n_watch, 1);
	assert_string_equal(p->watch[0], "/");
	assert_int_equal(p->n_trust, 1);
	assert_string_equal(p->trust[0].admindir, "/var/lib/dpkg");
	assert_int_equal(p->default_verdict, GK_VERDICT_DENY);
	policy_free(p);
}

int main(void)
{
	static const struct single_test singles[] = {
		{"trust names and reasons", names},
		{"packaged policy: host allowlisting profile", packaged_profile},
	};
	struct CMUnitTest tests[N_OF(good_cases) + N_OF(bad_cases) + N_OF(decide_cases) +
				N_OF(singles)];
	size_t n = 0;

	for (size_t i = 0; i < N_OF(good_cases); i++)
		add_test(tests, &n, good_cases[i].name, good_case, &good_cases[i]);
	for (size_t i = 0; i < N_OF(bad_cases); i++)
		add_test(tests, &n, bad_cases[i].name, bad_case, &bad_cases[i]);
	for (size_t i = 0; i < N_OF(decide_cases); i++)
		add_test(tests, &n, decide_cases[i].name, decide_case, &decide_cases[i]);
	add_singles(tests, &n, singles, N_OF(singles));
	return run_table("policy_trust", tests, n);
}
