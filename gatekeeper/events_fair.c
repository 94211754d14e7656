/* The workers' queue, fair between the users whose execs it holds.
 *
 * A worker may spend up to decision_timeout_ms on one exec: a huge file
 * (a sparse one costs its owner nothing) is hashed until its deadline. In
 * one first-come queue a single user who execs a few of those at once,
 * again and again, would keep every worker busy and every queued slot
 * taken, and every other miss on the host would get the on_error or the
 * overload verdict. So jobs are queued per user who asks (the caller's
 * real uid: events.c) and served by turns; one user's jobs run on at most
 * run_cap workers at once (one fewer than there are: a worker is kept for
 * everyone else) and hold at most hold_cap slots. "Owner" below: the user
 * a job is queued for.
 *
 * Users who act together are several owners, each with a full share. Two
 * things keep them from taking everything even so: heavy jobs (huge files,
 * the ones that hold a worker for long) run on at most caps.heavy workers,
 * one fewer than there are, whoever asks; and the last slots of the queue
 * are kept for owners who hold only a few.
 *
 * Every jobq_ function but init and free runs under the events' q_lock. */
#include <stdlib.h>
#include <sys/stat.h>

#include "gatekeeper/events_impl.h"
#include "gatekeeper/subids.h"

/* Callers the daemon cannot tell apart (a pid outside its pid namespace,
 * or /proc unreadable) share one small share: a user must not gain a
 * second one by hiding. */
static unsigned run_cap_of(const struct job_queue *q, const struct job_owner *w)
{
	return w->uid == JOBQ_UNKNOWN ? 1 : q->caps.run;
}

unsigned jobq_hold_cap(const struct job_queue *q, uid_t uid)
{
	return uid == JOBQ_UNKNOWN ? (q->caps.hold / 8 ? q->caps.hold / 8 : 1) : q->caps.hold;
}

int jobq_init(struct job_queue *q, unsigned n_slots, struct jobq_caps caps)
{
	q->caps = caps;
	if (!q->caps.run)
		q->caps.run = 1;
	if (!q->caps.hold)
		q->caps.hold = 1;
	if (!q->caps.heavy)
		q->caps.heavy = 1;
	q->n_chains = 1;
	while (q->n_chains < n_slots)
		q->n_chains <<= 1;
	q->job_next = calloc(n_slots, sizeof(int));
	q->job_owner = calloc(n_slots, sizeof(int));
	q->job_cost = calloc(n_slots, 1);
	q->job_seq = calloc(n_slots, sizeof(uint64_t));
	q->owners = calloc(n_slots, sizeof(*q->owners));
	q->chains = malloc(q->n_chains * sizeof(int));
	if (!q->job_next || !q->job_owner || !q->job_cost || !q->job_seq || !q->owners || !q->chains)
		return -1;
	for (unsigned i = 0; i < q->n_chains; i++)
		q->chains[i] = -1;
	/* Never more owners than jobs: one entry per slot, taken as needed (the
	 * pages of those never taken stay unmapped). */
	q->owners_max = n_slots;
	q->owners_made = 0;
	q->free_owner = -1;
	q->turn_head = q->turn_tail = -1;
	q->len = q->held = q->heavy_running = 0;
	q->next_seq = 0;
	return 0;
}

void jobq_free(struct job_queue *q)
{
	free(q->job_next);
	free(q->job_owner);
	free(q->job_cost);
	free(q->job_seq);
	free(q->owners);
	free(q->chains);
	q->job_next = q->job_owner = q->chains = NULL;
	q->job_cost = NULL;
	q->job_seq = NULL;
	q->owners = NULL;
}

static unsigned chain_of(const struct job_queue *q, uid_t uid)
{
	return (unsigned)(((uint64_t)uid * 0x9E3779B97F4A7C15ull) >> 32) & (q->n_chains - 1);
}

static unsigned queued_of(const struct job_owner *w)
{
	return w->queued[JOB_LIGHT].n + w->queued[JOB_HEAVY].n;
}

/* The owner's entry, made if new (-1 only if every entry is taken, which
 * one per slot rules out). */
static int owner_entry(struct job_queue *q, uid_t uid)
{
	unsigned c = chain_of(q, uid);
	for (int o = q->chains[c]; o >= 0; o = q->owners[o].next_in_chain)
		if (q->owners[o].uid == uid)
			return o;
	int o = q->free_owner;
	if (o < 0 && q->owners_made < q->owners_max)
		o = (int)q->owners_made++;
	else if (o >= 0)
		q->free_owner = q->owners[o].next_in_chain;
	if (o < 0)
		return -1;
	struct job_owner *w = &q->owners[o];
	*w = (struct job_owner){ .uid = uid, .queued = { { -1, -1, 0 }, { -1, -1, 0 } },
				 .next_in_turn = -1, .next_in_chain = q->chains[c] };
	q->chains[c] = o;
	return o;
}

/* An owner with no job queued or running leaves the table. */
static void owner_drop_if_idle(struct job_queue *q, int o)
{
	struct job_owner *w = &q->owners[o];
	if (queued_of(w) || w->running)
		return;
	int *link = &q->chains[chain_of(q, w->uid)];
	while (*link != o)
		link = &q->owners[*link].next_in_chain;
	*link = w->next_in_chain;
	w->next_in_chain = q->free_owner;
	q->free_owner = o;
}

/* Give the owner a turn, if it has a job to run and room to run it. True
 * when it joined the turns (a worker may have work now). */
static bool owner_take_turn(struct job_queue *q, int o)
{
	struct job_owner *w = &q->owners[o];
	if (w->in_turn || !queued_of(w) || w->running >= run_cap_of(q, w))
		return false;
	w->in_turn = true;
	w->next_in_turn = -1;
	if (q->turn_tail >= 0)
		q->owners[q->turn_tail].next_in_turn = o;
	else
		q->turn_head = o;
	q->turn_tail = o;
	return true;
}

enum jobq_push_result jobq_push(struct job_queue *q, int idx, uid_t owner, enum job_cost cost,
				unsigned *held)
{
	int o = owner_entry(q, owner);
	if (o < 0)
		return JOBQ_OVER_SHARE;
	struct job_owner *w = &q->owners[o];
	unsigned owner_held = queued_of(w) + w->running;
	if (held)
		*held = owner_held;
	enum jobq_push_result r = JOBQ_QUEUED;
	if (owner_held >= jobq_hold_cap(q, owner))
		r = JOBQ_OVER_SHARE;
	else if (q->caps.reserve && q->held + q->caps.reserve >= q->caps.bound &&
		 owner_held >= q->caps.reserve_share)
		r = JOBQ_OVER_RESERVE;
	if (r != JOBQ_QUEUED) {
		owner_drop_if_idle(q, o);
		return r;
	}
	struct job_list *l = &w->queued[cost];
	q->job_owner[idx] = o;
	q->job_cost[idx] = (unsigned char)cost;
	q->job_seq[idx] = q->next_seq++;
	q->job_next[idx] = -1;
	if (l->last >= 0)
		q->job_next[l->last] = idx;
	else
		l->first = idx;
	l->last = idx;
	l->n++;
	q->len++;
	q->held++;
	if (owner_take_turn(q, o))
		pthread_cond_signal(&q->cond);
	return JOBQ_QUEUED;
}

/* The cost of the owner's next job a worker may take now, or -1: its
 * oldest job, but a heavy one only while fewer than caps.heavy run. */
static int owner_next_cost(const struct job_queue *q, const struct job_owner *w)
{
	int light = w->queued[JOB_LIGHT].first, heavy = w->queued[JOB_HEAVY].first;
	if (heavy >= 0 && q->heavy_running >= q->caps.heavy)
		heavy = -1;
	if (light < 0)
		return heavy < 0 ? -1 : JOB_HEAVY;
	return heavy >= 0 && q->job_seq[heavy] < q->job_seq[light] ? JOB_HEAVY : JOB_LIGHT;
}

int jobq_take(struct job_queue *q)
{
	/* Owners whose next job must wait for a heavy one to end keep their
	 * place: the first of them gets the next heavy worker. */
	int prev = -1, o = q->turn_head, cost = -1;
	for (; o >= 0; prev = o, o = q->owners[o].next_in_turn)
		if ((cost = owner_next_cost(q, &q->owners[o])) >= 0)
			break;
	if (o < 0)
		return -1;
	struct job_owner *w = &q->owners[o];
	if (prev >= 0)
		q->owners[prev].next_in_turn = w->next_in_turn;
	else
		q->turn_head = w->next_in_turn;
	if (q->turn_tail == o)
		q->turn_tail = prev;
	w->in_turn = false;
	struct job_list *l = &w->queued[cost];
	int idx = l->first;
	l->first = q->job_next[idx];
	if (l->first < 0)
		l->last = -1;
	l->n--;
	w->running++;
	q->len--;
	if (cost == JOB_HEAVY)
		q->heavy_running++;
	owner_take_turn(q, o);   /* to the back of the turns */
	/* A push to an owner already in turn woke nobody: pass it on. */
	if (q->turn_head >= 0)
		pthread_cond_signal(&q->cond);
	return idx;
}

void jobq_done(struct job_queue *q, int idx)
{
	int o = q->job_owner[idx];
	q->owners[o].running--;
	q->held--;
	bool heavy_freed = q->job_cost[idx] == JOB_HEAVY;
	if (heavy_freed)
		q->heavy_running--;
	if (owner_take_turn(q, o) || (heavy_freed && q->turn_head >= 0))
		pthread_cond_signal(&q->cond);
	owner_drop_if_idle(q, o);
}

/* What tells that the file changed: useradd adds a range at once. */
static struct subids_file file_now(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return (struct subids_file){ 0 };
	return (struct subids_file){ .exists = true, .dev = st.st_dev, .ino = st.st_ino,
				     .size = st.st_size, .mtime = st.st_mtim, .ctime = st.st_ctim };
}

static bool file_same(const struct subids_file *a, const struct subids_file *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

void events_subids_refresh(struct gk_events *ev, const char *path, bool force)
{
	if (!ev || !path)
		return;
	pthread_mutex_lock(&ev->subids_lock);
	struct subids_file now = file_now(path);
	if (!force && file_same(&now, &ev->subids_seen)) {
		pthread_mutex_unlock(&ev->subids_lock);
		return;
	}
	struct subids *s = subids_read(path);
	if (s) {
		ev->subids_seen = now;
		log_msg(GK_LOG_INFO, "subids_read path=\"%s\" ranges=%zu", path, subids_count(s));
		pthread_mutex_lock(&ev->q_lock);
		struct subids *old = ev->subids;
		ev->subids = s;
		pthread_mutex_unlock(&ev->q_lock);
		subids_free(old);
	} else {
		log_msg(GK_LOG_WARN, "warning=\"%s: not read again: out of memory\"", path);
	}
	pthread_mutex_unlock(&ev->subids_lock);
}
