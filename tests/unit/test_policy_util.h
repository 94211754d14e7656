/* Shared by the policy/ unit tests (test_policy.c, test_policy_decide.c,
 * test_policy_schema.c, test_policy_trust.c): the sample hashes, the check
 * of a policy that must not parse, and the runner that makes each table row
 * its own cmocka test, so TAP output names it. */
#ifndef GK_TEST_POLICY_UTIL_H
#define GK_TEST_POLICY_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/policy.h"

#define H64_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H64_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define H64_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define H64_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* yaml (len bytes) must not parse as "t.yaml": its first error at line:column
 * and containing message, not containing absent (NULL: no such check), and
 * count errors in all (0: any number). */
static inline void expect_parse_error(const char *yaml, size_t len, unsigned line, unsigned column,
				      const char *message, const char *absent, size_t count)
{
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("t.yaml", yaml, len, &errs);
	char prefix[64];

	if (p)
		policy_free(p);
	assert_null(p);
	assert_true(errs.count >= 1);
	snprintf(prefix, sizeof(prefix), "t.yaml:%u:%u: ", line, column);
	if (strncmp(errs.msg[0], prefix, strlen(prefix)) != 0 || !strstr(errs.msg[0], message))
		fail_msg("got \"%s\", want \"%s%s\"", errs.msg[0], prefix, message);
	if (absent && strstr(errs.msg[0], absent))
		fail_msg("\"%s\" should not say \"%s\"", errs.msg[0], absent);
	if (count && errs.count != count) {
		for (size_t i = 0; i < errs.count && i < GK_POLICY_MAX_ERRORS; i++)
			print_message("  %s\n", errs.msg[i]);
		fail_msg("%zu errors, want %zu", errs.count, count);
	}
}

/* A test without a table row. */
struct single_test {
	const char *name;
	CMUnitTestFunction fn;
};

static inline void add_test(struct CMUnitTest *tests, size_t *n, const char *name,
			    CMUnitTestFunction fn, const void *state)
{
	tests[*n] = (struct CMUnitTest){.name = name, .test_func = fn,
					.initial_state = (void *)(uintptr_t)state};
	(*n)++;
}

static inline void add_singles(struct CMUnitTest *tests, size_t *n,
			       const struct single_test *singles, size_t count)
{
	for (size_t i = 0; i < count; i++)
		add_test(tests, n, singles[i].name, singles[i].fn, NULL);
}

/* One group, so TAP output has a single plan. */
static inline int run_table(const char *group, const struct CMUnitTest *tests, size_t n)
{
	return _cmocka_run_group_tests(group, tests, n, NULL, NULL) ? 1 : 0;
}

#endif
