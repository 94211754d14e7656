/* The miss path. The main thread reads fanotify events into in-flight
 * slots; workers judge them and answer; a watchdog answers any permission
 * event still open at its deadline with the policy's on_error verdict, so no
 * exec ever waits on the daemon for longer than decision_timeout_ms.
 * The kernel is always answered before anything is logged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"

#define MAX_INFLIGHT 4096
#define WATCHDOG_TICK_MS 10

struct inflight {
	pthread_mutex_t lock;       /* guards answered, timed_out and the reply */
	bool answered, timed_out;
	enum gk_verdict timeout_verdict;
	int fd, group_fd;
	struct fan_group *group;    /* its in-flight count keeps the group open */
	bool perm;
	uint64_t mask;
	pid_t pid;
	int64_t start_mono_us;
	atomic_bool cancel;         /* the watchdog answered: stop hashing */
	atomic_bool busy;           /* slot holds an event (watchdog reads it) */
};

static struct inflight slots[MAX_INFLIGHT];
static int free_list[MAX_INFLIGHT], n_free;
static int queue[MAX_INFLIGHT], q_head, q_len;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static pthread_t *workers, watchdog;
static unsigned n_workers;
static bool q_stopping;
static atomic_bool watchdog_stopping;   /* after the workers: queued events keep their deadline */
static struct gk_daemon *daemon_ctx;

static void slot_release(int idx)
{
	struct inflight *s = &slots[idx];
	atomic_store(&s->busy, false);
	close(s->fd);
	s->fd = -1;
	atomic_fetch_sub(&s->group->inflight, 1);
	pthread_mutex_lock(&q_lock);
	free_list[n_free++] = idx;
	pthread_mutex_unlock(&q_lock);
	atomic_fetch_sub(&daemon_ctx->stats.pending, 1);
}

static void read_exe(pid_t pid, char *out, size_t size)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(link, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

static void process(struct gk_daemon *d, int idx)
{
	struct inflight *s = &slots[idx];
	struct judgement j;
	char exe[4096];
	read_exe(s->pid, exe, sizeof(exe));
	prescan_sync();
	judge_fd(d, s->fd, NULL, &j, &s->cancel);

	enum gk_verdict answer = j.decision.verdict;
	bool monitor = !s->perm, would_deny = monitor && answer == GK_VERDICT_DENY;
	if (monitor)
		answer = GK_VERDICT_ALLOW;

	pthread_mutex_lock(&s->lock);
	if (s->timed_out) {
		answer = s->timeout_verdict;
		j.decision.verdict = answer;
		j.decision.source = GK_SOURCE_ON_ERROR;
		snprintf(j.decision.detail, sizeof(j.decision.detail), "decision timeout");
	} else if (!would_deny) {
		judge_cache_in_kernel(d, s->fd, &j);
	}
	if (j.have_id)
		prescan_note_miss(&j.id);
	if (s->perm && !s->answered)
		fan_reply(s->group_fd, s->fd, answer);
	s->answered = true;
	pthread_mutex_unlock(&s->lock);

	uint64_t latency = (uint64_t)(gk_mono_us() - s->start_mono_us);
	stats_record_latency(&d->stats, latency);
	atomic_fetch_add(answer == GK_VERDICT_DENY ? &d->stats.denies : &d->stats.allows, 1);
	if (would_deny)
		atomic_fetch_add(&d->stats.would_deny, 1);

	struct db_audit a = {
		.time_us = gk_now_us(), .pid = s->pid, .exe = exe, .path = j.path,
		.sha256 = j.have_sha ? j.sha256 : NULL, .verdict = answer,
		.source = j.decision.source, .detail = j.decision.detail,
		.latency_us = latency > UINT32_MAX ? UINT32_MAX : (uint32_t)latency,
		.mode = monitor ? GK_MODE_MONITOR : GK_MODE_ENFORCE, .would_deny = would_deny,
	};
	audit_submit(d, &a, AUDIT_EXEC);
	slot_release(idx);
}

static void *worker_main(void *arg)
{
	struct gk_daemon *d = arg;
	for (;;) {
		pthread_mutex_lock(&q_lock);
		while (!q_len && !q_stopping)
			pthread_cond_wait(&q_cond, &q_lock);
		if (!q_len) {
			pthread_mutex_unlock(&q_lock);
			return NULL;
		}
		int idx = queue[q_head];
		q_head = (q_head + 1) % MAX_INFLIGHT;
		q_len--;
		pthread_mutex_unlock(&q_lock);
		process(d, idx);
	}
}

static void *watchdog_main(void *arg)
{
	struct gk_daemon *d = arg;
	const struct timespec tick = { 0, WATCHDOG_TICK_MS * 1000000L };
	for (;;) {
		if (atomic_load(&watchdog_stopping))
			return NULL;
		nanosleep(&tick, NULL);
		pthread_rwlock_rdlock(&d->policy_lock);
		int64_t limit = (int64_t)d->policy->decision_timeout_ms * 1000;
		enum gk_verdict fallback = d->policy->on_error;
		pthread_rwlock_unlock(&d->policy_lock);
		int64_t now = gk_mono_us();
		for (int i = 0; i < MAX_INFLIGHT; i++) {
			struct inflight *s = &slots[i];
			if (!atomic_load(&s->busy) || !s->perm)
				continue;
			pthread_mutex_lock(&s->lock);
			if (atomic_load(&s->busy) && !s->answered && now - s->start_mono_us > limit) {
				fan_reply(s->group_fd, s->fd, fallback);
				s->answered = s->timed_out = true;
				s->timeout_verdict = fallback;
				atomic_store(&s->cancel, true);
				atomic_fetch_add(&d->stats.timeouts, 1);
			}
			pthread_mutex_unlock(&s->lock);
		}
	}
}

int events_start(struct gk_daemon *d)
{
	daemon_ctx = d;
	for (int i = 0; i < MAX_INFLIGHT; i++) {
		pthread_mutex_init(&slots[i].lock, NULL);
		slots[i].fd = -1;
		free_list[i] = MAX_INFLIGHT - 1 - i;
	}
	n_free = MAX_INFLIGHT;
	n_workers = d->opt.workers;
	workers = calloc(n_workers, sizeof(*workers));
	if (!workers)
		return -1;
	for (unsigned i = 0; i < n_workers; i++)
		if (pthread_create(&workers[i], NULL, worker_main, d) != 0)
			return -1;
	return pthread_create(&watchdog, NULL, watchdog_main, d) != 0 ? -1 : 0;
}

/* No slot free: answer at once rather than let the exec wait. */
static void overload(struct gk_daemon *d, struct fan_group *g, int fd)
{
	atomic_fetch_add(&d->stats.overloads, 1);
	if (g->perm) {
		pthread_rwlock_rdlock(&d->policy_lock);
		enum gk_verdict v = d->policy->overload;
		pthread_rwlock_unlock(&d->policy_lock);
		fan_reply(g->fd, fd, v);
	}
	close(fd);
}

static void dispatch(struct gk_daemon *d, struct fan_group *g,
		     const struct fanotify_event_metadata *m)
{
	atomic_fetch_add(&d->stats.events, 1);
	if (g->perm)
		atomic_fetch_add(&d->stats.perm_events, 1);
	pthread_mutex_lock(&q_lock);
	int idx = n_free ? free_list[--n_free] : -1;
	pthread_mutex_unlock(&q_lock);
	if (idx < 0) {
		overload(d, g, m->fd);
		return;
	}
	struct inflight *s = &slots[idx];
	pthread_mutex_lock(&s->lock);
	s->answered = s->timed_out = false;
	s->fd = m->fd;
	s->group_fd = g->fd;
	s->group = g;
	s->perm = g->perm;
	s->mask = g->mask;
	s->pid = m->pid;
	s->start_mono_us = gk_mono_us();
	atomic_store(&s->cancel, false);
	atomic_store(&s->busy, true);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&d->stats.pending, 1);
	atomic_fetch_add(&g->inflight, 1);

	pthread_mutex_lock(&q_lock);
	queue[(q_head + q_len) % MAX_INFLIGHT] = idx;
	q_len++;
	pthread_cond_signal(&q_cond);
	pthread_mutex_unlock(&q_lock);
}

void events_read(struct gk_daemon *d, struct fan_group *g)
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
				atomic_fetch_add(&d->stats.queue_overflows, 1);
			if (m->fd >= 0 && g->perm && !(m->mask & FAN_OPEN_EXEC_PERM)) {
				prescan_exec_seen(g->fd, m->fd);   /* a counted first exec */
				close(m->fd);
			} else if (m->fd >= 0) {
				dispatch(d, g, m);
			}
		}
	}
}

void events_stop(struct gk_daemon *d)
{
	(void)d;
	pthread_mutex_lock(&q_lock);
	q_stopping = true;
	pthread_cond_broadcast(&q_cond);
	pthread_mutex_unlock(&q_lock);
	for (unsigned i = 0; i < n_workers; i++)
		pthread_join(workers[i], NULL);
	atomic_store(&watchdog_stopping, true);
	pthread_join(watchdog, NULL);
	free(workers);
	workers = NULL;
}
