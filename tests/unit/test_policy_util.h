/* Shared by the policy/ unit tests (test_policy.c, test_policy_decide.c,
 * test_policy_schema.c): the sample hashes and the runner that makes each
 * table row its own cmocka test, so TAP output names it. */
#ifndef GK_TEST_POLICY_UTIL_H
#define GK_TEST_POLICY_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/policy.h"

#define H64_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H64_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define H64_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define H64_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

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
