/* The permission-event route, top to bottom, once per event:
 *
 *   read → judge → reply → cache in the kernel → record
 *
 * (a denial is cached in the kernel before the reply). The reading thread
 * learns what the event tells (judge_identify, then judge_locate) and
 * decides at once whatever memory can decide (a cached digest, no scan
 * due): then it replies, caches and hands the record to the recorder
 * (recorder.c). When the content alone decides (an admin or policy hash
 * rule: judge_by_content), the path is read after the reply. The rest goes
 * to in-flight slots that workers judge in full. A watchdog answers any
 * permission event still open at its deadline with the policy's on_error
 * verdict, so no exec waits on the daemon for longer than
 * decision_timeout_ms. The kernel is always answered before anything is
 * logged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/events_impl.h"
#include "gatekeeper/subids.h"

/* Someone else claimed the answer (the watchdog, or the sentinel while we
 * were frozen): wait until it is written, so the fd number stays ours until
 * no response can name it any more. Bounded: the sentinel writes at once. */
static void wait_answered(struct gk_slot *ss)
{
	for (int i = 0; i < 10000 && atomic_load(&ss->state) == SLOT_ANSWERING; i++)
		usleep(100);
}

/* Claim the answer, or learn that someone else gave it (then the slot is
 * answered). A claim the watchdog took back (it found the slot reused) is
 * tried again. */
bool events_claim_answer(struct gk_slot *ss)
{
	for (;;) {
		if (sentinel_slot_claim(ss))
			return true;
		wait_answered(ss);
		if (atomic_load(&ss->state) != SLOT_PENDING)
			return false;
	}
}

const char *events_other_answer(struct gk_slot *ss, enum gk_verdict *verdict)
{
	*verdict = atomic_load(&ss->verdict);
	return atomic_load(&ss->answered_by) == SLOT_BY_SENTINEL
		       ? "decision timeout (answered by the sentinel)" : "decision timeout";
}

static void answered_by_other(struct gk_slot *ss, struct judgement *j)
{
	enum gk_verdict v;
	const char *detail = events_other_answer(ss, &v);
	j->decision.verdict = v;
	j->decision.source = GK_SOURCE_ON_ERROR;
	snprintf(j->decision.detail, sizeof(j->decision.detail), "%s", detail);
}

/* Before the reply: the exec it lets go may ask again at once, and must
 * not find its user still holding this job (events_fair.c), nor the
 * route's bound still counting it. */
static void job_answered(struct gk_events *ev, int idx)
{
	bool remote = ev->slots[idx].group->remote;
	pthread_mutex_lock(&ev->q_lock);
	jobq_answered(remote ? &ev->remote : &ev->local, idx);
	if (!remote)
		ev->to_workers--;
	pthread_mutex_unlock(&ev->q_lock);
}

/* The tail of the route, shared by the reading thread and the workers:
 * reply, cache in the kernel, count, record. Whoever claims the slot first
 * (this thread, the watchdog or the sentinel) answers; the others only
 * record what was answered. What the reading thread answered is recorded
 * by the recorder (recorder.c), which reads the caller's exe after the
 * reply: nothing delays an allow from memory, nor the exec it lets go. A
 * worker reads the exe before the reply and records on its own thread:
 * that judgement took a hash at least, a readlink more is nothing, and the
 * exec still waits, so the link still names the program that asked, not
 * the one it became or "" after a quick exit. A denial reads it first on
 * every route: the refused caller often exits at once, and who asked is
 * what its record is for. */
static void finish(struct gk_events *ev, int idx, bool from_worker)
{
	struct gk_daemon *d = ev->d;
	struct inflight *s = &ev->slots[idx];
	struct gk_slot *ss = &ev->sh->slots[idx];
	struct judgement *j = &s->j;
	if (from_worker)
		job_answered(ev, idx);
	enum gk_verdict answer = j->decision.verdict;
	bool monitor = !s->perm || j->monitor, would_deny = monitor && answer == GK_VERDICT_DENY;
	if (monitor)
		answer = GK_VERDICT_ALLOW;
	char exe[4096];
	bool exe_first = from_worker || answer == GK_VERDICT_DENY;
	if (exe_first)
		gk_pid_exe(s->pid, exe, sizeof(exe));
	/* A denial is recorded with its path (the kernel's refusals name it). */
	if (j->decision.verdict == GK_VERDICT_DENY)
		judge_after_answer(d, s->fd, j);

	int64_t answered_us;
	bool cache_after = false;
	if (!s->perm || events_claim_answer(ss)) {
		/* A denial is in the kernel before the reply, so that no exec of
		 * the file slips past the refusal that follows; an allow after it,
		 * so that the exec does not wait for it (an exec of the same file
		 * racing it is only asked again). */
		bool cache_first = !would_deny && j->decision.verdict != GK_VERDICT_ALLOW;
		if (cache_first)
			judge_cache_in_kernel(d, s->fd, j);
		/* Timed before the reply: the exec it wakes often takes this CPU
		 * at once, and the rest of its run is not the daemon's latency. */
		answered_us = gk_mono_us();
		if (s->perm)
			fan_reply(s->group->fd, s->fd, answer);
		cache_after = !would_deny && !cache_first;
		/* The reading thread's allow is cached by the recorder, later: the
		 * exec just let go often waits on this CPU. That is safe because the
		 * content was read after its ctime settled (judge_cache_in_kernel):
		 * a write since moved the ctime, which the entry's check sees. */
		if (cache_after && exe_first)
			judge_cache_in_kernel(d, s->fd, j);
		atomic_store(&ss->verdict, answer);
		atomic_store(&ss->answered_by, SLOT_BY_DAEMON);
		atomic_store(&ss->state, SLOT_ANSWERED);
	} else {
		if (j->path_after_answer) {   /* the record is the other's answer, with its path */
			j->path_after_answer = false;
			judge_locate(d, s->fd, j);
		}
		answered_by_other(ss, j);
		answer = j->decision.verdict;
		answered_us = gk_mono_us();
	}

	/* Answered (by anyone): a writer the exec's lease held out may go. */
	if (s->exec_ticket)
		kcache_disarm(d->kc, s->fd, s->exec_ticket, true);
	s->exec_ticket = 0;

	uint64_t latency = (uint64_t)(answered_us - atomic_load(&ss->start_us));
	stats_record_latency(&d->stats, latency);
	atomic_fetch_add(answer == GK_VERDICT_DENY ? &d->stats.denies : &d->stats.allows, 1);
	if (would_deny)
		atomic_fetch_add(&d->stats.would_deny, 1);

	struct db_audit a = {
		.time_us = gk_now_us(), .pid = s->pid, .verdict = answer,
		.latency_us = latency > UINT32_MAX ? UINT32_MAX : (uint32_t)latency,
		.mode = monitor ? GK_MODE_MONITOR : GK_MODE_ENFORCE, .would_deny = would_deny,
	};
	if (!exe_first && recorder_take(ev->recorder, s->fd, &a, j, cache_after)) {
		s->fd = -1;   /* the recorder's now */
		return;
	}
	if (cache_after && !exe_first)
		judge_cache_in_kernel(d, s->fd, j);
	recorder_submit(d, s->fd, &a, j, exe_first ? exe : NULL);
}

void events_slot_release(struct gk_events *ev, int idx)
{
	struct inflight *s = &ev->slots[idx];
	struct gk_slot *ss = &ev->sh->slots[idx];
	wait_answered(ss);
	/* Answered without finish (overload, our own scanner): give it back. */
	if (s->exec_ticket && s->fd >= 0)
		kcache_disarm(ev->d->kc, s->fd, s->exec_ticket, true);
	s->exec_ticket = 0;
	atomic_store(&s->busy, false);
	if (s->fd >= 0)   /* -1: the recorder has it */
		close(s->fd);
	s->fd = -1;
	atomic_store(&ss->state, SLOT_FREE);
	bool remote = s->group->remote;
	atomic_fetch_sub(&s->group->inflight, 1);
	pthread_mutex_lock(&ev->q_lock);
	ev->free_list[ev->n_free++] = idx;
	pthread_mutex_unlock(&ev->q_lock);
	atomic_fetch_sub(&ev->d->stats.pending, 1);
	if (remote)
		atomic_fetch_sub(&ev->d->stats.remote_pending, 1);
}

/* The next event for this queue's workers, or -1 once the route stops. */
static int next_job(struct job_worker *w)
{
	struct job_queue *q = w->q;
	struct gk_events *ev = q->ev;
	int idx;
	pthread_mutex_lock(&ev->q_lock);
	/* At the stop, what is left waits for jobs that still run (its
	 * owner's, or the heavy ones): their workers take it. */
	while ((idx = jobq_take(q)) < 0 && !ev->q_stopping)
		pthread_cond_wait(&q->cond, &ev->q_lock);
	w->current = idx;
	pthread_mutex_unlock(&ev->q_lock);
	return idx;
}

static void *worker_main(void *arg)
{
	struct job_worker *w = arg;
	struct job_queue *q = w->q;
	struct gk_events *ev = q->ev;
	pthread_setname_np(pthread_self(), q->remote ? "gk-judge-remote" : "gk-judge");
	for (int idx; (idx = next_job(w)) >= 0;) {
		struct inflight *s = &ev->slots[idx];
		/* A remote group's reader hands over the event as it read it: what
		 * it tells is learnt here, where a stalled server holds no reader. */
		if (q->remote)
			judge_begin_may_wait(ev->d, s->fd, &s->j);
		/* Leased before the read: a verdict on content just written can
		 * be cached at once (kcache_arm), and the write that follows
		 * it is seen however soon it comes. A local exec was leased
		 * by its reader (handle). */
		uint64_t ticket = 0;
		if (q->remote || !s->perm)
			s->j.lease_ticket = ticket = kcache_arm(ev->d->kc, s->fd, false);
		else if (s->j.lease_ticket == KCACHE_ARM_WRITER)
			s->exec_ticket = judge_wait_for_writer(ev->d, s->fd, &s->j);
		ev->judge(ev->d, s->fd, &s->j, &s->cancel);
		if (s->perm && s->j.lease_ticket == KCACHE_ARM_WRITER)
			judge_refuse_for_writer(&s->j, false);
		else if (s->perm && kcache_exec_lease_lapsed(ev->d->kc, s->fd, s->exec_ticket))
			judge_refuse_for_writer(&s->j, true);
		if (atomic_load(&ev->abandoned))
			return NULL;   /* back from a server after the stop: touch nothing */
		if (atomic_load(&s->outgrown) && s->j.decision.source == GK_SOURCE_ON_ERROR)
			events_outgrown_detail(&s->j);
		finish(ev, idx, true);
		kcache_disarm(ev->d->kc, s->fd, ticket, false);
		/* A remote file's close waits on its server (FUSE's flush): the
		 * job goes on until then, its worker may count as held by it
		 * (events_watchdog.c), and its user runs no other meanwhile. */
		if (q->remote && s->fd >= 0) {
			close(s->fd);
			s->fd = -1;
		}
		/* Before the slot is free: a new event may take it at once. */
		pthread_mutex_lock(&ev->q_lock);
		jobq_done(q, idx);
		w->current = -1;
		pthread_mutex_unlock(&ev->q_lock);
		events_slot_release(ev, idx);
	}
	return NULL;
}

/* One user's jobs run on all workers but one and hold half the bound;
 * heavy ones run on all workers but one; the last eighth of the bound is
 * kept for users who hold few (only_reserve_left, events_fair.c). */
static int queue_init(struct job_queue *q, struct gk_events *ev, bool remote, unsigned workers,
		      unsigned max_workers, unsigned bound)
{
	unsigned reserve = bound / 8;
	struct jobq_caps caps = { .run = workers - 1, .hold = bound / 2, .heavy = workers - 1,
				  .reserve = reserve, .reserve_share = reserve / 64 };
	q->ev = ev;
	q->remote = remote;
	pthread_cond_init(&q->cond, NULL);
	q->max_workers = max_workers;
	q->workers = calloc(max_workers, sizeof(*q->workers));
	return q->workers && jobq_init(q, ev->n_slots, caps) == 0 ? 0 : -1;
}

int events_queue_add_worker(struct job_queue *q)
{
	if (q->n_workers >= q->max_workers)
		return -1;
	struct job_worker *w = &q->workers[q->n_workers];
	*w = (struct job_worker){ .q = q, .current = -1 };
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return -1;
	q->n_workers++;
	return 0;
}

static int queue_start_workers(struct job_queue *q, unsigned workers)
{
	struct gk_events *ev = q->ev;
	int rc = 0;
	pthread_mutex_lock(&ev->q_lock);
	while (rc == 0 && q->n_workers < workers)
		rc = events_queue_add_worker(q);
	pthread_mutex_unlock(&ev->q_lock);
	return rc;
}

/* A remote worker can wait on a server for good: after a bound, it is left
 * (false), and so must be everything it may touch when it returns. */
static bool queue_join_workers(struct job_queue *q)
{
	bool all = true;
	struct timespec until = gk_deadline_in_ms(CLOCK_REALTIME, 2000);
	for (unsigned i = 0; i < q->n_workers; i++) {
		if (!q->remote) {
			pthread_join(q->workers[i].thread, NULL);
		} else if (pthread_timedjoin_np(q->workers[i].thread, NULL, &until) != 0) {
			pthread_detach(q->workers[i].thread);
			all = false;
		}
	}
	if (!all)
		log_msg(GK_LOG_WARN, "warning=\"a remote worker still waits on a server at stop: "
			"left to the exit\"");
	return all;
}

static void queue_free(struct job_queue *q)
{
	if (q->ev)
		pthread_cond_destroy(&q->cond);
	jobq_free(q);
	free(q->workers);
}

void events_set_judge(struct gk_events *ev, events_judge_fn *fn)
{
	ev->judge = fn ? fn : judge_fully;
}

struct gk_events *events_start(struct gk_daemon *d, unsigned workers)
{
	struct gk_events *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->d = d;
	ev->sh = d->shared;
	ev->judge = judge_fully;
	ev->n_slots = d->shared->n_slots;
	if (ev->n_slots <= EVENTS_READ_BATCH) {
		free(ev);
		errno = EINVAL;
		return NULL;
	}
	ev->max_pending = ev->n_slots - EVENTS_READ_BATCH;
	ev->remote_max = ev->max_pending / EVENTS_REMOTE_SHARE ? ev->max_pending / EVENTS_REMOTE_SHARE : 1;
	pthread_mutex_init(&ev->q_lock, NULL);
	pthread_mutex_init(&ev->subids_lock, NULL);
	gk_cond_init_monotonic(&ev->watchdog_cond);
	ev->slots = calloc(ev->n_slots, sizeof(*ev->slots));
	ev->free_list = calloc(ev->n_slots, sizeof(int));
	/* A remote file's size is not asked before a worker takes it (its
	 * server may stall): every remote job counts as light. */
	if (!ev->slots || !ev->free_list ||
	    queue_init(&ev->local, ev, false, workers, workers, ev->max_pending) < 0 ||
	    queue_init(&ev->remote, ev, true, EVENTS_REMOTE_WORKERS, EVENTS_REMOTE_WORKERS_MAX,
		       ev->remote_max) < 0 ||
	    !(ev->recorder = recorder_start(d)))
		goto fail;
	/* The daemon slots (a judgement each, kilobytes) are left untouched
	 * until used: calloc's pages stay unmapped, and the free list hands
	 * out the same few again and again. */
	for (unsigned i = 0; i < ev->n_slots; i++) {
		ev->free_list[i] = (int)(ev->n_slots - 1 - i);
		atomic_store(&ev->sh->slots[i].state, SLOT_FREE);
	}
	ev->n_free = (int)ev->n_slots;
	atomic_store(&ev->sh->watchdog_beat_us, gk_mono_us());
	if (queue_start_workers(&ev->local, workers) < 0 ||
	    queue_start_workers(&ev->remote, EVENTS_REMOTE_WORKERS) < 0)
		goto fail;
	if (pthread_create(&ev->watchdog, NULL, events_watchdog_main, ev) != 0)
		goto fail;
	ev->watchdog_started = true;
	return ev;
fail:
	events_stop(ev, false);
	return NULL;
}

/* Every event read gets its slot before any is judged, so that the sentinel
 * can answer all of them if the daemon freezes in the middle of a batch.
 * Returns the slot, or -1 (answered at once: overload). */
static int admit(struct gk_events *ev, struct fan_group *g,
		 const struct fanotify_event_metadata *m)
{
	struct gk_daemon *d = ev->d;
	atomic_fetch_add(&d->stats.events, 1);
	if (g->remote)
		atomic_fetch_add(&d->stats.remote_events, 1);
	if (g->perm)
		atomic_fetch_add(&d->stats.perm_events, 1);
	/* Only the remote reader admits remote events: the count it reads can
	 * only have dropped since. */
	bool room = !g->remote || atomic_load(&d->stats.remote_pending) < ev->remote_max;
	pthread_mutex_lock(&ev->q_lock);
	int idx = room && ev->n_free ? ev->free_list[--ev->n_free] : -1;
	pthread_mutex_unlock(&ev->q_lock);
	if (idx < 0)
		return -1;
	/* Two readers admit (the local and the remote one). */
	unsigned touched = atomic_load(&ev->slots_touched);
	while ((unsigned)idx >= touched &&
	       !atomic_compare_exchange_weak(&ev->slots_touched, &touched, (unsigned)idx + 1))
		;
	struct inflight *s = &ev->slots[idx];
	struct gk_slot *ss = &ev->sh->slots[idx];
	s->fd = m->fd;
	s->group = g;
	s->perm = g->perm;
	s->pid = m->pid;
	s->exec_ticket = 0;
	atomic_store(&s->cancel, false);
	atomic_store(&s->outgrown, false);
	ss->fd = m->fd;
	ss->group = g->perm ? g->sentinel_id : 0;
	atomic_store(&ss->start_us, gk_mono_us());
	/* a notification needs no answer: nobody may claim it */
	atomic_store(&ss->state, g->perm ? SLOT_PENDING : SLOT_ANSWERED);
	atomic_store(&s->busy, true);
	atomic_fetch_add(&d->stats.pending, 1);
	if (g->remote)
		atomic_fetch_add(&d->stats.remote_pending, 1);
	atomic_fetch_add(&g->inflight, 1);
	return idx;
}

/* Our own scanner process starting (gatekeeper-scand and its loader):
 * never judged, never held up by the judging it is there to serve. By its
 * pid alone: nothing of the file is read. */
static bool answered_for_scanner(struct gk_events *ev, int idx)
{
	struct inflight *s = &ev->slots[idx];
	if (!s->perm || !scan_owns_exec(ev->d, s->pid))
		return false;
	if (events_claim_answer(&ev->sh->slots[idx])) {
		fan_reply(s->group->fd, s->fd, GK_VERDICT_ALLOW);
		atomic_store(&ev->sh->slots[idx].answered_by, SLOT_BY_DAEMON);
		atomic_store(&ev->sh->slots[idx].state, SLOT_ANSWERED);
	}
	events_slot_release(ev, idx);
	return true;
}

/* Decide now what memory can decide; queue the rest for a worker. */
static void handle(struct gk_events *ev, int idx)
{
	struct gk_daemon *d = ev->d;
	struct inflight *s = &ev->slots[idx];
	if (answered_for_scanner(ev, idx))
		return;
	/* Leased before its identity is taken: no write lands between what is
	 * judged and the exec's own refusal of writers (kcache_arm). */
	uint64_t ticket = s->perm ? kcache_arm(d->kc, s->fd, true) : 0;
	s->exec_ticket = kcache_ticket_taken(ticket) ? ticket : 0;
	judge_identify(d, s->fd, &s->j);
	s->j.lease_ticket = ticket;
	/* A user who keeps the close queue full, or its reader held, only
	 * sends their misses to the workers, to be hashed anew: a read of
	 * execs waits on that queue once, a few ms (prescan_before_miss). */
	s->j.stale_digest = s->j.have_id && !prescan_before_miss(d->prescan, &s->j.id, s->read_us);
	/* A writer has it open: a worker waits for it (judge_wait_for_writer). */
	bool writer = ticket == KCACHE_ARM_WRITER;
	bool decided = !writer && !s->j.stale_digest && judge_by_content(d, &s->j);
	if (!decided) {
		judge_locate(d, s->fd, &s->j);
		decided = !writer && judge_from_memory(d, &s->j);
	}
	if (decided) {
		/* Its allow is cached later, by the recorder, on a lease of its
		 * own: this one is given back at the reply. */
		s->j.lease_ticket = 0;
		finish(ev, idx, false);
		events_slot_release(ev, idx);
		return;
	}
	events_to_worker(ev, idx);
}

/* A remote group's event: every one to a remote worker. */
static void handle_remote(struct gk_events *ev, int idx)
{
	if (!answered_for_scanner(ev, idx))
		events_to_worker(ev, idx);
}

/* Read at most EVENTS_READ_BATCH events; returns how many were admitted into
 * admitted[], or -1 when the read brought nothing (*why: its errno, or 0 at
 * the end of the file). *drained: the read came back short, so the queue
 * was empty then (what comes later makes the group readable again: no read
 * just to learn EAGAIN). An EINTR is the reader's kick: not retried. */
static int read_batch(struct gk_events *ev, struct fan_group *g, int admitted[EVENTS_READ_BATCH],
		      bool *drained, int *why)
{
	char buf[EVENTS_READ_BATCH * sizeof(struct fanotify_event_metadata)]
		__attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	ssize_t len = read(g->fd, buf, sizeof(buf));
	int64_t read_us = gk_mono_us();
	/* The sentinel's sign that the reader turns over: the local one's. */
	if (!g->remote)
		atomic_store(&ev->sh->reader_beat_us, read_us);
	if (len <= 0) {
		*why = len < 0 ? errno : 0;
		if (len < 0 && errno != EAGAIN && errno != EINTR)
			log_msg(GK_LOG_ERR, "error=\"fanotify read failed\" errno=%d", errno);
		return -1;
	}
	*drained = (size_t)len + sizeof(struct fanotify_event_metadata) <= sizeof(buf);
	int n = 0;
	const struct fanotify_event_metadata *m = (const void *)buf;
	for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
		if (m->vers != FANOTIFY_METADATA_VERSION) {
			log_msg(GK_LOG_ERR, "error=\"fanotify metadata version mismatch\"");
			if (m->fd >= 0)
				close(m->fd);
			continue;
		}
		if (m->mask & FAN_Q_OVERFLOW)
			atomic_fetch_add(&ev->d->stats.queue_overflows, 1);
		if (m->fd < 0)
			continue;
		if (g->perm && !(m->mask & FAN_OPEN_EXEC_PERM)) {
			/* a pre-judged file's first exec (kcache_watch_first_exec) */
			prescan_exec_seen(ev->d->prescan, g->fd, m->fd);
			close(m->fd);
			continue;
		}
		int idx = admit(ev, g, m);
		if (idx < 0)
			events_overload(ev, g, m->fd, -1, m->pid, (struct overload_why){
				g->remote ? OVERLOAD_REMOTE : OVERLOAD_QUEUE, 0, 0, g->remote, 0 });
		else {
			ev->slots[idx].read_us = read_us;
			admitted[n++] = idx;
		}
	}
	return n;
}

int events_read(struct gk_events *ev, struct fan_group *g)
{
	int admitted[EVENTS_READ_BATCH], n, why = 0;
	bool drained = false;
	while (!drained && (n = read_batch(ev, g, admitted, &drained, &why)) >= 0)
		for (int i = 0; i < n; i++)
			(g->remote ? handle_remote : handle)(ev, admitted[i]);
	return drained ? 0 : why;
}

bool events_stop(struct gk_events *ev, bool keep)
{
	if (!ev)
		return true;
	recorder_stop(ev->recorder);
	pthread_mutex_lock(&ev->q_lock);
	ev->q_stopping = true;
	pthread_cond_broadcast(&ev->local.cond);
	pthread_cond_broadcast(&ev->remote.cond);
	pthread_mutex_unlock(&ev->q_lock);
	/* A long hash must not hold up the stop: what it was for is answered
	 * by the policy's on_error (or, once the groups close, by the kernel). */
	for (unsigned i = 0; ev->slots && i < ev->n_slots; i++)
		if (atomic_load(&ev->sh->slots[i].state) != SLOT_FREE)
			atomic_store(&ev->slots[i].cancel, true);
	queue_join_workers(&ev->local);
	bool remote_ended = queue_join_workers(&ev->remote);
	if (!remote_ended)
		atomic_store(&ev->abandoned, true);
	pthread_mutex_lock(&ev->q_lock);
	ev->watchdog_stopping = true;
	pthread_cond_signal(&ev->watchdog_cond);
	pthread_mutex_unlock(&ev->q_lock);
	if (ev->watchdog_started)
		pthread_join(ev->watchdog, NULL);
	if (!remote_ended || keep)
		return remote_ended;   /* a remote thread may still use it: left to the exit */
	pthread_mutex_destroy(&ev->q_lock);
	queue_free(&ev->local);
	queue_free(&ev->remote);
	pthread_cond_destroy(&ev->watchdog_cond);
	subids_free(ev->subids);
	pthread_mutex_destroy(&ev->subids_lock);
	free(ev->slots);
	free(ev->free_list);
	free(ev);
	return true;
}
