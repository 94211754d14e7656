/* events.c's insides, shared with events_watchdog.c: what the daemon holds
 * of each permission event in flight, and the route's queues and threads.
 * Nothing outside events*.c includes it, but their unit tests. */
#ifndef GK_EVENTS_IMPL_H
#define GK_EVENTS_IMPL_H

#include "gatekeeper/gatekeeperd.h"

#define EVENTS_REMOTE_WORKERS 2
/* Remote workers that servers hold past their jobs' deadlines are
 * replaced (events_watchdog.c), up to this many workers in all. */
#define EVENTS_REMOTE_WORKERS_MAX 8
#define EVENTS_REMOTE_SHARE 4               /* remote_max: max_pending / 4 */

struct gk_events;

/* The callers whose uid cannot be read (events_fair.c): not a uid. */
#define JOBQ_UNKNOWN ((uid_t)-1)

/* A job's cost, told by its file's size before it is read: hashing (and
 * scanning) take time in proportion. A file of unknown size is heavy. */
enum job_cost { JOB_LIGHT, JOB_HEAVY };
#define JOB_HEAVY_BYTES ((off_t)16 << 20)

struct job_list {
	int first, last;                    /* slots, oldest first */
	unsigned n;
};

/* A user whose execs a queue holds (events_fair.c). */
struct job_owner {
	uid_t uid;
	unsigned running;
	/* Of those running, the ones already answered: they still take a
	 * worker, but no longer count as held. The exec their answer let go
	 * may ask again before the worker is back. */
	unsigned answered;
	struct job_list queued[2];          /* by cost */
	int next_in_chain;                  /* its hash chain, or the free pool */
	/* Of each cost: in its turns while it has a job of it queued and may
	 * run one more. */
	int turn_next[2], turn_prev[2];
	bool in_turn[2];
};

/* What bounds the jobs of a queue (events_fair.c). */
struct jobq_caps {
	unsigned run;                       /* one owner's jobs running */
	unsigned hold;                      /* one owner's jobs held (jobq_push) */
	unsigned heavy;                     /* heavy jobs running, every owner's */
	/* The last `reserve` slots are only for owners who hold fewer than
	 * `reserve_share` (events_to_worker tells when only those are left). */
	unsigned reserve, reserve_share;
};

enum jobq_push_result { JOBQ_QUEUED, JOBQ_OVER_SHARE, JOBQ_OVER_RESERVE };

struct job_queue;

/* A worker thread of a queue (events.c). */
struct job_worker {
	pthread_t thread;
	struct job_queue *q;
	int current;                        /* under q_lock: the slot it judges, or -1 */
};

/* Events waiting for a worker, and the workers that take them: by turns
 * between the users who ask (events_fair.c). */
struct job_queue {
	struct gk_events *ev;
	bool remote;
	unsigned len;                       /* jobs queued */
	unsigned held;                      /* jobs queued, or running unanswered */
	unsigned heavy_running;
	struct jobq_caps caps;
	int *job_next, *job_owner;          /* of each slot */
	unsigned char *job_cost, *job_answered;
	uint64_t *job_seq, next_seq;        /* the order jobs came in */
	struct job_owner *owners;           /* one per slot at most */
	int *chains, free_owner;            /* free_owner: entries given back */
	unsigned n_chains, owners_made, owners_max;
	int turn_head[2], turn_tail[2];     /* of each cost */
	pthread_cond_t cond;
	struct job_worker *workers;
	unsigned n_workers, max_workers;    /* started (under q_lock); room for */
};

/* events_fair.c; all but init and free under q_lock. */
int jobq_init(struct job_queue *q, unsigned n_slots, struct jobq_caps caps);
void jobq_free(struct job_queue *q);
/* How many jobs the owner may hold: queued, or running and not yet
 * answered by their worker. */
unsigned jobq_hold_cap(const struct job_queue *q, uid_t owner);
/* Queue the slot's job for its owner, unless the owner already holds
 * jobq_hold_cap jobs (OVER_SHARE), or only the reserve is left and the
 * owner holds caps.reserve_share or more (OVER_RESERVE). *held (may be
 * NULL): what the owner held before. */
enum jobq_push_result jobq_push(struct job_queue *q, int idx, uid_t owner, enum job_cost cost,
				bool only_reserve_left, unsigned *held);
/* The next job by turns, or -1: none a worker may take now. */
int jobq_take(struct job_queue *q);
/* A taken job is answered by its worker: its owner no longer holds it
 * (its worker is still busy with it). Once per job; jobq_done after. */
void jobq_answered(struct job_queue *q, int idx);
/* A taken job is over: its owner may run another. */
void jobq_done(struct job_queue *q, int idx);
/* Without q_lock (it takes it): queue a slot's event for a worker of its
 * route, by its caller's turn, or answer it as an overload (events_fair.c). */
void events_to_worker(struct gk_events *ev, int idx);

/* What only the daemon needs of an event in flight; what the sentinel
 * needs too is the slot of the same index in d->shared. */
struct inflight {
	int fd;
	struct fan_group *group;    /* its in-flight count keeps the group open */
	bool perm;
	pid_t pid;
	atomic_bool cancel;         /* the watchdog answered: stop hashing */
	atomic_bool outgrown;       /* cancelled: a light job's file grew heavy */
	atomic_bool busy;           /* slot holds an event (watchdog reads it) */
	int64_t read_us;            /* its read returned then (prescan_before_miss) */
	/* The exec's lease (kcache_arm, exec): given back right after the
	 * reply, before the recorder may take fd. 0: none. */
	uint64_t exec_ticket;
	struct judgement j;
};

struct gk_events {
	struct gk_daemon *d;
	struct gk_shared *sh;
	events_judge_fn *judge;
	unsigned n_slots;                   /* max_pending + EVENTS_READ_BATCH */
	atomic_uint slots_touched;          /* 1 + the highest slot ever admitted */
	unsigned max_pending, to_workers;   /* handed to local workers, under q_lock */
	/* Slots held by remote events (d->stats.remote_pending) are at most
	 * this: a server stalling their reads holds their slots past the
	 * deadline, and must not take those the local events need. */
	unsigned remote_max;
	atomic_bool abandoned;              /* a remote worker was left at stop */
	struct inflight *slots;
	int *free_list, n_free;
	/* Under q_lock: the local queue's workers take what the reading
	 * thread could not decide; the remote queue's, every event of a remote
	 * group (remote.c), so that a server stalling their reads never takes
	 * a worker from the local execs. */
	struct job_queue local, remote;
	pthread_mutex_t q_lock;
	bool q_stopping;
	pthread_t watchdog;
	bool watchdog_started;
	bool watchdog_stopping;             /* under q_lock; after the workers: queued events keep their deadline */
	pthread_cond_t watchdog_cond;       /* ends the watchdog's sleep at stop */
	struct gk_recorder *recorder;       /* records what the reading thread answered */
	struct subids *subids;              /* under q_lock: whose a caller's uid is */
	pthread_mutex_t subids_lock;        /* one re-read at a time */
	struct subids_file {                /* the --subuid file last read */
		bool exists;
		dev_t dev;
		ino_t ino;
		off_t size;
		struct timespec mtime, ctime;
	} subids_seen;
	int64_t subids_checked_us;          /* the watchdog's */
	int64_t remote_check_us;            /* the watchdog's: look for held remote workers then */
};

/* Why an event is answered at once, unjudged: the bound it met (GONE: the
 * caller was reaped before the event was queued); caller and owner: the
 * uid that asked, and the user whose share it was; held: what that user
 * held then (OWNER, RESERVE). */
struct overload_why {
	enum { OVERLOAD_QUEUE, OVERLOAD_REMOTE, OVERLOAD_OWNER, OVERLOAD_RESERVE,
	       OVERLOAD_GONE } bound;
	uid_t caller, owner;
	bool remote;
	unsigned held;
};

/* events.c: claim the answer, or learn that another gave it. */
bool events_claim_answer(struct gk_slot *ss);
/* events.c: what another party answered (once events_claim_answer saw the
 * slot answered): the verdict, and the record's detail. */
const char *events_other_answer(struct gk_slot *ss, enum gk_verdict *verdict);
/* events_overload.c: answer with the overload verdict at once, record
 * it, and free the slot (idx; -1: none, the fd is closed). */
void events_overload(struct gk_events *ev, struct fan_group *g, int fd, int idx, pid_t pid,
		     struct overload_why why);
/* Close the event's fd (unless the recorder took it) and free its slot. */
void events_slot_release(struct gk_events *ev, int idx);

/* events.c, under q_lock: start one more worker of the queue (room
 * permitting); -1 if none could be. */
int events_queue_add_worker(struct job_queue *q);

/* events_watchdog.c: the record of a light job whose file grew heavy
 * (the watchdog cancelled it) says so. */
void events_outgrown_detail(struct judgement *j);

/* The watchdog thread (events_watchdog.c), started by events_start. */
void *events_watchdog_main(void *arg);

#endif
