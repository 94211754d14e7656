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
 * decision (keys: n time_us, s kind (exec|prescan|kernel), s verdict,
 * n would_deny, s source, s detail, s path, s exe, s sha256, n pid,
 * n latency_us, n dropped: records this subscriber lost since its last one).
 * A subscriber that reads too slowly loses records; the daemon never waits. */
#ifndef GK_PROTO_H
#define GK_PROTO_H

#include <stdbool.h>
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
/* Append bytes as they are (already formatted lines). */
void proto_raw(struct proto_buf *b, const char *data, size_t len);

/* One request line, parsed by proto_parse_request: verb and arg point into
 * line (arg is "" when the request has none). */
struct proto_request {
	char line[PROTO_MAX_REQUEST];
	const char *verb, *arg;
	size_t consumed;     /* bytes of input up to and including the newline */
};
enum { PROTO_REQ_ERROR = -1, PROTO_REQ_MORE = 0, PROTO_REQ_DONE = 1 };
/* Parse the first request line of the len bytes received so far. A pure
 * function over bytes (no I/O, no allocation): PROTO_REQ_DONE fills *req;
 * PROTO_REQ_MORE asks for more bytes (no newline yet, still under the limit);
 * PROTO_REQ_ERROR puts a one-line reason in err (too long, NUL or control
 * byte, empty request). */
int proto_parse_request(const char *buf, size_t len, struct proto_request *req, char *err,
			size_t errlen);

/* End one record of a multi-record reply (log pages, the subscribe stream):
 * records are groups of lines, each group ended by an empty line. */
void proto_end_record(struct proto_buf *b);

/* Parse one reply line in place: returns 0 and sets *type, *key, *value
 * (value unescaped), or -1 for a malformed line. */
int proto_parse_line(char *line, char *type, char **key, char **value);

#endif
