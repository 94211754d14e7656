/* The control socket: one thread serves one short connection at a time.
 * Only root or the policy's admin group (SO_PEERCRED, SO_PEERGROUPS) may use
 * it. A request is one bounded line, optionally with one fd; anything else
 * gets an error reply and changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/proto.h"

#define CONTROL_IO_TIMEOUT_MS 2000

static int listen_fd = -1;
static int stop_pipe[2] = { -1, -1 };
static pthread_t thread;
static bool started;

static bool peer_is_admin(struct gk_daemon *d, int conn)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (cred.uid == 0)
		return true;
	pthread_rwlock_rdlock(&d->policy_lock);
	gid_t admin = d->admin_gid;
	pthread_rwlock_unlock(&d->policy_lock);
	if (admin == (gid_t)-1)
		return false;
	if (cred.gid == admin)
		return true;
	gid_t groups[256];
	len = sizeof(groups);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == admin)
			return true;
	return false;
}

/* Read one request line (and at most one fd). Returns 0, or -1 with a
 * message in err. */
static int read_request(int conn, char *line, size_t size, int *fd_out, char *err, size_t errlen)
{
	size_t len = 0, line_len = 0;
	*fd_out = -1;
	for (;;) {
		struct pollfd p = { .fd = conn, .events = POLLIN };
		if (poll(&p, 1, CONTROL_IO_TIMEOUT_MS) <= 0) {
			snprintf(err, errlen, "request timed out");
			return -1;
		}
		char cbuf[CMSG_SPACE(sizeof(int) * 4)];
		struct iovec iov = { .iov_base = line + len, .iov_len = size - 1 - len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[4];
			memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
			for (size_t i = 0; i < nfd; i++) {
				if (*fd_out < 0)
					*fd_out = fds[i];
				else
					close(fds[i]);   /* one fd per request */
			}
		}
		if (n <= 0) {
			snprintf(err, errlen, n < 0 ? "request read failed" : "request not terminated by a newline");
			return -1;
		}
		len += (size_t)n;
		line[len] = '\0';
		char *nl = memchr(line, '\n', len);
		if (nl) {
			*nl = '\0';
			line_len = (size_t)(nl - line);
			break;
		}
		if (len >= size - 1) {
			snprintf(err, errlen, "request too long (limit %d bytes)", PROTO_MAX_REQUEST);
			return -1;
		}
	}
	if (strlen(line) != line_len) {
		snprintf(err, errlen, "malformed request: NUL byte at byte %zu", strlen(line));
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "malformed request: control character at byte %zu",
				 (size_t)(p - (const unsigned char *)line));
			return -1;
		}
	}
	if (!line[0]) {
		snprintf(err, errlen, "empty request");
		return -1;
	}
	return 0;
}

static void write_all(int conn, const char *data, size_t len)
{
	while (len) {
		struct pollfd p = { .fd = conn, .events = POLLOUT };
		if (poll(&p, 1, CONTROL_IO_TIMEOUT_MS) <= 0)
			return;
		ssize_t n = send(conn, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

static void serve(struct gk_daemon *d, int conn)
{
	struct proto_buf reply = { 0 };
	char line[PROTO_MAX_REQUEST + 1], err[256];
	int fd = -1;
	/* Read the (bounded) request first even from a stranger: replying before
	 * it is read would reset the connection under the client's feet. */
	int rc = read_request(conn, line, sizeof(line), &fd, err, sizeof(err));
	if (!peer_is_admin(d, conn)) {
		proto_error(&reply, EXIT_REFUSED, "permission denied: only root or the admin group may use the control socket");
	} else if (rc < 0) {
		proto_error(&reply, EXIT_USAGE, "%s", err);
	} else {
		char *arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		control_dispatch(d, line, arg ? arg : "", fd, &reply);
	}
	if (reply.failed)
		proto_error(&reply, EXIT_REFUSED, "reply too large or out of memory");
	if (fd >= 0)
		close(fd);
	write_all(conn, reply.data, reply.len);
	proto_free(&reply);
}

static void *control_main(void *arg)
{
	struct gk_daemon *d = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = listen_fd, .events = POLLIN },
				       { .fd = stop_pipe[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (p[1].revents)
			return NULL;
		int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		serve(d, conn);
		close(conn);
	}
}

/* Refuse to replace the socket of a daemon that still answers on it. */
static int claim_path(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a socket", path);
		return -1;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int alive = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (probe >= 0)
		close(probe);
	if (alive) {
		snprintf(err, errlen, "%s: another gatekeeperd is running", path);
		return -1;
	}
	unlink(path);
	return 0;
}

/* Root only (0600), or root and the admin group (0660, and its private
 * directory 0750), so that the group's members can reach SO_PEERCRED. */
void control_set_access(const char *path, gid_t admin_gid)
{
	bool group = admin_gid != (gid_t)-1;
	if (chown(path, 0, group ? admin_gid : 0) < 0 || chmod(path, group ? 0660 : 0600) < 0)
		log_msg(GK_LOG_WARN, "warning=\"cannot set the socket's access\" path=\"%s\" errno=%d",
			path, errno);
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	struct stat st;
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	/* only a directory that is root's and private to us (as we create it) */
	if (stat(dir, &st) < 0 || st.st_uid != 0 || (st.st_mode & 0027) ||
	    (st.st_gid != 0 && st.st_gid != admin_gid))
		return;
	if (chown(dir, 0, group ? admin_gid : 0) == 0)
		chmod(dir, group ? 0750 : 0700);
}

int control_start(struct gk_daemon *d, char *err, size_t errlen)
{
	const char *path = d->opt.socket_path;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long (limit %zu bytes)", path,
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (claim_path(path, err, errlen) < 0)
		return -1;
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(0177);
	int rc = listen_fd < 0 ? -1 : bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(listen_fd, 64) < 0 ||
	    pipe2(stop_pipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	control_set_access(path, d->admin_gid);
	if (pthread_create(&thread, NULL, control_main, d) != 0) {
		snprintf(err, errlen, "cannot start the control thread");
		return -1;
	}
	started = true;
	return 0;
}

void control_stop(struct gk_daemon *d)
{
	if (started) {
		(void)!write(stop_pipe[1], "x", 1);
		pthread_join(thread, NULL);
		started = false;
	}
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(d->opt.socket_path);
		listen_fd = -1;
	}
	for (int i = 0; i < 2; i++)
		if (stop_pipe[i] >= 0)
			close(stop_pipe[i]);
}
