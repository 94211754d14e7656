/* The daemon's metrics in the Prometheus text exposition format: for
 * `gatekeeper-ctl metrics`, and for the node_exporter textfile the policy
 * can name (metrics.textfile), rewritten every metrics.interval_s seconds
 * through a rename, so the collector never reads half a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/digests.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/metrics.h"
#include "gatekeeper/proto.h"

/* Latency buckets: 2^3 us .. 2^25 us (8 us .. 33.5 s), then +Inf. */
#define POW2_MIN 3
#define POW2_MAX 25

static void metric(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP gatekeeper_%s %s\n# TYPE gatekeeper_%s %s\n", name, help, name, type);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	metric(f, name, "counter", help);
	fprintf(f, "gatekeeper_%s %llu\n", name, (unsigned long long)v);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
	metric(f, name, "gauge", help);
	fprintf(f, "gatekeeper_%s %.17g\n", name, v);
}

#define LOAD(field) ((uint64_t)atomic_load(&d->stats.field))

static void latency_histogram(FILE *f, struct gk_daemon *d)
{
	uint64_t below[POW2_MAX + 1];
	uint64_t total = stats_latency_below_pow2(&d->stats, below, POW2_MAX + 1);
	metric(f, "decision_latency_seconds", "histogram",
	       "Time from reading a permission event to answering it.");
	for (unsigned k = POW2_MIN; k <= POW2_MAX; k++)
		fprintf(f, "gatekeeper_decision_latency_seconds_bucket{le=\"%.6f\"} %llu\n",
			(double)(1ull << k) / 1e6, (unsigned long long)below[k]);
	fprintf(f, "gatekeeper_decision_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)total);
	fprintf(f, "gatekeeper_decision_latency_seconds_sum %.6f\n", (double)LOAD(latency_sum_us) / 1e6);
	fprintf(f, "gatekeeper_decision_latency_seconds_count %llu\n", (unsigned long long)total);
}

static void kernel_cache(FILE *f, struct gk_daemon *d)
{
	struct kcache_stats ks;
	kcache_get_stats(d->kc, &ks);
	if (ks.hits_measurable) {   /* bpf mode; fanotify's ignore marks count nothing */
		metric(f, "kernel_cache_hits_total", "counter",
		       "Execs the kernel answered from its verdict cache, without the daemon.");
		fprintf(f, "gatekeeper_kernel_cache_hits_total{verdict=\"allow\"} %llu\n",
			(unsigned long long)ks.kernel_allows);
		fprintf(f, "gatekeeper_kernel_cache_hits_total{verdict=\"deny\"} %llu\n",
			(unsigned long long)ks.kernel_denies);
		counter(f, "kernel_cache_invalidations_total",
			"Cached verdicts made stale by a write to their file.", ks.invalidations);
		counter(f, "kernel_ringbuf_drops_total", "Kernel audit records lost.", ks.ringbuf_drops);
	}
	counter(f, "kernel_cache_ignore_marks_total", "fanotify ignore marks added (cached allows).",
		ks.ignore_marks);
	counter(f, "kernel_cache_flushes_total", "Whole kernel-cache flushes (rule changes).", ks.flushes);
	gauge(f, "kernel_cache_leases", "Read leases held: cached programs (fanotify mode), execs being judged.",
	      (double)ks.leases_held);
	counter(f, "kernel_cache_lease_breaks_total", "Leases broken by a writer.", ks.lease_breaks);
}

int metrics_format(struct gk_daemon *d, FILE *f)
{
	uint64_t scans, scan_us;
	pthread_rwlock_rdlock(&d->policy_lock);
	metric(f, "info", "gauge", "The running daemon: version, mode and kernel mode.");
	fprintf(f, "gatekeeper_info{version=\"%s\",mode=\"%s\",kernel_mode=\"%s\"} 1\n", GK_VERSION,
		gk_mode_name(d->policy->mode), kcache_mode(d->kc));
	scan_set_times(d->scanners, &scans, &scan_us);
	pthread_rwlock_unlock(&d->policy_lock);
	gauge(f, "start_time_seconds", "When the daemon started (Unix time).",
	      (double)d->started_us / 1e6);
	counter(f, "events_total", "fanotify events read.", LOAD(events));
	counter(f, "permission_events_total", "Permission events (an exec waiting for an answer).",
		LOAD(perm_events));
	metric(f, "decisions_total", "counter", "Execs answered by the daemon, by the answer.");
	fprintf(f, "gatekeeper_decisions_total{verdict=\"allow\"} %llu\n", (unsigned long long)LOAD(allows));
	fprintf(f, "gatekeeper_decisions_total{verdict=\"deny\"} %llu\n", (unsigned long long)LOAD(denies));
	counter(f, "would_deny_total", "Monitor mode: execs allowed that enforce mode would deny.",
		LOAD(would_deny));
	counter(f, "decision_timeouts_total", "Events answered by the decision timeout's verdict.",
		LOAD(timeouts));
	counter(f, "overloads_total", "Events answered by the overload verdict (too many pending).",
		LOAD(overloads));
	counter(f, "queue_overflows_total", "fanotify queue overflows (events the kernel dropped).",
		LOAD(queue_overflows));
	counter(f, "audit_dropped_total", "Audit records dropped (the writer fell behind).",
		LOAD(audit_dropped));
	gauge(f, "queue_depth", "Events read and not yet answered.", (double)LOAD(pending));
	counter(f, "prescans_total", "Newly written executables judged before their first exec.",
		LOAD(prescans));
	counter(f, "prescans_dropped_total", "Pre-scans dropped (judged on first exec instead).",
		LOAD(prescan_dropped));
	counter(f, "first_execs_prejudged_total", "First execs of a file the pre-scan had judged.",
		LOAD(first_execs_prejudged));
	counter(f, "miss_close_waits_total", "Misses that waited for closes queued before them.",
		LOAD(miss_close_waits));
	counter(f, "miss_close_waits_long_total",
		"Of those, waits past 2 ms: the close reader was working or waiting for a CPU.",
		LOAD(miss_close_waits_long));
	counter(f, "miss_digests_rehashed_total",
		"Misses that trusted no kept digest: queued closes not handled in time.",
		LOAD(miss_digests_rehashed));
	struct digests_stats ds;
	digests_get_stats(d->digests, &ds);
	counter(f, "digest_store_hits_total",
		"Lookups in the digest store that found the file's digests.", ds.hits);
	counter(f, "digest_store_misses_total",
		"Lookups in the digest store that found none (the file was hashed).", ds.misses);
	gauge(f, "digest_store_read",
	      "1 while the digest store is read; 0 once this run distrusts it (see status).",
	      ds.unread_why ? 0 : 1);
	kernel_cache(f, d);
	counter(f, "scans_total", "Content scans run (cached results excluded).", scans);
	metric(f, "scan_seconds_total", "counter", "Time spent in content scans.");
	fprintf(f, "gatekeeper_scan_seconds_total %.6f\n", (double)scan_us / 1e6);
	gauge(f, "admin_rules", "Admin rules (gatekeeper-ctl allow|deny).",
	      (double)admin_rules_count(d->admin));
	latency_histogram(f, d);
	return ferror(f) ? -1 : 0;
}

/* ---- the textfile writer ---- */

struct metrics_writer {
	struct gk_daemon *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	int last_errno;        /* log a failure once, not every interval */
	char *recorded;        /* the textfile last found in the record */
};

static int write_textfile(struct gk_daemon *d, const char *path)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);   /* same directory: rename is atomic */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	int rc = metrics_format(d, f);
	if (fclose(f) != 0 || rc < 0 || rename(tmp, path) < 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		return -e;
	}
	return 0;
}

/* Every textfile the daemon wrote, a path a line, beside the store
 * (DB.metrics-textfiles): `apt purge` removes them with the store. The
 * package cannot know them otherwise: the policy named them, and it is a
 * conffile, gone by the time postrm runs. */
static void record_textfile(struct metrics_writer *w, const char *path)
{
	if (w->recorded && !strcmp(w->recorded, path))
		return;
	char list[4200], line[4200];
	if (!w->d->opt.db_path ||
	    snprintf(list, sizeof(list), "%s.metrics-textfiles", w->d->opt.db_path) >= (int)sizeof(list))
		return;
	FILE *f = fopen(list, "a+e");
	if (!f)
		return;
	bool known = false;
	while (!known && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		known = !strcmp(line, path);
	}
	if (!known)
		fprintf(f, "%s\n", path);
	if (fclose(f) == 0) {
		free(w->recorded);
		w->recorded = strdup(path);
	}
}

static void *writer_main(void *arg)
{
	struct metrics_writer *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		pthread_rwlock_rdlock(&w->d->policy_lock);
		const struct gk_metrics_config *mc = &w->d->policy->metrics;
		char *path = mc->textfile ? strdup(mc->textfile) : NULL;
		unsigned interval = path ? mc->interval_s : 1;   /* none: look again soon */
		pthread_rwlock_unlock(&w->d->policy_lock);
		if (path) {
			pthread_mutex_unlock(&w->lock);
			int rc = write_textfile(w->d, path);
			if (rc == 0)
				record_textfile(w, path);
			pthread_mutex_lock(&w->lock);
			if (rc < 0 && -rc != w->last_errno)
				log_msg(GK_LOG_ERR, "metrics textfile=\"%s\" error=\"%s\"", path, strerror(-rc));
			w->last_errno = rc < 0 ? -rc : 0;
			free(path);
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += interval;
		while (!w->stopping && pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct metrics_writer *metrics_writer_start(struct gk_daemon *d)
{
	struct metrics_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->d = d;
	pthread_mutex_init(&w->lock, NULL);
	gk_cond_init_monotonic(&w->wake);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	return w;
}

void metrics_writer_stop(struct metrics_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w->recorded);
	free(w);
}
