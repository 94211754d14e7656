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

/* One engine, shared by every set whose policy configures it the same way,
 * so that a policy change rebuilds only the engines whose configuration
 * changed: a new hash list does not reload ClamAV's signatures, nor a new
 * ClamAV limit the hash lists. */
struct scan_engine {
	atomic_int refs;
	struct scanner *scanner;
	char *config;                   /* what it was built from, for the next policy */
	struct gk_daemon *d;
	/* ClamAV: the engine this one replaces, which answers until this one's
	 * first load has ended (a large database takes tens of seconds). */
	pthread_mutex_t lock;
	struct scan_engine *stand_in;
};

struct scan_set {
	atomic_int refs;
	struct scan_engine *hashlist, *clamav;
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
	/* libclamav counts in signed ints: a larger file is ClamAV's limit
	 * error, whatever a subtree allows (the hash lists have no such cap) */
	if (l.max_file_size > SCANNER_CLAMAV_SIZE_MAX)
		l.max_file_size = SCANNER_CLAMAV_SIZE_MAX;
	/* archives unpack to more than the file: keep libclamav's 4x ratio */
	l.max_scan_size = l.max_file_size * 4;
	if (l.max_scan_size > SCANNER_CLAMAV_SIZE_MAX)
		l.max_scan_size = SCANNER_CLAMAV_SIZE_MAX;
	return l;
}

/* The configuration of each engine as one string ("" when p does not run
 * it): equal strings, same engine. Lengths prefix the paths, which may hold
 * any byte but NUL. NULL: out of memory. */
static char *hashlist_config(const struct gk_policy *p)
{
	const struct gk_scanners *c = &p->scanners;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < c->n_hashlist_files; i++)
		fprintf(f, "%zu:%s", strlen(c->hashlist_files[i]), c->hashlist_files[i]);
	return fclose(f) == 0 ? out : (free(out), NULL);
}

static char *clamav_config(const struct gk_policy *p)
{
	const struct gk_scanners *c = &p->scanners;
	struct scanner_limits l = clamav_limits(p);
	const char *db = c->clamav_database ? c->clamav_database : "";
	char *out = NULL;
	if (!c->clamav_active)
		return strdup("");
	if (asprintf(&out, "%zu:%s %llu %llu %u", strlen(db), db, (unsigned long long)l.max_file_size,
		     (unsigned long long)l.max_scan_size, l.max_scan_ms) < 0)
		return NULL;
	return out;
}

/* *p, leaving NULL in its place: ownership handed over. */
static char *exchange(char **p)
{
	char *v = *p;
	*p = NULL;
	return v;
}

static const char *config_of(const struct scan_engine *e)
{
	return e ? e->config : "";
}

static struct scan_engine *engine_get(struct scan_engine *e)
{
	if (e)
		atomic_fetch_add(&e->refs, 1);
	return e;
}

static void engine_put(struct scan_engine *e)
{
	if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	scanner_close(e->scanner);   /* joins the reload thread: no swap hook runs after */
	engine_put(e->stand_in);
	pthread_mutex_destroy(&e->lock);
	free(e->config);
	free(e);
}

/* Hand the scans back from the stand-in to the engine itself; whether
 * there was one to drop. */
static bool engine_drop_stand_in(struct scan_engine *e)
{
	pthread_mutex_lock(&e->lock);
	struct scan_engine *old = e->stand_in;
	e->stand_in = NULL;
	pthread_mutex_unlock(&e->lock);
	engine_put(old);
	return old != NULL;
}

/* Whether e's first load has not ended yet (neither loaded nor failed). */
static bool first_load_pending(const struct scan_engine *e)
{
	struct scanner_status st;
	scanner_status(e->scanner, &st);
	return st.generation == 0 && st.reloads_failed == 0;
}

/* The scanner that answers for e now: its stand-in until e's first load
 * ends (then held in *held, for engine_put after the scan), else e's own. */
static struct scanner *engine_serving(struct scan_engine *e, struct scan_engine **held)
{
	*held = NULL;
	pthread_mutex_lock(&e->lock);
	bool has_stand_in = e->stand_in != NULL;
	if (has_stand_in && first_load_pending(e))
		*held = engine_get(e->stand_in);
	pthread_mutex_unlock(&e->lock);
	if (has_stand_in && !*held && engine_drop_stand_in(e))
		prejudge_flush(e->d);   /* the first load failed: e answers why, for every file */
	return *held ? (*held)->scanner : e->scanner;
}

/* New signatures: verdicts the kernel caches were reached with the old ones
 * (or, for a load in the background, while none was loaded, or by the
 * stand-in, which is not needed any more). */
static void on_signatures_swapped(void *ctx, const char *engine)
{
	struct scan_engine *e = ctx;
	engine_drop_stand_in(e);
	prejudge_flush(e->d);
	log_msg(GK_LOG_INFO, "signatures_swapped engine=%s kernel_cache=flushed", engine);
}

static struct scan_engine *engine_new(struct gk_daemon *d, char *config)
{
	struct scan_engine *e = config ? calloc(1, sizeof(*e)) : NULL;
	if (!e) {
		free(config);
		return NULL;
	}
	atomic_init(&e->refs, 1);
	e->config = config;
	e->d = d;
	pthread_mutex_init(&e->lock, NULL);
	return e;
}

int scan_check_hashlists(const struct gk_policy *p, char *err, size_t errlen)
{
	char why[512];
	if (scanner_hashlist_check((const char *const *)p->scanners.hashlist_files,
				   p->scanners.n_hashlist_files, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "%s: scanners.hashlist: %s", p->name, why);
	return -1;
}

/* The hash lists load here, at once: a list that cannot be loaded makes
 * the policy fail to apply (err), rather than leave its engine unavailable. */
static struct scan_engine *hashlist_engine(struct gk_daemon *d, const struct gk_policy *p,
					   char *config, char *err, size_t errlen)
{
	struct scan_engine *e = engine_new(d, config);
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	char why[512] = "";
	struct scanner_hashlist_config hc = {
		.files = (const char *const *)p->scanners.hashlist_files,
		.n_files = p->scanners.n_hashlist_files,
		.on_swap = { on_signatures_swapped, e },
	};
	e->scanner = scanner_hashlist_open(&hc, why, sizeof(why));
	if (!e->scanner || why[0]) {
		snprintf(err, errlen, "%s: scanners.hashlist: %s", p->name, why);
		engine_put(e);
		return NULL;
	}
	return e;
}

/* ClamAV loads in the background: starting gatekeeper-scand is an exec,
 * which this daemon's event threads must stay free to answer. Meanwhile
 * the engine it replaces (current), if that one has signatures, answers. */
static struct scan_engine *clamav_engine(struct gk_daemon *d, const struct gk_policy *p,
					 char *config, struct scan_engine *current,
					 char *err, size_t errlen)
{
	const struct gk_options *o = &d->opt;
	struct scan_engine *e = engine_new(d, config);
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (current) {
		struct scan_engine *held;
		struct scanner *serving = engine_serving(current, &held);
		struct scanner_status st;
		scanner_status(serving, &st);
		e->stand_in = st.available ? engine_get(held ? held : current) : NULL;
		engine_put(held);
	}
	char why[512] = "";
	/* one scanner process per thread that may scan at once (event
	 * workers, pre-scan workers, the control thread), so scans never
	 * queue behind each other more than they did in process */
	unsigned procs = o->workers + o->scan_workers + 1;
	struct scanner_clamav_config cc = {
		.db_dir = p->scanners.clamav_database, .limits = clamav_limits(p),
		.load_in_background = true, .scand_path = o->scanner_path, .user = o->scanner_user,
		.processes = procs < SCAN_MAX_PROCESSES ? procs : SCAN_MAX_PROCESSES,
		.on_swap = { on_signatures_swapped, e },
	};
	e->scanner = scanner_clamav_open(&cc, why, sizeof(why));
	if (!e->scanner) {
		snprintf(err, errlen, "scanner: %s", why);
		engine_put(e);
		return NULL;
	}
	if (why[0])
		log_msg(GK_LOG_ERR, "scanner engine=clamav error=\"%s\"", why);
	return e;
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
	engine_put(s->hashlist);
	engine_put(s->clamav);
	if (s->cache)
		pthread_mutex_destroy(&s->cache->lock);
	free(s->cache);
	free(s);
}

/* Each engine of current that p configures the same way is reused, the
 * others are built. Returns a new reference, or NULL with err set when an
 * engine cannot be built: bad configuration, or hash lists that do not
 * load. A ClamAV database that fails to load (in the background) leaves
 * its engine unavailable: its scans answer so, and on_error applies. */
struct scan_set *scan_set_for(struct gk_daemon *d, struct scan_set *current,
			      const struct gk_policy *p, char *err, size_t errlen)
{
	char *hl = hashlist_config(p), *cl = clamav_config(p);
	struct scan_set *s = NULL;
	if (!hl || !cl)
		goto oom;
	struct scan_engine *was_hl = current ? current->hashlist : NULL;
	struct scan_engine *was_cl = current ? current->clamav : NULL;
	bool same_hl = !strcmp(hl, config_of(was_hl)), same_cl = !strcmp(cl, config_of(was_cl));
	if (current && same_hl && same_cl) {
		free(hl);
		free(cl);
		scan_set_get(current);
		return current;
	}
	scanner_set_logger(log_scanner_line, NULL);
	if (!(s = calloc(1, sizeof(*s))) || !(s->cache = calloc(1, sizeof(*s->cache))))
		goto oom;
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->cache->lock, NULL);
	if (current) {   /* the metrics' counters never go back */
		atomic_init(&s->scans, atomic_load(&current->scans));
		atomic_init(&s->scan_us, atomic_load(&current->scan_us));
	}
	/* hashlist_engine and clamav_engine take their config, even on failure */
	if (same_hl)
		s->hashlist = engine_get(was_hl);
	else if (hl[0] && !(s->hashlist = hashlist_engine(d, p, exchange(&hl), err, errlen)))
		goto fail;
	if (same_cl)
		s->clamav = engine_get(was_cl);
	else if (cl[0] && !(s->clamav = clamav_engine(d, p, exchange(&cl), was_cl, err, errlen)))
		goto fail;
	free(hl);
	free(cl);
	return s;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(hl);
	free(cl);
	scan_set_put(s);
	return NULL;
}

void scan_set_reload(struct scan_set *s)
{
	if (s && s->hashlist)
		scanner_reload(s->hashlist->scanner);
	if (s && s->clamav)
		scanner_reload(s->clamav->scanner);
}

static bool engine_owns_pid(struct scan_engine *e, pid_t pid)
{
	if (!e)
		return false;
	pthread_mutex_lock(&e->lock);
	bool mine = scanner_owns_pid(e->scanner, pid) ||
		    (e->stand_in && scanner_owns_pid(e->stand_in->scanner, pid));
	pthread_mutex_unlock(&e->lock);
	return mine;
}

bool scan_owns_exec(struct gk_daemon *d, pid_t pid)
{
	pthread_rwlock_rdlock(&d->policy_lock);
	bool mine = d->scanners && engine_owns_pid(d->scanners->clamav, pid);
	pthread_rwlock_unlock(&d->policy_lock);
	return mine;
}

void scan_set_report(struct scan_set *s, struct proto_buf *reply)
{
	struct scan_engine *engines[] = { s ? s->hashlist : NULL, s ? s->clamav : NULL };
	for (size_t i = 0; i < 2; i++) {
		if (!engines[i])
			continue;
		struct scanner_status st;
		char line[512];
		struct scan_engine *held;
		scanner_status(engines[i]->scanner, &st);
		struct scanner *serving = engine_serving(engines[i], &held);
		engine_put(held);
		snprintf(line, sizeof(line), "%s: %s, %u signatures, generation %llu%s%s%s%s", st.engine,
			 st.available ? "available" : "unavailable", st.signatures,
			 (unsigned long long)st.generation, st.reloading ? ", reloading" : "",
			 serving != engines[i]->scanner ? ", the previous engine answers until loaded" : "",
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

/* Whether the file is within the plan's size limit; else the error. */
static bool within_size(int fd, const struct gk_scan_plan *plan, struct scan_result *out)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		out->status = SCAN_ERROR;
		snprintf(out->detail, sizeof(out->detail), "cannot stat file: %s", strerror(errno));
		return false;
	}
	if ((uint64_t)st.st_size > plan->max_file_size) {
		out->status = SCAN_ERROR;
		snprintf(out->detail, sizeof(out->detail), "limit exceeded: max_file_size (%lld > %llu bytes)",
			 (long long)st.st_size, (unsigned long long)plan->max_file_size);
		return false;
	}
	return true;
}

/* Scan with the engines given, within the plan's time limit. */
static void scan_timed(struct scan_set *s, struct scanner *const *list, size_t n, int fd,
		       const unsigned char *sha, const struct gk_scan_plan *plan,
		       struct scan_result *out)
{
	int64_t start = gk_mono_us();
	scanner_scan_all_within(list, n, fd, sha, plan->max_scan_time_ms, out);
	atomic_fetch_add(&s->scans, 1);
	atomic_fetch_add(&s->scan_us, (uint64_t)(gk_mono_us() - start));
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
	}
}

/* Does the hash list of the scan (list[0] when engines has it) list sha?
 * It goes by the digest alone, never by what fd holds. */
static bool listed_by_digest(struct scanner *const *list, unsigned engines, int fd,
			     const unsigned char *sha)
{
	struct scan_result r;
	if (!(engines & 1))
		return false;
	scanner_scan_all_within(list, 1, fd, sha, 0, &r);
	return r.status == SCAN_INFECTED;
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
	struct scan_engine *stand_in = NULL;
	size_t n = 0;
	unsigned engines = 0;
	enum file_reread seen = FILE_REREAD_KEEP;
	memset(out, 0, sizeof(*out));
	if (plan->hashlist && s && s->hashlist)
		list[n++] = s->hashlist->scanner, engines |= 1;
	if (plan->clamav && s && s->clamav)
		list[n++] = engine_serving(s->clamav, &stand_in), engines |= 2;
	if (!n)
		return FILE_REREAD_KEEP;   /* the engines this path wants are not configured: clean */
	uint64_t hl = generation(engines & 1 ? s->hashlist->scanner : NULL);
	uint64_t cl = generation(engines & 2 ? s->clamav->scanner : NULL);
	/* a cached result was computed on sha's content, whatever fd holds now */
	if (within_size(fd, plan, out) && !cache_get(s->cache, sha, engines, hl, cl, out)) {
		scan_timed(s, list, n, fd, sha, plan, out);
		seen = reread ? reread->check(reread->ctx, fd) : FILE_REREAD_KEEP;
		/* A hash list's detection is sha's whatever the file holds now, and
		 * refusing the exec is safe: it decides, this judgement only. */
		if (seen == FILE_REREAD_CHANGED && out->status == SCAN_INFECTED &&
		    listed_by_digest(list, engines, fd, sha))
			seen = FILE_REREAD_FOR_NOW;
		/* A detection or a clean of other content than sha's says nothing
		 * of sha's: neither may decide for it. */
		if (seen == FILE_REREAD_CHANGED && out->status != SCAN_ERROR) {
			out->status = SCAN_ERROR;
			snprintf(out->detail, sizeof(out->detail), "file changed while it was scanned");
		}
		/* an error may pass (a reload, a load in progress); a stand-in's
		 * answer is not the generation's */
		if (out->status != SCAN_ERROR && !stand_in && seen == FILE_REREAD_KEEP)
			cache_put(s->cache, sha, engines, hl, cl, out);
	}
	engine_put(stand_in);
	return seen;
}

void scan_set_times(struct scan_set *s, uint64_t *scans, uint64_t *scan_us)
{
	*scans = s ? atomic_load(&s->scans) : 0;
	*scan_us = s ? atomic_load(&s->scan_us) : 0;
}
