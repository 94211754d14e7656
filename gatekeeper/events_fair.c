/* The workers' queue, fair between the users whose execs it holds.
 *
 * A worker may spend up to decision_timeout_ms on one exec: a huge file
 * (a sparse one costs its owner nothing) is hashed until its deadline. In
 * one first-come queue a single user who execs a few of those at once,
 * again and again, would keep every worker busy and every queued slot
 * taken, and every other miss on the host would get the on_error or the
 * overload verdict. So jobs are queued per user who asks (the caller's
 * real uid: events_to_worker) and served by turns; one user's jobs run on
 * at most caps.run workers at once (one fewer than there are: a worker is
 * kept for everyone else) and hold at most caps.hold slots (a job until its
 * worker answers it). "Owner" below: the user a job is queued for.
 *
 * Users who act together are several owners, each with a full share. Two
 * things keep them from taking everything even so: heavy jobs (huge files,
 * the ones that hold a worker for long) run on at most caps.heavy workers,
 * one fewer than there are, whoever asks, in turns of their own; and when
 * only the last slots are left (only_reserve_left), they are kept for
 * owners who hold fewer than caps.reserve_share.
 *
 * Every jobq_ function but init and free runs under the events' q_lock. */
#include <errno.h>
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
	if (!q->caps.reserve_share)
		q->caps.reserve_share = 1;
	q->n_chains = 1;
	while (q->n_chains < n_slots)
		q->n_chains <<= 1;
	q->job_next = calloc(n_slots, sizeof(int));
	q->job_owner = calloc(n_slots, sizeof(int));
	q->job_cost = calloc(n_slots, 1);
	q->job_answered = calloc(n_slots, 1);
	q->job_seq = calloc(n_slots, sizeof(uint64_t));
	q->owners = calloc(n_slots, sizeof(*q->owners));
	q->chains = malloc(q->n_chains * sizeof(int));
	if (!q->job_next || !q->job_owner || !q->job_cost || !q->job_answered || !q->job_seq ||
	    !q->owners || !q->chains)
		return -1;
	for (unsigned i = 0; i < q->n_chains; i++)
		q->chains[i] = -1;
	/* Never more owners than jobs: one entry per slot, taken as needed (the
	 * pages of those never taken stay unmapped). */
	q->owners_max = n_slots;
	q->owners_made = 0;
	q->free_owner = -1;
	for (int c = 0; c < 2; c++)
		q->turn_head[c] = q->turn_tail[c] = -1;
	q->len = q->held = q->heavy_running = 0;
	q->next_seq = 0;
	return 0;
}

void jobq_free(struct job_queue *q)
{
	free(q->job_next);
	free(q->job_owner);
	free(q->job_cost);
	free(q->job_answered);
	free(q->job_seq);
	free(q->owners);
	free(q->chains);
	q->job_next = q->job_owner = q->chains = NULL;
	q->job_cost = q->job_answered = NULL;
	q->job_seq = NULL;
	q->owners = NULL;
}

static unsigned chain_of(const struct job_queue *q, uid_t uid)
{
	return (unsigned)(((uint64_t)uid * 0x9E3779B97F4A7C15ull) >> 32) & (q->n_chains - 1);
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
				 .turn_next = { -1, -1 }, .turn_prev = { -1, -1 },
				 .next_in_chain = q->chains[c] };
	q->chains[c] = o;
	return o;
}

/* An owner with no job queued or running leaves the table (and so is in
 * no turns). */
static void owner_drop_if_idle(struct job_queue *q, int o)
{
	struct job_owner *w = &q->owners[o];
	if (w->queued[JOB_LIGHT].n || w->queued[JOB_HEAVY].n || w->running)
		return;
	int *link = &q->chains[chain_of(q, w->uid)];
	while (*link != o)
		link = &q->owners[*link].next_in_chain;
	*link = w->next_in_chain;
	w->next_in_chain = q->free_owner;
	q->free_owner = o;
}

static void turn_join(struct job_queue *q, int o, int c)
{
	struct job_owner *w = &q->owners[o];
	w->in_turn[c] = true;
	w->turn_next[c] = -1;
	w->turn_prev[c] = q->turn_tail[c];
	if (q->turn_tail[c] >= 0)
		q->owners[q->turn_tail[c]].turn_next[c] = o;
	else
		q->turn_head[c] = o;
	q->turn_tail[c] = o;
}

static void turn_leave(struct job_queue *q, int o, int c)
{
	struct job_owner *w = &q->owners[o];
	int prev = w->turn_prev[c], next = w->turn_next[c];
	if (prev >= 0)
		q->owners[prev].turn_next[c] = next;
	else
		q->turn_head[c] = next;
	if (next >= 0)
		q->owners[next].turn_prev[c] = prev;
	else
		q->turn_tail[c] = prev;
	w->in_turn[c] = false;
}

/* An owner waits in the turns of a cost while it has a job of that cost
 * queued and room to run one more; one that joins goes to the back. */
static void owner_turns(struct job_queue *q, int o)
{
	struct job_owner *w = &q->owners[o];
	bool room = w->running < run_cap_of(q, w);
	for (int c = 0; c < 2; c++) {
		bool wants = room && w->queued[c].n;
		if (wants && !w->in_turn[c])
			turn_join(q, o, c);
		else if (!wants && w->in_turn[c])
			turn_leave(q, o, c);
	}
}

static bool takeable(const struct job_queue *q)
{
	return q->turn_head[JOB_LIGHT] >= 0 ||
	       (q->turn_head[JOB_HEAVY] >= 0 && q->heavy_running < q->caps.heavy);
}

enum jobq_push_result jobq_push(struct job_queue *q, int idx, uid_t owner, enum job_cost cost,
				bool only_reserve_left, unsigned *held)
{
	int o = owner_entry(q, owner);
	if (o < 0)
		return JOBQ_OVER_SHARE;
	struct job_owner *w = &q->owners[o];
	unsigned owner_held = w->queued[JOB_LIGHT].n + w->queued[JOB_HEAVY].n + w->running -
			      w->answered;
	if (held)
		*held = owner_held;
	enum jobq_push_result r = JOBQ_QUEUED;
	if (owner_held >= jobq_hold_cap(q, owner))
		r = JOBQ_OVER_SHARE;
	else if (only_reserve_left && owner_held >= q->caps.reserve_share)
		r = JOBQ_OVER_RESERVE;
	if (r != JOBQ_QUEUED) {
		owner_drop_if_idle(q, o);
		return r;
	}
	struct job_list *l = &w->queued[cost];
	q->job_owner[idx] = o;
	q->job_cost[idx] = (unsigned char)cost;
	q->job_answered[idx] = 0;
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
	owner_turns(q, o);
	/* Even to an owner already in turn: a worker that found nothing to
	 * take (heavy ones all held back) may sleep. */
	if (takeable(q))
		pthread_cond_signal(&q->cond);
	return JOBQ_QUEUED;
}

int jobq_take(struct job_queue *q)
{
	/* The first owner in each cost's turns; of the two, the one whose job
	 * came first. Heavy jobs keep their own turns, so an owner whose light
	 * jobs go on does not lose its place for the next heavy worker. */
	int light = q->turn_head[JOB_LIGHT];
	int heavy = q->heavy_running < q->caps.heavy ? q->turn_head[JOB_HEAVY] : -1;
	if (light < 0 && heavy < 0)
		return -1;
	int c = JOB_LIGHT;
	if (light < 0 || (heavy >= 0 && q->job_seq[q->owners[heavy].queued[JOB_HEAVY].first] <
					q->job_seq[q->owners[light].queued[JOB_LIGHT].first]))
		c = JOB_HEAVY;
	int o = c == JOB_HEAVY ? heavy : light;
	struct job_owner *w = &q->owners[o];
	turn_leave(q, o, c);
	struct job_list *l = &w->queued[c];
	int idx = l->first;
	l->first = q->job_next[idx];
	if (l->first < 0)
		l->last = -1;
	l->n--;
	w->running++;
	q->len--;
	if (c == JOB_HEAVY)
		q->heavy_running++;
	owner_turns(q, o);   /* to the back of the turns */
	if (takeable(q))
		pthread_cond_signal(&q->cond);
	return idx;
}

void jobq_answered(struct job_queue *q, int idx)
{
	if (q->job_answered[idx])
		return;
	q->job_answered[idx] = 1;
	q->owners[q->job_owner[idx]].answered++;
	q->held--;
}

void jobq_done(struct job_queue *q, int idx)
{
	int o = q->job_owner[idx];
	q->owners[o].running--;
	if (q->job_answered[idx]) {
		q->job_answered[idx] = 0;
		q->owners[o].answered--;
	} else {
		q->held--;
	}
	if (q->job_cost[idx] == JOB_HEAVY)
		q->heavy_running--;
	owner_turns(q, o);
	if (takeable(q))
		pthread_cond_signal(&q->cond);
	owner_drop_if_idle(q, o);
}

/* Under q_lock: only the last slots are left, kept for users who hold
 * few: of those all events share (remote ones, and those being read,
 * hold some too), or of the queue's own bound. */
static bool only_reserve_left(struct gk_events *ev, const struct job_queue *q)
{
	unsigned reserve = q->caps.reserve;
	unsigned bound = q->remote ? ev->remote_max : ev->max_pending;
	return reserve && ((unsigned)ev->n_free < reserve || q->held + reserve >= bound);
}

/* Queue the event for a worker, or answer it as an overload. A remote
 * event's bound was its slot (admit). */
void events_to_worker(struct gk_events *ev, int idx)
{
	struct inflight *s = &ev->slots[idx];
	bool remote = s->group->remote;
	/* Whose turn it waits for: the user who asks. Their real uid, which
	 * they cannot choose, unlike the owner a file server reports or a file
	 * of someone else's they may write; from /proc, which no server holds. */
	uid_t caller;
	struct overload_why why = { .bound = OVERLOAD_QUEUE, .caller = JOBQ_UNKNOWN,
				    .owner = JOBQ_UNKNOWN, .remote = remote };
	struct stat st;
	if (gk_pid_uid(s->pid, &caller) == 0)
		why.caller = caller;
	else if (errno == ENOENT && s->perm)   /* killed and reaped: nothing waits on it */
		why.bound = OVERLOAD_GONE;
	else if (!s->perm && !remote && fstat(s->fd, &st) == 0)
		/* A notification's record is all it is for, and its caller (a
		 * short program) may be gone by now: its file's owner stands in. */
		why.caller = st.st_uid;
	enum job_cost cost = !remote && (!s->j.have_id || s->j.id.size >= JOB_HEAVY_BYTES) ?
		JOB_HEAVY : JOB_LIGHT;
	pthread_mutex_lock(&ev->q_lock);
	why.owner = subids_owner(ev->subids, why.caller);
	bool queued = why.bound != OVERLOAD_GONE && (remote || ev->to_workers < ev->max_pending);
	if (queued) {
		struct job_queue *q = remote ? &ev->remote : &ev->local;
		enum jobq_push_result r = jobq_push(q, idx, why.owner, cost,
						    only_reserve_left(ev, q), &why.held);
		if (r != JOBQ_QUEUED) {
			why.bound = r == JOBQ_OVER_SHARE ? OVERLOAD_OWNER : OVERLOAD_RESERVE;
			queued = false;
		}
	}
	if (queued && !remote)
		ev->to_workers++;
	pthread_mutex_unlock(&ev->q_lock);
	if (!queued)
		events_overload(ev, s->group, s->fd, idx, s->pid, why);
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
