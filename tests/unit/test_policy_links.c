/* policy_resolve_links: paths through symbolic links, as the kernel names
 * them. Each test builds its own tree under a fresh temporary directory:
 *
 *   T/real/sub/      a directory
 *   T/link -> real   a link (owned by whoever runs the test)
 *
 * A link is followed only when root owns it: run as root (CI), the tests
 * expect the rewrite; otherwise they expect the "not followed" note. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_policy_util.h"

struct tree {
	char top[64], real[96], link[96], text[2048];
	struct gk_policy *p;
	struct gk_policy_errors notes;
	int changed;
};

static void rm_tree(const char *top)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	assert_int_equal(system(cmd), 0);
}

static void make_tree(struct tree *t)
{
	char sub[128];
	snprintf(t->top, sizeof(t->top), "/tmp/gk-links-XXXXXX");
	assert_non_null(mkdtemp(t->top));
	snprintf(t->real, sizeof(t->real), "%s/real", t->top);
	snprintf(t->link, sizeof(t->link), "%s/link", t->top);
	snprintf(sub, sizeof(sub), "%s/sub", t->real);
	assert_int_equal(mkdir(t->real, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(symlink("real", t->link), 0);
}

/* Parse the policy printf'd from fmt (every %s is the tree's top), resolve. */
static void load(struct tree *t, const char *fmt)
{
	struct gk_policy_errors errs;
	snprintf(t->text, sizeof(t->text), fmt, t->top, t->top, t->top, t->top);
	t->p = policy_parse("t.yaml", t->text, strlen(t->text), &errs);
	if (!t->p)
		fail_msg("%s", errs.msg[0]);
	t->changed = policy_resolve_links(t->p, &t->notes);
}

static void done(struct tree *t)
{
	policy_free(t->p);
	rm_tree(t->top);
}

static bool followed(void)
{
	return geteuid() == 0;
}

static void expect_note(const struct tree *t, const char *what)
{
	for (size_t i = 0; i < t->notes.count; i++)
		if (strstr(t->notes.msg[i], what))
			return;
	for (size_t i = 0; i < t->notes.count; i++)
		print_message("  %s\n", t->notes.msg[i]);
	fail_msg("no note says \"%s\"", what);
}

static void watch_through_link(void **state)
{
	(void)state;
	struct tree t;
	char want[128];
	make_tree(&t);
	load(&t, "mode: enforce\nwatch: [%s/link]\ndefault: deny\n");
	if (followed()) {
		snprintf(want, sizeof(want), "%s/real", t.top);
		assert_int_equal(t.changed, 1);
		assert_string_equal(t.p->watch[0], want);
		expect_note(&t, "t.yaml: watch '");
		expect_note(&t, "goes through a symbolic link: judged as '");
	} else {
		assert_int_equal(t.changed, 0);
		assert_string_equal(t.p->watch[0], t.link);
		expect_note(&t, "not followed");
	}
	done(&t);
}

/* A rule for a file not there yet: the part that exists is resolved. */
static void path_rule_missing_tail(void **state)
{
	(void)state;
	struct tree t;
	char want[160];
	make_tree(&t);
	load(&t, "mode: enforce\nwatch: [%s]\ndefault: allow\n"
		 "rules:\n  - {path: %s/link/sub/later/tool, action: deny}\n");
	snprintf(want, sizeof(want), "%s/%s/sub/later/tool", t.top, followed() ? "real" : "link");
	assert_string_equal(t.p->rules[0].pattern, want);
	expect_note(&t, "t.yaml:5: path rule '");
	done(&t);
}

/* A glob's literal directories are resolved, its patterns kept. */
static void glob_keeps_pattern(void **state)
{
	(void)state;
	struct tree t;
	char want[160];
	make_tree(&t);
	load(&t, "mode: enforce\nwatch: [%s]\ndefault: allow\n"
		 "rules:\n  - {glob: \"%s/link/sub/**/*.sh\", action: deny}\n"
		 "  - {glob: \"%s/*/sub/x\", action: deny}\n");
	snprintf(want, sizeof(want), "%s/%s/sub/**/*.sh", t.top, followed() ? "real" : "link");
	assert_string_equal(t.p->rules[0].pattern, want);
	snprintf(want, sizeof(want), "%s/*/sub/x", t.top);
	assert_string_equal(t.p->rules[1].pattern, want);   /* no literal link to follow */
	done(&t);
}

static void no_links_no_notes(void **state)
{
	(void)state;
	struct tree t;
	make_tree(&t);
	load(&t, "mode: enforce\nwatch: [%s/real]\ndefault: deny\n"
		 "rules:\n  - {path: %s/real/sub, action: allow}\n"
		 "scan:\n  - {path: %s/real/sub}\n");
	assert_int_equal(t.changed, 0);
	assert_int_equal(t.notes.count, 0);
	done(&t);
}

/* The link and what it names, both listed: one watch is left. */
static void duplicate_watch_dropped(void **state)
{
	(void)state;
	struct tree t;
	make_tree(&t);
	load(&t, "mode: enforce\nwatch: [%s/link, %s/real]\ndefault: deny\n");
	assert_int_equal(t.p->n_watch, followed() ? 1 : 2);
	done(&t);
}

/* A link someone other than root owns could be repointed before a reload
 * to move the watch: never followed. */
static void foreign_link_not_followed(void **state)
{
	(void)state;
	struct tree t;
	if (!followed())
		skip();
	make_tree(&t);
	assert_int_equal(lchown(t.link, 65534, 65534), 0);
	load(&t, "mode: enforce\nwatch: [%s/link]\ndefault: deny\n"
		 "scan:\n  - {path: %s/link/sub}\n");
	assert_int_equal(t.changed, 0);
	assert_string_equal(t.p->watch[0], t.link);
	expect_note(&t, "owned by uid 65534: not followed");
	expect_note(&t, "t.yaml:5: scan path '");
	done(&t);
}

int main(void)
{
	static const struct single_test singles[] = {
		{"watch through a link", watch_through_link},
		{"path rule with a missing tail", path_rule_missing_tail},
		{"glob keeps its pattern", glob_keeps_pattern},
		{"no links, no notes", no_links_no_notes},
		{"duplicate watch dropped", duplicate_watch_dropped},
		{"foreign link not followed", foreign_link_not_followed},
	};
	struct CMUnitTest tests[N_OF(singles)];
	size_t n = 0;

	add_singles(tests, &n, singles, N_OF(singles));
	return run_table("policy_links", tests, n);
}
