/* The control server: the door of gatekeeper/control*.c.
 *
 * One event-loop thread accepts connections and reads requests without
 * blocking, each connection with a deadline and all of them under a cap
 * (when the cap is hit, the oldest connection that is still sending its
 * request or receiving its reply is closed to make room); a small pool of
 * worker threads runs the commands, so a slow command holds up no other
 * client. Subscribers ("subscribe") receive the live decision stream from
 * control_publish, each through a bounded queue: a slow one loses records
 * (counted in the next record it gets); the publisher never waits. */
#ifndef GK_CONTROL_H
#define GK_CONTROL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proto_buf;
struct db_audit;

/* Who is on the other end (SO_PEERCRED and SO_PEERGROUPS, read at accept). */
struct control_peer {
	bool known;          /* SO_PEERCRED answered */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	size_t n_groups;
	gid_t groups[256];
};

struct control_ops {
	void *ctx;
	/* May this peer use the socket? Called on a worker thread. */
	bool (*authorize)(void *ctx, const struct control_peer *peer);
	/* Run one request (verb, arg, at most one passed fd or -1; the server
	 * closes the fd afterwards) and fill reply. Called on a worker thread.
	 * *cancel becomes true when the client hangs up or the server stops:
	 * a long command (hashing a client's file) should then give up. */
	void (*dispatch)(void *ctx, const char *verb, const char *arg, int fd,
			 const atomic_bool *cancel, struct proto_buf *reply);
	/* May this verb run beside other commands? Those that may not (NULL:
	 * none may) run one at a time, as a single-threaded server ran them. */
	bool (*parallel)(void *ctx, const char *verb);
};

struct control_limits {
	unsigned max_conns;        /* connections open at once, subscribers included */
	unsigned workers;          /* threads that run commands */
	unsigned max_subscribers;
	unsigned sub_queue;        /* records queued per subscriber */
	int io_timeout_ms;         /* to send a request, and to take its reply */
};
#define CONTROL_LIMITS_DEFAULT \
	((struct control_limits){ .max_conns = 512, .workers = 4, .max_subscribers = 16, \
				  .sub_queue = 1024, .io_timeout_ms = 2000 })

struct control_server;

/* A server for the socket at path, not yet listening (no thread, no
 * socket): control_publish may be called from now until control_server_free.
 * NULL with a message in err. limits NULL: the defaults. */
struct control_server *control_server_new(const char *path, const struct control_ops *ops,
					  const struct control_limits *limits, char *err,
					  size_t errlen);
/* Listen (refusing to replace the socket of a live daemon; mode 0600, then
 * control_set_access for admin_gid) and start the threads. -1 with err on
 * failure, and nothing is left running. Started already: 0. */
int control_server_start(struct control_server *cs, gid_t admin_gid, char *err, size_t errlen);
/* Stop the threads (waiting for commands already running), close every
 * connection, subscribers included, and remove the socket. It may be
 * started again. Safe when never started, or when the start failed. */
void control_server_stop(struct control_server *cs);
/* Stop and free. NULL is fine. */
void control_server_free(struct control_server *cs);

/* Root only (0600), or root and the admin group (0660, and its private
 * directory 0750), so that the group's members can reach SO_PEERCRED.
 * prev_gid: the group given before ((gid_t)-1: none), so a directory that
 * group holds is still recognised as ours and moves to the new one. */
void control_set_access(const char *path, gid_t admin_gid, gid_t prev_gid);

/* The admin group changed: every stream (log -f, top) to a peer no longer
 * allowed ends, at the I/O thread's next turn. Not started: nothing to do. */
void control_recheck_access(struct control_server *cs);

/* kind of a published decision (the values of enum audit_kind) */
enum { CONTROL_KIND_EXEC = 0, CONTROL_KIND_PRESCAN = 1, CONTROL_KIND_KERNEL = 2 };
/* Hand one decision to every subscriber. Never waits on a subscriber or on
 * I/O (a short mutex, a copy, an eventfd write); with no subscriber it is one
 * atomic load. cs NULL is fine; cs stopped is fine (no subscribers). */
void control_publish(struct control_server *cs, const struct db_audit *a, int kind);

/* For status: subscribers now, records they lost in total. */
void control_sub_counts(struct control_server *cs, unsigned *subscribers,
			unsigned long long *dropped);

/* ---- inside the control server only (control*.c) ---- */
/* Bind and listen on path as control_server_start describes; the fd, or -1
 * with err. *made: the socket file is ours to remove. */
int control_listen(const char *path, gid_t admin_gid, bool *made, char *err, size_t errlen);
/* ----  (control.c, control_sub.c) ---- */
struct control_hub;
struct control_sub;
struct control_hub *control_hub_new(unsigned max_subs, unsigned qcap, int wake_fd);
void control_hub_free(struct control_hub *h);
struct control_sub *control_hub_add(struct control_hub *h);       /* NULL: at the cap */
void control_hub_remove(struct control_hub *h, struct control_sub *s);
/* Move queued records into out (as stream records) until it holds max_bytes;
 * returns how many were moved. */
size_t control_hub_take(struct control_hub *h, struct control_sub *s, struct proto_buf *out,
		size_t max_bytes);
void control_hub_publish(struct control_hub *h, const struct db_audit *a, int kind);
void control_hub_counts(struct control_hub *h, unsigned *subscribers, unsigned long long *dropped);

#endif
