/* trust: open the index, answer lookups, report. A lookup maps the path the
 * kernel reports to the paths packages list (dpkg --root, merged-/usr
 * aliases both ways, diversions as dpkg applies them), then compares the
 * file's MD5 with what dpkg recorded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gatekeeper/digests.h"
#include "gatekeeper/prejudge.h"
#include "gatekeeper/proto.h"
#include "gatekeeper/trust_internal.h"

#define MAX_HITS 8
#define MAX_NAMES 2
/* refreshes before one lookup, while dpkg keeps changing its files */
#define SYNC_REFRESHES_MAX 3

struct trust *trust_open(const struct gk_policy *p, const struct gk_db *store, char *err,
			 size_t errlen)
{
	struct trust *t;

	err[0] = '\0';
	if (!p || p->n_trust == 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "trust: out of memory");
		return NULL;
	}
	t->ifd = t->stop_fd = t->wd_admin = t->wd_info = -1;
	pthread_mutex_init(&t->lookup_lock, NULL);
	pthread_mutex_init(&t->refresh_lock, NULL);
	t->root = strdup(p->trust[0].root);
	t->admindir = strdup(p->trust[0].admindir);
	t->store = store;
	if (!t->root || !t->admindir) {
		snprintf(err, errlen, "trust: out of memory");
		goto fail;
	}
	if (!(t->wdb = db_open_another(store, err, errlen)) ||
	    !(t->rdb = db_open_another(store, err, errlen)))
		goto fail;
	if (db_trust_source(t->wdb, t->admindir, &t->source_id, NULL, NULL) < 0) {
		snprintf(err, errlen, "%s", db_errmsg(t->wdb));
		goto fail;
	}
	/* Follow first: a change made while the first refresh runs is pending. */
	if (trust_follow_start(t, err, errlen) < 0)
		goto fail;
	pthread_mutex_lock(&t->refresh_lock);
	int rc = trust_index_start(t);
	pthread_mutex_unlock(&t->refresh_lock);
	if (rc < 0) {
		snprintf(err, errlen, "trust: %s", t->last_error);
		goto fail;
	}
	return t;
fail:
	trust_close(t);
	return NULL;
}

void trust_close(struct trust *t)
{
	if (!t)
		return;
	trust_follow_stop(t);
	db_close(t->wdb);
	db_close(t->rdb);
	dpkg_diversions_free(&t->divs);
	pthread_mutex_destroy(&t->lookup_lock);
	pthread_mutex_destroy(&t->refresh_lock);
	free(t->root);
	free(t->admindir);
	free(t);
}

struct path_walk {
	const char *root;
	int (*fn)(void *ctx, const char *path);
	void *ctx;
};

static int under_root(void *ctx, const char *listed)
{
	struct path_walk *w = ctx;
	char path[4096];

	if (snprintf(path, sizeof(path), "%s%s", w->root, listed) >= (int)sizeof(path))
		return 0;   /* no such file can be opened either */
	return w->fn(w->ctx, path);
}

int trust_foreach_path(struct trust *t, int (*fn)(void *ctx, const char *path), void *ctx)
{
	char err[320];
	struct path_walk w = { .root = strcmp(t->root, "/") ? t->root : "", .fn = fn, .ctx = ctx };
	/* A connection of its own: a walk of thousands of rows must not hold
	 * the lookups' connection (and lock) that execs wait on. */
	struct gk_db *db = db_open_another(t->store, err, sizeof(err));

	if (!db) {
		log_msg(GK_LOG_ERR, "error=\"trust: %s\"", err);
		return -1;
	}
	int rc = db_trust_paths_foreach(db, t->source_id, under_root, &w);
	if (rc < 0)
		log_msg(GK_LOG_ERR, "error=\"trust: %s\"", db_errmsg(db));
	db_close(db);
	return rc;
}

bool trust_changes_pending(struct trust *t)
{
	return t && atomic_load(&t->pending);
}

/* Called (from the follower thread or a miss) after a refresh changed what
 * is trusted, so that cached allows of files no longer trusted go. */
static void trust_on_change(struct trust *t, void (*fn)(void *ctx), void *ctx)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->refresh_lock);
	t->on_change = fn;
	t->on_change_ctx = ctx;
	pthread_mutex_unlock(&t->refresh_lock);
}

int trust_refresh(struct trust *t)
{
	int rc;

	pthread_mutex_lock(&t->refresh_lock);
	rc = trust_index_refresh(t);
	pthread_mutex_unlock(&t->refresh_lock);
	return rc;
}

/* The names packages may list for rel: itself, and its merged-/usr twin. */
static size_t listed_names(struct trust *t, const char *rel, char names[MAX_NAMES][4096])
{
	size_t n = 0;

	snprintf(names[n++], sizeof(names[0]), "%s", rel);
	for (size_t i = 0; i < t->n_aliases && n < MAX_NAMES; i++) {
		size_t len = strlen(t->aliases[i]);

		if (!strncmp(rel, "/usr/", 5) && !strncmp(rel + 5, t->aliases[i], len) &&
		    rel[5 + len] == '/')
			snprintf(names[n++], sizeof(names[0]), "%s", rel + 4);
		else if (rel[0] == '/' && !strncmp(rel + 1, t->aliases[i], len) && rel[1 + len] == '/')
			snprintf(names[n++], sizeof(names[0]), "/usr%s", rel);
	}
	return n;
}

static bool pkg_is(const char *stem, const char *name)
{
	char own[DB_TRUST_NAME_MAX];

	dpkg_stem_name(stem, own, sizeof(own));
	return strcmp(own, name) == 0;
}

/* Hits of one listed name; keep(hit) says whether its file sits there. */
static size_t query(struct trust *t, const char *name, const struct dpkg_diversion *away,
		    bool diverted_here, struct db_trust_hit *out, size_t room)
{
	struct db_trust_hit hits[MAX_HITS];
	size_t n = 0, kept = 0;

	if (db_trust_lookup(t->rdb, t->source_id, name, hits, MAX_HITS, &n) < 0)
		return 0;
	for (size_t i = 0; i < n && kept < room; i++) {
		bool owner = away && away->by && pkg_is(hits[i].stem, away->by);

		/* Diverted away from here: only the diverting package's own copy
		 * stays. Diverted to here: every copy but the diverting one's. */
		if (away && !diverted_here && !owner)
			continue;
		if (away && diverted_here && owner)
			continue;
		out[kept++] = hits[i];
	}
	return kept;
}

/* Every package whose copy of a file is installed at path. */
static size_t candidates(struct trust *t, const char *path, struct db_trust_hit *out)
{
	char names[MAX_NAMES][4096];
	const char *rel = path;
	size_t root_len = strlen(t->root), n_names, n = 0;

	if (strcmp(t->root, "/") != 0) {
		if (strncmp(path, t->root, root_len) != 0 || path[root_len] != '/')
			return 0;
		rel = path + root_len;
	}
	pthread_mutex_lock(&t->lookup_lock);
	n_names = listed_names(t, rel, names);
	for (size_t k = 0; k < n_names; k++) {
		const struct dpkg_diversion *away = NULL;

		for (size_t i = 0; i < t->divs.n; i++) {
			const struct dpkg_diversion *d = &t->divs.d[i];

			if (!strcmp(d->to, names[k]))
				n += query(t, d->from, d, true, out + n, MAX_HITS - n);
			if (!strcmp(d->from, names[k]))
				away = d;
		}
		n += query(t, names[k], away, false, out + n, MAX_HITS - n);
	}
	pthread_mutex_unlock(&t->lookup_lock);
	return n;
}

/* SHA-256 and MD5 of an unchanged file, in one read (or from the store). */
static int both_digests(struct digests *store, int fd, struct file_id *id, unsigned char *sha,
			unsigned char *md5, const atomic_bool *cancel)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		struct file_id after;

		if (file_id_of_fd(fd, id) < 0 || digests_read(store, fd, id, sha, md5, cancel) < 0 ||
		    file_id_of_fd(fd, &after) < 0)
			return -1;
		if (file_id_same(id, &after))
			return 0;
	}
	errno = EAGAIN;
	return -1;
}

static void name_of(const char *stem, char *out, size_t size)
{
	dpkg_stem_name(stem, out, size);
}

static void judge_hits(const struct db_trust_hit *hits, size_t n, const unsigned char *md5,
		       struct trust_result *out)
{
	char name[DB_TRUST_NAME_MAX];
	const struct db_trust_hit *with_md5 = NULL;

	out->match = n ? GK_TRUST_NO_DIGEST : GK_TRUST_NOT_PACKAGED;
	out->detail[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!hits[i].has_md5)
			continue;
		if (md5 && memcmp(hits[i].md5, md5, GK_MD5_LEN) == 0) {
			name_of(hits[i].stem, name, sizeof(name));
			out->match = GK_TRUST_MATCH;
			snprintf(out->detail, sizeof(out->detail), "dpkg %s %s", name, hits[i].version);
			return;
		}
		with_md5 = with_md5 ? with_md5 : &hits[i];
	}
	if (with_md5)
		out->match = GK_TRUST_DIFFERS;
	if (n)
		name_of((with_md5 ? with_md5 : &hits[0])->stem, out->detail, sizeof(out->detail));
}

static int lookup_once(struct trust *t, struct hash_cache *hc, int fd, const char *path, struct file_id *id,
		       unsigned char *sha, struct trust_result *out, const atomic_bool *cancel,
		       uint64_t guard)
{
	struct db_trust_hit hits[MAX_HITS];
	unsigned char md5[GK_MD5_LEN];
	size_t n = path && path[0] == '/' ? candidates(t, path, hits) : 0;
	bool need_md5 = false;

	for (size_t i = 0; i < n; i++)
		need_md5 |= hits[i].has_md5;
	if (need_md5 ? both_digests(hash_cache_store(hc), fd, id, sha, md5, cancel)
		     : identify_fd_guarded(hc, fd, id, sha, cancel, guard))
		return -1;
	judge_hits(hits, n, need_md5 ? md5 : NULL, out);
	return 0;
}

static int identify(struct trust *t, struct hash_cache *hc, int fd, const char *path,
		    struct file_id *id, unsigned char sha[GK_SHA256_LEN], struct trust_result *out,
		    const atomic_bool *cancel, uint64_t guard, bool apply_pending)
{
	memset(out, 0, sizeof(*out));
	if (!t)
		return identify_fd_guarded(hc, fd, id, sha, cancel, guard);
	atomic_fetch_add(&t->lookups, 1);
	/* dpkg may have just unpacked it (a postinst runs its new binary before
	 * any hook could tell us), or removed its package: apply what inotify
	 * has queued before answering. One read(2) when nothing is pending.
	 * dpkg may change its files while a refresh reads them (status
	 * rewritten and the journal emptied between the two reads, md5sums
	 * moved from tmp.ci/ into info/): what it changed meanwhile is
	 * pending again, and read again, a few times at most. Not when asked
	 * for the index as it is: no wait on the refresh lock either. */
	if (apply_pending) {
		pthread_mutex_lock(&t->refresh_lock);
		for (int i = 0; i < SYNC_REFRESHES_MAX && trust_follow_drain(t); i++) {
			atomic_fetch_add(&t->sync_refreshes, 1);
			trust_index_refresh(t);
		}
		pthread_mutex_unlock(&t->refresh_lock);
	}
	if (lookup_once(t, hc, fd, path, id, sha, out, cancel, guard) < 0)
		return -1;
	atomic_fetch_add(out->match == GK_TRUST_MATCH ? &t->trusted :
			 out->match == GK_TRUST_DIFFERS ? &t->differs :
			 out->match == GK_TRUST_NO_DIGEST ? &t->no_digest : &t->not_packaged, 1);
	return 0;
}

int trust_identify(struct trust *t, struct hash_cache *hc, int fd, const char *path,
		   struct file_id *id, unsigned char sha[GK_SHA256_LEN], struct trust_result *out,
		   const atomic_bool *cancel, uint64_t guard)
{
	return identify(t, hc, fd, path, id, sha, out, cancel, guard, true);
}

int trust_identify_indexed(struct trust *t, struct hash_cache *hc, int fd, const char *path,
			   struct file_id *id, unsigned char sha[GK_SHA256_LEN],
			   struct trust_result *out, const atomic_bool *cancel, uint64_t guard)
{
	return identify(t, hc, fd, path, id, sha, out, cancel, guard, false);
}

bool trust_written_by_dpkg(const struct trust *t, pid_t pid, const char *exe)
{
	char proc[32];
	struct stat st;

	if (!t || !exe || strcmp(exe, "/usr/bin/dpkg") != 0)
		return false;
	/* /proc/PID belongs to the process's effective uid. Only root's dpkg:
	 * `dpkg --force-not-root` can write anywhere its user may. */
	snprintf(proc, sizeof(proc), "/proc/%d", (int)pid);
	return stat(proc, &st) == 0 && st.st_uid == 0;
}

static void flush_kernel_cache(void *ctx)
{
	struct gk_daemon *d = ctx;

	/* Allows cached for files no longer trusted (apt remove, a changed
	 * md5sums) must go; the walk and the next misses refill. */
	prejudge_flush(d);
}

int trust_daemon_start(struct gk_daemon *d, char *err, size_t errlen)
{
	int64_t began = gk_mono_us();

	if (!(d->digests = digests_open(d->db, err, errlen)))
		return -1;
	d->trust = trust_open(d->policy, d->db, err, errlen);
	if (!d->trust && err[0])
		return -1;
	trust_on_change(d->trust, flush_kernel_cache, d);
	if (d->trust)
		log_msg(GK_LOG_INFO, "trust_started source=dpkg admindir=%s took_us=%lld",
			d->trust->admindir, (long long)(gk_mono_us() - began));
	return 0;
}

void trust_daemon_stop(struct gk_daemon *d)
{
	trust_close(d->trust);
	d->trust = NULL;
	hash_cache_use_store(d->hashes, NULL);
	digests_close(d->digests);
	d->digests = NULL;
}

bool trust_policy_compatible(const struct gk_daemon *d, const struct gk_policy *p, char *err,
			     size_t errlen)
{
	const struct gk_trust_source *now = d->policy->n_trust ? &d->policy->trust[0] : NULL;
	const struct gk_trust_source *next = p->n_trust ? &p->trust[0] : NULL;

	if ((!now && !next) || (now && next && !strcmp(now->root, next->root) &&
				!strcmp(now->admindir, next->admindir)))
		return true;
	snprintf(err, errlen, "a change of the trust: section takes effect when gatekeeperd "
		 "restarts; the running policy is unchanged");
	return false;
}

void trust_query_line(struct trust *t, enum gk_trust_match m, const char *detail,
		      struct proto_buf *reply)
{
	char why[200];

	if (!t)
		proto_str(reply, "trust", "none (the policy has no trust source)");
	else if (m == GK_TRUST_MATCH)
		proto_str(reply, "trust", detail);
	else if (m == GK_TRUST_UNKNOWN)
		proto_str(reply, "trust", "not checked (outside the watched paths)");
	else {
		gk_trust_why_not(m, detail, why, sizeof(why));
		proto_str(reply, "trust", why);
	}
}

void trust_report(struct trust *t, struct proto_buf *reply)
{
	struct db_trust_totals tot = {0};
	char line[4400], when[40] = "never";

	if (!t) {
		proto_str(reply, "trust", "none");
		return;
	}
	pthread_mutex_lock(&t->lookup_lock);
	int rc = db_trust_totals(t->rdb, t->source_id, &tot);
	pthread_mutex_unlock(&t->lookup_lock);
	snprintf(line, sizeof(line), "dpkg admindir=%s root=%s", t->admindir, t->root);
	proto_arr(reply, "trust", line);
	proto_str(reply, "trust_follow", t->ifd >= 0 ? "inotify on the admin directory, "
			  "and a synchronous refresh on an untrusted miss while changes are pending"
			  : "a refresh on every untrusted miss (no inotify)");
	if (rc == 0 && tot.refreshed_at_us > 0) {
		time_t secs = (time_t)(tot.refreshed_at_us / 1000000);
		struct tm tm;

		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	proto_num(reply, "trust_packages", tot.packages);
	proto_num(reply, "trust_paths", tot.files);
	proto_num(reply, "trust_paths_without_digest", tot.without_md5);
	proto_str(reply, "trust_refreshed", when);
	proto_num(reply, "trust_last_refresh_us", atomic_load(&t->last_refresh_us));
	proto_num(reply, "trust_refreshes", (int64_t)atomic_load(&t->refreshes));
	proto_num(reply, "trust_sync_refreshes", (int64_t)atomic_load(&t->sync_refreshes));
	proto_num(reply, "trust_refreshes_changed", (int64_t)atomic_load(&t->changing_refreshes));
	proto_num(reply, "trust_refresh_errors", (int64_t)atomic_load(&t->refresh_errors));
	proto_num(reply, "trusted_execs", (int64_t)atomic_load(&t->trusted));
	proto_num(reply, "untrusted_differs", (int64_t)atomic_load(&t->differs));
	proto_num(reply, "untrusted_no_digest", (int64_t)atomic_load(&t->no_digest));
	proto_num(reply, "untrusted_not_packaged", (int64_t)atomic_load(&t->not_packaged));
	pthread_mutex_lock(&t->refresh_lock);
	if (t->last_error[0])
		proto_str(reply, "trust_last_error", t->last_error);
	pthread_mutex_unlock(&t->refresh_lock);
}
