/* gatekeeper-ctl policy check|apply|show. check runs here (the parser is
 * linked in), so a policy can be checked on a machine without a daemon. It
 * also reads the hash lists, as the daemon does before it applies a
 * policy (a list that does not load is refused there too). */
#include <string.h>

#include "gatekeeper/ctl/ctl.h"
#include "policy/policy.h"
#include "scanner/scanner.h"

int ctl_file_request(const struct ctl *c, const char *verb, const char *file);
int ctl_plain_request(const struct ctl *c, const char *verb);

static int policy_check(const char *file, bool json)
{
	struct gk_policy_errors errs = { 0 };
	struct gk_policy *p = policy_load(file, &errs);
	char why[sizeof(errs.msg[0])];
	if (p && scanner_hashlist_check((const char *const *)p->scanners.hashlist_files,
					p->scanners.n_hashlist_files, why, sizeof(why)) < 0) {
		/* the daemon's words: "POLICY: scanners.hashlist: FILE:LINE: why" */
		snprintf(errs.msg[0], sizeof(errs.msg[0]), "%s: scanners.hashlist: %s", p->name, why);
		errs.count = 1;
		policy_free(p);
		p = NULL;
	}
	if (json) {
		printf("{\"ok\":%s,\"file\":", p ? "true" : "false");
		json_string(stdout, file);
		if (p) {
			printf(",\"sha256\":\"%s\"}\n", policy_sha256_hex(p));
		} else {
			printf(",\"code\":%d,\"error\":", EXIT_USAGE);
			json_string(stdout, errs.msg[0]);
			printf(",\"errors\":[");
			for (size_t i = 0; i < errs.count && i < GK_POLICY_MAX_ERRORS; i++) {
				printf("%s", i ? "," : "");
				json_string(stdout, errs.msg[i]);
			}
			printf("]}\n");
		}
		int rc = p ? EXIT_OK : EXIT_USAGE;
		policy_free(p);
		return rc;
	}
	if (!p) {
		for (size_t i = 0; i < errs.count && i < GK_POLICY_MAX_ERRORS; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.count > GK_POLICY_MAX_ERRORS)
			fprintf(stderr, "%s: %zu more errors not shown\n", file, errs.count - GK_POLICY_MAX_ERRORS);
		return EXIT_USAGE;
	}
	printf("%s: ok (sha256 %s)\n", file, policy_sha256_hex(p));
	policy_free(p);
	return EXIT_OK;
}

int verb_policy(const struct ctl *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (!strcmp(sub, "check") && argc == 3)
		return policy_check(argv[2], c->json);
	if (!strcmp(sub, "apply") && argc == 3)
		return ctl_file_request(c, "policy-apply", argv[2]);
	if (!strcmp(sub, "show") && argc == 2)
		return ctl_plain_request(c, "policy-show");
	if (!strcmp(sub, "suggest"))
		return ctl_policy_suggest(c, argc, argv);
	return ctl_fail(EXIT_USAGE, "usage: gatekeeper-ctl policy check FILE | apply FILE | show | "
			"suggest [--since TIME] [--by sha256|path]");
}
