/* Policy messages are one safe line (policy/policy.c, policy_values.c,
 * text.c): whatever gk_control_seq flags (C0 and C1 controls, DEL, the line
 * and paragraph separators, bytes that are not UTF-8) is escaped, in the
 * values a message quotes and in the file's name; and a path that holds
 * such a sequence is refused where it is written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

#define HEAD "mode: enforce\nwatch: [/tmp]\ndefault: allow\n"

/* No byte of msg is one that no line may show raw. */
static void assert_safe_line(const char *msg)
{
	const unsigned char *p = (const unsigned char *)msg;
	size_t n = strlen(msg);
	for (size_t i = 0, u; i < n; i += u ? u : 1) {
		u = gk_utf8_len(p + i, n - i);
		if (gk_control_seq(p + i, u))
			fail_msg("raw byte 0x%02x at %zu in \"%s\"", p[i], i, msg);
	}
}

static void test_control_seq_rule(void **state)
{
	(void)state;
	static const char *const flagged[] = { "\n", "\x1b", "\x7f", "\xc2\x85", "\xc2\x9b",
					       "\xe2\x80\xa8", "\xe2\x80\xa9", "\xff", "\xc3" };
	static const char *const plain[] = { "a", " ", "\xc2\xa0", "\xc3\xa9", "\xe2\x80\xa7",
					     "\xe2\x80\xaa", "\xf0\x9f\x98\x80" };
	for (size_t i = 0; i < sizeof(flagged) / sizeof(flagged[0]); i++) {
		const unsigned char *p = (const unsigned char *)flagged[i];
		assert_true(gk_control_seq(p, gk_utf8_len(p, strlen(flagged[i]))));
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		const unsigned char *p = (const unsigned char *)plain[i];
		assert_int_equal(gk_utf8_len(p, strlen(plain[i])), strlen(plain[i]));
		assert_false(gk_control_seq(p, strlen(plain[i])));
	}
	char out[64];
	size_t taken;
	assert_int_equal(gk_text_escape(out, sizeof(out), "a\n\xc2\x85\xe2\x80\xa8\xc3\xa9\xff", 10,
					&taken), 31);
	assert_string_equal(out, "a\\x0a\\xc2\\x85\\xe2\\x80\\xa8\xc3\xa9\\xff");
	assert_int_equal(taken, 10);
	/* whole characters only */
	assert_int_equal(gk_text_escape(out, 8, "ab\xc2\x85", 4, &taken), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(taken, 2);
}

/* A watch path with a C1 control or a line separator is refused, at its
 * line, like one with a newline; the message shows it escaped. */
static void test_watch_path_refused(void **state)
{
	(void)state;
	static const struct {
		const char *yaml, *shown;
	} cases[] = {
		{ "watch: [\"/tmp/a\\Lb\"]\n", "'/tmp/a\\xe2\\x80\\xa8b'" },   /* U+2028 */
		{ "watch: [\"/tmp/a\\Pb\"]\n", "'/tmp/a\\xe2\\x80\\xa9b'" },   /* U+2029 */
		{ "watch: [\"/tmp/a\\Nb\"]\n", "'/tmp/a\\xc2\\x85b'" },        /* NEL */
		{ "watch: [\"/tmp/a\\x9bb\"]\n", "'/tmp/a\\xc2\\x9bb'" },      /* CSI */
		{ "watch: [\"/tmp/a\\tb\"]\n", "'/tmp/a\\x09b'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[256], want[128];
		struct gk_policy_errors errs;
		snprintf(yaml, sizeof(yaml), "mode: enforce\n%sdefault: allow\n", cases[i].yaml);
		assert_null(policy_parse("w.yaml", yaml, strlen(yaml), &errs));
		assert_int_equal(errs.count, 1);
		snprintf(want, sizeof(want), "w.yaml:2:");
		if (strncmp(errs.msg[0], want, strlen(want)) ||
		    !strstr(errs.msg[0], cases[i].shown) ||
		    !strstr(errs.msg[0], "contains a control character or line separator"))
			fail_msg("case %zu: got \"%s\"", i, errs.msg[0]);
		assert_safe_line(errs.msg[0]);
	}
}

/* Values quoted in any message, and the file's name, are escaped. */
static void test_messages_escape_values_and_name(void **state)
{
	(void)state;
	struct gk_policy_errors errs;
	const char *bad = "mode: \"en\\Lfor\\Nce\\e[8m\"\nwatch: [/tmp]\ndefault: allow\n";
	assert_null(policy_parse("p.yaml", bad, strlen(bad), &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.msg[0], "'en\\xe2\\x80\\xa8for\\xc2\\x85ce\\x1b[8m'"));
	assert_safe_line(errs.msg[0]);

	const char *name = "/srv/a\nb\xe2\x80\xa8" "c\xc2\x85" "d\xff\x1b[8m.yaml";
	const char *key = HEAD "bogus_key: 1\n";
	assert_null(policy_parse(name, key, strlen(key), &errs));
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.msg[0], "/srv/a\\x0ab\\xe2\\x80\\xa8" "c\\xc2\\x85" "d\\xff\\x1b[8m"
					 ".yaml:4:1: unknown key 'bogus_key'");
	/* a name too long to show whole keeps its (escaped) end */
	char longname[1400];
	memset(longname, 0, sizeof(longname));
	memcpy(longname, "/srv/", 5);
	for (size_t i = 5; i < 1200; i += 2)
		memcpy(longname + i, "\xc2\x85", 2);
	strcat(longname, "/x\ny.yaml");
	assert_null(policy_parse(longname, key, strlen(key), &errs));
	assert_int_equal(errs.count, 1);
	assert_int_equal(strncmp(errs.msg[0], "...", 3), 0);
	assert_non_null(strstr(errs.msg[0], "\\xc2\\x85/x\\x0ay.yaml:4:1: unknown key 'bogus_key'"));
	assert_true(strlen(errs.msg[0]) < sizeof(errs.msg[0]));
	assert_safe_line(errs.msg[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_seq_rule),
		cmocka_unit_test(test_watch_path_refused),
		cmocka_unit_test(test_messages_escape_values_and_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
