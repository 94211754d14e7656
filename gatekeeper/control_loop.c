/* The control server's event loop: it owns every connection (accept,
 * non-blocking reads, deadlines, the cap, replies, subscriber streams). No
 * connection can hold it: a client that sends slowly or not at all only
 * waits out its own deadline, or is evicted to make room. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gatekeeper/control_srv.h"

/* ------------------------------------------------------------ connections */

static void conn_watch(struct control_server *cs, struct conn *c, uint32_t events)
{
	if (c->events == events)
		return;
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)c->gen << 32 | c->slot };
	epoll_ctl(cs->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->events = events;
}

void control_conn_close(struct control_server *cs, struct conn *c)
{
	close(c->fd);    /* also leaves the epoll set */
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	if (c->sub)
		control_hub_remove(cs->hub, c->sub);
	proto_free(&c->out);
	cs->conns[c->slot] = NULL;
	cs->n_conns--;
	free(c);
}

/* Make room: close the connection that has been sending its request, or
 * failing to take its reply, for the longest time. */
static bool evict_oldest(struct control_server *cs)
{
	struct conn *old = NULL;
	for (unsigned i = 0; i < cs->lim.max_conns; i++) {
		struct conn *c = cs->conns[i];
		if (c && (c->state == C_READ || c->state == C_WRITE) &&
		    (!old || c->opened_ms < old->opened_ms))
			old = c;
	}
	if (old)
		control_conn_close(cs, old);
	return old != NULL;
}

static void read_peer(int fd, struct control_peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return;
	p->known = true;
	p->pid = cred.pid;
	p->uid = cred.uid;
	p->gid = cred.gid;
	len = sizeof(p->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0)
		p->n_groups = len / sizeof(gid_t);
}

static void accept_one(struct control_server *cs, int fd)
{
	if (cs->n_conns >= cs->lim.max_conns && !evict_oldest(cs)) {
		close(fd);   /* every slot runs a command or streams */
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	unsigned slot = 0;
	while (cs->conns[slot])
		slot++;
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->passed_fd = -1;
	c->slot = slot;
	c->gen = ++cs->next_gen;
	c->state = C_READ;
	c->opened_ms = control_now_ms();
	c->deadline_ms = c->opened_ms + cs->lim.io_timeout_ms;
	read_peer(fd, &c->peer);
	c->events = EPOLLIN | EPOLLRDHUP;
	struct epoll_event ev = { .events = c->events, .data.u64 = (uint64_t)c->gen << 32 | slot };
	if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(c);
		return;
	}
	cs->conns[slot] = c;
	cs->n_conns++;
}

#define ACCEPT_PAUSE_MS 100

static void listen_watch(struct control_server *cs, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = TAG_LISTEN };
	epoll_ctl(cs->epfd, EPOLL_CTL_MOD, cs->listen_fd, &ev);
}

static void accept_all(struct control_server *cs)
{
	for (int i = 0; i < 256; i++) {   /* then let the others have a turn */
		int fd = accept4(cs->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			/* The connection stays in the backlog and the listening
			 * socket stays readable: watching it now would spin. */
			listen_watch(cs, 0);
			cs->accept_resume_ms = control_now_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		if (fd < 0)
			return;
		accept_one(cs, fd);
	}
}

/* Hand the connection's request (or the reason it has none) to a worker. */
static void submit(struct control_server *cs, struct conn *c, struct job *j, bool parsed)
{
	cs->spare = NULL;
	j->next = NULL;
	j->slot = c->slot;
	j->gen = c->gen;
	j->fd = c->passed_fd;
	c->passed_fd = -1;
	j->sock = c->fd;
	j->running = false;
	atomic_init(&j->cancel, false);
	c->job = j;
	j->peer = c->peer;
	j->parsed = parsed;
	j->subscribe = parsed && !strcmp(j->req.verb, "subscribe");
	c->state = C_BUSY;
	c->deadline_ms = 0;
	conn_watch(cs, c, 0);   /* EPOLLHUP still reports a client that left */
	control_queue_job(cs, j);
}

/* Keep one fd per request; close any others that rode along. */
static void take_fds(struct conn *c, struct msghdr *msg)
{
	for (struct cmsghdr *m = CMSG_FIRSTHDR(msg); m; m = CMSG_NXTHDR(msg, m)) {
		if (m->cmsg_level != SOL_SOCKET || m->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (m->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(m) + i * sizeof(int), sizeof(int));
			if (c->passed_fd < 0)
				c->passed_fd = fd;
			else
				close(fd);
		}
	}
}

static void conn_read(struct control_server *cs, struct conn *c)
{
	struct job *j = cs->spare ? cs->spare : (cs->spare = calloc(1, sizeof(*j)));
	if (!j) {
		control_conn_close(cs, c);
		return;
	}
	for (bool eof = false;;) {
		if (c->in_len < sizeof(c->in)) {
			char cbuf[CMSG_SPACE(sizeof(int) * 4)];
			struct iovec iov = { .iov_base = c->in + c->in_len, .iov_len = sizeof(c->in) - c->in_len };
			struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
					      .msg_controllen = sizeof(cbuf) };
			ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return;
			if (n < 0) {
				control_conn_close(cs, c);
				return;
			}
			take_fds(c, &msg);
			c->in_len += (size_t)n;
			eof = n == 0;
		}
		int rc = proto_parse_request(c->in, c->in_len, &j->req, j->err, sizeof(j->err));
		if (rc == PROTO_REQ_MORE && !eof)
			continue;
		if (rc == PROTO_REQ_MORE)
			snprintf(j->err, sizeof(j->err), "request not terminated by a newline");
		submit(cs, c, j, rc == PROTO_REQ_DONE);
		return;
	}
}

/* Send what is staged; a subscriber then stages more from its queue. */
static void conn_flush(struct control_server *cs, struct conn *c)
{
	for (;;) {
		while (c->out_off < c->out.len) {
			ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				conn_watch(cs, c, EPOLLOUT | (c->state == C_SUB ? EPOLLIN | EPOLLRDHUP : 0));
				return;
			}
			if (n <= 0) {
				control_conn_close(cs, c);
				return;
			}
			c->out_off += (size_t)n;
		}
		c->out.len = c->out_off = 0;
		c->out.failed = 0;
		if (c->state != C_SUB || !control_hub_take(cs->hub, c->sub, &c->out, SUB_OUT_MAX))
			break;
	}
	if (c->state == C_WRITE)
		control_conn_close(cs, c);   /* one reply per connection */
	else
		conn_watch(cs, c, EPOLLIN | EPOLLRDHUP);
}

static void start_reply(struct control_server *cs, struct conn *c, struct job *j)
{
	proto_free(&c->out);
	c->out = j->reply;
	memset(&j->reply, 0, sizeof(j->reply));
	c->out_off = 0;
	c->state = C_WRITE;
	c->deadline_ms = control_now_ms() + cs->lim.io_timeout_ms;
	if (j->subscribe) {
		c->sub = control_hub_add(cs->hub);
		if (c->sub) {
			/* the header is a record of its own: "n ok 1" and an empty line */
			proto_raw(&c->out, "\n", 1);
			c->state = C_SUB;
			c->deadline_ms = 0;
		} else {
			proto_error(&c->out, EXIT_REFUSED, "too many subscribers (limit %u)",
				    cs->lim.max_subscribers);
		}
	}
	conn_flush(cs, c);
}

static struct conn *conn_of(struct control_server *cs, uint64_t tag)
{
	uint32_t slot = (uint32_t)tag, gen = (uint32_t)(tag >> 32);
	struct conn *c = slot < cs->lim.max_conns ? cs->conns[slot] : NULL;
	return c && c->gen == gen ? c : NULL;
}

static void collect_done(struct control_server *cs)
{
	uint64_t n;
	(void)!read(cs->wake_fd, &n, sizeof(n));
	pthread_mutex_lock(&cs->lock);
	struct job *j = cs->done;
	cs->done = NULL;
	pthread_mutex_unlock(&cs->lock);
	while (j) {
		struct job *next = j->next;
		struct conn *c = conn_of(cs, (uint64_t)j->gen << 32 | j->slot);
		if (c)
			c->job = NULL;
		if (c && c->state == C_BUSY)
			start_reply(cs, c, j);
		else if (c && c->state == C_GONE)
			control_conn_close(cs, c);   /* its reply has no one to go to */
		control_job_free(j);
		j = next;
	}
	/* Permission is checked when a request runs; a stream outlives its
	 * request, so a peer the new admin group leaves out loses it here. */
	bool recheck = atomic_exchange(&cs->recheck_access, false);
	for (unsigned i = 0; i < cs->lim.max_conns; i++) {
		struct conn *c = cs->conns[i];
		if (c && c->state == C_SUB && recheck && !cs->ops.authorize(cs->ops.ctx, &c->peer))
			control_conn_close(cs, c);
		else if (c && c->state == C_SUB && !(c->events & EPOLLOUT))
			conn_flush(cs, c);
	}
}

/* A client left before its reply. A job no worker took is dropped with its
 * passed fd, so the queue holds at most one job per open connection; one
 * that runs keeps the connection (and its slot) until it ends, as the
 * worker may still look at the socket. */
static void conn_hung_up(struct control_server *cs, struct conn *c)
{
	if (control_unqueue_job(cs, c->job)) {
		control_job_free(c->job);
		c->job = NULL;
		control_conn_close(cs, c);
		return;
	}
	atomic_store(&c->job->cancel, true);   /* a long command gives up */
	epoll_ctl(cs->epfd, EPOLL_CTL_DEL, c->fd, NULL);   /* its HUP would fire on and on */
	c->state = C_GONE;
}

static void conn_event(struct control_server *cs, struct conn *c, uint32_t ev)
{
	bool gone = ev & (EPOLLHUP | EPOLLERR);
	switch (c->state) {
	case C_READ:
		conn_read(cs, c);
		return;
	case C_BUSY:
		if (gone)
			conn_hung_up(cs, c);
		return;
	case C_GONE:
		return;
	case C_WRITE:
		if (gone)
			control_conn_close(cs, c);
		else
			conn_flush(cs, c);
		return;
	case C_SUB:
		if (ev & (EPOLLIN | EPOLLRDHUP) || gone) {
			char sink[512];   /* a subscriber says nothing more; EOF ends it */
			ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || gone) {
				control_conn_close(cs, c);
				return;
			}
		}
		if (ev & EPOLLOUT)
			conn_flush(cs, c);
		return;
	}
}

/* Past its deadline: a request still unsent gets a reply saying so (after
 * the same permission check as any request); a reply not taken is dropped. */
static int expire(struct control_server *cs)
{
	int64_t now = control_now_ms(), next = -1;
	if (cs->accept_resume_ms && now >= cs->accept_resume_ms) {
		cs->accept_resume_ms = 0;
		listen_watch(cs, EPOLLIN);
	} else if (cs->accept_resume_ms) {
		next = cs->accept_resume_ms - now;
	}
	for (unsigned i = 0; i < cs->lim.max_conns; i++) {
		struct conn *c = cs->conns[i];
		if (!c || !c->deadline_ms)
			continue;
		if (now < c->deadline_ms) {
			next = next < 0 || c->deadline_ms - now < next ? c->deadline_ms - now : next;
		} else if (c->state == C_WRITE) {
			control_conn_close(cs, c);
		} else {
			struct job *j = cs->spare ? cs->spare : (cs->spare = calloc(1, sizeof(*j)));
			if (!j) {
				control_conn_close(cs, c);
				continue;
			}
			snprintf(j->err, sizeof(j->err), "request timed out");
			submit(cs, c, j, false);
		}
	}
	return (int)next;
}

void *control_loop_main(void *arg)
{
	struct control_server *cs = arg;
	pthread_setname_np(pthread_self(), "gk-control-io");
	struct epoll_event evs[64];
	while (!atomic_load(&cs->stopping)) {
		int n = epoll_wait(cs->epfd, evs, 64, expire(cs));
		for (int i = 0; i < n && !atomic_load(&cs->stopping); i++) {
			if (evs[i].data.u64 == TAG_LISTEN) {
				accept_all(cs);
			} else if (evs[i].data.u64 == TAG_WAKE) {
				collect_done(cs);
			} else {
				struct conn *c = conn_of(cs, evs[i].data.u64);
				if (c)
					conn_event(cs, c, evs[i].events);
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------------------- lifecycle */

