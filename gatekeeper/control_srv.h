/* Inside the control server (control.c, control_loop.c): its state. Not a
 * door: the subsystem's door is control.h. */
#ifndef GK_CONTROL_SRV_H
#define GK_CONTROL_SRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "gatekeeper/control.h"
#include "gatekeeper/proto.h"

#define TAG_LISTEN UINT64_MAX
#define TAG_WAKE (UINT64_MAX - 1)
#define SUB_OUT_MAX (64 * 1024)   /* stream bytes staged per subscriber */

enum conn_state {
	C_READ,    /* receiving the request (deadline, evictable) */
	C_BUSY,    /* a worker runs its command */
	C_WRITE,   /* sending the reply (deadline, evictable) */
	C_SUB,     /* a subscriber: the stream */
	C_GONE,    /* hung up while its command runs: closed when it ends */
};

struct conn {
	int fd, passed_fd;
	uint32_t slot, gen, events;
	enum conn_state state;
	int64_t opened_ms, deadline_ms;   /* deadline 0: none */
	struct control_peer peer;
	struct proto_buf out;
	size_t out_off, in_len;
	struct control_sub *sub;
	struct job *job;          /* C_BUSY, C_GONE: its job, until collected */
	char in[PROTO_MAX_REQUEST];
};

struct job {
	struct job *next;
	uint32_t slot, gen;
	int fd;
	int sock;                 /* the client's; open until the job is collected */
	bool parsed, subscribe;
	bool running;             /* taken by a worker (under lock) */
	atomic_bool cancel;       /* its client hung up, or the server stops */
	struct control_peer peer;
	struct proto_request req;
	char err[256];
	struct proto_buf reply;
};

struct control_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_ops ops;
	struct control_limits lim;
	int listen_fd, epfd, wake_fd;
	bool socket_made, loop_started;
	atomic_bool stopping;
	atomic_bool recheck_access;   /* control_recheck_access: look at the subscribers */
	pthread_t loop, *workers;
	unsigned n_workers;
	pthread_mutex_t lock;       /* guards todo, done, quit */
	pthread_cond_t cond;
	bool turn_taken;            /* under lock: a command that may not run beside another runs */
	struct job *todo, *todo_tail, *done, *spare;
	bool quit;
	struct conn **conns;        /* max_conns slots; the loop thread's own */
	unsigned n_conns;
	int64_t accept_resume_ms;   /* 0: accepting; else out of fds until then */
	uint32_t next_gen;
	struct control_hub *hub;
};

int64_t control_now_ms(void);
void control_job_free(struct job *j);
/* hand a job to the workers */
void control_queue_job(struct control_server *cs, struct job *j);
/* Take back a job no worker has taken yet (true); false: it runs or ran. */
bool control_unqueue_job(struct control_server *cs, struct job *j);
/* the event loop's thread */
void *control_loop_main(void *arg);
void control_conn_close(struct control_server *cs, struct conn *c);

#endif
