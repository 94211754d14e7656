/* The overload verdict: given at once, for an exec beyond what the route
 * may hold (events.c, events_fair.c), and put on record like any other
 * decision. */
#include <stdio.h>
#include <unistd.h>

#include "gatekeeper/events_impl.h"

/* Who asked, as the details name them. */
static void asker(struct overload_why why, char *out, size_t size)
{
	if (why.owner == JOBQ_UNKNOWN)
		snprintf(out, size, "callers whose uid cannot be read");
	else if (why.owner != why.caller)
		snprintf(out, size, "uid %u (user %u's)", (unsigned)why.caller, (unsigned)why.owner);
	else
		snprintf(out, size, "uid %u", (unsigned)why.caller);
}

/* Into the reserve, holding more than those it is kept for may. */
static void reserve_detail(struct gk_events *ev, struct overload_why why, char *out, size_t size)
{
	const struct jobq_caps *c = why.remote ? &ev->remote.caps : &ev->local.caps;
	char who[64];
	asker(why, who, sizeof(who));
	snprintf(out, size, "overload: %u decisions asked by %s already queued or running; the last "
		 "%u slots (an eighth of %s) are kept for users with fewer than %u", why.held, who,
		 c->reserve, why.remote ? "the remote quarter of max_pending" : "max_pending",
		 c->reserve_share);
}

/* Beyond its user's share: the share it met, as jobq_push bounds it. */
static void share_detail(struct gk_events *ev, struct overload_why why, char *out, size_t size)
{
	unsigned cap = jobq_hold_cap(why.remote ? &ev->remote : &ev->local, why.owner);
	const char *of = why.remote ? "the remote quarter of max_pending" : "max_pending";
	if (why.owner == JOBQ_UNKNOWN) {
		snprintf(out, size, "overload: %u decisions of callers whose uid cannot be read already "
			 "queued or running (their share: a sixteenth of %s)", cap, of);
		return;
	}
	char who[64];
	asker(why, who, sizeof(who));
	snprintf(out, size, "overload: %u decisions asked by %s already queued or running "
		 "(a user's share: half of %s)", cap, who, of);
}

/* An exec answered with the overload verdict is a decision like any other:
 * its record (audit row, log line, journal entry) names why. After the
 * reply; the file was not read, so the record has no digest. */
static void record_overload(struct gk_events *ev, int fd, pid_t pid, enum gk_verdict v,
			    bool monitor, struct overload_why why, const char *other)
{
	char path[4096], exe[4096], detail[256];
	gk_fd_path(fd, path, sizeof(path));
	gk_pid_exe(pid, exe, sizeof(exe));
	if (other)
		snprintf(detail, sizeof(detail), "%s", other);
	else if (why.bound == OVERLOAD_GONE)
		snprintf(detail, sizeof(detail), "the process that asked is gone: answered unjudged");
	else if (why.bound == OVERLOAD_REMOTE)
		snprintf(detail, sizeof(detail), "overload: %u remote decisions already in flight "
			 "(a quarter of max_pending)", ev->remote_max);
	else if (why.bound == OVERLOAD_OWNER)
		share_detail(ev, why, detail, sizeof(detail));
	else if (why.bound == OVERLOAD_RESERVE)
		reserve_detail(ev, why, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "overload: %u decisions already queued (max_pending)",
			 ev->max_pending);
	bool would_deny = monitor && v == GK_VERDICT_DENY;
	struct db_audit a = { .time_us = gk_now_us(), .pid = pid, .exe = exe, .path = path,
			      .verdict = would_deny ? GK_VERDICT_ALLOW : v,
			      .source = GK_SOURCE_ON_ERROR, .detail = detail,
			      .mode = monitor ? GK_MODE_MONITOR : GK_MODE_ENFORCE,
			      .would_deny = would_deny };
	audit_submit(ev->d, &a, AUDIT_EXEC);
}

/* The overload verdict, at once rather than let the exec wait: for an
 * event with no slot (idx -1), or one no worker can take. Monitor mode
 * (an enforce group drained after a switch) never denies. */
void events_overload(struct gk_events *ev, struct fan_group *g, int fd, int idx, pid_t pid,
		     struct overload_why why)
{
	struct gk_daemon *d = ev->d;
	pthread_rwlock_rdlock(&d->policy_lock);
	enum gk_verdict v = d->policy->overload;
	bool monitor = d->policy->mode == GK_MODE_MONITOR;
	pthread_rwlock_unlock(&d->policy_lock);
	enum gk_verdict answer = monitor ? GK_VERDICT_ALLOW : v;
	bool answered = false;
	const char *other = NULL;
	if (idx < 0) {
		if ((answered = g->perm))
			fan_reply(g->fd, fd, answer);
	} else if (g->perm) {
		struct gk_slot *ss = &ev->sh->slots[idx];
		if ((answered = events_claim_answer(ss))) {
			fan_reply(g->fd, fd, answer);
			atomic_store(&ss->verdict, answer);
			atomic_store(&ss->answered_by, SLOT_BY_DAEMON);
			atomic_store(&ss->state, SLOT_ANSWERED);
		} else {
			other = events_other_answer(ss, &v);   /* the deadline's, first */
		}
	}
	if (!other && why.bound != OVERLOAD_GONE)   /* else not an overload */
		atomic_fetch_add(&d->stats.overloads, 1);
	if (answered || other)
		record_overload(ev, fd, pid, v, monitor && !other, why, other);
	if (idx < 0)
		close(fd);
	else
		events_slot_release(ev, idx);
}
