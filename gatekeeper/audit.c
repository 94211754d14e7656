/* Decisions go to the audit table, the verdict store and the log from one
 * writer thread with its own SQLite connection, in batched transactions, so
 * the miss path never waits on the disk. If the queue is full the record is
 * dropped and counted: an exec must never wait for its audit row.
 *
 * The writer gathers: woken by the first record of a quiet spell, it waits
 * AUDIT_GATHER_MS for more (or until AUDIT_BATCH are queued) and then logs
 * and stores them all in one transaction. Then it lingers (struct
 * gk_linger): it wakes by itself and stores what came, every 10 ms while
 * decisions keep coming, at doubling intervals (up to 160 ms) while they
 * do not, so nobody wakes it (an exec's reply is never followed by a
 * wake-up of the writer on the other core of a small host); after a quiet
 * second it sleeps until the next record. Readers of the table (`log`,
 * `query`) call audit_sync first, and audit_stop stores everything queued. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatekeeper/control.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/systemd.h"

#define AUDIT_QUEUE_MAX 65536       /* records waiting, including a batch being retried */
#define AUDIT_BATCH 512
#define AUDIT_GATHER_MS 10           /* after a quiet second: the wait for more records */
#define AUDIT_SYNC_MAX_MS 1000       /* audit_sync waits at most this long */
#define AUDIT_PRUNE_EVERY_US (60 * 1000000LL)
#define AUDIT_RETRY_MIN_MS 100       /* a failed store is retried, backing off to... */
#define AUDIT_RETRY_MAX_MS 2000

struct audit_rec {
	struct audit_rec *next;
	enum audit_kind kind;
	bool log_line;             /* policy audit.log_allows: false hides allows */
	struct db_audit a;
	unsigned char sha[GK_SHA256_LEN];
	char policy_sha[GK_SHA256_HEX_LEN + 1];
	char *exe, *path, *detail;
};

/* The writer: one thread, its own SQLite connection. While the store is
 * locked or its disk is full, the batch in hand is kept and retried, and new
 * records wait behind it, AUDIT_QUEUE_MAX in all; beyond that they are
 * dropped and counted (an exec never waits for its audit row). */
struct audit_writer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct audit_rec *head, *tail;
	size_t len;                /* queued + held */
	size_t held;               /* taken by the writer, not yet stored */
	bool stopping;
	bool hurry;                /* audit_sync: store what is queued now */
	struct gk_linger linger;   /* .on: the writer wakes every tick by itself */
	pthread_cond_t stored_cond;
	uint64_t n_submitted, n_done;   /* records queued / stored or dropped, ever */
	pthread_t thread;
	struct gk_db *db;
	struct gk_daemon *d;
	int64_t stalled_since_us;  /* 0: the store takes writes; set by the writer under lock */
	char stall_reason[256];
};

static void rec_free(struct audit_rec *r)
{
	free(r->exe);
	free(r->path);
	free(r->detail);
	free(r);
}

/* A refusal the queue cannot take still gets its log line (the journal
 * keeps what the store cannot): an exec refused must be on record
 * somewhere. Written on the submitting thread, which may be the event
 * reader, and only while the store has stalled with a full queue: at most
 * DROPPED_LINES_PER_S a second, so that a flood cannot stall the reader
 * on the log; audit_dropped counts every record. */
#define DROPPED_LINES_PER_S 10

static void drop_at_submit(struct gk_daemon *d, const struct db_audit *a, enum audit_kind kind)
{
	static _Atomic int64_t window_s;   /* global: a rate over the process's log */
	static atomic_int in_window;
	atomic_fetch_add(&d->stats.audit_dropped, 1);
	if (a->verdict != GK_VERDICT_DENY && !a->would_deny)
		return;
	int64_t now_s = gk_mono_us() / 1000000, seen = atomic_load(&window_s);
	if (seen != now_s && atomic_compare_exchange_strong(&window_s, &seen, now_s))
		atomic_store(&in_window, 0);
	if (atomic_fetch_add(&in_window, 1) < DROPPED_LINES_PER_S)
		audit_log_decision(a, kind);
}

void audit_submit(struct gk_daemon *d, const struct db_audit *a, enum audit_kind kind)
{
	struct audit_rec *r = calloc(1, sizeof(*r));
	if (!r) {
		drop_at_submit(d, a, kind);
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
	memcpy(r->policy_sha, policy_sha256_hex(d->policy), sizeof(r->policy_sha));
	r->log_line = d->policy->audit.log_allows || a->verdict == GK_VERDICT_DENY || a->would_deny;
	pthread_rwlock_unlock(&d->policy_lock);
	r->a.exe = r->exe;
	r->a.path = r->path;
	r->a.detail = r->detail;
	if (!r->exe || !r->path || !r->detail) {
		drop_at_submit(d, a, kind);
		rec_free(r);
		return;
	}
	struct audit_writer *w = d->audit;
	if (w)
		pthread_mutex_lock(&w->lock);
	if (!w || w->len >= AUDIT_QUEUE_MAX || w->stopping) {
		if (w)
			pthread_mutex_unlock(&w->lock);
		drop_at_submit(d, a, kind);
		rec_free(r);
		return;
	}
	/* Wake a sleeping writer for the first record only (it then gathers
	 * and lingers), or when a full batch is waiting: no wake-up per exec. */
	bool wake = (!w->head && !w->linger.on) || w->len + 1 - w->held == AUDIT_BATCH;
	if (w->tail)
		w->tail->next = r;
	else
		w->head = r;
	w->tail = r;
	w->len++;
	w->n_submitted++;
	if (wake)
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void audit_log_decision(const struct db_audit *a, enum audit_kind kind)
{
	char line[32768], hex[GK_SHA256_HEX_LEN + 1] = "", num[32], when[96];
	size_t len = 0;
	time_t secs = (time_t)(a->time_us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(a->time_us % 1000000));
	if (a->sha256)
		gk_sha256_to_hex(a->sha256, hex);
	static const char *const prefix[] = { [AUDIT_EXEC] = "decision", [AUDIT_PRESCAN] = "prescan",
					      [AUDIT_KERNEL] = "kernel_deny" };
	len = (size_t)snprintf(line, sizeof(line), "%s", prefix[kind]);
	log_kv(line, sizeof(line), &len, "time", when);
	snprintf(num, sizeof(num), "%d", a->pid);
	log_kv(line, sizeof(line), &len, "pid", num);
	log_kv(line, sizeof(line), &len, "exe", a->exe);
	log_kv(line, sizeof(line), &len, "path", a->path);
	log_kv(line, sizeof(line), &len, "sha256", hex[0] ? hex : "-");
	log_kv(line, sizeof(line), &len, "verdict", gk_verdict_name(a->verdict));
	log_kv(line, sizeof(line), &len, "source", gk_source_name(a->source));
	log_kv(line, sizeof(line), &len, "detail", a->detail);
	snprintf(num, sizeof(num), "%u", a->latency_us);
	log_kv(line, sizeof(line), &len, "latency_us", num);
	if (kind != AUDIT_PRESCAN) {
		log_kv(line, sizeof(line), &len, "mode", gk_mode_name(a->mode));
		log_kv(line, sizeof(line), &len, "would_deny", a->would_deny ? "1" : "0");
	}
	bool warn = a->would_deny || a->verdict == GK_VERDICT_DENY;
	if (!journal_decision(prefix[kind], a, hex, warn, line))
		log_line(warn ? GK_LOG_WARN : GK_LOG_INFO, line);
}

/* -1: the store refused (locked, disk full...): db_errmsg says why. */
static int store(struct gk_db *db, struct audit_rec *r)
{
	if (r->kind != AUDIT_PRESCAN && db_audit_add(db, &r->a) < 0)
		return -1;
	if (r->kind == AUDIT_KERNEL || !r->a.sha256 || r->a.source == GK_SOURCE_ON_ERROR ||
	    r->a.verdict_for_now)
		return 0;   /* nothing was judged of that content: keep its last real verdict */
	struct db_verdict v = { .decided_at_us = r->a.time_us, .source = r->a.source };
	memcpy(v.sha256, r->a.sha256, GK_SHA256_LEN);
	/* The verdict reached, even where monitor mode let the exec run. */
	v.verdict = r->a.would_deny ? GK_VERDICT_DENY : r->a.verdict;
	snprintf(v.detail, sizeof(v.detail), "%s", r->detail);
	snprintf(v.path, sizeof(v.path), "%s", r->path);
	memcpy(v.policy_sha256, r->policy_sha, sizeof(v.policy_sha256));
	return db_verdict_put(db, &v);
}

/* Store the list in transactions of AUDIT_BATCH. Returns the first record
 * not stored (NULL: all stored); stored records are freed. */
static struct audit_rec *store_all(struct audit_writer *w, struct audit_rec *r)
{
	while (r) {
		struct audit_rec *first = r;
		int n = 0;
		bool ok = db_begin(w->db) == 0;
		for (; ok && r && n < AUDIT_BATCH; r = r->next, n++)
			ok = store(w->db, r) == 0;
		if (ok && db_commit(w->db) == 0) {
			while (first != r) {
				struct audit_rec *next = first->next;
				rec_free(first);
				first = next;
			}
			pthread_mutex_lock(&w->lock);
			w->held -= (size_t)n;
			w->len -= (size_t)n;
			w->n_done += (uint64_t)n;
			pthread_cond_broadcast(&w->stored_cond);
			pthread_mutex_unlock(&w->lock);
			continue;
		}
		snprintf(w->stall_reason, sizeof(w->stall_reason), "%s", db_errmsg(w->db));
		db_rollback(w->db);
		return first;
	}
	return NULL;
}

/* Keep the audit table within the policy's retention bounds. */
static void prune(struct audit_writer *w, int64_t *last_us)
{
	int64_t now = gk_now_us();
	if (now - *last_us < AUDIT_PRUNE_EVERY_US)
		return;
	*last_us = now;
	pthread_rwlock_rdlock(&w->d->policy_lock);
	struct gk_audit_config cfg = w->d->policy->audit;
	pthread_rwlock_unlock(&w->d->policy_lock);
	int64_t n = db_audit_prune(w->db, now - (int64_t)cfg.retain_days * 86400 * 1000000LL,
				   (int64_t)cfg.max_rows);
	if (n < 0)
		log_msg(GK_LOG_ERR, "error=\"audit prune failed\" reason=\"%s\"", db_errmsg(w->db));
	else if (n > 0)
		log_msg(GK_LOG_INFO, "audit_pruned rows=%lld", (long long)n);
}

/* Take what is queued (the log lines go out now, the rows when the store
 * takes them), appended to what is still held. */
static struct audit_rec *take(struct audit_writer *w, struct audit_rec *held, bool wait_for_more,
			      int backoff_ms)
{
	pthread_mutex_lock(&w->lock);
	if (held) {
		struct timespec until = gk_deadline_in_ms(CLOCK_MONOTONIC, backoff_ms);
		/* The full pause, whatever arrives: a full disk fails at once. */
		while (!w->stopping &&
		       pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
			;
	} else {
		if (!w->linger.on)
			while (wait_for_more && !w->head && !w->stopping)
				pthread_cond_wait(&w->cond, &w->lock);
		/* One tick: gather what follows the first record for a moment,
		 * or (lingering) see what came meanwhile. */
		int tick_ms = w->linger.on ? gk_linger_tick_ms(&w->linger) : AUDIT_GATHER_MS;
		struct timespec until = gk_deadline_in_ms(CLOCK_MONOTONIC, tick_ms);
		while ((w->head || w->linger.on) && !w->stopping && !w->hurry &&
		       w->len - w->held < AUDIT_BATCH &&
		       pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
			;
		gk_linger_after(&w->linger, w->head, tick_ms);
	}
	w->hurry = false;
	struct audit_rec *fresh = w->head;
	size_t n = 0;
	for (struct audit_rec *r = fresh; r; r = r->next)
		n++;
	w->head = w->tail = NULL;
	w->held += n;
	pthread_mutex_unlock(&w->lock);
	for (struct audit_rec *r = fresh; r; r = r->next) {
		if (r->log_line)
			audit_log_decision(&r->a, r->kind);
		control_publish(w->d->control, &r->a, (int)r->kind);   /* never waits */
	}
	if (!held)
		return fresh;
	struct audit_rec *last = held;
	while (last->next)
		last = last->next;
	last->next = fresh;
	return held;
}

static void note_stall(struct audit_writer *w, struct audit_rec *held)
{
	int64_t now = gk_now_us(), since = w->stalled_since_us;   /* only this thread writes it */
	if (!held == !since)
		return;
	pthread_mutex_lock(&w->lock);
	w->stalled_since_us = held ? now : 0;
	pthread_mutex_unlock(&w->lock);
	if (held)
		log_msg(GK_LOG_ERR, "audit_store_stalled reason=\"%s\" backlog=%zu", w->stall_reason,
			w->held);
	else
		log_msg(GK_LOG_INFO, "audit_store_resumed after_ms=%lld",
			(long long)((now - since) / 1000));
}

static void drop_held(struct audit_writer *w, struct audit_rec *held)
{
	size_t n = 0;
	while (held) {
		struct audit_rec *next = held->next;
		rec_free(held);
		held = next;
		n++;
	}
	atomic_fetch_add(&w->d->stats.audit_dropped, n);
	pthread_mutex_lock(&w->lock);
	w->held -= n;
	w->len -= n;
	w->n_done += n;
	pthread_cond_broadcast(&w->stored_cond);
	pthread_mutex_unlock(&w->lock);
}

static void *writer_main(void *arg)
{
	struct audit_writer *w = arg;
	pthread_setname_np(pthread_self(), "gk-audit");
	int64_t last_prune = 0;
	int backoff_ms = AUDIT_RETRY_MIN_MS;
	struct audit_rec *held = NULL;
	for (;;) {
		if (!held)
			prune(w, &last_prune);
		held = take(w, held, true, backoff_ms);
		pthread_mutex_lock(&w->lock);
		bool stopping = w->stopping;
		pthread_mutex_unlock(&w->lock);
		if (!held && stopping)
			return NULL;
		held = store_all(w, held);
		note_stall(w, held);
		backoff_ms = held ? (backoff_ms * 2 > AUDIT_RETRY_MAX_MS ? AUDIT_RETRY_MAX_MS :
					      backoff_ms * 2) :
				    AUDIT_RETRY_MIN_MS;
		if (held && stopping) {   /* one last try was made: count the rest */
			log_msg(GK_LOG_ERR, "audit_rows_dropped rows=%zu reason=\"%s\"", w->held,
				w->stall_reason);
			drop_held(w, held);
			return NULL;
		}
	}
}

int audit_start(struct gk_daemon *d)
{
	char err[512];
	struct audit_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	pthread_mutex_init(&w->lock, NULL);
	gk_cond_init_monotonic(&w->cond);
	gk_cond_init_monotonic(&w->stored_cond);
	w->d = d;
	w->db = db_open_another(d->db, err, sizeof(err));
	if (!w->db) {
		log_msg(GK_LOG_ERR, "error=\"%s\"", err);
		goto fail;
	}
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		goto fail;
	d->audit = w;
	return 0;
fail:
	db_close(w->db);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->stored_cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return -1;
}

/* Stores what is queued (one more try if the store refuses), then stops.
 * Safe when audit_start never ran or failed. */
void audit_stop(struct gk_daemon *d)
{
	struct audit_writer *w = d->audit;
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	d->audit = NULL;
	db_close(w->db);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->stored_cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* Wait until what was queued before this call is stored (or dropped), at
 * most AUDIT_SYNC_MAX_MS, and not at all while the store refuses writes:
 * a reader of the audit table sees every decision made before it asked. */
void audit_sync(struct gk_daemon *d)
{
	struct audit_writer *w = d->audit;
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	uint64_t target = w->n_submitted;
	struct timespec until = gk_deadline_in_ms(CLOCK_MONOTONIC, AUDIT_SYNC_MAX_MS);
	while (w->n_done < target && !w->stopping && !w->stalled_since_us) {
		w->hurry = true;
		pthread_cond_broadcast(&w->cond);
		if (pthread_cond_timedwait(&w->stored_cond, &w->lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&w->lock);
}

size_t audit_backlog(struct gk_daemon *d, bool *stalled)
{
	struct audit_writer *w = d->audit;
	*stalled = false;
	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	size_t n = w->len;
	*stalled = w->held > 0 && w->stalled_since_us != 0;
	pthread_mutex_unlock(&w->lock);
	return n;
}
