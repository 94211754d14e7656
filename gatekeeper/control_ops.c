/* The operators' control commands: metrics, and the audit log (log,
 * policy suggest read it through here). Registered in control_cmd.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/control_ops.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/metrics.h"
#include "gatekeeper/proto.h"

void cmd_metrics(struct gk_daemon *d, struct proto_buf *reply)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc = f ? metrics_format(d, f) : -1;
	if (f && fclose(f) != 0)
		rc = -1;
	if (rc < 0) {
		proto_error(reply, EXIT_REFUSED, "cannot format the metrics (out of memory)");
	} else {
		proto_num(reply, "ok", 1);
		proto_str(reply, "text", text);
	}
	free(text);
}
