/* The control protocol between gatekeeper-ctl and gatekeeperd.
 *
 * Request: one line "VERB [ARG]\n" of at most PROTO_MAX_REQUEST bytes, on a
 * SOCK_STREAM unix socket; an fd may ride along (SCM_RIGHTS) for commands
 * about a file, so the daemon reads the file only through an fd it was given.
 * Reply: lines "T KEY VALUE\n" where T is 's' (string), 'n' (number) or 'a'
 * (one element of the array KEY); VALUE escapes '\\' and '\n'. The first
 * line is "n ok 1" or "n ok 0"; a failure carries "s error MESSAGE" and
 * "n code EXIT" (the exit code gatekeeper-ctl returns). The server closes
 * the connection after the reply.
 *
 * Multi-record replies (log, subscribe): the header lines ("n ok 1"), an
 * empty line, then records of "T KEY VALUE" lines, each ended by an empty
 * line. A subscription keeps the connection open and sends one record per
 * decision (keys: time_us, kind, verdict, would_deny, source, detail, path,
 * exe, sha256, pid, latency_us, dropped). */
#ifndef GK_PROTO_H
#define GK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAX_REQUEST 4096
#define PROTO_MAX_REPLY (2 * 1024 * 1024)

/* The daemon's default control socket. */
#define GK_DEFAULT_SOCKET "/run/gatekeeper/gatekeeper.sock"
#ifndef GK_VERSION
#define GK_VERSION "0.1"
#endif

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

struct proto_buf {
	char *data;
	size_t len, cap;
	int failed;          /* allocation failed or reply too large */
};
void proto_str(struct proto_buf *b, const char *key, const char *value);
void proto_num(struct proto_buf *b, const char *key, int64_t value);
void proto_arr(struct proto_buf *b, const char *key, const char *value);
void proto_error(struct proto_buf *b, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void proto_free(struct proto_buf *b);
/* End one record of a multi-record reply (log pages, the subscribe stream):
 * records are groups of lines, each group ended by an empty line. */
void proto_end_record(struct proto_buf *b);

/* Parse one reply line in place: returns 0 and sets *type, *key, *value
 * (value unescaped), or -1 for a malformed line. */
int proto_parse_line(char *line, char *type, char **key, char **value);

#endif
