/* The one decision function: identify the file behind an fd, then let the
 * policy decide with everything the daemon knows about that content.
 * judge_begin learns what the event itself tells (path, identity, whether
 * it is watched) once; judge_from_memory decides when nothing needs reading;
 * judge_fully reads (hash, scan) what must be read. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/mounts.h"
#include "gatekeeper/trust.h"
#include "scanner/scanner.h"

void judge_identify(struct gk_daemon *d, int fd, struct judgement *j)
{
	memset(j, 0, sizeof(*j));
	j->kcache_epoch = kcache_epoch(d->kc);
	j->identified_ns = (uint64_t)gk_mono_us() * 1000;
	j->have_id = file_id_of_fd(fd, &j->id) == 0;
	j->fileless = j->have_id && j->id.nlink == 0;
}

static int openat2_path(const char *path, uint64_t resolve)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = resolve };
	return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
}

/* The attributes the kernel has (AT_STATX_DONT_SYNC); closes fd. */
static int fd_id(int fd, dev_t *dev, ino_t *ino)
{
	struct statx st;
	int rc = statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &st);
	close(fd);
	if (rc == 0) {
		*dev = makedev(st.stx_dev_major, st.stx_dev_minor);
		*ino = (ino_t)st.stx_ino;
	}
	return rc;
}

/* Where path leads, for the threads that serve local execs: never through
 * a request to a server. First through what the kernel has cached
 * (RESOLVE_CACHED, Linux 5.12: no revalidation, automount or I/O), which
 * a mount or rename elsewhere meanwhile can fail (EAGAIN): three tries.
 * Some filesystems never allow it (ZFS, vfat, exfat, ecryptfs revalidate
 * every name), nor do older kernels: then in full, unless the path
 * crosses a mount a server serves or an automount point (as the mount
 * table was last read), and following no symbolic link (an event's own
 * path has none). -1: not without asking a server, or no such file. */
static int local_id(struct gk_daemon *d, const char *path, dev_t *dev, ino_t *ino)
{
	int fd = -1;
	for (int i = 0; i < 3 && fd < 0; i++)
		if ((fd = openat2_path(path, RESOLVE_CACHED)) < 0 && errno != EAGAIN)
			break;
	if (fd < 0 && d->mounts && mounts_path_may_ask_server(d->mounts, path))
		return -1;
	if (fd < 0)
		fd = openat2_path(path, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))   /* before Linux 5.6, or filtered */
		fd = open(path, O_PATH | O_CLOEXEC);
	return fd < 0 ? -1 : fd_id(fd, dev, ino);
}

/* fanotify hands over the file as it was opened: through another mount
 * namespace's mount, its path is that namespace's, and any user can make
 * one (`unshare -rm`) and bind-mount their own directory over a path a
 * rule allows or dpkg lists. The path counts only if it names the same
 * file here. Walked only through the cache on the threads that serve
 * local execs: that user's path may lead here through a FUSE or NFS mount
 * whose server stalls the lookup, or an automount. */
static bool path_names_file(struct gk_daemon *d, const char *path, const struct judgement *j)
{
	struct stat st;
	dev_t dev;
	ino_t ino;
	if (!j->have_id || path[0] != '/')
		return false;
	if (j->path_may_wait)
		return stat(path, &st) == 0 && st.st_dev == j->id.dev && st.st_ino == j->id.ino;
	return local_id(d, path, &dev, &ino) == 0 && dev == j->id.dev && ino == j->id.ino;
}

void judge_locate(struct gk_daemon *d, int fd, struct judgement *j)
{
	gk_fd_path(fd, j->path, sizeof(j->path));
	/* A path elsewhere is no path: no path rule, no trust, watched, every
	 * scanner (facts_of). A file no name links to any more cannot show
	 * that its path is ours (a user's own namespace may have mounted its
	 * directory anywhere), and "NAME (deleted)" would dodge a glob: no path. */
	j->path_elsewhere = j->path[0] && (j->fileless || !path_names_file(d, j->path, j));
	pthread_rwlock_rdlock(&d->policy_lock);
	bool watched = !j->path[0] || j->path_elsewhere || policy_path_watched(d->policy, j->path);
	/* Outside the watched subtrees only hash rules can deny: hash there
	 * only when such a rule exists, so unwatched files stay cheap. */
	j->need_hash = watched || d->policy->hash_rules_deny || admin_rules_denies(d->admin) > 0;
	pthread_rwlock_unlock(&d->policy_lock);
	j->watch = watched ? GK_WATCH_INSIDE : GK_WATCH_OUTSIDE;
}

void judge_begin(struct gk_daemon *d, int fd, struct judgement *j)
{
	judge_identify(d, fd, j);
	judge_locate(d, fd, j);
}

void judge_begin_may_wait(struct gk_daemon *d, int fd, struct judgement *j)
{
	judge_identify(d, fd, j);
	j->path_may_wait = true;
	judge_locate(d, fd, j);
}

static void facts_of(struct gk_daemon *d, const struct judgement *j, struct gk_file_facts *f)
{
	*f = (struct gk_file_facts){ .path = j->path[0] && !j->path_elsewhere ? j->path : NULL,
				     .watch = j->watch,
				     .trust = j->trust,
				     .trust_detail = j->trust_detail[0] ? j->trust_detail : NULL,
				     .fileless = j->fileless };
	if (j->have_sha) {
		f->sha256 = j->sha256;
		f->admin = admin_rules_get(d->admin, j->sha256);
	}
}

/* Decide; with plan, say whether a scan could still change the verdict
 * (only a decision that fell through to the default can), and how. */
static bool decide(struct gk_daemon *d, struct judgement *j, const struct gk_file_facts *f,
		   struct gk_scan_plan *plan, struct scan_set **set)
{
	pthread_rwlock_rdlock(&d->policy_lock);
	policy_decide(d->policy, f, &j->decision);
	if (j->path_elsewhere) {   /* say why a packaged or allowed name did not count */
		size_t n = strlen(j->decision.detail);
		snprintf(j->decision.detail + n, sizeof(j->decision.detail) - n, "%s%s",
			 n ? "; " : "", j->fileless ? "no name links to it: judged without its path"
						  : "path of another mount namespace: judged without it");
	}
	/* The mode of the same policy: an enforce group's queued events, read
	 * after a switch to monitor mode, must not be denied. */
	j->monitor = d->policy->mode == GK_MODE_MONITOR;
	bool scan = plan && j->have_sha && j->decision.source == GK_SOURCE_DEFAULT &&
		    policy_scan_plan_for(d->policy, f, plan);
	if (scan && set) {
		*set = d->scanners;
		scan_set_get(*set);
	}
	pthread_rwlock_unlock(&d->policy_lock);
	return scan;
}

bool judge_from_memory(struct gk_daemon *d, struct judgement *j)
{
	if (!j->have_id)
		return false;
	/* Trust asks the store (and may apply dpkg's pending changes): a worker's job. */
	if (d->trust && j->watch == GK_WATCH_INSIDE)
		return false;
	if (j->need_hash && !j->sha_cached)
		return false;
	j->have_sha = j->need_hash;
	struct gk_file_facts f;
	struct gk_scan_plan plan;
	facts_of(d, j, &f);
	if (!decide(d, j, &f, &plan, NULL))
		return true;
	j->have_sha = false;   /* a scan is due: the worker judges it whole */
	return false;
}

/* The levels above the watch scope (fileless, admin rules, policy hash
 * rules) need no path: when one of them decides from a digest in memory,
 * the path is read after the answer. */
bool judge_by_content(struct gk_daemon *d, struct judgement *j)
{
	j->sha_cached = j->have_id && hash_cache_lookup(d->hashes, &j->id, j->sha256);
	if (!j->sha_cached)
		return false;
	j->have_sha = true;
	struct gk_file_facts f;
	facts_of(d, j, &f);
	/* None of those levels can decide: spare the miss a second decision. */
	pthread_rwlock_rdlock(&d->policy_lock);
	bool could = j->fileless || f.admin == GK_VERDICT_ALLOW || f.admin == GK_VERDICT_DENY ||
		     d->policy->hash_rules;
	pthread_rwlock_unlock(&d->policy_lock);
	if (could)
		decide(d, j, &f, NULL, NULL);
	enum gk_source source = j->decision.source;
	if (source == GK_SOURCE_FILELESS || source == GK_SOURCE_ADMIN ||
	    source == GK_SOURCE_POLICY_HASH) {
		j->path_after_answer = true;
		return true;
	}
	j->have_sha = false;
	j->decision = (struct gk_decision){ 0 };
	return false;
}

/* The record of a verdict the content gave: the path, and the decision
 * the route that knows the path makes (the same verdict; for a file
 * outside the watched paths with no hash rule that could deny, it is
 * recorded as unwatched, without its digest, as it always was). */
void judge_after_answer(struct gk_daemon *d, int fd, struct judgement *j)
{
	if (!j->path_after_answer)
		return;
	j->path_after_answer = false;
	struct gk_decision by_content = j->decision;
	judge_locate(d, fd, j);
	j->have_sha = j->need_hash;
	struct gk_file_facts f;
	facts_of(d, j, &f);
	decide(d, j, &f, NULL, NULL);
	if (j->decision.verdict != by_content.verdict) {   /* a policy applied meanwhile */
		j->decision = by_content;
		j->have_sha = true;
	}
}

/* The scan's read against the digest's: the identity the digest was read
 * under (j->id, taken before that read) must still be the file's, and it
 * must have settled or the lease taken before that read still stand. */
struct reread_ctx {
	struct gk_daemon *d;
	const struct judgement *j;
};

static enum file_reread scanned_as_hashed(void *ctx, int fd)
{
	const struct reread_ctx *c = ctx;
	struct file_id now;
	bool have_now = file_id_of_fd(fd, &now) == 0;
	bool guarded = hash_cache_guard_holds(c->d->hashes, &c->j->id, c->j->lease_ticket);
	return file_reread_check(&c->j->id, have_now ? &now : NULL, guarded,
				 kcache_changes_elsewhere(fd) ||
					 !hash_cache_keeps(c->d->hashes, &c->j->id));
}

/* False: the file changed while it was scanned (decided as a scan error). */
static bool scan_and_decide(struct gk_daemon *d, int fd, struct judgement *j,
			    struct gk_file_facts *f, const struct gk_scan_plan *plan,
			    struct scan_set *set)
{
	struct scan_result r;
	struct reread_ctx c = { d, j };
	const struct scan_reread reread = { scanned_as_hashed, &c };
	enum file_reread seen = scan_with_plan(set, fd, j->sha256, plan, &reread, &r);
	scan_set_put(set);
	j->verdict_for_now = seen == FILE_REREAD_FOR_NOW;
	if (r.status == SCAN_INFECTED) {
		f->scan = GK_VERDICT_DENY;
		f->scan_detail = r.detail;
	} else if (r.status == SCAN_ERROR) {
		f->scan_error = true;
		f->scan_error_reason = r.detail;
	} else {
		f->scan = GK_VERDICT_ALLOW;
	}
	decide(d, j, f, NULL, NULL);
	return seen != FILE_REREAD_CHANGED;
}

/* Identify, decide, scan if due, decide again. False: the file changed
 * between its digest and its scan. */
static bool judge_reading(struct gk_daemon *d, int fd, struct judgement *j,
			  const atomic_bool *cancel)
{
	char reason[128] = "";
	struct gk_file_facts f;
	if (j->stale_digest)
		hash_cache_distrust(d->hashes, j->id.dev, j->id.ino);
	if (j->need_hash) {
		struct trust_result tr;
		if ((j->as_indexed ? trust_identify_indexed : trust_identify)(
			    d->trust, d->hashes, fd, j->path_elsewhere ? NULL : j->path, &j->id,
			    j->sha256, &tr, cancel, j->lease_ticket) == 0) {
			j->have_id = j->have_sha = true;
			j->trust = tr.match;
			snprintf(j->trust_detail, sizeof(j->trust_detail), "%s", tr.detail);
		} else {
			snprintf(reason, sizeof(reason), "cannot hash file: %s",
				 errno == EAGAIN ? "it kept changing while read" : strerror(errno));
		}
	}
	facts_of(d, j, &f);
	if (reason[0]) {
		f.scan_error = true;
		f.scan_error_reason = reason;
	}
	struct gk_scan_plan plan;
	struct scan_set *set = NULL;
	return !decide(d, j, &f, &plan, &set) || scan_and_decide(d, fd, j, &f, &plan, set);
}

/* judge_begin anew, keeping what the route learnt before (the lease, a
 * stale digest, trust as indexed). */
static void begin_again(struct gk_daemon *d, int fd, struct judgement *j)
{
	uint64_t ticket = j->lease_ticket;
	bool stale = j->stale_digest, as_indexed = j->as_indexed;
	(j->path_may_wait ? judge_begin_may_wait : judge_begin)(d, fd, j);
	j->lease_ticket = ticket;
	j->stale_digest = stale;
	j->as_indexed = as_indexed;
}

/* A file that changed between its digest and its scan is judged once more,
 * from the start, as it is now: a program being written (compile, then
 * run) is not refused for it. A second change leaves the scan error, and
 * so the policy's on_error: a file rewritten without pause holds neither
 * the exec nor the worker for longer than two judgements. */
void judge_fully(struct gk_daemon *d, int fd, struct judgement *j, const atomic_bool *cancel)
{
	if (judge_reading(d, fd, j, cancel) || (cancel && atomic_load(cancel)))
		return;
	begin_again(d, fd, j);   /* its lease: broken by the writer, or still guarding */
	judge_reading(d, fd, j, cancel);
}

/* An exec whose file a writer has open fails (ETXTBSY) unless the writer
 * closes before the kernel refuses writers to it, which comes after the
 * reply: content it writes meanwhile would run unjudged. Such a writer is
 * often on its way out (a forked child closing what it inherited at its
 * own exec): wait for it a little, then judge the file as it is by then,
 * under the lease that holds the next writer out. */
#define WRITER_WAIT_TRIES 20
#define WRITER_WAIT_US 1000

uint64_t judge_wait_for_writer(struct gk_daemon *d, int fd, struct judgement *j)
{
	uint64_t ticket = j->lease_ticket;
	for (int i = 0; i < WRITER_WAIT_TRIES && ticket == KCACHE_ARM_WRITER; i++) {
		usleep(WRITER_WAIT_US);
		ticket = kcache_arm(d->kc, fd, true);
		/* No lease to be had (out of descriptors): ask, on this thread. */
		if (!kcache_ticket_taken(ticket) && ticket != KCACHE_ARM_WRITER &&
		    kcache_writer_probe(fd) == EAGAIN)
			ticket = KCACHE_ARM_WRITER;
	}
	j->lease_ticket = ticket;
	if (ticket != KCACHE_ARM_WRITER)
		begin_again(d, fd, j);
	return kcache_ticket_taken(ticket) ? ticket : 0;
}

void judge_refuse_for_writer(struct judgement *j, bool lapsed)
{
	/* A monitor-mode policy denies nothing: no would-deny for this either. */
	if (j->decision.verdict != GK_VERDICT_ALLOW || j->monitor)
		return;
	j->decision.verdict = GK_VERDICT_DENY;
	j->decision.source = GK_SOURCE_ON_ERROR;
	snprintf(j->decision.detail, sizeof(j->decision.detail), "%s",
		 lapsed ? "a writer waited out the lease while it was judged"
			: "a writer had it open while it was judged");
	j->verdict_for_now = true;   /* the writer's, not the content's */
}

void judge_file(struct gk_daemon *d, int fd, struct judgement *j, bool may_wait,
		const atomic_bool *cancel)
{
	(may_wait ? judge_begin_may_wait : judge_begin)(d, fd, j);
	judge_fully(d, fd, j, cancel);
}

/* The kernel's caches go with the inode, which a rename or hard link
 * carries to another name, and no write marks that: only an allow that
 * holds under any name may be cached there. (A deny that follows a file
 * refuses it where the policy might not, no more; the BPF entry's ctime
 * check drops it at the rename anyway.) */
static bool holds_under_any_name(const struct gk_policy *p, enum gk_source source)
{
	switch (source) {
	case GK_SOURCE_ADMIN:
	case GK_SOURCE_POLICY_HASH:
	case GK_SOURCE_FILELESS:
	case GK_SOURCE_TRUST:   /* packaged paths: only root renames or links there */
		return true;
	case GK_SOURCE_DEFAULT:
	case GK_SOURCE_SCANNER:
		return !p->verdict_by_path;
	default:   /* unwatched, a path rule, on_error */
		return false;
	}
}

void judge_cache_in_kernel(struct gk_daemon *d, int fd, const struct judgement *j)
{
	/* Judged without its path: what the file's own name earns it here
	 * (unwatched, a path rule, trust) was not asked, so nothing of it may
	 * follow the inode there, not even a deny. Nor of an overlayfs file
	 * (file_id.overlay), unless the policy trusts root's there. */
	if (!j->have_id || j->path_elsewhere || !hash_cache_keeps(d->hashes, &j->id))
		return;
	/* A scan that may have read other content than the digest's decided:
	 * the verdict holds for this exec only (scanned_as_hashed). */
	if (j->verdict_for_now)
		return;
	pthread_rwlock_rdlock(&d->policy_lock);
	bool monitor = d->policy->mode == GK_MODE_MONITOR;
	bool any_name = holds_under_any_name(d->policy, j->decision.source);
	pthread_rwlock_unlock(&d->policy_lock);
	/* Monitor mode must never be able to block an exec: no kernel denies.
	 * Its allows only silence notifications, so a name may carry them. */
	bool deny = j->decision.verdict == GK_VERDICT_DENY;
	if (monitor ? deny : !any_name && !deny)
		return;
	/* The entry may be made well after the content was read (the recorder
	 * makes those of the reading thread's allows). That is sound for
	 * content read after its ctime settled: every write since moved the
	 * ctime, which the check after the record sees, and a write after the
	 * record meets the lease or the BPF hooks. Content read sooner may have
	 * been rewritten, same size and same ctime: the kernel would answer for
	 * the new content. Its next exec is judged again. Unless a lease was
	 * taken before the read: a write since then has broken it. */
	if (j->have_sha && !j->id.settled && !kcache_ticket_taken(j->lease_ticket)) {
		atomic_fetch_add(&d->stats.kernel_cache_unsettled, 1);
		return;
	}
	struct stat judged = { .st_dev = j->id.dev, .st_ino = j->id.ino,
			       .st_size = (off_t)j->id.size };
	judged.st_ctim.tv_sec = (time_t)(j->id.ctime_ns / 1000000000);
	judged.st_ctim.tv_nsec = (long)(j->id.ctime_ns % 1000000000);
	if (kcache_record(d->kc, fd, j->decision.verdict, &judged, j->lease_ticket,
			  j->identified_ns, j->kcache_epoch) != 0)
		return;   /* nothing recorded: nothing to take back */
	if (j->decision.verdict == GK_VERDICT_DENY)
		denied_remember(d->denied, j->id.dev, j->id.ino, j->path,
				j->have_sha ? j->sha256 : NULL);
	/* Changed since it was identified, or rules or signatures changed while
	 * it was judged (their flush may have come before this record). */
	struct file_id now;
	if (file_id_of_fd(fd, &now) < 0 || now.size != j->id.size ||
	    now.ctime_ns != j->id.ctime_ns || kcache_epoch(d->kc) != j->kcache_epoch)
		kcache_unrecord(d->kc, fd);
}
