/* The one-request verbs: allow, deny, forget, query, status, policy show
 * and policy apply. One line to the daemon, its reply printed. */
#include <string.h>
#include <unistd.h>

#include "gatekeeper/ctl/ctl.h"

/* A request about a file: the file travels as an fd with its path. */
int ctl_file_request(const struct ctl *c, const char *verb, const char *file)
{
	char line[PROTO_MAX_REQUEST + 1];
	int fd = -1, rc = ctl_open_file(verb, file, line, sizeof(line), &fd);
	if (rc == EXIT_OK) {
		struct reply r;
		rc = ctl_call(c, line, fd, &r);
		if (rc == EXIT_OK) {
			rc = ctl_report(c, verb, &r);
			reply_free(&r);
		}
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int ctl_plain_request(const struct ctl *c, const char *verb)
{
	char line[128];
	struct reply r;
	snprintf(line, sizeof(line), "%s\n", verb);
	int rc = ctl_call(c, line, -1, &r);
	if (rc == EXIT_OK) {
		rc = ctl_report(c, verb, &r);
		reply_free(&r);
	}
	return rc;
}

int verb_simple(const struct ctl *c, int argc, char **argv)
{
	const char *cmd = argv[0];
	if (!strcmp(cmd, "status") && argc == 1)
		return ctl_plain_request(c, "status");
	if ((!strcmp(cmd, "allow") || !strcmp(cmd, "deny") || !strcmp(cmd, "forget") ||
	     !strcmp(cmd, "query")) && argc == 2)
		return ctl_file_request(c, cmd, argv[1]);
	return ctl_fail(EXIT_USAGE, "usage: gatekeeper-ctl %s%s", cmd,
			!strcmp(cmd, "status") ? "" : " PATH");
}
