/* The control commands. Each validates everything before it changes
 * anything: a refused request leaves rules, verdicts and policy as they were. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/control_ops.h"
#include "gatekeeper/digests.h"
#include "gatekeeper/fileless.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/mounts.h"
#include "gatekeeper/prejudge.h"
#include "gatekeeper/proto.h"
#include "gatekeeper/trust.h"

/* What the gate covers beyond execve of a file (gatekeeper-policy(5)). */
#define LIBS_BPF "gated at mmap(PROT_EXEC) for files judged since start (written after start: " \
	"pre-scanned at close); unjudged, so allowed: files written while the daemon was down " \
	"or on unmarked filesystems, and a library mapped before its pre-scan finished"
#define LIBS_FANOTIFY "not gated: fanotify has no permission event for mmap(PROT_EXEC); " \
	"only programs started with exec are"
#define SCRIPTS "#! scripts judged as programs; interpreters that ask with " \
	"execveat(AT_EXECVE_CHECK) get the verdict; a script read by an interpreter that does " \
	"not ask (sh FILE, python3 FILE) is not judged"

static void format_time(int64_t us, char *out, size_t size)
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The largest file a control request has hashed: these commands run one
 * at a time, so hashing a huge (or sparse) file would hold up every other
 * one. An exec of such a file is still hashed, under decision_timeout_ms. */
#define CONTROL_HASH_MAX (4ull << 30)

/* Refuse a file too large to hash here, with a one-line reason. The labels
 * in these errors are cut at 400 bytes, so that the reason always fits. */
static int hashable(const char *path, uint64_t size, struct proto_buf *reply)
{
	if (size <= CONTROL_HASH_MAX)
		return 0;
	proto_error(reply, EXIT_REFUSED, "%.400s: %llu bytes: too large to hash over the control socket "
		    "(limit %llu bytes)", path, (unsigned long long)size, CONTROL_HASH_MAX);
	return -1;
}

/* The fd a client passed must be a regular file we can hash. Hashing stops
 * when the client hangs up or the daemon stops (*cancel). */
static int hash_client_fd(struct gk_daemon *d, const char *path, int fd, const atomic_bool *cancel,
			  unsigned char sha[GK_SHA256_LEN], struct proto_buf *reply)
{
	struct file_id id;
	if (fd < 0) {
		proto_error(reply, EXIT_USAGE, "this command needs the file's descriptor");
		return -1;
	}
	if (file_id_of_fd(fd, &id) < 0) {
		proto_error(reply, EXIT_USAGE, "not a regular file");
		return -1;
	}
	if (hashable(path, id.size, reply) < 0)
		return -1;
	if (identify_fd_guarded(d->hashes, fd, &id, sha, cancel, 0) < 0) {
		proto_error(reply, EXIT_REFUSED, "%.400s: cannot read file: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void cmd_rule(struct gk_daemon *d, const char *verb, const char *arg, int fd,
		     const atomic_bool *cancel, struct proto_buf *reply)
{
	unsigned char sha[GK_SHA256_LEN];
	char hex[GK_SHA256_HEX_LEN + 1];
	if (hash_client_fd(d, arg, fd, cancel, sha, reply) < 0)
		return;
	gk_sha256_to_hex(sha, hex);
	enum gk_verdict v = !strcmp(verb, "allow") ? GK_VERDICT_ALLOW :
			    !strcmp(verb, "deny") ? GK_VERDICT_DENY : GK_VERDICT_UNKNOWN;
	if (admin_rules_reserve(d->admin) < 0) {
		proto_error(reply, EXIT_REFUSED, "%.400s: out of memory for the admin rules; "
			    "nothing changed", arg);
		return;
	}
	enum gk_verdict was = admin_rules_get(d->admin, sha);
	int rc = v == GK_VERDICT_UNKNOWN ? db_admin_clear(d->db, sha) : db_admin_set(d->db, sha, v, arg);
	if (rc < 0) {
		proto_error(reply, EXIT_REFUSED, "verdict store: %s", db_errmsg(d->db));
		return;
	}
	if (admin_rules_set(d->admin, sha, v) < 0) {   /* the reserve makes this unlikely */
		if (was == GK_VERDICT_UNKNOWN)
			db_admin_clear(d->db, sha);
		else
			db_admin_set(d->db, sha, was, arg);
		proto_error(reply, EXIT_REFUSED, "%.400s: out of memory for the admin rules; "
			    "nothing changed", arg);
		return;
	}
	/* One content may sit in many inodes: drop every kernel-cached verdict. */
	prejudge_flush(d);
	log_msg(GK_LOG_INFO, "admin_rule sha256=%s rule=%s path=\"%s\"", hex,
		v == GK_VERDICT_UNKNOWN ? "none" : gk_verdict_name(v), arg);
	proto_num(reply, "ok", 1);
	proto_str(reply, "path", arg);
	proto_str(reply, "sha256", hex);
	proto_str(reply, "rule", v == GK_VERDICT_UNKNOWN ? "none" : gk_verdict_name(v));
	if (v == GK_VERDICT_UNKNOWN && rc == 1)
		proto_str(reply, "note", "there was no admin rule for this file");
}

static void cmd_query(struct gk_daemon *d, const char *arg, int fd, const atomic_bool *cancel,
		      struct proto_buf *reply)
{
	struct judgement j;
	char hex[GK_SHA256_HEX_LEN + 1], when[40];
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		proto_error(reply, EXIT_USAGE, fd < 0 ? "query needs the file's descriptor" : "not a regular file");
		return;
	}
	if (hashable(arg, (uint64_t)st.st_size, reply) < 0)
		return;
	judge_file(d, fd, &j, true, cancel);   /* an admin's query may wait on a server */
	if (atomic_load(cancel)) {
		proto_error(reply, EXIT_REFUSED, "%.400s: query cancelled", arg);
		return;
	}
	audit_sync(d);   /* the stored verdict of every exec before the request */
	if (!j.have_sha && identify_fd_guarded(d->hashes, fd, &j.id, j.sha256, cancel, 0) == 0)
		j.have_sha = true;   /* unwatched files are not hashed to decide; show it anyway */
	proto_num(reply, "ok", 1);
	proto_str(reply, "path", j.path[0] ? j.path : arg);
	if (j.have_sha)
		gk_sha256_to_hex(j.sha256, hex);
	proto_str(reply, "sha256", j.have_sha ? hex : "");
	proto_str(reply, "verdict", gk_verdict_name(j.decision.verdict));
	proto_str(reply, "source", gk_source_name(j.decision.source));
	proto_str(reply, "detail", j.decision.detail);
	if (j.trust == GK_TRUST_UNKNOWN && d->trust) {
		/* Not asked to decide (unwatched): say what trust would make of it. */
		struct trust_result tr;
		if (trust_identify(d->trust, d->hashes, fd, j.path, &j.id, j.sha256, &tr, cancel, 0) == 0) {
			j.trust = tr.match;
			snprintf(j.trust_detail, sizeof(j.trust_detail), "%s", tr.detail);
		}
	}
	trust_query_line(d->trust, j.trust, j.trust_detail, reply);
	/* What an exec of it would meet now, though it never ran: in monitor
	 * mode a deny is only logged. Mode and scope as the judgement saw them
	 * (a file whose path cannot be read is judged as watched). */
	bool monitor = j.monitor;
	bool denied = j.decision.verdict == GK_VERDICT_DENY;
	proto_str(reply, "mode", monitor ? "monitor" : "enforce");
	proto_str(reply, "watched", j.watch == GK_WATCH_INSIDE ? "yes" : "no");
	proto_str(reply, "would_run", !denied ? "yes" : monitor ? "yes (monitor mode: logged as would-deny)" : "no");
	enum gk_verdict admin = j.have_sha ? admin_rules_get(d->admin, j.sha256) : GK_VERDICT_UNKNOWN;
	proto_str(reply, "admin_rule", admin == GK_VERDICT_UNKNOWN ? "none" : gk_verdict_name(admin));
	struct db_verdict stored;
	if (j.have_sha && db_verdict_get(d->db, j.sha256, &stored) == 0) {
		format_time(stored.decided_at_us, when, sizeof(when));
		proto_str(reply, "decided", when);
		proto_num(reply, "decided_at_us", stored.decided_at_us);
		proto_str(reply, "last_verdict", gk_verdict_name(stored.verdict));
		proto_str(reply, "last_source", gk_source_name(stored.source));
	} else {
		proto_str(reply, "decided", "never");
	}
}

static void status_counters(struct gk_daemon *d, struct proto_buf *reply)
{
	static const struct { const char *key; size_t off; } counters[] = {
#define C(name) { #name, offsetof(struct gk_stats, name) }
		C(events), C(perm_events), C(allows), C(denies), C(would_deny), C(timeouts),
		C(overloads), C(pending), C(queue_overflows), C(audit_dropped), C(prescans),
		C(prescan_coalesced), C(prescan_dropped), C(first_execs_prejudged),
		C(first_execs_kernel_hits), C(kernel_cache_unsettled), C(miss_close_waits),
		C(miss_close_waits_long), C(miss_digests_rehashed),
#undef C
	};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		atomic_uint_fast64_t *c = (atomic_uint_fast64_t *)((char *)&d->stats + counters[i].off);
		proto_num(reply, counters[i].key, (int64_t)atomic_load(c));
	}
	proto_str(reply, "sentinel", sentinel_alive(d->sentinel) ? "running" : "not running");
	proto_num(reply, "sentinel_answers", (int64_t)atomic_load(&d->shared->sentinel_answers));
	proto_num(reply, "sentinel_reads", (int64_t)atomic_load(&d->shared->sentinel_reads));
	bool stalled = false;
	proto_num(reply, "audit_backlog", (int64_t)audit_backlog(d, &stalled));
	proto_str(reply, "audit_store_stalled", stalled ? "yes" : "no");
	struct kcache_stats ks;
	kcache_get_stats(d->kc, &ks);
	if (ks.hits_measurable) {
		proto_num(reply, "kernel_hits", (int64_t)(ks.kernel_allows + ks.kernel_denies));
		proto_num(reply, "kernel_allows", (int64_t)ks.kernel_allows);
		proto_num(reply, "kernel_denies", (int64_t)ks.kernel_denies);
		proto_num(reply, "kernel_invalidations", (int64_t)ks.invalidations);
		proto_num(reply, "kernel_hold_refusals", (int64_t)ks.hold_refusals);
		proto_num(reply, "kernel_ringbuf_drops", (int64_t)ks.ringbuf_drops);
	} else {
		proto_str(reply, "kernel_hits", "n/a");
	}
	proto_num(reply, "ignore_marks_added", (int64_t)ks.ignore_marks);
	proto_num(reply, "leases_held", (int64_t)ks.leases_held);
	proto_num(reply, "lease_breaks", (int64_t)ks.lease_breaks);
	proto_num(reply, "leases_refused", (int64_t)ks.leases_refused);
	proto_num(reply, "kernel_cache_flushes", (int64_t)ks.flushes);
	proto_num(reply, "latency_p50_us", (int64_t)stats_latency_percentile(&d->stats, 50));
	proto_num(reply, "latency_p99_us", (int64_t)stats_latency_percentile(&d->stats, 99));
}

static void cmd_status(struct gk_daemon *d, struct proto_buf *reply)
{
	proto_num(reply, "ok", 1);
	pthread_rwlock_rdlock(&d->policy_lock);
	proto_str(reply, "mode", gk_mode_name(d->policy->mode));
	proto_str(reply, "kernel_mode", kcache_mode(d->kc));
	proto_str(reply, "kernel_mode_why",
		  atomic_load(&d->bpf_waits_for_boot)
			  ? "BPF LSM programs load once the boot has reached default.target "
			    "(--bpf-after-ready): fanotify mode until they are attached"
			  : kcache_why(d->kc));
	for (size_t i = 0; i < d->policy->n_watch; i++)
		proto_arr(reply, "watch", d->policy->watch[i]);
	mounts_report(d->mounts, reply);
	char user_mounts[256];
	mounts_user_mounts("/proc", user_mounts, sizeof(user_mounts));
	proto_str(reply, "user_mounts", user_mounts);
	mounts_unmarked_report(d, reply);
	fileless_report(d->fileless, reply);
	proto_str(reply, "libraries", strcmp(kcache_mode(d->kc), "bpf") ? LIBS_FANOTIFY : LIBS_BPF);
	proto_str(reply, "scripts", SCRIPTS);
	proto_str(reply, "policy", d->policy->name);
	proto_str(reply, "policy_sha256", policy_sha256_hex(d->policy));
	scan_set_report(d->scanners, reply);
	pthread_rwlock_unlock(&d->policy_lock);
	status_counters(d, reply);
	trust_report(d->trust, reply);
	prejudge_report(atomic_load(&d->prejudge), reply);
	struct digests_stats ds;
	digests_get_stats(d->digests, &ds);
	proto_num(reply, "digests_stored", (int64_t)ds.stored);
	proto_num(reply, "digest_store_hits", (int64_t)ds.hits);
	proto_num(reply, "digest_store_misses", (int64_t)ds.misses);
	proto_str(reply, "digest_store", ds.unread_why ? ds.unread_why : "read");
	proto_num(reply, "admin_rules", (int64_t)admin_rules_count(d->admin));
	control_report(d, reply);
	proto_num(reply, "uptime_s", (gk_now_us() - d->started_us) / 1000000);
	proto_num(reply, "pid", getpid());
}

static void cmd_policy_apply(struct gk_daemon *d, const char *name, int fd, struct proto_buf *reply)
{
	struct gk_policy_errors errs = { 0 };
	char err[512];
	if (fd < 0) {
		proto_error(reply, EXIT_USAGE, "policy apply needs the policy file's descriptor");
		return;
	}
	struct gk_policy *p = policy_load_fd(fd, name[0] ? name : "policy", &errs);
	if (!p) {
		proto_error(reply, EXIT_USAGE, "%s", errs.msg[0]);
		for (size_t i = 0; i < errs.count && i < GK_POLICY_MAX_ERRORS; i++)
			proto_arr(reply, "errors", errs.msg[i]);
		return;
	}
	int rc = apply_policy(d, p, err, sizeof(err));
	if (rc < 0) {
		policy_free(p);
		proto_error(reply, rc == -2 ? EXIT_REFUSED : EXIT_USAGE, "%s", err);
		return;
	}
	cmd_status(d, reply);
}

static void cmd_policy_show(struct gk_daemon *d, struct proto_buf *reply)
{
	char when[40];
	proto_num(reply, "ok", 1);
	pthread_rwlock_rdlock(&d->policy_lock);
	format_time(d->policy_applied_us, when, sizeof(when));
	proto_str(reply, "policy", d->policy->name);
	proto_str(reply, "sha256", policy_sha256_hex(d->policy));
	proto_str(reply, "applied", when);
	proto_str(reply, "text", d->policy->text);
	pthread_rwlock_unlock(&d->policy_lock);
}

void control_dispatch(struct gk_daemon *d, const char *verb, const char *arg, int fd,
		      const atomic_bool *cancel, struct proto_buf *reply)
{
	if (!strcmp(verb, "allow") || !strcmp(verb, "deny") || !strcmp(verb, "forget"))
		cmd_rule(d, verb, arg, fd, cancel, reply);
	else if (!strcmp(verb, "query"))
		cmd_query(d, arg, fd, cancel, reply);
	else if (!strcmp(verb, "status"))
		cmd_status(d, reply);
	else if (!strcmp(verb, "policy-apply"))
		cmd_policy_apply(d, arg, fd, reply);
	else if (!strcmp(verb, "policy-show"))
		cmd_policy_show(d, reply);
	else if (!strcmp(verb, "metrics"))
		control_cmd_metrics(d, reply);
	else if (!strcmp(verb, "log"))
		control_cmd_log(d, arg, reply);
	else
		proto_error(reply, EXIT_USAGE, "unknown request '%.64s'", verb);
}
