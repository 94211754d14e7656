/* libFuzzer target: the control-request parser (and the reply lines the
 * client parses) must turn any bytes into a request or a one-line reason,
 * never a crash, an overread or undefined behaviour; what it accepts obeys
 * the protocol's rules, and every value survives the reply escaping. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const char *buf, size_t size)
{
	struct proto_request r;
	char err[256] = "";
	int rc = proto_parse_request(buf, size, &r, err, sizeof(err));
	if (rc == PROTO_REQ_ERROR) {
		if (!err[0] || strchr(err, '\n'))
			__builtin_trap();   /* refused without a one-line reason */
		return;
	}
	if (rc == PROTO_REQ_MORE) {
		if (size >= PROTO_MAX_REQUEST || memchr(buf, '\n', size))
			__builtin_trap();   /* would wait forever or past the limit */
		return;
	}
	if (rc != PROTO_REQ_DONE || r.consumed == 0 || r.consumed > size ||
	    r.consumed > PROTO_MAX_REQUEST || buf[r.consumed - 1] != '\n' || !r.verb[0])
		__builtin_trap();
	for (const char *s = r.verb; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ' ')
			__builtin_trap();
	for (const char *s = r.arg; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			__builtin_trap();
}

/* Any value written with proto_str reads back the same. */
static void check_reply_round_trip(const char *buf, size_t size)
{
	char *value = malloc(size + 1);
	if (!value)
		return;
	memcpy(value, buf, size);
	value[size] = '\0';
	struct proto_buf b = { 0 };
	proto_str(&b, "path", value);
	if (!b.failed) {
		char *nl = memchr(b.data, '\n', b.len);
		if (!nl || (size_t)(nl - b.data) != b.len - 1)
			__builtin_trap();   /* a value that forges a second line */
		*nl = '\0';
		char type, *key, *out;
		if (proto_parse_line(b.data, &type, &key, &out) < 0 || type != 's' ||
		    strcmp(key, "path") || strcmp(out, value))
			__builtin_trap();
	}
	proto_free(&b);
	free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the server hands the parser at most PROTO_MAX_REQUEST bytes */
	check_request((const char *)data, size < PROTO_MAX_REQUEST ? size : PROTO_MAX_REQUEST);
	check_reply_round_trip((const char *)data, size);
	/* a reply line as the client receives it: any bytes up to a newline */
	char *line = malloc(size + 1);
	if (line) {
		memcpy(line, data, size);
		line[size] = '\0';
		char type, *key, *value;
		proto_parse_line(line, &type, &key, &value);
		free(line);
	}
	return 0;
}
