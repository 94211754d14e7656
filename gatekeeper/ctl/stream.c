/* Multi-record replies (log pages, the subscribe stream): groups of
 * "T KEY VALUE" lines, each ended by an empty line (see proto.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatekeeper/ctl/ctl.h"

void stream_unread(struct stream *st)
{
	st->again = true;
}

void stream_close(struct stream *st)
{
	if (st)
		close(st->fd);
	free(st);
}

int stream_next(struct stream *st, struct reply *r, int timeout_ms)
{
	if (st->again) {
		st->again = false;
		*r = st->last;
		return 1;
	}
	for (;;) {
		char *start = st->buf + st->start, *end = st->buf + st->len;
		*end = '\0';
		/* skip blank lines between records (and after the header) */
		while (start < end && *start == '\n')
			start++;
		st->start = (size_t)(start - st->buf);
		char *sep = strstr(start, "\n\n");
		if (sep || (st->eof && start < end)) {
			char *stop = sep ? sep + 1 : end;
			*stop = '\0';
			st->start = (size_t)(stop - st->buf) + (sep ? 1 : 0);
			if (st->start > st->len)
				st->start = st->len;
			size_t n = strlen(start);
			if (n >= sizeof(st->rec))
				return ctl_fail(-1, "a record from gatekeeperd is too large");
			memcpy(st->rec, start, n + 1);
			if (reply_parse_record(st->rec, r) < 0)
				return ctl_fail(-1, "garbled record from gatekeeperd");
			st->last = *r;
			return 1;
		}
		if (st->eof)
			return -1;
		/* make room: drop what was consumed */
		memmove(st->buf, start, (size_t)(end - start));
		st->len = (size_t)(end - start);
		st->start = 0;
		if (st->len + 1 >= sizeof(st->buf))
			return ctl_fail(-1, "a record from gatekeeperd is too large");
		struct pollfd p = { .fd = st->fd, .events = POLLIN };
		int pr = poll(&p, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -1;
		if (pr == 0)
			return 0;
		ssize_t n = read(st->fd, st->buf + st->len, sizeof(st->buf) - 1 - st->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			st->eof = true;
		else
			st->len += (size_t)n;
	}
}
