/* The control server's life and its workers (see control.h). Only root or
 * the policy's admin group may use the socket (control_sock.c). A request is
 * one bounded line, optionally with one fd; anything else gets an error
 * reply and changes nothing.
 *
 * Threads: one event loop owns every connection (control_loop.c); workers
 * run the commands and hand the replies back through a list and an eventfd,
 * so a slow command holds up neither the loop nor, unless it must run
 * alone, the other commands. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/control_srv.h"

int64_t control_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void control_wake(struct control_server *cs)
{
	uint64_t one = 1;
	(void)!write(cs->wake_fd, &one, sizeof(one));
}

void control_recheck_access(struct control_server *cs)
{
	if (!cs || cs->wake_fd < 0)
		return;
	atomic_store(&cs->recheck_access, true);
	control_wake(cs);
}

void control_job_free(struct job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	proto_free(&j->reply);
	free(j);
}

/* ---------------------------------------------------------------- workers */

/* Both ends shut: the client closed its socket (a client that only shut
 * down its sending side still waits for the reply). */
static bool client_gone(int sock)
{
	struct pollfd p = { .fd = sock, .events = 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* A command that may not run beside another (ops.parallel) waits for its
 * turn in the queue, not in a worker: a slow one (a hash of a file whose
 * filesystem stalls) and a few more behind it would otherwise hold every
 * worker, and status and the refusals, which need no turn, would wait. */
static bool one_at_a_time(const struct control_server *cs, const struct job *j)
{
	return j->parsed && !j->subscribe &&
	       (!cs->ops.parallel || !cs->ops.parallel(cs->ops.ctx, j->req.verb));
}

/* A refusal waits for nothing. */
static bool needs_turn(const struct control_server *cs, const struct job *j)
{
	return one_at_a_time(cs, j) && cs->ops.authorize(cs->ops.ctx, &j->peer);
}

/* turn: the job took the turn (take_job); one that needed it and did not
 * was refused then, and stays refused. */
static void run_job(struct control_server *cs, struct job *j, bool turn)
{
	if ((one_at_a_time(cs, j) && !turn) || !cs->ops.authorize(cs->ops.ctx, &j->peer)) {
		j->subscribe = false;
		proto_error(&j->reply, EXIT_REFUSED,
			    "permission denied: only root or the admin group may use the control socket");
	} else if (!j->parsed) {
		proto_error(&j->reply, EXIT_USAGE, "%s", j->err);
	} else if (j->subscribe) {
		proto_num(&j->reply, "ok", 1);   /* the loop adds the subscriber */
	} else if (client_gone(j->sock)) {
		/* Checked last thing, after the wait for its turn: a client that
		 * hung up before its command ran must not have it applied. */
		proto_error(&j->reply, EXIT_REFUSED, "the client hung up before the command ran");
	} else {
		cs->ops.dispatch(cs->ops.ctx, j->req.verb, j->req.arg, j->fd, &j->cancel, &j->reply);
	}
	if (j->reply.failed)
		proto_error(&j->reply, EXIT_REFUSED, "reply too large or out of memory");
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

/* Under cs->lock: the first queued job that may run now, unlinked; *turn:
 * it takes the turn. */
static struct job *take_job(struct control_server *cs, bool *turn)
{
	struct job *prev = NULL;
	for (struct job *j = cs->todo; j; prev = j, j = j->next) {
		*turn = needs_turn(cs, j);
		if (cs->turn_taken && *turn)
			continue;
		*(prev ? &prev->next : &cs->todo) = j->next;
		if (cs->todo_tail == j)
			cs->todo_tail = prev;
		return j;
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct control_server *cs = arg;
	pthread_setname_np(pthread_self(), "gk-control");
	pthread_mutex_lock(&cs->lock);
	for (;;) {
		struct job *j = NULL;
		bool turn = false;
		while (!cs->quit && !(j = take_job(cs, &turn)))
			pthread_cond_wait(&cs->cond, &cs->lock);
		if (cs->quit)
			break;   /* what is queued, the stop frees */
		cs->turn_taken |= turn;
		j->running = true;
		pthread_mutex_unlock(&cs->lock);
		run_job(cs, j, turn);
		pthread_mutex_lock(&cs->lock);
		if (turn) {
			cs->turn_taken = false;
			pthread_cond_broadcast(&cs->cond);   /* a job that waited for it */
		}
		j->next = cs->done;
		cs->done = j;
		control_wake(cs);
	}
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

void control_queue_job(struct control_server *cs, struct job *j)
{
	pthread_mutex_lock(&cs->lock);
	if (cs->todo_tail)
		cs->todo_tail->next = j;
	else
		cs->todo = j;
	cs->todo_tail = j;
	pthread_cond_signal(&cs->cond);
	pthread_mutex_unlock(&cs->lock);
}

bool control_unqueue_job(struct control_server *cs, struct job *j)
{
	pthread_mutex_lock(&cs->lock);
	bool queued = !j->running;
	if (queued) {
		struct job **pp = &cs->todo, *prev = NULL;
		while (*pp && *pp != j)
			prev = *pp, pp = &(*pp)->next;
		if (*pp)
			*pp = j->next;
		if (cs->todo_tail == j)
			cs->todo_tail = prev;
	}
	pthread_mutex_unlock(&cs->lock);
	return queued;
}

static int start_threads(struct control_server *cs, char *err, size_t errlen)
{
	struct epoll_event l = { .events = EPOLLIN, .data.u64 = TAG_LISTEN };
	if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, cs->listen_fd, &l) < 0) {
		snprintf(err, errlen, "control server: epoll: %s", strerror(errno));
		return -1;
	}
	for (; cs->n_workers < cs->lim.workers; cs->n_workers++)
		if (pthread_create(&cs->workers[cs->n_workers], NULL, worker_main, cs) != 0) {
			snprintf(err, errlen, "cannot start the control workers");
			return -1;
		}
	if (pthread_create(&cs->loop, NULL, control_loop_main, cs) != 0) {
		snprintf(err, errlen, "cannot start the control thread");
		return -1;
	}
	cs->loop_started = true;
	return 0;
}

struct control_server *control_server_new(const char *path, const struct control_ops *ops,
					  const struct control_limits *limits, char *err,
					  size_t errlen)
{
	struct control_server *cs = calloc(1, sizeof(*cs));
	if (!cs) {
		snprintf(err, errlen, "control server: out of memory");
		return NULL;
	}
	cs->listen_fd = cs->epfd = cs->wake_fd = -1;
	cs->ops = *ops;
	cs->lim = limits ? *limits : CONTROL_LIMITS_DEFAULT;
	pthread_mutex_init(&cs->lock, NULL);
	pthread_cond_init(&cs->cond, NULL);
	if (strlen(path) >= sizeof(cs->path)) {
		snprintf(err, errlen, "%s: socket path too long (limit %zu bytes)", path, sizeof(cs->path) - 1);
	} else if (!cs->lim.max_conns || !cs->lim.workers) {
		snprintf(err, errlen, "control server: needs a connection and a worker");
	} else {
		strcpy(cs->path, path);
		cs->conns = calloc(cs->lim.max_conns, sizeof(*cs->conns));
		cs->workers = calloc(cs->lim.workers, sizeof(*cs->workers));
		cs->epfd = epoll_create1(EPOLL_CLOEXEC);
		cs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct epoll_event w = { .events = EPOLLIN, .data.u64 = TAG_WAKE };
		if (cs->conns && cs->workers && cs->epfd >= 0 && cs->wake_fd >= 0 &&
		    epoll_ctl(cs->epfd, EPOLL_CTL_ADD, cs->wake_fd, &w) == 0 &&
		    (cs->hub = control_hub_new(cs->lim.max_subscribers, cs->lim.sub_queue, cs->wake_fd)))
			return cs;
		snprintf(err, errlen, "control server: %s", strerror(errno));
	}
	control_server_free(cs);
	return NULL;
}

int control_server_start(struct control_server *cs, gid_t admin_gid, char *err, size_t errlen)
{
	if (cs->loop_started)
		return 0;
	cs->listen_fd = control_listen(cs->path, admin_gid, &cs->socket_made, err, errlen);
	if (cs->listen_fd < 0 || start_threads(cs, err, errlen) < 0) {
		control_server_stop(cs);
		return -1;
	}
	return 0;
}

static void free_jobs(struct job *j)
{
	while (j) {
		struct job *next = j->next;
		control_job_free(j);
		j = next;
	}
}

void control_server_stop(struct control_server *cs)
{
	if (!cs)
		return;
	atomic_store(&cs->stopping, true);
	if (cs->loop_started) {
		control_wake(cs);
		pthread_join(cs->loop, NULL);
	}
	/* A command still running (hashing a huge file) must not hold the stop:
	 * the loop is gone, so every job a connection holds stays valid here. */
	for (unsigned i = 0; cs->conns && i < cs->lim.max_conns; i++)
		if (cs->conns[i] && cs->conns[i]->job)
			atomic_store(&cs->conns[i]->job->cancel, true);
	pthread_mutex_lock(&cs->lock);
	cs->quit = true;
	pthread_cond_broadcast(&cs->cond);
	pthread_mutex_unlock(&cs->lock);
	for (unsigned i = 0; i < cs->n_workers; i++)
		pthread_join(cs->workers[i], NULL);
	free_jobs(cs->todo);
	free_jobs(cs->done);
	if (cs->spare)
		control_job_free(cs->spare);
	cs->todo = cs->todo_tail = cs->done = cs->spare = NULL;
	for (unsigned i = 0; cs->conns && i < cs->lim.max_conns; i++)
		if (cs->conns[i])
			control_conn_close(cs, cs->conns[i]);
	if (cs->listen_fd >= 0)
		close(cs->listen_fd);   /* and it leaves the epoll set */
	if (cs->socket_made)
		unlink(cs->path);
	cs->listen_fd = -1;
	cs->accept_resume_ms = 0;
	cs->socket_made = cs->loop_started = cs->quit = false;
	cs->n_workers = 0;
	atomic_store(&cs->stopping, false);
}

void control_server_free(struct control_server *cs)
{
	if (!cs)
		return;
	control_server_stop(cs);
	control_hub_free(cs->hub);
	if (cs->epfd >= 0)
		close(cs->epfd);
	if (cs->wake_fd >= 0)
		close(cs->wake_fd);
	pthread_mutex_destroy(&cs->lock);
	pthread_cond_destroy(&cs->cond);
	free(cs->conns);
	free(cs->workers);
	free(cs);
}

void control_publish(struct control_server *cs, const struct db_audit *a, int kind)
{
	if (cs)
		control_hub_publish(cs->hub, a, kind);
}

void control_sub_counts(struct control_server *cs, unsigned *subscribers,
			unsigned long long *dropped)
{
	control_hub_counts(cs ? cs->hub : NULL, subscribers, dropped);
}
