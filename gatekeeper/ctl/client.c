/* The connection to gatekeeperd: connect, send one request, read the reply. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gatekeeper/ctl/ctl.h"

int ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("gatekeeper-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int ctl_connect(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return ctl_fail(EXIT_USAGE, "%s: socket path too long", path);
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		if (e == EACCES || e == EPERM)
			return ctl_fail(EXIT_REFUSED, "%s: permission denied (root or the admin group only)", path);
		return ctl_fail(EXIT_UNREACHABLE, "cannot reach gatekeeperd at %s: %s", path, strerror(e));
	}
	*out = s;
	return EXIT_OK;
}

int ctl_send(int s, const char *line, int fd)
{
	struct iovec iov = { .iov_base = (void *)line, .iov_len = strlen(line) };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(s, &msg, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -1;
}

static char *read_all(int s)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	while (buf) {
		if (len + 1 >= cap) {
			char *p = cap < PROTO_MAX_REPLY ? realloc(buf, cap *= 2) : NULL;
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
		}
		ssize_t n = read(s, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

int reply_parse_record(char *text, struct reply *r)
{
	*r = (struct reply){ 0 };
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && r->n < CTL_MAX_FIELDS;
	     line = strtok_r(NULL, "\n", &save)) {
		struct field *f = &r->f[r->n];
		if (proto_parse_line(line, &f->type, &f->key, &f->value) < 0)
			return -1;
		if (!strcmp(f->key, "code"))
			r->code = atoi(f->value);
		if (!strcmp(f->key, "error"))
			r->error = f->value;
		r->n++;
	}
	if (r->error && r->code == EXIT_OK)
		r->code = EXIT_REFUSED;
	return 0;
}

int reply_parse(char *buf, struct reply *r)
{
	int rc = reply_parse_record(buf, r);
	r->buf = buf;
	return rc;
}

const char *reply_get(const struct reply *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->f[i].key, key))
			return r->f[i].value;
	return NULL;
}

int64_t reply_num(const struct reply *r, const char *key, int64_t dflt)
{
	const char *v = reply_get(r, key);
	return v ? strtoll(v, NULL, 10) : dflt;
}

void reply_free(struct reply *r)
{
	free(r->buf);
	*r = (struct reply){ 0 };
}

int ctl_call(const struct ctl *c, const char *line, int fd, struct reply *r)
{
	int s = -1, rc = ctl_connect(c->socket_path, &s);
	if (rc != EXIT_OK)
		return rc;
	/* Even when sending fails, a reply may be waiting (a refusal). */
	int sent = ctl_send(s, line, fd), saved = errno;
	char *buf = read_all(s);
	close(s);
	if (buf && !buf[0] && sent < 0) {
		free(buf);
		buf = NULL;
	}
	if (!buf)
		return ctl_fail(EXIT_UNREACHABLE, "lost the connection to gatekeeperd at %s: %s",
				c->socket_path, strerror(saved ? saved : errno));
	if (reply_parse(buf, r) < 0) {
		reply_free(r);
		return ctl_fail(EXIT_UNREACHABLE, "garbled reply from gatekeeperd");
	}
	if (!r->n) {
		reply_free(r);
		return ctl_fail(EXIT_UNREACHABLE, "gatekeeperd closed the connection without a reply");
	}
	return EXIT_OK;
}

/* A rule is for the content the daemon reads now, not for what the caller
 * reviewed: whoever else may write the file can swap it in between. */
static void warn_others_write(const char *verb, const char *file, const struct stat *st)
{
	if (strcmp(verb, "allow") && strcmp(verb, "deny"))
		return;
	char who[64];
	if (st->st_uid != 0 && st->st_uid != getuid())
		snprintf(who, sizeof(who), "its owner, uid %u,", (unsigned)st->st_uid);
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		snprintf(who, sizeof(who), "%s", st->st_mode & S_IWOTH ? "anyone" : "its group");
	else
		return;
	fprintf(stderr, "gatekeeper-ctl: warning: %s: %s can rewrite it, so the rule is for "
		"its content now, not as you reviewed it; to be sure, %s a copy only you can "
		"write\n", file, who, verb);
}

/* Of the file the path names, the one that fd holds: an error if another
 * took its place between the two opens. */
static int same_file(int fd, const struct stat *st, const char *file)
{
	struct stat now;
	if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return ctl_fail(EXIT_REFUSED, "%s: replaced while being opened", file);
	return EXIT_OK;
}

int ctl_open_file(const char *verb, const char *file, char *line, size_t size, int *fd)
{
	char abs[PATH_MAX], proc[64];
	/* O_PATH first: opening a FIFO waits for a writer, a device may act on
	 * its open (a tape rewinds); only a regular file is opened to be read. */
	int at = open(file, O_PATH | O_CLOEXEC);
	struct stat st;
	if (at < 0)
		return ctl_fail(errno == ENOENT || errno == EACCES ? EXIT_REFUSED : EXIT_USAGE,
				"%s: %s", file, strerror(errno));
	if (fstat(at, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(at);
		return ctl_fail(EXIT_USAGE, "%s: not a regular file", file);
	}
	/* Through the O_PATH fd: the same file, whatever the path names now.
	 * Without /proc, the path again (same_file checks it). */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", at);
	*fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (*fd < 0 && errno == ENOENT)
		*fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	int saved = errno;
	/* The label names the file opened, not where a symlink swapped since
	 * points (realpath of the path, the fallback, would). */
	ssize_t n = readlink(proc, abs, sizeof(abs) - 1);
	close(at);
	if (*fd < 0)
		return ctl_fail(saved == ENOENT || saved == EACCES ? EXIT_REFUSED : EXIT_USAGE,
				"%s: %s", file, strerror(saved));
	int rc = same_file(*fd, &st, file);
	if (rc != EXIT_OK)
		return rc;
	fcntl(*fd, F_SETFL, 0);
	if (n > 0)
		abs[n] = '\0';
	else if (!realpath(file, abs))
		snprintf(abs, sizeof(abs), "%s", file);
	warn_others_write(verb, file, &st);
	/* The path is only a label (the daemon reads the fd): the control bytes
	 * a request line may not hold go as \xNN. */
	char label[4 * PATH_MAX + 1];
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)abs; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			k += (size_t)snprintf(label + k, sizeof(label) - k, "\\x%02x", *p);
		else
			label[k++] = (char)*p;
	label[k] = '\0';
	if ((size_t)snprintf(line, size, "%s %s\n", verb, label) >= size)
		return ctl_fail(EXIT_USAGE, "%s: path too long", file);
	return EXIT_OK;
}
