/* Unit tests for policy/: parsing and validation (with exact positions) and
 * loading from files. Decisions and matching: test_policy_decide.c.
 * Each table row runs as its own cmocka test, so TAP output names it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/test_policy_util.h"

#define HEAD "mode: enforce\nwatch:\n  - /tmp\ndefault: allow\n"

/* ---- invalid policies: the first error's position and message ---- */

struct bad_case {
	const char *name;
	const char *yaml;
	size_t len;            /* 0: strlen(yaml) */
	unsigned line, column; /* of the first error */
	const char *message;   /* a substring of the first error */
	const char *absent;    /* must not appear in it, or NULL */
	size_t count;          /* exact number of errors, or 0: any */
};

static const struct bad_case bad_cases[] = {
	{"empty text", "", 0, 1, 1, "empty policy", NULL, 1},
	{"comments only", "# nothing\n\n", 0, 1, 1, "empty policy", NULL, 1},
	{"bare document marker", "---\n", 0, 1, 1, "empty policy", NULL, 1},
	{"root is a list", "- mode\n", 0, 1, 1, "must be a map of keys", NULL, 1},
	{"root is a scalar", "hello\n", 0, 1, 1, "not a scalar", NULL, 1},
	{"typo in top key", "mdoe: enforce\nwatch: [/tmp]\ndefault: allow\n", 0, 1, 1,
	 "unknown key 'mdoe' (did you mean 'mode'?)", NULL, 2},
	{"unknown key, nothing close", HEAD "colour: red\n", 0, 5, 1, "unknown key 'colour'",
	 "did you mean", 1},
	{"typo in long key", HEAD "decision_timeout: 100\n", 0, 5, 1,
	 "(did you mean 'decision_timeout_ms'?)", NULL, 1},
	{"wrong case key", HEAD "Rules: []\n", 0, 5, 1, "(did you mean 'rules'?)", NULL, 1},
	{"missing mode", "watch: [/tmp]\ndefault: allow\n", 0, 1, 1,
	 "missing required key 'mode'", NULL, 1},
	{"missing watch", "mode: enforce\ndefault: allow\n", 0, 1, 1,
	 "missing required key 'watch'", NULL, 1},
	{"missing default", "mode: enforce\nwatch: [/tmp]\n", 0, 1, 1,
	 "missing required key 'default'", NULL, 1},
	{"duplicate key", HEAD "mode: monitor\n", 0, 5, 1,
	 "duplicate key 'mode' (first at line 1)", NULL, 1},
	{"bad mode", "mode: enforced\nwatch: [/tmp]\ndefault: allow\n", 0, 1, 7,
	 "'mode' must be enforce or monitor, not 'enforced' (did you mean 'enforce'?)", NULL, 1},
	{"mode is a list", "mode: [enforce]\nwatch: [/tmp]\ndefault: allow\n", 0, 1, 7,
	 "'mode' must be enforce or monitor, not a list", NULL, 1},
	{"mode is a map", "mode:\n  a: 1\nwatch: [/tmp]\ndefault: allow\n", 0, 2, 3,
	 "'mode' must be enforce or monitor, not a map", NULL, 1},
	{"mode has no value", "mode:\nwatch: [/tmp]\ndefault: allow\n", 0, 1, 6,
	 "'mode' has no value", NULL, 1},
	{"bad default", "mode: enforce\nwatch: [/tmp]\ndefault: maybe\n", 0, 3, 10,
	 "'default' must be allow or deny, not 'maybe'", "did you mean", 1},
	{"bad on_error", HEAD "on_error: block\n", 0, 5, 11,
	 "'on_error' must be allow or deny, not 'block'", NULL, 1},
	{"bad fileless", HEAD "fileless: block\n", 0, 5, 11,
	 "'fileless' must be allow or deny, not 'block'", NULL, 1},
	{"fileless is a list", HEAD "fileless: [deny]\n", 0, 5, 11,
	 "'fileless' must be allow or deny, not a list", NULL, 1},
	{"duplicate fileless", HEAD "fileless: deny\nfileless: allow\n", 0, 6, 1,
	 "duplicate key 'fileless' (first at line 5)", NULL, 1},
	{"typo in fileless", HEAD "fileles: deny\n", 0, 5, 1, "(did you mean 'fileless'?)", NULL, 1},
	{"bad unmarked_filesystems", "mode: enforce\nwatch: [/]\ndefault: allow\nunmarked_filesystems: block\n",
	 0, 4, 23, "'unmarked_filesystems' must be allow or deny, not 'block'", NULL, 1},
	{"unmarked_filesystems: deny without watch /", HEAD "unmarked_filesystems: deny\n", 0, 5, 1,
	 "'unmarked_filesystems: deny' needs '/' in 'watch'", NULL, 1},
	{"watch is a scalar", "mode: enforce\nwatch: /tmp\ndefault: allow\n", 0, 2, 8,
	 "'watch' must be a list of absolute directories, not a scalar", NULL, 1},
	{"watch is empty", "mode: enforce\nwatch: []\ndefault: allow\n", 0, 2, 8,
	 "'watch' must list at least one directory", NULL, 1},
	{"watch relative", "mode: enforce\nwatch:\n  - /tmp\n  - tmp\ndefault: allow\n", 0, 4, 5,
	 "watch path 'tmp' is not an absolute path", NULL, 1},
	{"watch dotdot", "mode: enforce\nwatch: [/tmp/../etc]\ndefault: allow\n", 0, 2, 9,
	 "has a '..' component", NULL, 1},
	{"watch entry is a map", "mode: enforce\nwatch:\n  - {a: b}\ndefault: allow\n", 0, 3, 5,
	 "watch entry 1 must be a path, not a map", NULL, 1},
	{"watch listed twice", "mode: enforce\nwatch: [/tmp, //tmp/]\ndefault: allow\n", 0, 2, 15,
	 "watch path '/tmp' is listed twice", NULL, 1},
	{"watch entry empty", "mode: enforce\nwatch:\n  -\ndefault: allow\n", 0, 3, 4,
	 "watch entry 1 is empty", NULL, 1},
	{"watch control character", "mode: enforce\nwatch: [\"/tmp/\\nx\"]\ndefault: allow\n", 0, 2,
	 9, "watch path '/tmp/\\x0ax' contains a control character or line separator", NULL, 1},
	{"timeout with unit", HEAD "decision_timeout_ms: 5s\n", 0, 5, 22,
	 "must be a whole number of milliseconds (10..600000), not '5s'", NULL, 1},
	{"timeout too small", HEAD "decision_timeout_ms: 9\n", 0, 5, 22,
	 "'decision_timeout_ms' is 9; it must be between 10 and 600000", NULL, 1},
	{"timeout too large", HEAD "decision_timeout_ms: 600001\n", 0, 5, 22,
	 "between 10 and 600000", NULL, 1},
	{"timeout negative", HEAD "decision_timeout_ms: -1\n", 0, 5, 22, "not '-1'", NULL, 1},
	{"timeout huge", HEAD "decision_timeout_ms: 99999999999999999999\n", 0, 5, 22,
	 "whole number", NULL, 1},
	{"admin_group with space", HEAD "admin_group: \"gk admins\"\n", 0, 5, 14,
	 "'admin_group' must be a group name, not 'gk admins'", NULL, 1},
	{"admin_group is a list", HEAD "admin_group: [wheel]\n", 0, 5, 14,
	 "'admin_group' must be a group name, not a list", NULL, 1},
	{"rules is a scalar", HEAD "rules: deny\n", 0, 5, 8,
	 "'rules' must be a list of rules", NULL, 1},
	{"rule is a scalar", HEAD "rules:\n  - /opt\n", 0, 6, 5,
	 "rule 1 must be a map like {path: /opt/x, action: deny}, not a scalar", NULL, 1},
	{"rule without matcher", HEAD "rules:\n  - action: deny\n", 0, 6, 5,
	 "rule 1 needs one of path, glob, sha256 or scanner", NULL, 1},
	{"rule with two matchers", HEAD "rules:\n  - path: /opt\n    glob: /x/*\n    action: deny\n",
	 0, 7, 5, "rule 1: 'path' and 'glob' cannot be combined", NULL, 1},
	{"rule without action", HEAD "rules:\n  - {path: /opt, action: allow}\n  - {path: /srv}\n",
	 0, 7, 5, "rule 2: missing required key 'action'", NULL, 1},
	{"rule bad action", HEAD "rules:\n  - {path: /opt, action: permit}\n", 0, 6, 26,
	 "rule 1: action must be allow, deny or scan, not 'permit'", NULL, 1},
	{"rule action typo", HEAD "rules:\n  - {path: /opt, action: dny}\n", 0, 6, 26,
	 "(did you mean 'deny'?)", NULL, 1},
	{"rule key typo", HEAD "rules:\n  - path: /opt\n    acton: deny\n", 0, 7, 5,
	 "rule 1: unknown key 'acton' (did you mean 'action'?)", NULL, 2},
	{"rule duplicate key", HEAD "rules:\n  - {path: /opt, action: deny, action: allow}\n", 0, 6,
	 32, "rule 1: duplicate key 'action' (first at line 6)", NULL, 1},
	{"sha256 too short", HEAD "rules:\n  - {sha256: abc123, action: deny}\n", 0, 6, 14,
	 "rule 1: sha256 must be 64 hex digits, not 'abc123'", NULL, 1},
	{"sha256 not hex", HEAD "rules:\n  - sha256: " H64_A "g\n    action: deny\n", 0, 6, 13,
	 "64 hex digits", NULL, 1},
	{"sha256 one digit short", HEAD "rules:\n  - sha256: 0123456789abcdef0123456789abcdef"
	 "0123456789abcdef0123456789abcde\n    action: deny\n", 0, 6, 13, "64 hex digits", NULL, 1},
	{"glob relative", HEAD "rules:\n  - {glob: \"*.sh\", action: deny}\n", 0, 6, 12,
	 "rule 1: glob '*.sh' is not an absolute path", NULL, 1},
	{"glob with ** in a name", HEAD "rules:\n  - {glob: /opt/a**, action: deny}\n", 0, 6, 12,
	 "'**' must be a whole component", NULL, 1},
	{"path rule dotdot", HEAD "rules:\n  - {path: /opt/../etc, action: deny}\n", 0, 6, 12,
	 "rule 1: path '/opt/../etc' has a '..' component", NULL, 1},
	{"path rule empty", HEAD "rules:\n  - {path: , action: deny}\n", 0, 6, 12,
	 "rule 1: path must be an absolute path, not empty", NULL, 1},
	{"alias", "mode: &m enforce\nwatch: [/tmp]\ndefault: *m\n", 0, 1, 7, "anchors (&m)", NULL, 2},
	{"alias only reported", HEAD "rules: *r\n", 0, 5, 8, "aliases (*r) are not allowed", NULL, 1},
	{"billion laughs", "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n", 0, 1, 1,
	 "unknown key 'a'", NULL, 0},
	{"second document", HEAD "---\nmode: monitor\n", 0, 5, 1,
	 "a policy is one YAML document", NULL, 1},
	{"unclosed flow list", "mode: [\n", 0, 2, 1, "YAML syntax error", NULL, 1},
	{"tab indentation", "mode: enforce\n\twatch: x\n", 0, 2, 1, "YAML syntax error: found a tab",
	 NULL, 1},
	{"bad indentation", "mode: enforce\n  watch: [/tmp]\n", 0, 2, 8,
	 "mapping values are not allowed", NULL, 1},
	{"NUL byte", "mode: enforce\0\n", 15, 1, 14, "NUL byte", NULL, 1},
	{"invalid UTF-8", "mode: \xff\n", 0, 1, 7, "bad text encoding", NULL, 1},
	{"complex key", "? [a]\n: 1\n", 0, 1, 3, "keys must be plain words, not a list", NULL, 4},
	{"escaped NUL in a value", "mode: \"en\\0force\"\nwatch: [/tmp]\ndefault: allow\n", 0, 1, 7,
	 "'mode' contains a NUL character", NULL, 1},
	{"keeps going after errors", "mdoe: enforce\nwatch: tmp\ndefault: alow\n", 0, 1, 1,
	 "unknown key 'mdoe'", NULL, 4},
};

static void parse_bad(void **state)
{
	const struct bad_case *c = *state;
	expect_parse_error(c->yaml, c->len ? c->len : strlen(c->yaml), c->line, c->column,
			   c->message, c->absent, c->count);
}

/* ---- valid policies and what they compile to ---- */

struct good_case {
	const char *name;
	const char *yaml;
	enum gk_mode mode;
	enum gk_verdict default_verdict, on_error;
	unsigned timeout_ms;
	size_t n_watch;
	const char *watch0;
	size_t n_rules;
	const char *admin_group;
};

static const struct good_case good_cases[] = {
	{"minimal", HEAD, GK_MODE_ENFORCE, GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 5000, 1, "/tmp", 0,
	 NULL},
	{"every key",
	 "mode: monitor\nwatch: [/srv, /opt]\ndefault: deny\non_error: allow\n"
	 "decision_timeout_ms: 250\nadmin_group: gk-admin\nrules:\n"
	 "  - {path: /srv/bin, action: allow}\n  - {glob: \"/opt/**/*.sh\", action: deny}\n"
	 "  - {sha256: " H64_A ", action: deny}\n",
	 GK_MODE_MONITOR, GK_VERDICT_DENY, GK_VERDICT_ALLOW, 250, 2, "/srv", 3, "gk-admin"},
	{"on_error follows default", "mode: enforce\nwatch: [/tmp]\ndefault: deny\n", GK_MODE_ENFORCE,
	 GK_VERDICT_DENY, GK_VERDICT_DENY, 5000, 1, "/tmp", 0, NULL},
	{"flow style", "{mode: enforce, watch: [/a, /b, /c], default: allow}", GK_MODE_ENFORCE,
	 GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 5000, 3, "/a", 0, NULL},
	{"watch root", "mode: monitor\nwatch: [/]\ndefault: allow\n", GK_MODE_MONITOR,
	 GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 5000, 1, "/", 0, NULL},
	{"watch normalised", "mode: monitor\nwatch: [\"//home//u/./x/\", ///]\ndefault: allow\n",
	 GK_MODE_MONITOR, GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 5000, 2, "/home/u/x", 0, NULL},
	{"quoted values", "mode: \"enforce\"\nwatch: ['/tmp']\ndefault: 'deny'\n", GK_MODE_ENFORCE,
	 GK_VERDICT_DENY, GK_VERDICT_DENY, 5000, 1, "/tmp", 0, NULL},
	{"empty rules list", HEAD "rules: []\n", GK_MODE_ENFORCE, GK_VERDICT_ALLOW, GK_VERDICT_ALLOW,
	 5000, 1, "/tmp", 0, NULL},
	{"rules with no value", HEAD "rules:\n", GK_MODE_ENFORCE, GK_VERDICT_ALLOW, GK_VERDICT_ALLOW,
	 5000, 1, "/tmp", 0, NULL},
	{"CRLF and BOM", "\xef\xbb\xbfmode: enforce\r\nwatch: [/tmp]\r\ndefault: allow\r\n",
	 GK_MODE_ENFORCE, GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 5000, 1, "/tmp", 0, NULL},
	{"explicit document", "---\n# c\nmode: enforce # c\nwatch:\n- /tmp\ndefault: allow\n...\n",
	 GK_MODE_ENFORCE, GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 5000, 1, "/tmp", 0, NULL},
	{"timeout bounds low", HEAD "decision_timeout_ms: 10\n", GK_MODE_ENFORCE, GK_VERDICT_ALLOW,
	 GK_VERDICT_ALLOW, 10, 1, "/tmp", 0, NULL},
	{"timeout bounds high", HEAD "decision_timeout_ms: 600000\n", GK_MODE_ENFORCE,
	 GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 600000, 1, "/tmp", 0, NULL},
	{"uppercase sha256", HEAD "rules:\n  - sha256: " "ABCDEF0123456789ABCDEF0123456789"
	 "abcdef0123456789abcdef0123456789\n    action: allow\n", GK_MODE_ENFORCE, GK_VERDICT_ALLOW,
	 GK_VERDICT_ALLOW, 5000, 1, "/tmp", 1, NULL},
	{"digits-only sha256 stays text", HEAD "rules:\n  - sha256: 1234567890123456789012345678"
	 "901234567890123456789012345678901234\n    action: deny\n", GK_MODE_ENFORCE,
	 GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 5000, 1, "/tmp", 1, NULL},
	{"nested watch paths", "mode: enforce\nwatch: [/home, /home/u]\ndefault: allow\n",
	 GK_MODE_ENFORCE, GK_VERDICT_ALLOW, GK_VERDICT_ALLOW, 5000, 2, "/home", 0, NULL},
};

static void parse_good(void **state)
{
	const struct good_case *c = *state;
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("g.yaml", c->yaml, strlen(c->yaml), &errs);

	if (!p)
		fail_msg("unexpected error: %s", errs.msg[0]);
	assert_int_equal(errs.count, 0);
	assert_string_equal(p->name, "g.yaml");
	assert_int_equal(p->text_len, strlen(c->yaml));
	assert_string_equal(p->text, c->yaml);
	assert_int_equal(strlen(policy_sha256_hex(p)), GK_SHA256_HEX_LEN);
	assert_int_equal(p->mode, c->mode);
	assert_int_equal(p->default_verdict, c->default_verdict);
	assert_int_equal(p->on_error, c->on_error);
	assert_int_equal(p->decision_timeout_ms, c->timeout_ms);
	assert_int_equal(p->n_watch, c->n_watch);
	assert_string_equal(p->watch[0], c->watch0);
	assert_int_equal(p->n_rules, c->n_rules);
	if (c->admin_group)
		assert_string_equal(p->admin_group, c->admin_group);
	else
		assert_null(p->admin_group);
	policy_free(p);
}

/* `unmarked_filesystems` defaults to allow; deny goes with watch: [/]. */
static void parse_unmarked_filesystems(void **state)
{
	(void)state;
	const char *plain = "mode: enforce\nwatch: [/]\ndefault: allow\n";
	const char *deny = "mode: enforce\nwatch: [/home, /]\ndefault: allow\n"
			   "unmarked_filesystems: deny\n";
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("u.yaml", plain, strlen(plain), &errs);
	assert_non_null(p);
	assert_int_equal(p->unmarked_filesystems, GK_VERDICT_ALLOW);
	policy_free(p);
	p = policy_parse("u.yaml", deny, strlen(deny), &errs);
	if (!p)
		fail_msg("unexpected error: %s", errs.msg[0]);
	assert_int_equal(p->unmarked_filesystems, GK_VERDICT_DENY);
	policy_free(p);
}

static void parse_rule_fields(void **state)
{
	static const char yaml[] = HEAD "rules:\n  - {path: /srv//bin/, action: allow}\n"
				   "  - glob: \"/opt/**/*.sh\"\n    action: deny\n"
				   "  - {sha256: " H64_B ", action: deny}\n";
	struct gk_policy *p = policy_parse("r.yaml", yaml, strlen(yaml), NULL);
	unsigned char b[GK_SHA256_LEN];

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->n_rules, 3);
	assert_int_equal(p->rules[0].match, GK_MATCH_PATH);
	assert_string_equal(p->rules[0].pattern, "/srv/bin");
	assert_int_equal(p->rules[0].action, GK_VERDICT_ALLOW);
	assert_int_equal(p->rules[0].line, 6);
	assert_int_equal(p->rules[1].match, GK_MATCH_GLOB);
	assert_string_equal(p->rules[1].pattern, "/opt/**/*.sh");
	assert_int_equal(p->rules[1].action, GK_VERDICT_DENY);
	assert_int_equal(p->rules[1].line, 7);
	assert_int_equal(p->rules[2].match, GK_MATCH_SHA256);
	assert_null(p->rules[2].pattern);
	assert_int_equal(p->rules[2].line, 9);
	memset(b, 0xbb, sizeof(b));
	assert_memory_equal(p->rules[2].sha256, b, GK_SHA256_LEN);
	policy_free(p);
}

static void parse_error_cap(void **state)
{
	char yaml[4096];
	size_t n = 0;
	struct gk_policy_errors errs;

	(void)state;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "junk%d: 1\n", i);
	assert_null(policy_parse("c.yaml", yaml, n, &errs));
	/* 40 unknown keys and 3 missing required keys */
	assert_int_equal(errs.count, 43);
	assert_string_equal(errs.msg[0], "c.yaml:1:1: unknown key 'junk0'");
	assert_string_equal(errs.msg[GK_POLICY_MAX_ERRORS - 1], "c.yaml:32:1: unknown key 'junk31'");
}

static void parse_too_big(void **state)
{
	size_t len = GK_POLICY_MAX_BYTES + 1;
	char *text = malloc(len);
	struct gk_policy_errors errs;

	(void)state;
	assert_non_null(text);
	memset(text, '#', len);
	assert_null(policy_parse("big.yaml", text, len, &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.msg[0], "big.yaml: policy is 1048577 bytes; the limit is 1048576"));
	free(text);
}

static void parse_long_value_quoted_short(void **state)
{
	char yaml[600];
	struct gk_policy_errors errs;

	(void)state;
	snprintf(yaml, sizeof(yaml), "mode: %0400d\nwatch: [/tmp]\ndefault: allow\n", 7);
	assert_null(policy_parse("l.yaml", yaml, strlen(yaml), &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.msg[0], "...'"));
	assert_true(strlen(errs.msg[0]) < 200);
}

/* libyaml's cost per token grows with the depth; 100000 '[' must be refused
 * at depth 33 (the top map is level 1), not parsed for minutes. */
static void parse_deep_nesting(void **state)
{
	size_t depth = 100000, len = 6 + 2 * depth;
	char *text = malloc(len);
	struct gk_policy_errors errs;

	(void)state;
	assert_non_null(text);
	memcpy(text, "mode: ", 6);
	memset(text + 6, '[', depth);
	memset(text + 6 + depth, ']', depth);
	assert_null(policy_parse("t.yaml", text, len, &errs));
	assert_int_equal(errs.count, 2);
	assert_string_equal(errs.msg[1], "t.yaml:1:38: nested deeper than 32 levels");
	free(text);
}

static void parse_watch_limit(void **state)
{
	size_t size = 32 * 1024, n;
	char *text = malloc(size);
	struct gk_policy_errors errs;

	(void)state;
	assert_non_null(text);
	n = (size_t)snprintf(text, size, "mode: enforce\ndefault: allow\nwatch:\n");
	for (int i = 0; i < 1025; i++)
		n += (size_t)snprintf(text + n, size - n, "  - /w%d\n", i);
	assert_null(policy_parse("t.yaml", text, n, &errs));
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.msg[0], "t.yaml:1028:5: more than 1024 watch paths");
	free(text);
}

/* ---- loading from files ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_policy.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Loads `path` and checks the single error is "path: <message...>". */
static void assert_load_error(const char *path, const char *message)
{
	struct gk_policy_errors errs;
	char want[512];

	assert_null(policy_load(path, &errs));
	assert_int_equal(errs.count, 1);
	snprintf(want, sizeof(want), "%s: %s", path, message);
	if (strncmp(errs.msg[0], want, strlen(want)) != 0)
		fail_msg("got \"%s\", want \"%s\"", errs.msg[0], want);
}

static void load_errors(void **state)
{
	struct gk_policy_errors errs;
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	assert_load_error(path, "cannot open: No such file or directory");
	assert_load_error(tmpdir, "not a regular file (it is a directory)");
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_load_error(path, "not a regular file");
	assert_load_error("/dev/null", "not a regular file");
	assert_null(policy_load("", &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.msg[0], "no policy file given"));
}

static void load_oversized(void **state)
{
	size_t len = GK_POLICY_MAX_BYTES + 1;
	char *text = malloc(len);
	char path[128];

	(void)state;
	assert_non_null(text);
	memset(text, '#', len);
	snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
	write_file(path, text, len, 0644);
	assert_load_error(path, "file is 1048577 bytes; the limit is 1048576");
	free(text);
}

static void load_at_limit(void **state)
{
	size_t len = GK_POLICY_MAX_BYTES;
	char *text = malloc(len);
	char path[128];
	struct gk_policy_errors errs;
	struct gk_policy *p;

	(void)state;
	assert_non_null(text);
	memset(text, '#', len);
	memcpy(text, HEAD, strlen(HEAD));
	snprintf(path, sizeof(path), "%s/full.yaml", tmpdir);
	write_file(path, text, len, 0644);
	p = policy_load(path, &errs);
	if (!p)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(p->text_len, len);
	policy_free(p);
	free(text);
}

/* Root reads anything, so the unreadable case runs as nobody in a child. */
static void load_unreadable(void **state)
{
	char path[128];
	pid_t pid;
	int status;

	(void)state;
	snprintf(path, sizeof(path), "%s/secret.yaml", tmpdir);
	write_file(path, HEAD, strlen(HEAD), 0000);
	assert_int_equal(chmod(tmpdir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct gk_policy_errors errs;
		char want[160];

		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		snprintf(want, sizeof(want), "%s: cannot open: Permission denied", path);
		_exit(!policy_load(path, &errs) && errs.count == 1 &&
		      strcmp(errs.msg[0], want) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void load_good_and_symlink(void **state)
{
	char path[128], link[128];
	struct gk_policy_errors errs;
	struct gk_policy *p;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/good.yaml", tmpdir);
	snprintf(link, sizeof(link), "%s/link.yaml", tmpdir);
	write_file(path, HEAD, strlen(HEAD), 0644);
	assert_int_equal(symlink(path, link), 0);
	p = policy_load(link, &errs);
	assert_non_null(p);
	assert_string_equal(p->name, link);
	assert_string_equal(p->text, HEAD);
	policy_free(p);

	/* through an fd whose offset is not at the start */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
	p = policy_load_fd(fd, "fd-policy", &errs);
	assert_non_null(p);
	assert_string_equal(p->text, HEAD);
	policy_free(p);
	close(fd);

	/* errors in a loaded file are named after the path as given */
	write_file(path, "mode: enforce\nwatch: [/tmp]\ndefault: perhaps\n", 44, 0644);
	assert_null(policy_load(link, &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.msg[0], "link.yaml:3:10: 'default' must be allow or deny"));
}

/* A deep policy path gives up its beginning, never the line, column or
 * message; a message too long even so keeps its location and says it was
 * cut. */
static void errors_keep_location(void **state)
{
	struct gk_policy_errors errs;
	char name[1200], want[128];
	const char *bad = "mode: enforce\nwatch: [/]\ndefault: deny\nbogus_key: 1\n";

	(void)state;
	memset(name, 0, sizeof(name));
	memcpy(name, "/srv/", 5);
	memset(name + 5, 'd', 1100);
	strcat(name, "/\xc3\xa9t\xc3\xa9.yaml");
	assert_null(policy_parse(name, bad, strlen(bad), &errs));
	assert_int_equal(errs.count, 1);
	snprintf(want, sizeof(want), "\xc3\xa9.yaml:4:1: unknown key 'bogus_key'");
	if (!strstr(errs.msg[0], want) || strncmp(errs.msg[0], "...", 3))
		fail_msg("got \"%s\", want \"...%s\"", errs.msg[0], want);
	assert_true(strlen(errs.msg[0]) < sizeof(errs.msg[0]));
	assert_int_not_equal((unsigned char)errs.msg[0][3] & 0xc0, 0x80);

	/* a short name stays whole */
	assert_null(policy_parse("short.yaml", bad, strlen(bad), &errs));
	assert_string_equal(errs.msg[0], "short.yaml:4:1: unknown key 'bogus_key'");

	/* a long value in the message: location whole, the end marked as cut */
	char text[900];
	snprintf(text, sizeof(text), "mode: enforce\nwatch: [/]\ndefault: deny\nrules:\n"
		 "  - {sha256: %0600d, action: allow}\n", 7);
	assert_null(policy_parse(name, text, strlen(text), &errs));
	assert_true(errs.count >= 1);
	assert_non_null(strstr(errs.msg[0], ".yaml:5:"));
	assert_true(strlen(errs.msg[0]) < sizeof(errs.msg[0]));
}

/* ---- runner: one cmocka test per table row ---- */

int main(void)
{
	static const struct single_test singles[] = {
		{"parse unmarked_filesystems", parse_unmarked_filesystems},
		{"parse rule fields", parse_rule_fields},
		{"parse caps stored errors", parse_error_cap},
		{"parse refuses oversized text", parse_too_big},
		{"parse shortens long values", parse_long_value_quoted_short},
		{"parse refuses deep nesting", parse_deep_nesting},
		{"parse limits watch paths", parse_watch_limit},
		{"errors keep line, column, message under a long name", errors_keep_location},
	};
	static const struct single_test loads[] = {
		{"load: missing, directory, fifo, device", load_errors},
		{"load: oversized file", load_oversized},
		{"load: file at the size limit", load_at_limit},
		{"load: unreadable file", load_unreadable},
		{"load: symlink, fd, errors named by path", load_good_and_symlink},
	};
	struct CMUnitTest tests[N_OF(bad_cases) + N_OF(good_cases) + N_OF(singles) + N_OF(loads)];
	size_t n = 0;

	for (size_t i = 0; i < N_OF(bad_cases); i++)
		add_test(tests, &n, bad_cases[i].name, parse_bad, &bad_cases[i]);
	for (size_t i = 0; i < N_OF(good_cases); i++)
		add_test(tests, &n, good_cases[i].name, parse_good, &good_cases[i]);
	add_singles(tests, &n, singles, N_OF(singles));
	for (size_t i = 0; i < N_OF(loads); i++) {
		add_test(tests, &n, loads[i].name, loads[i].fn, NULL);
		tests[n - 1].setup_func = make_tmpdir;
		tests[n - 1].teardown_func = remove_tmpdir;
	}
	return run_table("policy", tests, n);
}
