/* gatekeeper-ctl metrics: the daemon's metrics in the Prometheus text
 * exposition format, as a scrape or `promtool check metrics` reads them. */
#include <string.h>

#include "gatekeeper/ctl/ctl.h"

int verb_metrics(const struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_fail(EXIT_USAGE, "usage: gatekeeper-ctl metrics");
	struct reply r;
	int rc = ctl_call(c, "metrics\n", -1, &r);
	if (rc != EXIT_OK)
		return rc;
	const char *text = reply_get(&r, "text");
	if (r.error || !text || c->json) {
		rc = ctl_report(c, "metrics", &r);
	} else {
		fputs(text, stdout);
		rc = EXIT_OK;
	}
	reply_free(&r);
	return rc;
}
