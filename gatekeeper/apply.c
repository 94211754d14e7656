/* Applying a policy to the running daemon: validate what the parser cannot
 * (paths exist, the admin group exists), build a new fanotify group when the
 * mode or watch list changes, then swap everything at once. A failure at
 * any step changes nothing. The control socket's access follows the new
 * admin group. */
#include <errno.h>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/control.h"
#include "gatekeeper/fileless.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/mounts.h"
#include "gatekeeper/prejudge.h"
#include "gatekeeper/systemd.h"
#include "gatekeeper/trust.h"

static void log_notes(const struct gk_policy_errors *notes)
{
	for (size_t i = 0; i < notes->count && i < GK_POLICY_MAX_ERRORS; i++)
		log_msg(GK_LOG_WARN, "policy_path note=\"%s\"", notes->msg[i]);
}

int apply_resolve_links(struct gk_policy *p, struct gk_policy_errors *notes, char *err,
			size_t errlen)
{
	struct gk_policy_errors now;
	if (policy_resolve_links(p, notes ? notes : &now) < 0) {
		snprintf(err, errlen, "%s: out of memory while resolving its paths", p->name);
		return -1;
	}
	if (!notes)
		log_notes(&now);
	return 0;
}

int apply_resolve_group(const struct gk_policy *p, gid_t *gid, char *err, size_t errlen)
{
	*gid = (gid_t)-1;
	if (!p->admin_group)
		return 0;
	struct group gr, *res = NULL;
	int rc = ERANGE;
	/* A large group's member list needs more room than a first guess. */
	for (size_t size = 4096; rc == ERANGE && size <= (1u << 24); size *= 4) {
		char *buf = malloc(size);
		if (!buf) {
			rc = ENOMEM;
			break;
		}
		rc = getgrnam_r(p->admin_group, &gr, buf, size, &res);
		if (rc == 0 && res)
			*gid = res->gr_gid;
		free(buf);
	}
	if (rc == 0 && res)
		return 0;
	if (rc == 0)
		snprintf(err, errlen, "%s: admin_group '%s': no such group", p->name, p->admin_group);
	else
		snprintf(err, errlen, "%s: admin_group '%s': cannot look it up: %s", p->name,
			 p->admin_group, strerror(rc));
	return -1;
}

static bool same_watch(const struct gk_policy *a, const struct gk_policy *b)
{
	if (a->mode != b->mode || a->n_watch != b->n_watch)
		return false;
	for (size_t i = 0; i < a->n_watch; i++)
		if (strcmp(a->watch[i], b->watch[i]))
			return false;
	return true;
}

/* The sentinel stands in with the new deadline and verdict at once, not at
 * the watchdog's next tick (up to a second away when idle). */
static void tell_sentinel(struct gk_daemon *d, const struct gk_policy *p)
{
	if (!d->shared)
		return;
	atomic_store(&d->shared->timeout_us, (int64_t)p->decision_timeout_ms * 1000);
	atomic_store(&d->shared->on_error, p->on_error);
}

/* Everything that can refuse p, before anything is started for it: -1, or
 * -2 (busy). The hash lists are read even when their engine is kept (the
 * same files): a list that no longer loads refuses the policy. */
static int apply_checks(struct gk_daemon *d, struct gk_policy *p, gid_t *gid,
			struct gk_policy_errors *notes, char *err, size_t errlen)
{
	if (apply_resolve_links(p, notes, err, errlen) < 0 || policy_check_watch(p, err, errlen) < 0 ||
	    apply_resolve_group(p, gid, err, errlen) < 0 ||
	    !trust_policy_compatible(d, p, err, errlen) || scan_check_hashlists(p, err, errlen) < 0)
		return -1;
	pthread_rwlock_rdlock(&d->policy_lock);
	/* A server may keep a retired remote group from draining for good:
	 * a few may wait beside one another, so that a change (to monitor
	 * mode, say) is not refused for as long as it stalls. */
	bool draining = d->retired || remote_retired_count(d) >= REMOTE_RETIRED_MAX;
	pthread_rwlock_unlock(&d->policy_lock);
	if (draining && !same_watch(d->policy, p)) {
		snprintf(err, errlen, "the previous policy change is still draining; try again");
		return -2;
	}
	return 0;
}

/* A new watch list's groups: both permission groups and the pre-scan's. */
struct fresh_groups {
	struct fan_group *local, *remote;
	int prescan;
};

static int open_fresh(struct gk_daemon *d, const struct gk_policy *p, struct fresh_groups *f,
		      char *err, size_t errlen)
{
	if (fan_groups_open(p, &f->local, &f->remote, err, errlen) < 0)
		return -1;
	if (f->local->perm) {
		f->local->sentinel_id = sentinel_add_group(d->sentinel, f->local->fd, false);
		f->remote->sentinel_id = sentinel_add_group(d->sentinel, f->remote->fd, true);
	}
	if ((f->prescan = prescan_group_open(p, err, errlen)) >= 0)
		return 0;
	sentinel_drop_group(d->sentinel, f->local->sentinel_id);
	sentinel_drop_group(d->sentinel, f->remote->sentinel_id);
	fan_group_close(f->local);
	fan_group_close(f->remote);
	f->local = f->remote = NULL;
	return -1;
}

/* The old group takes no new events (the new one has its marks); what it
 * already queued is answered before it is closed. Nor does it keep inode
 * marks that an exec waiting on the new group could pin, making the old
 * one's teardown wait for that answer. */
static void retire_marks(struct fan_group *g)
{
	fanotify_mark(g->fd, FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM, 0, AT_FDCWD, NULL);
	fanotify_mark(g->fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL);
}

/* Under apply_lock: d->policy and d->scanners change only here, so they
 * are read without policy_lock; they are written under it for the readers. */
static int apply_locked(struct gk_daemon *d, struct gk_policy *p, char *err, size_t errlen)
{
	gid_t gid;
	struct gk_policy_errors notes;
	int rc = apply_checks(d, p, &gid, &notes, err, errlen);
	if (rc < 0)
		return rc;
	struct fresh_groups fresh = { .prescan = -1 };
	struct scan_set *scanners = scan_set_for(d, d->scanners, p, err, errlen);
	if (!scanners)
		return -1;
	if (!same_watch(d->policy, p) && open_fresh(d, p, &fresh, err, errlen) < 0) {
		scan_set_put(scanners);
		return -1;
	}
	/* No other apply can have retired a group since apply_checks:
	 * applies run one at a time (apply_lock), and the reader only clears
	 * d->retired. */
	/* Out of enforce: the kernel's guard goes before the mode does, so no
	 * exec is refused under the new mode (the way in waits for fileless_apply). */
	if (p->mode != GK_MODE_ENFORCE)
		kcache_set_write_guard(d->kc, false);
	pthread_rwlock_wrlock(&d->policy_lock);
	struct gk_policy *old = d->policy;
	gid_t old_gid = d->admin_gid;
	d->policy = p;
	d->policy_applied_us = gk_now_us();
	tell_sentinel(d, p);
	d->admin_gid = gid;
	struct scan_set *old_scanners = d->scanners;
	d->scanners = scanners;
	if (fresh.local) {
		/* No mark lands on the old group from here: a tracker marking now
		 * stops, and a record goes to the new group. */
		mounts_groups_retiring(d->mounts, fresh.prescan);
		kcache_set_group(d->kc, fresh.local->fd, fresh.local->mask);
		retire_marks(d->group);
		retire_marks(d->remote);
		d->retired = d->group;
		d->group = fresh.local;
		d->remote->older = d->remote_retired;
		d->remote_retired = d->remote;
		d->remote = fresh.remote;
	}
	pthread_rwlock_unlock(&d->policy_lock);
	if (fresh.prescan >= 0) {
		prescan_swap_group(d->prescan, fresh.prescan);
		mounts_groups_changed(d->mounts);
	}
	if (d->control) {   /* the new group's members in, the old group's out */
		control_set_access(d->opt.socket_path, gid, old_gid);
		if (gid != old_gid)
			control_recheck_access(d->control);
	}
	fileless_apply(d);
	mounts_unmarked_apply(d);
	apply_cache_switches(d, p);
	/* Verdicts derived from the old rules are re-derived lazily on the next miss. */
	prejudge_flush(d);
	if (fresh.local) {   /* off the old groups' read, onto both */
		reader_kick(d->reader);
		remote_reader_kick(d->remote_reader);
	}
	log_notes(&notes);
	log_msg(GK_LOG_INFO, "policy_applied policy=\"%s\" sha256=%s mode=%s", p->name, policy_sha256_hex(p),
		gk_mode_name(p->mode));
	svc_status(d);   /* systemctl status names the mode now in force */
	events_subids_refresh(d->events, d->opt.subuid_path, true);
	policy_free(old);
	scan_set_put(old_scanners);
	return 0;
}

void apply_cache_switches(struct gk_daemon *d, const struct gk_policy *p)
{
	kcache_set_fanotify_cache(d->kc, p->fanotify_cache == GK_FANOTIFY_CACHE_LEASES);
	hash_cache_trust_overlay_root(d->hashes, p->overlayfs_cache == GK_OVERLAYFS_CACHE_ROOT_OWNED);
}

int apply_policy(struct gk_daemon *d, struct gk_policy *p, char *err, size_t errlen)
{
	pthread_mutex_lock(&d->apply_lock);
	int rc = apply_locked(d, p, err, errlen);
	pthread_mutex_unlock(&d->apply_lock);
	return rc;
}
