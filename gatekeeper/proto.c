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
