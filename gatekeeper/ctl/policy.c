/* gatekeeper-ctl policy check|apply|show. check runs here (the parser is
 * linked in), so a policy can be checked on a machine without a daemon. It
 * also reads the hash lists and looks for the watch paths, as the daemon
 * does before it starts with or applies a policy (a list that does not
 * load, or a watch path that is missing, is refused there too). */
#include <string.h>

#include "gatekeeper/ctl/ctl.h"
#include "policy/policy.h"
#include "scanner/scanner.h"

int ctl_file_request(const struct ctl *c, const char *verb, const char *file);
int ctl_plain_request(const struct ctl *c, const char *verb);

/* The policy as the daemon would take it here: parsed, its paths resolved
 * (notes), its watch paths present, its hash lists loaded. NULL with errs
 * filled otherwise. */
static struct gk_policy *load_checked(const char *file, struct gk_policy_errors *errs,
				      struct gk_policy_errors *notes)
{
	char why[sizeof(errs->msg[0])];
	struct gk_policy *p = policy_load(file, errs);
	if (p && policy_resolve_links(p, notes) < 0) {
		*errs = *notes;
		policy_free(p);
		return NULL;
	}
	if (p && policy_check_watch(p, errs->msg[0], sizeof(errs->msg[0])) < 0) {
		errs->count = 1;
		policy_free(p);
		return NULL;
	}
	if (p && scanner_hashlist_check((const char *const *)p->scanners.hashlist_files,
					p->scanners.n_hashlist_files, why, sizeof(why)) < 0) {
		/* the daemon's words: "POLICY: scanners.hashlist: FILE:LINE: why" */
		char name[sizeof(errs->msg[0]) / 2];
		gk_text_escape(name, sizeof(name), p->name, strlen(p->name), NULL);
		snprintf(errs->msg[0], sizeof(errs->msg[0]), "%s: scanners.hashlist: %s", name, why);
		errs->count = 1;
		policy_free(p);
		return NULL;
	}
	return p;
}

static int policy_check(const char *file, bool json)
{
	struct gk_policy_errors errs = { 0 };
	struct gk_policy_errors notes = { 0 };
	struct gk_policy *p = load_checked(file, &errs, &notes);
	if (json) {
		printf("{\"ok\":%s,\"file\":", p ? "true" : "false");
		json_string(stdout, file);
		if (p) {
			printf(",\"sha256\":\"%s\",\"notes\":[", policy_sha256_hex(p));
			for (size_t i = 0; i < notes.count && i < GK_POLICY_MAX_ERRORS; i++) {
				printf("%s", i ? "," : "");
				json_string(stdout, notes.msg[i]);
			}
			printf("]}\n");
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
		if (errs.count > GK_POLICY_MAX_ERRORS) {
			put_clean(stderr, file);   /* the name stays on its line, as in the messages */
			fprintf(stderr, ": %zu more errors not shown\n", errs.count - GK_POLICY_MAX_ERRORS);
		}
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < notes.count && i < GK_POLICY_MAX_ERRORS; i++)
		printf("note: %s\n", notes.msg[i]);
	put_clean(stdout, file);
	printf(": ok (sha256 %s)\n", policy_sha256_hex(p));
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
