/* The scanner process's wire protocol (see scand.h), shared by the daemon's
 * supervisor and gatekeeper-scand. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scanner/engine.h"
#include "scanner/scand.h"

#define MIB (1024ull * 1024)

int scand_send(int sock, uint32_t op, int32_t a, int32_t b, uint64_t id, const char *text,
	       int fd)
{
	struct scand_msg m = { .magic = SCAND_MAGIC, .op = op, .a = a, .b = b, .id = id };
	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof(m)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_readable(int sock, int timeout_ms)
{
	int64_t end = timeout_ms < 0 ? 0 : mono_ms() + timeout_ms;
	for (;;) {
		int left = timeout_ms < 0 ? -1 : (int)(end - mono_ms());
		if (timeout_ms >= 0 && left < 0)
			left = 0;
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int rc = poll(&p, 1, left);
		if (rc > 0)
			return 0;
		if (rc == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* Close every descriptor that came with a message; return the first one
 * when keep is set. */
static int take_fds(struct msghdr *mh, bool keep)
{
	int kept = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (keep && kept < 0)
				kept = fd;
			else
				close(fd);
		}
	}
	return kept;
}

int scand_recv(int sock, struct scand_msg *m, int *fd, int timeout_ms)
{
	if (fd)
		*fd = -1;
	if (wait_readable(sock, timeout_ms) < 0)
		return -1;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0) {
		errno = EPIPE;
		return -1;
	}
	bool ok = (size_t)n == sizeof(*m) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
		  m->magic == SCAND_MAGIC && m->op >= 1 && m->op <= SCAND_OP_MAX;
	int got = take_fds(&mh, ok && fd);
	if (!ok) {
		errno = EBADMSG;
		return -1;
	}
	if (fd)
		*fd = got;
	char text[sizeof(m->text)];
	memcpy(text, m->text, sizeof(text));
	text[sizeof(text) - 1] = '\0';
	scanner_line(m->text, sizeof(m->text), "%s", text);
	return 0;
}

void scand_describe_exit(int status, char *buf, size_t size)
{
	if (WIFEXITED(status)) {
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *abbrev = sigabbrev_np(sig);
		snprintf(buf, size, "killed by signal %d (SIG%s)%s", sig, abbrev ? abbrev : "?",
			 sig == SIGKILL ? ": out of memory, or killed from outside" : "");
	} else {
		snprintf(buf, size, "ended with wait status %#x", (unsigned)status);
	}
}

#define DEFAULT_MAX_FILE_SIZE (100 * MIB)
#define DEFAULT_MAX_SCAN_SIZE (400 * MIB)
#define DEFAULT_MAX_SCAN_MS 4000u
#define DEFAULT_MAX_RECURSION 16u
#define DEFAULT_MAX_FILES 10000u

int scanner_limits_resolve(const struct scanner_limits *in, struct scanner_limits *out,
			   char *err, size_t errlen)
{
	*out = *in;
	if (!out->max_file_size)
		out->max_file_size = DEFAULT_MAX_FILE_SIZE;
	if (!out->max_scan_size)
		out->max_scan_size = DEFAULT_MAX_SCAN_SIZE;
	if (!out->max_scan_ms)
		out->max_scan_ms = DEFAULT_MAX_SCAN_MS;
	if (!out->max_recursion)
		out->max_recursion = DEFAULT_MAX_RECURSION;
	if (!out->max_files)
		out->max_files = DEFAULT_MAX_FILES;
	/* libclamav keeps sizes in signed ints internally. */
	if (out->max_file_size > SCANNER_CLAMAV_SIZE_MAX || out->max_scan_size > SCANNER_CLAMAV_SIZE_MAX ||
	    out->max_scan_ms > INT_MAX) {
		scanner_line(err, errlen, "clamav: max_file_size, max_scan_size and max_scan_ms "
			     "must be below 2^31");
		return -1;
	}
	return 0;
}
