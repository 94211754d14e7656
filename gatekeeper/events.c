/* The permission-event route, top to bottom, once per event:
 *
 *   read → judge → cache in the kernel → reply → audit
 *
 * The reading thread learns what the event tells (judge_begin) and decides
 * at once whatever memory can decide (a cached digest, no scan due): then it
 * caches, replies and only after that audits, all on its own thread. The
 * rest goes to in-flight slots that workers judge in full. A watchdog
 * answers any permission event still open at its deadline with the
 * policy's on_error verdict, so no exec waits on the daemon for longer than
 * decision_timeout_ms. The kernel is always answered before anything is
 * logged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"

#define WATCHDOG_TICK_MS 10

struct inflight {
	pthread_mutex_t lock;       /* guards answered, timed_out and the reply */
	bool answered, timed_out;
	enum gk_verdict timeout_verdict;
	int fd, group_fd;
	struct fan_group *group;    /* its in-flight count keeps the group open */
	bool perm;
	pid_t pid;
	int64_t start_mono_us;
	atomic_bool cancel;         /* the watchdog answered: stop hashing */
	atomic_bool busy;           /* slot holds an event (watchdog reads it) */
	struct judgement j;
};

struct gk_events {
	struct gk_daemon *d;
	events_judge_fn *judge;
	unsigned n_slots;
	struct inflight *slots;
	int *free_list, n_free;
	int *queue, q_head, q_len;
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	bool q_stopping;
	pthread_t *workers, watchdog;
	unsigned n_workers;                 /* started */
	bool watchdog_started;
	atomic_bool watchdog_stopping;      /* after the workers: queued events keep their deadline */
};

/* The tail of the route, shared by the reading thread and the workers:
 * cache in the kernel, reply, count, audit. s is NULL on the reading
 * thread (no one else knows of the event: no lock needed). */
static void finish(struct gk_events *ev, struct inflight *s, int fd, int group_fd, bool perm,
		   pid_t pid, int64_t start_us, struct judgement *j)
{
	struct gk_daemon *d = ev->d;
	enum gk_verdict answer = j->decision.verdict;
	bool monitor = !perm, would_deny = monitor && answer == GK_VERDICT_DENY;
	if (monitor)
		answer = GK_VERDICT_ALLOW;

	if (s)
		pthread_mutex_lock(&s->lock);
	if (s && s->timed_out) {
		answer = s->timeout_verdict;
		j->decision.verdict = answer;
		j->decision.source = GK_SOURCE_ON_ERROR;
		snprintf(j->decision.detail, sizeof(j->decision.detail), "decision timeout");
	} else if (!would_deny) {
		/* Before the reply: the exec that follows it finds the verdict. */
		judge_cache_in_kernel(d, fd, j);
	}
	if (perm && !(s && s->answered))
		fan_reply(group_fd, fd, answer);
	if (s) {
		s->answered = true;
		pthread_mutex_unlock(&s->lock);
	}

	uint64_t latency = (uint64_t)(gk_mono_us() - start_us);
	stats_record_latency(&d->stats, latency);
	atomic_fetch_add(answer == GK_VERDICT_DENY ? &d->stats.denies : &d->stats.allows, 1);
	if (would_deny)
		atomic_fetch_add(&d->stats.would_deny, 1);

	char exe[4096];
	gk_pid_exe(pid, exe, sizeof(exe));
	struct db_audit a = {
		.time_us = gk_now_us(), .pid = pid, .exe = exe, .path = j->path,
		.sha256 = j->have_sha ? j->sha256 : NULL, .verdict = answer,
		.source = j->decision.source, .detail = j->decision.detail,
		.latency_us = latency > UINT32_MAX ? UINT32_MAX : (uint32_t)latency,
		.mode = monitor ? GK_MODE_MONITOR : GK_MODE_ENFORCE, .would_deny = would_deny,
	};
	audit_submit(d, &a, AUDIT_EXEC);
}

static void slot_release(struct gk_events *ev, struct inflight *s)
{
	atomic_store(&s->busy, false);
	close(s->fd);
	s->fd = -1;
	atomic_fetch_sub(&s->group->inflight, 1);
	pthread_mutex_lock(&ev->q_lock);
	ev->free_list[ev->n_free++] = (int)(s - ev->slots);
	pthread_mutex_unlock(&ev->q_lock);
	atomic_fetch_sub(&ev->d->stats.pending, 1);
}

static void *worker_main(void *arg)
{
	struct gk_events *ev = arg;
	for (;;) {
		pthread_mutex_lock(&ev->q_lock);
		while (!ev->q_len && !ev->q_stopping)
			pthread_cond_wait(&ev->q_cond, &ev->q_lock);
		if (!ev->q_len) {
			pthread_mutex_unlock(&ev->q_lock);
			return NULL;
		}
		struct inflight *s = &ev->slots[ev->queue[ev->q_head]];
		ev->q_head = (ev->q_head + 1) % (int)ev->n_slots;
		ev->q_len--;
		pthread_mutex_unlock(&ev->q_lock);
		ev->judge(ev->d, s->fd, &s->j, &s->cancel);
		finish(ev, s, s->fd, s->group_fd, s->perm, s->pid, s->start_mono_us, &s->j);
		slot_release(ev, s);
	}
}

static void watchdog_sweep(struct gk_events *ev, int64_t limit_us, enum gk_verdict fallback)
{
	int64_t now = gk_mono_us();
	for (unsigned i = 0; i < ev->n_slots; i++) {
		struct inflight *s = &ev->slots[i];
		if (!atomic_load(&s->busy) || !s->perm)
			continue;
		pthread_mutex_lock(&s->lock);
		if (atomic_load(&s->busy) && !s->answered && now - s->start_mono_us > limit_us) {
			fan_reply(s->group_fd, s->fd, fallback);
			s->answered = s->timed_out = true;
			s->timeout_verdict = fallback;
			atomic_store(&s->cancel, true);
			atomic_fetch_add(&ev->d->stats.timeouts, 1);
		}
		pthread_mutex_unlock(&s->lock);
	}
}

static void *watchdog_main(void *arg)
{
	struct gk_events *ev = arg;
	struct gk_daemon *d = ev->d;
	const struct timespec tick = { 0, WATCHDOG_TICK_MS * 1000000L };
	while (!atomic_load(&ev->watchdog_stopping)) {
		nanosleep(&tick, NULL);
		pthread_rwlock_rdlock(&d->policy_lock);
		int64_t limit = (int64_t)d->policy->decision_timeout_ms * 1000;
		enum gk_verdict fallback = d->policy->on_error;
		pthread_rwlock_unlock(&d->policy_lock);
		watchdog_sweep(ev, limit, fallback);
	}
	return NULL;
}

void events_set_judge(struct gk_events *ev, events_judge_fn *fn)
{
	ev->judge = fn ? fn : judge_fully;
}

struct gk_events *events_start(struct gk_daemon *d, unsigned workers, unsigned max_pending)
{
	struct gk_events *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->d = d;
	ev->judge = judge_fully;
	ev->n_slots = max_pending;
	pthread_mutex_init(&ev->q_lock, NULL);
	pthread_cond_init(&ev->q_cond, NULL);
	ev->slots = calloc(max_pending, sizeof(*ev->slots));
	ev->free_list = calloc(max_pending, sizeof(int));
	ev->queue = calloc(max_pending, sizeof(int));
	ev->workers = calloc(workers, sizeof(pthread_t));
	if (!ev->slots || !ev->free_list || !ev->queue || !ev->workers)
		goto fail;
	for (unsigned i = 0; i < max_pending; i++) {
		pthread_mutex_init(&ev->slots[i].lock, NULL);
		ev->slots[i].fd = -1;
		ev->free_list[i] = (int)(max_pending - 1 - i);
	}
	ev->n_free = (int)max_pending;
	for (; ev->n_workers < workers; ev->n_workers++)
		if (pthread_create(&ev->workers[ev->n_workers], NULL, worker_main, ev) != 0)
			goto fail;
	if (pthread_create(&ev->watchdog, NULL, watchdog_main, ev) != 0)
		goto fail;
	ev->watchdog_started = true;
	return ev;
fail:
	events_stop(ev);
	return NULL;
}

/* No slot free: answer at once rather than let the exec wait. */
static void overload(struct gk_events *ev, struct fan_group *g, int fd)
{
	struct gk_daemon *d = ev->d;
	atomic_fetch_add(&d->stats.overloads, 1);
	if (g->perm) {
		pthread_rwlock_rdlock(&d->policy_lock);
		enum gk_verdict v = d->policy->overload;
		pthread_rwlock_unlock(&d->policy_lock);
		fan_reply(g->fd, fd, v);
	}
	close(fd);
}

static void enqueue(struct gk_events *ev, struct fan_group *g, const struct judgement *j,
		    int fd, pid_t pid, int64_t start_us)
{
	pthread_mutex_lock(&ev->q_lock);
	int idx = ev->n_free ? ev->free_list[--ev->n_free] : -1;
	pthread_mutex_unlock(&ev->q_lock);
	if (idx < 0) {
		overload(ev, g, fd);
		return;
	}
	struct inflight *s = &ev->slots[idx];
	pthread_mutex_lock(&s->lock);
	s->answered = s->timed_out = false;
	s->fd = fd;
	s->group_fd = g->fd;
	s->group = g;
	s->perm = g->perm;
	s->pid = pid;
	s->start_mono_us = start_us;
	s->j = *j;
	atomic_store(&s->cancel, false);
	atomic_store(&s->busy, true);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&ev->d->stats.pending, 1);
	atomic_fetch_add(&g->inflight, 1);

	pthread_mutex_lock(&ev->q_lock);
	ev->queue[(ev->q_head + ev->q_len) % (int)ev->n_slots] = idx;
	ev->q_len++;
	pthread_cond_signal(&ev->q_cond);
	pthread_mutex_unlock(&ev->q_lock);
}

static void handle(struct gk_events *ev, struct fan_group *g,
		   const struct fanotify_event_metadata *m)
{
	struct gk_daemon *d = ev->d;
	int64_t start_us = gk_mono_us();
	struct judgement j;
	atomic_fetch_add(&d->stats.events, 1);
	if (g->perm)
		atomic_fetch_add(&d->stats.perm_events, 1);
	judge_begin(d, m->fd, &j);
	if (j.have_id)
		prescan_before_miss(d->prescan, &j.id);
	if (judge_from_memory(d, &j)) {
		finish(ev, NULL, m->fd, g->fd, g->perm, m->pid, start_us, &j);
		close(m->fd);
		return;
	}
	enqueue(ev, g, &j, m->fd, m->pid, start_us);
}

void events_read(struct gk_events *ev, struct fan_group *g)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	for (;;) {
		ssize_t len = read(g->fd, buf, sizeof(buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0) {
			if (len < 0 && errno != EAGAIN)
				log_msg(GK_LOG_ERR, "error=\"fanotify read failed\" errno=%d", errno);
			return;
		}
		const struct fanotify_event_metadata *m = (const void *)buf;
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			if (m->vers != FANOTIFY_METADATA_VERSION) {
				log_msg(GK_LOG_ERR, "error=\"fanotify metadata version mismatch\"");
				return;
			}
			if (m->mask & FAN_Q_OVERFLOW)
				atomic_fetch_add(&ev->d->stats.queue_overflows, 1);
			if (m->fd >= 0)
				handle(ev, g, m);
		}
	}
}

void events_stop(struct gk_events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->q_lock);
	ev->q_stopping = true;
	pthread_cond_broadcast(&ev->q_cond);
	pthread_mutex_unlock(&ev->q_lock);
	for (unsigned i = 0; i < ev->n_workers; i++)
		pthread_join(ev->workers[i], NULL);
	atomic_store(&ev->watchdog_stopping, true);
	if (ev->watchdog_started)
		pthread_join(ev->watchdog, NULL);
	for (unsigned i = 0; ev->slots && i < ev->n_slots; i++)
		pthread_mutex_destroy(&ev->slots[i].lock);
	pthread_mutex_destroy(&ev->q_lock);
	pthread_cond_destroy(&ev->q_cond);
	free(ev->slots);
	free(ev->free_list);
	free(ev->queue);
	free(ev->workers);
	free(ev);
}
