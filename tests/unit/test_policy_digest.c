/* Unit tests for the policy's digest: the SHA-256 of its text, computed at
 * first use (OpenSSL's first use is not a start-up cost) and the same for
 * every thread that asks at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

/* printf 'mode: enforce\nwatch: [/tmp]\ndefault: allow\n' | sha256sum */
#define TEXT "mode: enforce\nwatch: [/tmp]\ndefault: allow\n"
#define TEXT_SHA256 "5b286ff041540812cd37a703caac8ce15193fff2c9871b58680ef4b9a8c32644"
#define ASKERS 8

static void digest_of_text(void **state)
{
	struct gk_policy *p = policy_parse("d.yaml", TEXT, strlen(TEXT), NULL);

	(void)state;
	assert_non_null(p);
	assert_string_equal(policy_sha256_hex(p), TEXT_SHA256);
	assert_string_equal(policy_sha256_hex(p), TEXT_SHA256);   /* kept */
	policy_free(p);
}

static void *ask(void *policy)
{
	return (void *)policy_sha256_hex(policy);
}

static void digest_asked_at_once(void **state)
{
	struct gk_policy *p = policy_parse("d.yaml", TEXT, strlen(TEXT), NULL);
	pthread_t askers[ASKERS];
	void *got[ASKERS];

	(void)state;
	assert_non_null(p);
	for (int i = 0; i < ASKERS; i++)
		assert_int_equal(pthread_create(&askers[i], NULL, ask, p), 0);
	for (int i = 0; i < ASKERS; i++) {
		assert_int_equal(pthread_join(askers[i], &got[i]), 0);
		assert_string_equal(got[i], TEXT_SHA256);
	}
	policy_free(p);
}

/* A policy freed unasked never computed it: nothing to leak or destroy twice. */
static void digest_never_asked(void **state)
{
	struct gk_policy *p = policy_parse("d.yaml", TEXT, strlen(TEXT), NULL);

	(void)state;
	assert_non_null(p);
	assert_false(atomic_load(&p->sha256_done));
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(digest_of_text),
		cmocka_unit_test(digest_asked_at_once),
		cmocka_unit_test(digest_never_asked),
	};
	return cmocka_run_group_tests_name("policy_digest", tests, NULL, NULL);
}
