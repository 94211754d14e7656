/* The operators' control commands: metrics, and the audit log (log,
 * policy suggest read it through here). Registered in control_cmd.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/control_ops.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/metrics.h"
#include "gatekeeper/proto.h"

void control_cmd_metrics(struct gk_daemon *d, struct proto_buf *reply)
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

/* A log page stops short of the reply limit; the client asks for the next
 * page after the last id it got, until a page comes back empty. */
#define LOG_PAGE_MAX 1000
#define LOG_PAGE_BYTES (PROTO_MAX_REPLY - 64 * 1024)

struct log_page {
	struct proto_buf *reply;
};

static int log_row(void *ctx, int64_t id, const struct db_audit *a)
{
	struct log_page *pg = ctx;
	struct proto_buf *r = pg->reply;
	char hex[GK_SHA256_HEX_LEN + 1] = "";
	if (a->sha256)
		gk_sha256_to_hex(a->sha256, hex);
	proto_num(r, "id", id);
	proto_num(r, "time_us", a->time_us);
	proto_str(r, "kind", "exec");
	proto_str(r, "verdict", gk_verdict_name(a->verdict));
	proto_num(r, "would_deny", a->would_deny);
	proto_str(r, "source", gk_source_name(a->source));
	proto_str(r, "detail", a->detail ? a->detail : "");
	proto_str(r, "path", a->path ? a->path : "");
	proto_str(r, "exe", a->exe ? a->exe : "");
	proto_str(r, "sha256", hex);
	proto_num(r, "pid", a->pid);
	proto_num(r, "latency_us", a->latency_us);
	proto_str(r, "mode", gk_mode_name(a->mode));
	proto_end_record(r);
	return r->len > LOG_PAGE_BYTES;
}

/* "key=value" words (after, since, until, match, limit, last); path= takes the rest of the line (a glob may hold
 * spaces). Returns 0, or -1 with the reply's error set. */
static int parse_log_query(const char *arg, struct db_audit_filter *f, int64_t *last, char *glob,
			   size_t globlen, struct proto_buf *reply)
{
	*f = (struct db_audit_filter){ .limit = LOG_PAGE_MAX };
	*last = -1;
	while (*arg) {
		const char *eq = strchr(arg, '='), *end = strchr(arg, ' ');
		if (!eq || (end && end < eq)) {
			proto_error(reply, EXIT_USAGE, "log: bad query word '%.64s'", arg);
			return -1;
		}
		size_t klen = (size_t)(eq - arg);
		if (klen == 4 && !strncmp(arg, "path", 4)) {
			snprintf(glob, globlen, "%s", eq + 1);
			f->path_glob = glob;
			return 0;
		}
		char *num_end;
		errno = 0;
		long long v = strtoll(eq + 1, &num_end, 10);
		bool out_of_range = errno == ERANGE;
		if (klen == 5 && !strncmp(arg, "match", 5)) {
			static const char *const names[] = { "any", "allow", "deny", "would-deny" };
			size_t vlen = end ? (size_t)(end - eq - 1) : strlen(eq + 1), i;
			for (i = 0; i < 4 && (strlen(names[i]) != vlen || strncmp(names[i], eq + 1, vlen)); i++)
				;
			if (i == 4) {
				proto_error(reply, EXIT_USAGE, "log: match must be any, allow, deny or would-deny");
				return -1;
			}
			f->match = (enum db_audit_match)i;
		} else if (num_end == eq + 1 || (*num_end && *num_end != ' ') || v < 0 || out_of_range) {
			proto_error(reply, EXIT_USAGE, "log: '%.*s' needs a number%s", (int)klen, arg,
				    out_of_range ? " that fits in 64 bits" : "");
			return -1;
		} else if (klen == 5 && !strncmp(arg, "after", 5)) {
			f->after_id = v;
		} else if (klen == 5 && !strncmp(arg, "since", 5)) {
			f->since_us = v;
		} else if (klen == 5 && !strncmp(arg, "until", 5)) {
			f->until_us = v;
		} else if (klen == 4 && !strncmp(arg, "last", 4)) {
			*last = v;
		} else if (klen == 5 && !strncmp(arg, "limit", 5)) {
			f->limit = v < 1 ? 1 : v > LOG_PAGE_MAX ? LOG_PAGE_MAX : v;
		} else {
			proto_error(reply, EXIT_USAGE, "log: unknown query key '%.*s'", (int)klen, arg);
			return -1;
		}
		arg = end ? end + 1 : eq + strlen(eq);
	}
	return 0;
}

void control_cmd_log(struct gk_daemon *d, const char *arg, struct proto_buf *reply)
{
	struct db_audit_filter f;
	char glob[4096];
	int64_t last, newest;
	if (parse_log_query(arg, &f, &last, glob, sizeof(glob), reply) < 0)
		return;
	audit_sync(d);   /* every decision made before the request */
	/* last=N: only the rows among the N newest (tail -f's start) */
	if (last >= 0) {
		if ((newest = db_audit_last_id(d->db)) < 0) {
			proto_error(reply, EXIT_REFUSED, "audit log: %s", db_errmsg(d->db));
			return;
		}
		if (newest - last > f.after_id)
			f.after_id = newest - last;
	}
	proto_num(reply, "ok", 1);
	proto_end_record(reply);
	struct log_page pg = { reply };
	if (db_audit_query(d->db, &f, log_row, &pg) < 0)
		proto_error(reply, EXIT_REFUSED, "audit log: %s", db_errmsg(d->db));
}
