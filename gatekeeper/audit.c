/* Decisions go to the audit table, the verdict store and the log from one
 * writer thread with its own SQLite connection, in batched transactions, so
 * the miss path never waits on the disk. If the queue is full the record is
 * dropped and counted: an exec must never wait for its audit row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/systemd.h"

#define AUDIT_QUEUE_MAX 65536
#define AUDIT_BATCH 512
#define AUDIT_PRUNE_EVERY_US (60 * 1000000LL)

struct audit_rec {
	struct audit_rec *next;
	enum audit_kind kind;
	bool log_line;             /* policy audit.log_allows: false hides allows */
	struct db_audit a;
	unsigned char sha[GK_SHA256_LEN];
	char policy_sha[GK_SHA256_HEX_LEN + 1];
	char *exe, *path, *detail;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct audit_rec *head, *tail;
	size_t len;
	bool stopping;
	pthread_t thread;
	bool started;
	struct gk_db *db;
	struct gk_daemon *d;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void rec_free(struct audit_rec *r)
{
	free(r->exe);
	free(r->path);
	free(r->detail);
	free(r);
}

void audit_submit(struct gk_daemon *d, const struct db_audit *a, enum audit_kind kind)
{
	struct audit_rec *r = calloc(1, sizeof(*r));
	if (!r) {
		atomic_fetch_add(&d->stats.audit_dropped, 1);
		return;
	}
	r->kind = kind;
	r->a = *a;
	r->exe = strdup(a->exe ? a->exe : "");
	r->path = strdup(a->path ? a->path : "");
	r->detail = strdup(a->detail ? a->detail : "");
	if (a->sha256) {
		memcpy(r->sha, a->sha256, GK_SHA256_LEN);
		r->a.sha256 = r->sha;
	}
	pthread_rwlock_rdlock(&d->policy_lock);
	memcpy(r->policy_sha, d->policy->sha256_hex, sizeof(r->policy_sha));
	r->log_line = d->policy->audit.log_allows || a->verdict == GK_VERDICT_DENY || a->would_deny;
	pthread_rwlock_unlock(&d->policy_lock);
	r->a.exe = r->exe;
	r->a.path = r->path;
	r->a.detail = r->detail;
	if (!r->exe || !r->path || !r->detail) {
		rec_free(r);
		atomic_fetch_add(&d->stats.audit_dropped, 1);
		return;
	}
	pthread_mutex_lock(&q.lock);
	if (q.len >= AUDIT_QUEUE_MAX || !q.started) {
		pthread_mutex_unlock(&q.lock);
		rec_free(r);
		atomic_fetch_add(&d->stats.audit_dropped, 1);
		return;
	}
	if (q.tail)
		q.tail->next = r;
	else
		q.head = r;
	q.tail = r;
	q.len++;
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
}

static void log_decision(const struct audit_rec *r)
{
	char line[8192], hex[GK_SHA256_HEX_LEN + 1] = "", num[32], when[96];
	size_t len = 0;
	time_t secs = (time_t)(r->a.time_us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(r->a.time_us % 1000000));
	if (r->a.sha256)
		gk_sha256_to_hex(r->a.sha256, hex);
	static const char *const prefix[] = { [AUDIT_EXEC] = "decision", [AUDIT_PRESCAN] = "prescan",
					      [AUDIT_KERNEL] = "kernel_deny" };
	len = (size_t)snprintf(line, sizeof(line), "%s", prefix[r->kind]);
	log_kv(line, sizeof(line), &len, "time", when);
	snprintf(num, sizeof(num), "%d", r->a.pid);
	log_kv(line, sizeof(line), &len, "pid", num);
	log_kv(line, sizeof(line), &len, "exe", r->a.exe);
	log_kv(line, sizeof(line), &len, "path", r->a.path);
	log_kv(line, sizeof(line), &len, "sha256", hex[0] ? hex : "-");
	log_kv(line, sizeof(line), &len, "verdict", gk_verdict_name(r->a.verdict));
	log_kv(line, sizeof(line), &len, "source", gk_source_name(r->a.source));
	log_kv(line, sizeof(line), &len, "detail", r->a.detail);
	snprintf(num, sizeof(num), "%u", r->a.latency_us);
	log_kv(line, sizeof(line), &len, "latency_us", num);
	if (r->kind != AUDIT_PRESCAN) {
		log_kv(line, sizeof(line), &len, "mode", gk_mode_name(r->a.mode));
		log_kv(line, sizeof(line), &len, "would_deny", r->a.would_deny ? "1" : "0");
	}
	bool warn = r->a.would_deny || r->a.verdict == GK_VERDICT_DENY;
	if (!journal_decision(prefix[r->kind], &r->a, hex, warn, line))
		log_msg(warn ? GK_LOG_WARN : GK_LOG_INFO, "%s", line);
}

static void store(struct audit_rec *r)
{
	if (r->kind != AUDIT_PRESCAN && db_audit_add(q.db, &r->a) < 0)
		log_msg(GK_LOG_ERR, "error=\"audit write failed\" reason=\"%s\"", db_errmsg(q.db));
	if (r->kind == AUDIT_KERNEL || !r->a.sha256 || r->a.source == GK_SOURCE_ON_ERROR)
		return;   /* nothing was judged: keep the last real verdict */
	struct db_verdict v = { .decided_at_us = r->a.time_us, .source = r->a.source };
	memcpy(v.sha256, r->a.sha256, GK_SHA256_LEN);
	/* The verdict reached, even where monitor mode let the exec run. */
	v.verdict = r->a.would_deny ? GK_VERDICT_DENY : r->a.verdict;
	snprintf(v.detail, sizeof(v.detail), "%s", r->detail);
	snprintf(v.path, sizeof(v.path), "%s", r->path);
	memcpy(v.policy_sha256, r->policy_sha, sizeof(v.policy_sha256));
	if (db_verdict_put(q.db, &v) < 0)
		log_msg(GK_LOG_ERR, "error=\"verdict write failed\" reason=\"%s\"", db_errmsg(q.db));
}

/* Keep the audit table within the policy's retention bounds. */
static void prune(int64_t *last_us)
{
	int64_t now = gk_now_us();
	if (now - *last_us < AUDIT_PRUNE_EVERY_US)
		return;
	*last_us = now;
	pthread_rwlock_rdlock(&q.d->policy_lock);
	struct gk_audit_config cfg = q.d->policy->audit;
	pthread_rwlock_unlock(&q.d->policy_lock);
	int64_t n = db_audit_prune(q.db, now - (int64_t)cfg.retain_days * 86400 * 1000000LL,
				   (int64_t)cfg.max_rows);
	if (n < 0)
		log_msg(GK_LOG_ERR, "error=\"audit prune failed\" reason=\"%s\"", db_errmsg(q.db));
	else if (n > 0)
		log_msg(GK_LOG_INFO, "audit_pruned rows=%lld", (long long)n);
}

static void *writer_main(void *arg)
{
	(void)arg;
	int64_t last_prune = 0;
	for (;;) {
		prune(&last_prune);
		pthread_mutex_lock(&q.lock);
		while (!q.head && !q.stopping)
			pthread_cond_wait(&q.cond, &q.lock);
		struct audit_rec *batch = q.head;
		if (!batch) {
			pthread_mutex_unlock(&q.lock);
			return NULL;
		}
		q.head = q.tail = NULL;
		q.len = 0;
		pthread_mutex_unlock(&q.lock);

		for (struct audit_rec *r = batch; r; r = r->next)
			if (r->log_line)
				log_decision(r);
		int n = 0;
		for (struct audit_rec *r = batch; r;) {
			if (n == 0)
				db_begin(q.db);
			store(r);
			struct audit_rec *next = r->next;
			rec_free(r);
			r = next;
			if (++n == AUDIT_BATCH || !r) {
				if (db_commit(q.db) < 0) {
					log_msg(GK_LOG_ERR, "error=\"audit commit failed\" reason=\"%s\"",
						db_errmsg(q.db));
					db_rollback(q.db);
				}
				n = 0;
			}
		}
	}
}

int audit_start(struct gk_daemon *d)
{
	char err[512];
	q.d = d;
	q.db = db_open(d->opt.db_path, err, sizeof(err));
	if (!q.db) {
		log_msg(GK_LOG_ERR, "error=\"%s\"", err);
		return -1;
	}
	if (pthread_create(&q.thread, NULL, writer_main, NULL) != 0) {
		db_close(q.db);
		return -1;
	}
	pthread_mutex_lock(&q.lock);
	q.started = true;
	pthread_mutex_unlock(&q.lock);
	return 0;
}

void audit_stop(void)
{
	pthread_mutex_lock(&q.lock);
	bool started = q.started;
	q.stopping = true;
	q.started = false;
	pthread_cond_broadcast(&q.cond);
	pthread_mutex_unlock(&q.lock);
	if (!started)
		return;
	pthread_join(q.thread, NULL);
	db_close(q.db);
	q.db = NULL;
}
