/* The record of an exec that the reading thread answered from memory, made
 * after the reply on a thread of its own: the kernel cache entry of an
 * allow, the path (when the content decided before it was read), the
 * caller's exe and the audit submit.
 *
 * Why not on the reading thread: the exec that the reply lets go is often
 * woken onto the reader's own CPU and waits there until the reader blocks
 * again. Two readlinks and a submit after the reply cost the exec as much
 * as the whole decision before it; a lease and an ignore mark about 15 us.
 *
 * Why not woken per record: a wake-up of a thread on the other CPU is an
 * interrupt there, and on a small virtual machine it costs the exec about
 * what the record itself did. So the recorder gathers, as the audit
 * writer does: the first record of a quiet spell wakes it; then it
 * lingers (struct gk_linger), waking by itself every 10 ms for what came,
 * and goes back to sleep after a quiet second. Half a ring waiting wakes
 * it too.
 *
 * Why SCHED_IDLE: its tick never takes a CPU from an exec, nor from any
 * other task. On a busy host it still runs (an idle task gets a small
 * share); when it falls behind, its ring fills and the reading thread
 * records inline, as before: a record may be late, never lost. At the stop
 * it is put back to the normal policy, so that the drain is not starved.
 *
 * The reading thread is the only producer and never waits for this thread
 * (an idle-policy thread preempted inside a lock would hold up every
 * exec): a single-producer ring with atomic indexes, and a semaphore
 * posted only when the recorder sleeps or half the ring is waiting.
 *
 * The price: the caller's exe is read later. By then the caller has
 * usually become the program it asked for, and the record names no
 * caller (exe_after_reply). And the kernel caches the allow up to a tick
 * later: an exec of the file meanwhile is asked again, and answered from
 * memory. */
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"

struct exec_record {
	int fd;                 /* the event's file, open until recorded */
	bool cache;             /* the allow is to be cached in the kernel first */
	struct db_audit a;      /* what the reply settled: pid, verdict, time, latency, mode */
	struct judgement j;
};

struct gk_recorder {
	struct gk_daemon *d;
	struct exec_record *ring;
	atomic_uint head;           /* next to record; written by the recorder */
	atomic_uint tail;           /* next free; written by the reading thread */
	atomic_bool stopping;
	atomic_bool sleeping;       /* untimed: the next record must post */
	sem_t wake;
	pthread_t thread;
	bool started;
};

/* Read after the reply, the link races the exec it let go: often the
 * process has already become the program it asked for (the link then
 * names that program) or has exited (""). Record no caller rather than
 * the program as its own caller. */
static void exe_after_reply(pid_t pid, const char *path, char *exe, size_t size)
{
	gk_pid_exe(pid, exe, size);
	if (!strcmp(exe, path))
		exe[0] = '\0';
}

void recorder_submit(struct gk_daemon *d, int fd, struct db_audit *a, struct judgement *j,
			const char *exe)
{
	char late_exe[4096];
	judge_after_answer(d, fd, j);
	if (!exe) {
		exe_after_reply(a->pid, j->path, late_exe, sizeof(late_exe));
		exe = late_exe;
	}
	a->exe = exe;
	a->path = j->path;
	a->sha256 = j->have_sha ? j->sha256 : NULL;
	a->source = j->decision.source;
	a->detail = j->decision.detail;
	a->verdict_for_now = j->verdict_for_now;
	audit_submit(d, a, AUDIT_EXEC);
}

static void set_policy(int policy)
{
	pthread_setschedparam(pthread_self(), policy, &(struct sched_param){ 0 });
}

/* Record what is queued; returns how many. A kernel cache entry takes locks
 * that the workers and the lease-break handler take too: the recorder makes
 * it at the normal policy, lest an idle-policy thread preempted inside one
 * hold them up (a writer waits for its lease break). */
static unsigned record_queued(struct gk_recorder *r)
{
	unsigned n = 0;
	bool raised = false;
	for (unsigned head = atomic_load(&r->head); head != atomic_load(&r->tail); head++, n++) {
		struct exec_record *rec = &r->ring[head % RECORDER_RING];
		if (rec->cache) {
			if (!raised)
				set_policy(SCHED_OTHER);
			raised = true;
			judge_cache_in_kernel(r->d, rec->fd, &rec->j);
		}
		recorder_submit(r->d, rec->fd, &rec->a, &rec->j, NULL);
		close(rec->fd);
		atomic_store(&r->head, head + 1);
	}
	if (raised && !atomic_load(&r->stopping))   /* the stop keeps it normal */
		set_policy(SCHED_IDLE);
	return n;
}

static void wait_for_records(struct gk_recorder *r, int tick_ms)
{
	if (tick_ms > 0) {
		struct timespec until = gk_deadline_in_ms(CLOCK_MONOTONIC, tick_ms);
		sem_clockwait(&r->wake, CLOCK_MONOTONIC, &until);
		return;
	}
	/* Say so before the last look: a record queued after it posts. */
	atomic_store(&r->sleeping, true);
	if (atomic_load(&r->head) == atomic_load(&r->tail) && !atomic_load(&r->stopping))
		sem_wait(&r->wake);
	atomic_store(&r->sleeping, false);
}

static void *recorder_main(void *arg)
{
	struct gk_recorder *r = arg;
	pthread_setname_np(pthread_self(), "gk-record");
	set_policy(SCHED_IDLE);
	struct gk_linger linger = { 0 };
	for (;;) {
		/* A fixed 10 ms tick, no back-off: the kernel cache entry of an
		 * allow waits for it, and a second exec of the file within a
		 * longer tick would ask the daemon again (the guest suite's
		 * "kernel hit before each write" saw one). */
		int tick_ms = linger.on ? GK_LINGER_FIRST_MS : 0;
		wait_for_records(r, tick_ms);
		bool stopping = atomic_load(&r->stopping);
		gk_linger_after(&linger, record_queued(r) > 0, tick_ms);
		if (stopping && atomic_load(&r->head) == atomic_load(&r->tail))
			return NULL;
	}
}

struct gk_recorder *recorder_start(struct gk_daemon *d)
{
	struct gk_recorder *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->d = d;
	/* calloc's pages stay unmapped until the ring comes round to them. */
	r->ring = calloc(RECORDER_RING, sizeof(*r->ring));
	if (!r->ring || sem_init(&r->wake, 0, 0) < 0) {
		free(r->ring);
		free(r);
		return NULL;
	}
	if (pthread_create(&r->thread, NULL, recorder_main, r) != 0) {
		recorder_stop(r);
		return NULL;
	}
	r->started = true;
	return r;
}

bool recorder_take(struct gk_recorder *r, int fd, const struct db_audit *a,
		   const struct judgement *j, bool cache)
{
	if (!r)
		return false;
	unsigned tail = atomic_load(&r->tail);
	if (tail - atomic_load(&r->head) >= RECORDER_RING)
		return false;
	struct exec_record *rec = &r->ring[tail % RECORDER_RING];
	rec->fd = fd;
	rec->cache = cache;
	rec->a = *a;
	rec->j = *j;
	atomic_store(&r->tail, tail + 1);
	if (atomic_load(&r->sleeping) || tail + 1 - atomic_load(&r->head) == RECORDER_RING / 2)
		sem_post(&r->wake);
	return true;
}

/* Records what is queued, then ends. After the reading thread has stopped:
 * nothing is taken any more. */
void recorder_stop(struct gk_recorder *r)
{
	if (!r)
		return;
	if (r->started) {
		atomic_store(&r->stopping, true);   /* first: a batch ending now keeps this */
		pthread_setschedparam(r->thread, SCHED_OTHER, &(struct sched_param){ 0 });
		sem_post(&r->wake);
		pthread_join(r->thread, NULL);
	}
	sem_destroy(&r->wake);
	free(r->ring);
	free(r);
}
