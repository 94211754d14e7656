/* The one decision function: identify the file behind an fd, then let the
 * policy decide with everything the daemon knows about that content. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gatekeeper/fileless.h"
#include "gatekeeper/gatekeeperd.h"
#include "scanner/scanner.h"

static void path_of_fd(int fd, char *out, size_t size)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

static bool policy_denies_by_hash(const struct gk_policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (p->rules[i].match == GK_MATCH_SHA256 && p->rules[i].action == GK_VERDICT_DENY)
			return true;
	return false;
}

void judge_cache_in_kernel(struct gk_daemon *d, int fd, const struct judgement *j)
{
	if (!j->have_id || j->decision.source == GK_SOURCE_ON_ERROR)
		return;
	/* Monitor mode must never be able to block an exec: no kernel denies. */
	pthread_rwlock_rdlock(&d->policy_lock);
	bool monitor = d->policy->mode == GK_MODE_MONITOR;
	pthread_rwlock_unlock(&d->policy_lock);
	if (monitor && j->decision.verdict == GK_VERDICT_DENY)
		return;
	if (kcache_record(d->kc, fd, j->decision.verdict, j->id.ctime_ns, (int64_t)j->id.size) < 0)
		return;
	/* Changed since it was identified, or rules or signatures changed while
	 * it was judged (their flush may have come before this record). */
	struct file_id now;
	if (file_id_of_fd(fd, &now) < 0 || now.size != j->id.size ||
	    now.ctime_ns != j->id.ctime_ns || kcache_epoch(d->kc) != j->kcache_epoch)
		kcache_unrecord(d->kc, fd);
}

void judge_fd(struct gk_daemon *d, int fd, const char *path_hint, struct judgement *j,
	      const atomic_bool *cancel)
{
	memset(j, 0, sizeof(*j));
	j->kcache_epoch = kcache_epoch(d->kc);
	if (path_hint)
		snprintf(j->path, sizeof(j->path), "%s", path_hint);
	else
		path_of_fd(fd, j->path, sizeof(j->path));

	/* Outside the watched subtrees only hash rules can deny: hash there
	 * only when such a rule exists, so unwatched files stay cheap. */
	pthread_rwlock_rdlock(&d->policy_lock);
	bool need_hash = !j->path[0] || policy_path_watched(d->policy, j->path) ||
			 policy_denies_by_hash(d->policy) || admin_rules_denies(d->admin) > 0;
	pthread_rwlock_unlock(&d->policy_lock);

	struct gk_file_facts facts = { .path = j->path[0] ? j->path : NULL,
				       .fileless = fileless_fd(fd) };
	char reason[128] = "";
	if (need_hash) {
		if (identify_fd(fd, &j->id, j->sha256, cancel) == 0) {
			j->have_id = j->have_sha = true;
			facts.sha256 = j->sha256;
			facts.admin = admin_rules_get(d->admin, j->sha256);
		} else {
			snprintf(reason, sizeof(reason), "cannot hash file: %s",
				 errno == EAGAIN ? "it kept changing while read" : strerror(errno));
			facts.scan_error = true;
			facts.scan_error_reason = reason;
		}
	} else {
		j->have_id = file_id_of_fd(fd, &j->id) == 0;
	}

	/* Only a decision that fell through to the default can change with a
	 * scan result: scan then, and decide again with what the scan found. */
	struct gk_scan_plan plan;
	pthread_rwlock_rdlock(&d->policy_lock);
	policy_decide(d->policy, &facts, &j->decision);
	bool scan = j->have_sha && j->decision.source == GK_SOURCE_DEFAULT &&
		    policy_scan_plan(d->policy, facts.path, &plan);
	struct scanner_set *set = scan ? d->scanners : NULL;
	scanner_set_get(set);
	pthread_rwlock_unlock(&d->policy_lock);
	if (!scan)
		return;
	struct scan_result r;
	scan_with_plan(set, fd, j->sha256, &plan, &r);
	scanner_set_put(set);
	if (r.status == SCAN_INFECTED) {
		facts.scan = GK_VERDICT_DENY;
		facts.scan_detail = r.detail;
	} else if (r.status == SCAN_ERROR) {
		facts.scan_error = true;
		facts.scan_error_reason = r.detail;
	} else {
		facts.scan = GK_VERDICT_ALLOW;
	}
	pthread_rwlock_rdlock(&d->policy_lock);
	policy_decide(d->policy, &facts, &j->decision);
	pthread_rwlock_unlock(&d->policy_lock);
}
