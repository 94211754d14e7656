/* The daemon's scanning step: the engines the policy configures, shared by
 * every worker through a reference-counted set that a policy change swaps
 * whole, and a cache of results by content (SHA-256) and signature
 * generation, so that a content is scanned once per signature set.
 *
 * The hash-list engine runs here (OpenSSL digests over the fd, no format
 * parsing). ClamAV runs in gatekeeper-scand processes (scanner/): this
 * daemon never maps libclamav and never parses a file format. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/prejudge.h"
#include "gatekeeper/proto.h"
#include "scanner/scanner.h"

#define SCAN_CACHE_SLOTS 4096
#define SCAN_MAX_PROCESSES 64u

struct scan_cache_slot {
	unsigned char sha[GK_SHA256_LEN];
	uint64_t hl_gen, cl_gen;
	unsigned engines;               /* 1 hashlist, 2 clamav */
	bool used;
	struct scan_result result;
};

/* Results by content and signature generations; one per set, so a policy
 * that changes the engines starts with an empty one. */
struct scan_cache {
	pthread_mutex_t lock;
	struct scan_cache_slot slot[SCAN_CACHE_SLOTS];
};

struct scan_set {
	atomic_int refs;
	struct scanner *hashlist, *clamav;
	char **files;                   /* owned copies for comparing the next config */
	size_t n_files;
	char *clamav_db;
	bool clamav_on;
	struct scan_cache *cache;
	atomic_uint_fast64_t scans, scan_us;   /* for the metrics */
};

static void log_scanner_line(void *ctx, enum scanner_log_level level, const char *msg)
{
	(void)ctx;
	log_msg(level == SCANNER_LOG_ERR ? GK_LOG_ERR : level == SCANNER_LOG_WARN ? GK_LOG_WARN : GK_LOG_INFO,
		"scanner message=\"%s\"", msg);
}

/* libclamav takes one set of limits per engine: the widest any subtree
 * asks for. The size limit of each subtree is checked before scanning. */
static struct scanner_limits clamav_limits(const struct gk_policy *p)
{
	struct scanner_limits l = { .max_scan_ms = GK_SCAN_DEFAULT_MAX_SCAN_MS,
				    .max_file_size = GK_SCAN_DEFAULT_MAX_FILE_SIZE };
	for (size_t i = 0; i < p->n_scan; i++) {
		if (p->scan[i].max_scan_time_ms > l.max_scan_ms)
			l.max_scan_ms = p->scan[i].max_scan_time_ms;
		if (p->scan[i].max_file_size > l.max_file_size)
			l.max_file_size = p->scan[i].max_file_size;
	}
	/* archives unpack to more than the file: keep libclamav's 4x ratio */
	l.max_scan_size = l.max_file_size * 4;
	return l;
}

static bool same_config(const struct scan_set *s, const struct gk_policy *p)
{
	const struct gk_scanners *c = &p->scanners;
	if (s->n_files != c->n_hashlist_files || s->clamav_on != c->clamav_active)
		return false;
	for (size_t i = 0; i < s->n_files; i++)
		if (strcmp(s->files[i], c->hashlist_files[i]))
			return false;
	return !s->clamav_on || !strcmp(s->clamav_db, c->clamav_database);
}

void scan_set_get(struct scan_set *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
}

void scan_set_put(struct scan_set *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	scanner_close(s->hashlist);
	scanner_close(s->clamav);
	for (size_t i = 0; i < s->n_files; i++)
		free(s->files[i]);
	free(s->files);
	free(s->clamav_db);
	if (s->cache)
		pthread_mutex_destroy(&s->cache->lock);
	free(s->cache);
	free(s);
}

/* New signatures: verdicts the kernel caches were reached with the old ones
 * (or, for a load in the background, while none was loaded). */
static void on_signatures_swapped(void *ctx, const char *engine)
{
	struct gk_daemon *d = ctx;
	prejudge_flush(d);
	log_msg(GK_LOG_INFO, "signatures_swapped engine=%s kernel_cache=flushed", engine);
}

/* Reuse the current set if the policy's engines did not change. Returns a
 * new reference, or NULL with err set when an engine cannot even be created
 * (bad configuration). An engine whose signatures fail to load is created
 * all the same: its scans answer "unavailable", and on_error applies.
 * ClamAV loads in the background: starting gatekeeper-scand is an exec,
 * which this daemon's event threads must stay free to answer. */
struct scan_set *scan_set_for(struct gk_daemon *d, struct scan_set *current,
			      const struct gk_policy *p, char *err, size_t errlen)
{
	const struct gk_options *o = &d->opt;
	const struct scanner_swap_hook on_swap = { on_signatures_swapped, d };
	if (current && same_config(current, p)) {
		atomic_fetch_add(&current->refs, 1);
		return current;
	}
	scanner_set_logger(log_scanner_line, NULL);
	struct scan_set *s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	atomic_init(&s->refs, 1);
	if (current) {   /* the metrics' counters never go back */
		atomic_init(&s->scans, atomic_load(&current->scans));
		atomic_init(&s->scan_us, atomic_load(&current->scan_us));
	}
	s->n_files = p->scanners.n_hashlist_files;
	s->clamav_on = p->scanners.clamav_active;
	s->files = calloc(s->n_files + 1, sizeof(char *));
	s->clamav_db = strdup(p->scanners.clamav_database ? p->scanners.clamav_database : "");
	s->cache = calloc(1, sizeof(*s->cache));
	if (!s->files || !s->clamav_db || !s->cache)
		goto oom;
	pthread_mutex_init(&s->cache->lock, NULL);
	for (size_t i = 0; i < s->n_files; i++)
		if (!(s->files[i] = strdup(p->scanners.hashlist_files[i])))
			goto oom;
	char why[512] = "";
	if (s->n_files) {
		struct scanner_hashlist_config hc = { .files = (const char *const *)s->files,
						      .n_files = s->n_files, .on_swap = on_swap };
		s->hashlist = scanner_hashlist_open(&hc, why, sizeof(why));
		if (!s->hashlist)
			goto fail;
		if (why[0])
			log_msg(GK_LOG_ERR, "scanner engine=hashlist error=\"%s\"", why);
	}
	if (s->clamav_on) {
		why[0] = '\0';
		/* one scanner process per thread that may scan at once (event
		 * workers, pre-scan workers, the control thread), so scans never
		 * queue behind each other more than they did in process */
		unsigned procs = o->workers + o->scan_workers + 1;
		struct scanner_clamav_config cc = {
			.db_dir = s->clamav_db, .limits = clamav_limits(p), .load_in_background = true,
			.scand_path = o->scanner_path, .user = o->scanner_user,
			.processes = procs < SCAN_MAX_PROCESSES ? procs : SCAN_MAX_PROCESSES,
			.on_swap = on_swap,
		};
		s->clamav = scanner_clamav_open(&cc, why, sizeof(why));
		if (!s->clamav)
			goto fail;
		if (why[0])
			log_msg(GK_LOG_ERR, "scanner engine=clamav error=\"%s\"", why);
	}
	return s;
oom:
	snprintf(err, errlen, "out of memory");
	scan_set_put(s);
	return NULL;
fail:
	snprintf(err, errlen, "scanner: %s", why);
	scan_set_put(s);
	return NULL;
}

void scan_set_reload(struct scan_set *s)
{
	if (s && s->hashlist)
		scanner_reload(s->hashlist);
	if (s && s->clamav)
		scanner_reload(s->clamav);
}

static bool scan_set_owns_pid(struct scan_set *s, pid_t pid)
{
	return s && scanner_owns_pid(s->clamav, pid);
}

bool scan_owns_exec(struct gk_daemon *d, pid_t pid)
{
	pthread_rwlock_rdlock(&d->policy_lock);
	bool mine = scan_set_owns_pid(d->scanners, pid);
	pthread_rwlock_unlock(&d->policy_lock);
	return mine;
}

void scan_set_report(struct scan_set *s, struct proto_buf *reply)
{
	struct scanner *engines[] = { s ? s->hashlist : NULL, s ? s->clamav : NULL };
	for (size_t i = 0; i < 2; i++) {
		if (!engines[i])
			continue;
		struct scanner_status st;
		char line[512];
		scanner_status(engines[i], &st);
		snprintf(line, sizeof(line), "%s: %s, %u signatures, generation %llu%s%s%s", st.engine,
			 st.available ? "available" : "unavailable", st.signatures,
			 (unsigned long long)st.generation, st.reloading ? ", reloading" : "",
			 st.last_error[0] ? ", last error: " : "", st.last_error);
		proto_arr(reply, "scanners", line);
	}
}

static uint64_t generation(struct scanner *s)
{
	if (!s)
		return 0;
	struct scanner_status st;
	scanner_status(s, &st);
	return st.generation;
}

static bool cache_get(struct scan_cache *c, const unsigned char *sha, unsigned engines,
		      uint64_t hl, uint64_t cl, struct scan_result *out)
{
	size_t slot = ((size_t)sha[0] << 8 | sha[1]) % SCAN_CACHE_SLOTS;
	pthread_mutex_lock(&c->lock);
	struct scan_cache_slot *e = &c->slot[slot];
	bool hit = e->used && e->engines == engines && e->hl_gen == hl && e->cl_gen == cl &&
		   !memcmp(e->sha, sha, GK_SHA256_LEN);
	if (hit)
		*out = e->result;
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static void cache_put(struct scan_cache *c, const unsigned char *sha, unsigned engines,
		      uint64_t hl, uint64_t cl, const struct scan_result *r)
{
	size_t slot = ((size_t)sha[0] << 8 | sha[1]) % SCAN_CACHE_SLOTS;
	pthread_mutex_lock(&c->lock);
	struct scan_cache_slot *e = &c->slot[slot];
	memcpy(e->sha, sha, GK_SHA256_LEN);
	e->engines = engines;
	e->hl_gen = hl;
	e->cl_gen = cl;
	e->result = *r;
	e->used = true;
	pthread_mutex_unlock(&c->lock);
}

/* Scan fd as plan says. Errors (limits included) are results, never
 * failures: the policy's on_error decides what they mean. The scan reads
 * the file again, in another process, well after sha was read from it: a
 * result is cached under sha only when reread says the file cannot have
 * changed between the two reads (a rewrite meanwhile would otherwise store
 * the new content's "clean" under the old content's digest). */
enum file_reread scan_with_plan(struct scan_set *s, int fd, const unsigned char *sha,
				const struct gk_scan_plan *plan, const struct scan_reread *reread,
				struct scan_result *out)
{
	struct scanner *list[2];
	size_t n = 0;
	unsigned engines = 0;
	if (plan->hashlist && s && s->hashlist)
		list[n++] = s->hashlist, engines |= 1;
	if (plan->clamav && s && s->clamav)
		list[n++] = s->clamav, engines |= 2;
	memset(out, 0, sizeof(*out));
	if (!n)
		return FILE_REREAD_KEEP;   /* the engines this path wants are not configured: clean */
	struct stat st;
	if (fstat(fd, &st) < 0) {
		out->status = SCAN_ERROR;
		snprintf(out->detail, sizeof(out->detail), "cannot stat file: %s", strerror(errno));
		return FILE_REREAD_KEEP;
	}
	if ((uint64_t)st.st_size > plan->max_file_size) {
		out->status = SCAN_ERROR;
		snprintf(out->detail, sizeof(out->detail), "limit exceeded: max_file_size (%lld > %llu bytes)",
			 (long long)st.st_size, (unsigned long long)plan->max_file_size);
		return FILE_REREAD_KEEP;
	}
	uint64_t hl = generation(engines & 1 ? s->hashlist : NULL);
	uint64_t cl = generation(engines & 2 ? s->clamav : NULL);
	if (cache_get(s->cache, sha, engines, hl, cl, out))
		return FILE_REREAD_KEEP;   /* computed on sha's content, whatever fd holds now */
	int64_t start = gk_mono_us();
	scanner_scan_all_within(list, n, fd, sha, plan->max_scan_time_ms, out);
	atomic_fetch_add(&s->scans, 1);
	atomic_fetch_add(&s->scan_us, (uint64_t)(gk_mono_us() - start));
	enum file_reread seen = reread ? reread->check(reread->ctx, fd) : FILE_REREAD_KEEP;
	/* libclamav stops at the widest limit of all subtrees, the scanner
	 * process is killed soon after this subtree's own limit; a result that
	 * came too late is not used */
	int64_t took_ms = (gk_mono_us() - start) / 1000;
	if (took_ms > (int64_t)plan->max_scan_time_ms) {
		bool killed = out->status == SCAN_ERROR && strstr(out->detail, "process killed");
		out->status = SCAN_ERROR;
		snprintf(out->detail, sizeof(out->detail), "limit exceeded: max_scan_time_ms (%lld > %u ms)%s",
			 (long long)took_ms, plan->max_scan_time_ms,
			 killed ? ", scanner process killed" : "");
		return seen;
	}
	/* A detection or a clean of other content than sha's says nothing of
	 * sha's: neither may decide for it. */
	if (seen == FILE_REREAD_CHANGED && out->status != SCAN_ERROR) {
		out->status = SCAN_ERROR;
		snprintf(out->detail, sizeof(out->detail), "file changed while it was scanned");
	}
	/* an error may pass (a reload, a load in progress) */
	if (out->status != SCAN_ERROR && seen == FILE_REREAD_KEEP)
		cache_put(s->cache, sha, engines, hl, cl, out);
	return seen;
}

void scan_set_times(struct scan_set *s, uint64_t *scans, uint64_t *scan_us)
{
	*scans = s ? atomic_load(&s->scans) : 0;
	*scan_us = s ? atomic_load(&s->scan_us) : 0;
}
