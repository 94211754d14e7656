#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/proto.h"

static void buf_put(struct proto_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = cap <= PROTO_MAX_REPLY ? realloc(b->data, cap) : NULL;
		if (!p) {
			b->failed = 1;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void proto_raw(struct proto_buf *b, const char *data, size_t len) { buf_put(b, data, len); }

static void put_line(struct proto_buf *b, char type, const char *key, const char *value)
{
	char head[3] = { type, ' ', '\0' };
	buf_put(b, head, 2);
	buf_put(b, key, strlen(key));
	buf_put(b, " ", 1);
	for (const char *p = value ? value : ""; *p; p++) {
		if (*p == '\\')
			buf_put(b, "\\\\", 2);
		else if (*p == '\n')
			buf_put(b, "\\n", 2);
		else
			buf_put(b, p, 1);
	}
	buf_put(b, "\n", 1);
}

void proto_str(struct proto_buf *b, const char *key, const char *value) { put_line(b, 's', key, value); }
void proto_arr(struct proto_buf *b, const char *key, const char *value) { put_line(b, 'a', key, value); }

void proto_num(struct proto_buf *b, const char *key, int64_t value)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", (long long)value);
	put_line(b, 'n', key, num);
}

void proto_error(struct proto_buf *b, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->len = 0;
	b->failed = 0;
	proto_num(b, "ok", 0);
	proto_str(b, "error", msg);
	proto_num(b, "code", code);
}

void proto_end_record(struct proto_buf *b)
{
	buf_put(b, "\n", 1);
}

void proto_free(struct proto_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int proto_parse_line(char *line, char *type, char **key, char **value)
{
	if ((line[0] != 's' && line[0] != 'n' && line[0] != 'a') || line[1] != ' ')
		return -1;
	char *k = line + 2, *sp = strchr(k, ' ');
	if (!sp || sp == k)
		return -1;
	*sp = '\0';
	char *in = sp + 1, *out = sp + 1;
	while (*in) {
		if (*in == '\\' && in[1] == 'n') {
			*out++ = '\n';
			in += 2;
		} else if (*in == '\\' && in[1] == '\\') {
			*out++ = '\\';
			in += 2;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	*type = line[0];
	*key = k;
	*value = sp + 1;
	return 0;
}

int proto_parse_request(const char *buf, size_t len, struct proto_request *req, char *err,
			size_t errlen)
{
	size_t scan = len < PROTO_MAX_REQUEST ? len : PROTO_MAX_REQUEST;
	const char *nl = memchr(buf, '\n', scan);
	if (!nl) {
		if (len < PROTO_MAX_REQUEST)
			return PROTO_REQ_MORE;
		snprintf(err, errlen, "request too long (limit %d bytes)", PROTO_MAX_REQUEST);
		return PROTO_REQ_ERROR;
	}
	size_t n = (size_t)(nl - buf);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == 0) {
			snprintf(err, errlen, "malformed request: NUL byte at byte %zu", i);
			return PROTO_REQ_ERROR;
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(err, errlen, "malformed request: control character at byte %zu", i);
			return PROTO_REQ_ERROR;
		}
	}
	if (n == 0) {
		snprintf(err, errlen, "empty request");
		return PROTO_REQ_ERROR;
	}
	if (buf[0] == ' ') {
		snprintf(err, errlen, "malformed request: no verb before the space at byte 0");
		return PROTO_REQ_ERROR;
	}
	memcpy(req->line, buf, n);
	req->line[n] = '\0';
	req->consumed = n + 1;
	req->verb = req->line;
	char *sp = strchr(req->line, ' ');
	if (sp)
		*sp++ = '\0';
	req->arg = sp ? sp : "";
	return PROTO_REQ_DONE;
}
