/* The decision deadline: a thread that answers, with the policy's
 * on_error verdict, any permission event still open at its deadline, and
 * beats the heartbeat the sentinel watches. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gatekeeper/events_impl.h"

#define WATCHDOG_TICK_MS 10
#define WATCHDOG_IDLE_MAX_MS 1000

/* Sweeps the compact shared slots (a few bytes each), touching a daemon
 * slot (with its judgement, kilobytes) only for an event it acts on. The
 * free list hands out the same few slots again and again: only those ever
 * used are looked at, not thousands every tick. Returns how many events
 * still await an answer. */
static unsigned watchdog_sweep(struct gk_events *ev, int64_t limit_us, enum gk_verdict fallback,
			       bool *remote_answered)
{
	int64_t now = gk_mono_us();
	unsigned used = atomic_load(&ev->slots_touched), open = 0;
	for (unsigned i = 0; i < used; i++) {
		struct gk_slot *ss = &ev->sh->slots[i];
		uint32_t state = atomic_load(&ss->state);
		/* Answered by the sentinel while we were frozen: stop hashing. */
		if (state == SLOT_ANSWERED && atomic_load(&ss->answered_by) == SLOT_BY_SENTINEL &&
		    atomic_load(&ev->slots[i].busy))
			atomic_store(&ev->slots[i].cancel, true);
		open += slot_awaits_answer(state);
		/* Only permission events are PENDING (admit): the claim is what
		 * makes the slot's fields ours to read. */
		if (state != SLOT_PENDING || now - atomic_load(&ss->start_us) <= limit_us ||
		    !sentinel_slot_claim(ss))
			continue;
		if (gk_mono_us() - atomic_load(&ss->start_us) <= limit_us) {
			/* released and reused between the look and the claim */
			uint32_t answering = SLOT_ANSWERING;
			atomic_compare_exchange_strong(&ss->state, &answering, SLOT_PENDING);
			continue;
		}
		open--;
		struct inflight *s = &ev->slots[i];
		fan_reply(s->group->fd, s->fd, fallback);
		atomic_store(&ss->verdict, fallback);
		atomic_store(&ss->answered_by, SLOT_BY_WATCHDOG);
		atomic_store(&ss->state, SLOT_ANSWERED);
		atomic_store(&s->cancel, true);
		atomic_fetch_add(&ev->d->stats.timeouts, 1);
		*remote_answered |= s->group->remote;
	}
	return open;
}

/* A job is light by its file's size when it was queued; the file's writer
 * can truncate it up since, at no cost (a sparse file), and the hash reads
 * to its end: such a job would hold a worker kept for light ones until its
 * deadline. It is cancelled within a tick, and decided as a file that
 * cannot be hashed (events_outgrown_detail). Under q_lock: the slot and
 * its fd stay while a worker has it. */
static void light_jobs_outgrown(struct gk_events *ev)
{
	struct job_queue *q = &ev->local;
	pthread_mutex_lock(&ev->q_lock);
	for (unsigned i = 0; i < q->n_workers; i++) {
		int idx = q->workers[i].current;
		struct stat st;
		if (idx < 0 || q->job_cost[idx] != JOB_LIGHT || atomic_load(&ev->slots[idx].cancel))
			continue;
		if (fstat(ev->slots[idx].fd, &st) == 0 && st.st_size >= JOB_HEAVY_BYTES) {
			atomic_store(&ev->slots[idx].outgrown, true);
			atomic_store(&ev->slots[idx].cancel, true);
		}
	}
	pthread_mutex_unlock(&ev->q_lock);
}

/* A remote worker whose server holds it past its job's deadline judges
 * nothing else until the server answers; one user's stalled server holds
 * one (a user's remote jobs run one at a time), a few users' hold them
 * all, and every other remote exec would wait out its deadline. While
 * fewer than EVENTS_REMOTE_WORKERS are free of such jobs, another is
 * started, up to EVENTS_REMOTE_WORKERS_MAX; they stay. A job counts as
 * held once it is answered (at its deadline, or by its worker, which a
 * server can hold after the reply too: the close of the file waits on its
 * flush) and its deadline is REMOTE_HELD_AFTER_MS behind it (a hash its
 * cancel reached has let go by then). Returns when to look again (0: no
 * need): a job cancelled too lately to tell, or workers just added, whose
 * first job may be one answered while queued, on the same server. */
#define REMOTE_HELD_AFTER_MS 100

static int64_t remote_workers_replace_held(struct gk_events *ev, int64_t now, int64_t limit_us)
{
	const int64_t after_us = REMOTE_HELD_AFTER_MS * 1000;
	struct job_queue *q = &ev->remote;
	unsigned held = 0;
	int64_t again = 0;
	pthread_mutex_lock(&ev->q_lock);
	for (unsigned i = 0; i < q->n_workers; i++) {
		int idx = q->workers[i].current;
		/* a remote job is cancelled only once answered (or at the stop,
		 * which adds no worker) */
		if (idx < 0 || atomic_load(&ev->sh->slots[idx].state) != SLOT_ANSWERED)
			continue;
		int64_t held_from = atomic_load(&ev->sh->slots[idx].start_us) + limit_us + after_us;
		if (held_from <= now)
			held++;
		else if (!again || held_from < again)
			again = held_from;
	}
	unsigned before = q->n_workers;
	while (!ev->q_stopping && q->n_workers - held < EVENTS_REMOTE_WORKERS &&
	       events_queue_add_worker(q) == 0)
		;
	unsigned after = q->n_workers;
	pthread_mutex_unlock(&ev->q_lock);
	if (after > before) {
		log_msg(GK_LOG_WARN, "remote_workers_added added=%u workers=%u held_by_servers=%u",
			after - before, after, held);
		if (!again || again > now + after_us)
			again = now + after_us;
	}
	return again;
}

/* A light job cancelled because its file grew heavy was decided as a file
 * that cannot be hashed (a `scanner: error` rule, or on_error): its record
 * says why it could not be. */
void events_outgrown_detail(struct judgement *j)
{
	char *d = j->decision.detail;
	size_t len = strlen(d), size = sizeof(j->decision.detail);
	snprintf(d + len, size - len, "%s(the file grew to %lld MiB or more while judged as a smaller one)",
		 len ? " " : "", (long long)(JOB_HEAVY_BYTES >> 20));
}

/* How long the watchdog sleeps: a tick while an event awaits an answer;
 * with none, half a deadline (at most WATCHDOG_IDLE_MAX_MS). One answered
 * but still held (a remote worker waiting on a server, a record being
 * made) needs no tick: a stalled server must not cost the host a hundred
 * wake-ups a second. An event admitted
 * meanwhile has a whole deadline ahead of it, so the watchdog is back in
 * time, and its heartbeat stays younger than a deadline (the sentinel's
 * sign of life). An idle daemon must not wake a hundred times a second: on
 * a small or emulated machine every wake-up is taken from the execs that
 * the kernel answers without us. */
static int watchdog_sleep_ms(unsigned open, int64_t limit_us)
{
	if (open > 0)
		return WATCHDOG_TICK_MS;
	int64_t ms = limit_us / 2000;
	return ms < WATCHDOG_TICK_MS ? WATCHDOG_TICK_MS
	       : ms > WATCHDOG_IDLE_MAX_MS ? WATCHDOG_IDLE_MAX_MS : (int)ms;
}

void *events_watchdog_main(void *arg)
{
	struct gk_events *ev = arg;
	struct gk_daemon *d = ev->d;
	pthread_setname_np(pthread_self(), "gk-watchdog");
	int sleep_ms = WATCHDOG_TICK_MS;
	for (;;) {
		struct timespec until = gk_deadline_in_ms(CLOCK_MONOTONIC, sleep_ms);
		pthread_mutex_lock(&ev->q_lock);
		while (!ev->watchdog_stopping &&
		       pthread_cond_timedwait(&ev->watchdog_cond, &ev->q_lock, &until) != ETIMEDOUT)
			;
		bool stopping = ev->watchdog_stopping;
		pthread_mutex_unlock(&ev->q_lock);
		if (stopping)
			return NULL;
		pthread_rwlock_rdlock(&d->policy_lock);
		int64_t limit = (int64_t)d->policy->decision_timeout_ms * 1000;
		enum gk_verdict fallback = d->policy->on_error;
		pthread_rwlock_unlock(&d->policy_lock);
		/* What the sentinel needs to stand in for us, and proof we tick. */
		atomic_store(&ev->sh->timeout_us, limit);
		atomic_store(&ev->sh->on_error, fallback);
		int64_t now = gk_mono_us();
		atomic_store(&ev->sh->watchdog_beat_us, now);
		/* A user added since (useradd gives a range at once) counts as one. */
		if (now - ev->subids_checked_us >= 1000000) {
			ev->subids_checked_us = now;
			events_subids_refresh(ev, d->opt.subuid_path, false);
		}
		bool remote_answered = false;
		unsigned open = watchdog_sweep(ev, limit, fallback, &remote_answered);
		if (open)
			light_jobs_outgrown(ev);
		/* While remote events wait, a look each tick: workers held after
		 * their answers leave no deadline of theirs to schedule it. */
		bool remote_open = open && atomic_load(&d->stats.remote_pending) > 0;
		if (remote_open || (ev->remote_check_us && now >= ev->remote_check_us))
			ev->remote_check_us = remote_workers_replace_held(ev, now, limit);
		if (remote_answered && !ev->remote_check_us)
			ev->remote_check_us = now + REMOTE_HELD_AFTER_MS * 1000;
		sleep_ms = watchdog_sleep_ms(open, limit);
		if (ev->remote_check_us) {
			int64_t due_ms = (ev->remote_check_us - now) / 1000 + 1;
			if (due_ms < sleep_ms)
				sleep_ms = (int)due_ms;
		}
	}
}
