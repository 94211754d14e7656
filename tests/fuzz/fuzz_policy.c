/* libFuzzer target: the policy parser must turn any input into either a
 * policy or errors, never a crash, a leak or undefined behaviour. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gk_policy_errors errs;
	memset(&errs, 0, sizeof(errs));
	struct gk_policy *p = policy_parse("fuzz.yaml", (const char *)data, size, &errs);
	if (p) {
		/* a parsed policy must be usable */
		unsigned char sha[GK_SHA256_LEN] = { 0 };
		struct gk_file_facts facts = { .path = "/tmp/x", .sha256 = sha };
		struct gk_decision d;
		policy_decide(p, &facts, &d);
		policy_path_watched(p, "/");
		policy_free(p);
	} else if (errs.count == 0) {
		__builtin_trap();   /* refused without saying why */
	}
	return 0;
}
