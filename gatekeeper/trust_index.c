/* trust: keep the store's index in step with dpkg's database. A refresh
 * reads status (+ its journal) and the diversions, stats every info/PKG.list
 * and .md5sums, and re-reads only the packages whose lists changed (size or
 * mtime) since they were indexed; each package is replaced in its own
 * transaction, so a lookup never sees half a package. A follower thread
 * (inotify on the admin directory, info/ and updates/) refreshes shortly
 * after dpkg writes; a miss that trust cannot answer while changes are
 * pending refreshes at once (trust.c). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/trust_internal.h"

#define DEBOUNCE_MS 200   /* dpkg writes a package's files in a burst */
#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000

static int cmp_pkg(const void *a, const void *b)
{
	return strcmp(((const struct db_trust_pkg *)a)->stem, ((const struct db_trust_pkg *)b)->stem);
}

struct stored {
	struct db_trust_pkg *p;
	bool *seen;
	size_t n, cap;
};

static int collect(void *ctx, const struct db_trust_pkg *p)
{
	struct stored *s = ctx;

	if (s->n == s->cap) {
		struct db_trust_pkg *grown =
			realloc(s->p, (s->cap = s->cap ? 2 * s->cap : 1024) * sizeof(*grown));

		if (!grown)
			return -1;
		s->p = grown;
	}
	s->p[s->n++] = *p;
	return 0;
}

static void stat_of(const char *path, int64_t *mtime_ns, int64_t *size)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		*mtime_ns = *size = -1;
		return;
	}
	*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	*size = st.st_size;
}

/* Writes go in batches of whole packages, a transaction each: a lookup
 * (another connection, WAL) never sees half a package, and a cold build
 * does not pay a commit per package. */
#define BATCH_ROWS 20000

static int batch_begin(struct trust *t)
{
	if (t->txn_rows > 0)
		return 0;
	t->txn_rows = 1;
	return db_begin(t->wdb);
}

static int batch_end(struct trust *t, bool force)
{
	if (t->txn_rows == 0 || (!force && t->txn_rows < BATCH_ROWS))
		return 0;
	t->txn_rows = 0;
	return db_commit(t->wdb);
}

static void batch_abandon(struct trust *t)
{
	if (t->txn_rows > 0)
		db_rollback(t->wdb);
	t->txn_rows = 0;
}

/* Replace one package's rows. */
static int write_package(struct trust *t, const struct db_trust_pkg *row,
			 const struct dpkg_package *pkg, bool had_rows)
{
	int rc = batch_begin(t);

	if (rc == 0 && had_rows)
		rc = db_trust_files_clear(t->wdb, t->source_id, row->stem);
	for (size_t i = 0; rc == 0 && i < pkg->n_files; i++)
		rc = db_trust_file_add(t->wdb, t->source_id, row->stem, pkg->files[i].path,
				       pkg->files[i].has_md5 ? pkg->files[i].md5 : NULL);
	if (rc == 0)
		rc = db_trust_pkg_put(t->wdb, t->source_id, row);
	t->txn_rows += pkg->n_files + 1;
	return rc == 0 ? batch_end(t, false) : -1;
}

static void note_error(struct trust *t, const char *msg)
{
	snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	atomic_fetch_add(&t->refresh_errors, 1);
	log_msg(GK_LOG_WARN, "trust_error=\"%s\"", msg);
}

/* The stored row of the package row names, marked seen; NULL if none. */
static struct db_trust_pkg *stored_row(struct stored *s, const struct db_trust_pkg *row)
{
	struct db_trust_pkg *old = s->n ? bsearch(row, s->p, s->n, sizeof(*s->p), cmp_pkg) : NULL;

	if (old)
		s->seen[old - s->p] = true;
	return old;
}

/* Its list and digests files look as they did when it was indexed. */
static bool same_files(const struct db_trust_pkg *old, const struct db_trust_pkg *row)
{
	return old->list_mtime_ns == row->list_mtime_ns && old->list_size == row->list_size &&
	       old->md5_mtime_ns == row->md5_mtime_ns && old->md5_size == row->md5_size;
}

/* One info/STEM.list: re-read if it changed. Returns 1 when the index
 * changed, 0 when not, -1 on a store error. */
static int refresh_package(struct trust *t, const char *stem, const char *version,
			   struct stored *s)
{
	struct db_trust_pkg row = {0}, *old;
	struct dpkg_package pkg;
	char path[PATH_MAX], err[512];

	snprintf(row.stem, sizeof(row.stem), "%s", stem);
	snprintf(row.version, sizeof(row.version), "%s", version);
	snprintf(path, sizeof(path), "%s/info/%s.list", t->admindir, stem);
	stat_of(path, &row.list_mtime_ns, &row.list_size);
	snprintf(path, sizeof(path), "%s/info/%s.md5sums", t->admindir, stem);
	stat_of(path, &row.md5_mtime_ns, &row.md5_size);
	old = stored_row(s, &row);
	if (old && same_files(old, &row)) {
		if (strcmp(old->version, row.version) == 0)
			return 0;
		row.n_files = old->n_files;
		row.n_without_md5 = old->n_without_md5;
		return batch_begin(t) || db_trust_pkg_put(t->wdb, t->source_id, &row) ? -1 : 1;
	}
	if (dpkg_read_package(t->admindir, stem, &pkg, err, sizeof(err)) < 0) {
		note_error(t, err);   /* the package keeps what it had */
		return 0;
	}
	row.n_files = (int64_t)pkg.n_files;
	row.n_without_md5 = (int64_t)pkg.n_without_md5;
	int rc = write_package(t, &row, &pkg, old != NULL);
	dpkg_package_free(&pkg);
	return rc ? -1 : 1;
}

/* Every installed package's list; marks the stored ones seen. */
static int refresh_lists(struct trust *t, const struct dpkg_status *st, struct stored *s,
			 bool *changed)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/info", t->admindir);
	d = opendir(dir);
	if (!d) {
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), ": %s", strerror(errno));
		note_error(t, dir);
		return -1;
	}
	while (rc >= 0 && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char stem[DB_TRUST_NAME_MAX];
		const char *version;

		if (len <= 5 || len - 5 >= sizeof(stem) || strcmp(de->d_name + len - 5, ".list"))
			continue;
		snprintf(stem, sizeof(stem), "%.*s", (int)(len - 5), de->d_name);
		version = dpkg_status_version(st, stem);
		if (!version)
			continue;   /* config-files, not-installed: not trusted */
		rc = refresh_package(t, stem, version, s);
		if (rc > 0)
			*changed = true;
	}
	closedir(d);
	return rc < 0 ? -1 : 0;
}

/* A package dpkg is unpacking (half-installed) keeps the files its info/
 * still records (refresh_lists), and the version being unpacked counts
 * too: dpkg renames its files into place, runs the old postrm, and only
 * then moves their list and digests into info/. Without them an upgrade
 * of dash or libc6 under `default: deny` would refuse /bin/sh, or every
 * dynamic program, until dpkg is done, and dpkg's own scripts with them.
 * Its rows go under a stem of their own ("NAME:ARCH#unpacking": the name
 * still reads as the package's), dropped by the first refresh that finds
 * the package no longer half-installed. */
#define UNPACKING_MARK "#unpacking"

static void keep_unpacking_rows(struct stored *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strstr(s->p[i].stem, UNPACKING_MARK))
			s->seen[i] = true;
	}
}

static void unpacking_row(struct trust *t, const struct dpkg_unpacking *u, const char *stem,
			  struct db_trust_pkg *row)
{
	char path[PATH_MAX];

	snprintf(row->stem, sizeof(row->stem), "%s", stem);
	snprintf(row->version, sizeof(row->version), "%s (unpacking)", u->version);
	snprintf(path, sizeof(path), "%s/tmp.ci/md5sums", t->admindir);
	stat_of(path, &row->list_mtime_ns, &row->list_size);
	snprintf(path, sizeof(path), "%s/tmp.ci/control", t->admindir);
	stat_of(path, &row->md5_mtime_ns, &row->md5_size);
	row->n_files = (int64_t)u->files.n_files;
}

static int refresh_unpacking(struct trust *t, const struct dpkg_status *st, struct stored *s,
			     bool *changed)
{
	struct dpkg_unpacking u;
	struct db_trust_pkg row = {0}, *old;
	const struct dpkg_installed *p;
	char err[512], key[DB_TRUST_NAME_MAX];
	int rc = dpkg_read_unpacking(t->admindir, &u, err, sizeof(err));

	if (rc < 0) {
		note_error(t, err);   /* what was read before stays */
		keep_unpacking_rows(s);
		return 0;
	}
	if (rc == 1)
		return 0;
	snprintf(key, sizeof(key), "%s:%s", u.name, u.arch);
	p = dpkg_status_find(st, key);
	if (p && p->unpacking) {   /* else a control area left behind */
		snprintf(key + strlen(key), sizeof(key) - strlen(key), UNPACKING_MARK);
		unpacking_row(t, &u, key, &row);
		old = stored_row(s, &row);
		if (!old || !same_files(old, &row) || strcmp(old->version, row.version)) {
			rc = write_package(t, &row, &u.files, old != NULL);
			*changed = true;
		}
	}
	dpkg_unpacking_free(&u);
	return rc < 0 ? -1 : 0;
}

/* Conffiles: md5sums leaves them out; the status file holds the MD5 of
 * each as dpkg installed it. A package's go under a stem of their own
 * ("NAME:ARCH#conffiles": the name still reads as the package's),
 * rewritten when a path or digest changes: the configure that installs a
 * new version of one changes the status file alone. */
#define CONFFILES_MARK "#conffiles"

static int64_t conffiles_print(const struct dpkg_installed *p)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

	for (size_t i = 0; i < p->n_conffiles; i++) {
		for (const char *c = p->conffiles[i].path; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ULL;
		for (size_t k = 0; k < DPKG_MD5_LEN; k++)
			h = (h ^ p->conffiles[i].md5[k]) * 1099511628211ULL;
	}
	return (int64_t)(h >> 1);
}

static int refresh_conffiles(struct trust *t, const struct dpkg_status *st, struct stored *s,
			     bool *changed)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct dpkg_installed *p = &st->pkgs[i];
		struct db_trust_pkg row = {0}, *old;

		if (!p->n_conffiles)
			continue;
		snprintf(row.stem, sizeof(row.stem), "%s:%s" CONFFILES_MARK, p->name, p->arch);
		snprintf(row.version, sizeof(row.version), "%s", p->version);
		row.list_mtime_ns = conffiles_print(p);
		row.list_size = row.n_files = (int64_t)p->n_conffiles;
		row.md5_mtime_ns = row.md5_size = -1;
		old = stored_row(s, &row);
		if (old && same_files(old, &row) && strcmp(old->version, row.version) == 0)
			continue;
		struct dpkg_package files = {.files = p->conffiles, .n_files = p->n_conffiles};
		if (write_package(t, &row, &files, old != NULL) < 0)
			return -1;
		*changed = true;
	}
	return 0;
}

/* Stored packages no longer installed (or whose list went): gone. */
static int drop_unseen(struct trust *t, const struct stored *s, bool *changed)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->seen[i])
			continue;
		if (batch_begin(t) || db_trust_pkg_delete(t->wdb, t->source_id, s->p[i].stem))
			return -1;
		*changed = true;
	}
	return 0;
}

/* Merged /usr: ROOT/X a symlink to ROOT/usr/X, for the directories Debian
 * merges. The kernel reports /usr/bin/ls where the list says /bin/ls. */
static void find_aliases(struct trust *t, char aliases[][16], size_t *n)
{
	static const char *const dirs[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32",
					   "libo32"};
	const char *root = strcmp(t->root, "/") ? t->root : "";

	*n = 0;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && *n < TRUST_MAX_ALIASES; i++) {
		char link[PATH_MAX], usr[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
		struct stat st;

		snprintf(link, sizeof(link), "%s/%s", root, dirs[i]);
		snprintf(usr, sizeof(usr), "%s/usr/%s", root, dirs[i]);
		if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode) && realpath(link, a) &&
		    realpath(usr, b) && strcmp(a, b) == 0)
			snprintf(aliases[(*n)++], 16, "%s", dirs[i]);
	}
}

static bool same_diversions(const struct dpkg_diversions *a, const struct dpkg_diversions *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->d[i].from, b->d[i].from) || strcmp(a->d[i].to, b->d[i].to) ||
		    (!a->d[i].by != !b->d[i].by) || (a->d[i].by && strcmp(a->d[i].by, b->d[i].by)))
			return false;
	}
	return true;
}

/* Diversions and aliases are small: swapped whole under the lookup lock. */
static int refresh_small(struct trust *t, bool *changed)
{
	struct dpkg_diversions divs;
	/* Zeroed: compared whole, bytes past each name's end included. */
	char aliases[TRUST_MAX_ALIASES][16] = {{0}}, err[512];
	size_t n_aliases;

	if (dpkg_read_diversions(t->admindir, &divs, err, sizeof(err)) < 0) {
		note_error(t, err);
		return -1;
	}
	find_aliases(t, aliases, &n_aliases);
	pthread_mutex_lock(&t->lookup_lock);
	if (!same_diversions(&divs, &t->divs) || n_aliases != t->n_aliases ||
	    memcmp(aliases, t->aliases, n_aliases * sizeof(aliases[0])))
		*changed = true;
	dpkg_diversions_free(&t->divs);
	t->divs = divs;
	memcpy(t->aliases, aliases, sizeof(aliases));
	t->n_aliases = n_aliases;
	pthread_mutex_unlock(&t->lookup_lock);
	return 0;
}

/* What the admin directory looks like, cheaply: dpkg changes none of its
 * database without changing one of these. It starts with the index's
 * format: an index a version of ours before conffiles did not have is
 * refreshed whole at the first start. */
#define INDEX_FORMAT "conffiles"

static void fingerprint(struct trust *t, char *out, size_t size)
{
	static const char *const parts[] = {"status", "diversions", "info", "updates"};
	size_t n = (size_t)snprintf(out, size, INDEX_FORMAT ";");

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && n < size; i++) {
		char path[PATH_MAX];
		int64_t mtime, len;

		snprintf(path, sizeof(path), "%s/%s", t->admindir, parts[i]);
		stat_of(path, &mtime, &len);
		n += (size_t)snprintf(out + n, size - n, "%s%lld:%lld", i ? ";" : "",
				      (long long)mtime, (long long)len);
	}
}

int trust_index_start(struct trust *t)
{
	char stored[DB_TRUST_FINGERPRINT_MAX], now[DB_TRUST_FINGERPRINT_MAX];
	bool changed = false;

	fingerprint(t, now, sizeof(now));
	if (db_trust_source(t->wdb, t->admindir, &t->source_id, NULL, stored) < 0) {
		note_error(t, db_errmsg(t->wdb));
		return -1;
	}
	if (stored[0] && strcmp(stored, now) == 0) {
		snprintf(t->print, sizeof(t->print), "%s", now);
		return refresh_small(t, &changed);
	}
	return trust_index_refresh(t);
}

/* After a refresh that returned rc: none due, or the next one later. */
static void next_retry(struct trust *t, int rc)
{
	t->retry_ms = rc == 0 ? 0 : !t->retry_ms ? RETRY_MIN_MS
				  : t->retry_ms >= RETRY_MAX_MS / 2 ? RETRY_MAX_MS : t->retry_ms * 2;
}

int trust_index_refresh(struct trust *t)
{
	int64_t began = gk_mono_us();
	struct dpkg_status st;
	struct stored s = {0};
	bool changed = false;
	char err[512], print[DB_TRUST_FINGERPRINT_MAX];
	int rc = -1;

	atomic_store(&t->pending, false);
	fingerprint(t, print, sizeof(print));   /* before reading: a later change is pending */
	if (dpkg_read_status(t->admindir, &st, err, sizeof(err)) < 0) {
		note_error(t, err);   /* nothing changes */
		next_retry(t, -1);
		return -1;
	}
	if (refresh_small(t, &changed) < 0)
		goto out;
	if (db_trust_pkg_foreach(t->wdb, t->source_id, collect, &s) != 0) {
		note_error(t, db_errmsg(t->wdb));
		goto out;
	}
	if (s.n > 1)
		qsort(s.p, s.n, sizeof(*s.p), cmp_pkg);
	s.seen = calloc(s.n ? s.n : 1, sizeof(*s.seen));
	if (!s.seen || refresh_lists(t, &st, &s, &changed) < 0 ||
	    refresh_unpacking(t, &st, &s, &changed) < 0 ||
	    refresh_conffiles(t, &st, &s, &changed) < 0 || drop_unseen(t, &s, &changed) < 0 ||
	    batch_begin(t) ||
	    db_trust_source_refreshed(t->wdb, t->source_id, gk_now_us(), print) < 0 ||
	    batch_end(t, true) < 0) {
		if (s.seen)
			note_error(t, db_errmsg(t->wdb));
		batch_abandon(t);   /* what was not committed is read again next time */
		goto out;
	}
	rc = 0;
	snprintf(t->print, sizeof(t->print), "%s", print);
out:
	next_retry(t, rc);
	free(s.p);
	free(s.seen);
	dpkg_status_free(&st);
	atomic_fetch_add(&t->refreshes, 1);
	atomic_store(&t->last_refresh_us, gk_mono_us() - began);
	if (changed)
		atomic_fetch_add(&t->changing_refreshes, 1);
	if (changed && t->on_change)
		t->on_change(t->on_change_ctx);
	if (changed)
		log_msg(GK_LOG_INFO, "trust_refreshed source=dpkg admindir=%s took_us=%lld",
			t->admindir, (long long)(gk_mono_us() - began));
	return rc;
}

/* ---- the follower ---- */

static bool interesting(const struct inotify_event *ev, int wd_admin, int wd_info)
{
	size_t len = ev->len ? strlen(ev->name) : 0;

	if (ev->mask & IN_Q_OVERFLOW)
		return true;
	if (ev->wd == wd_admin)
		return len && (!strcmp(ev->name, "status") || !strcmp(ev->name, "diversions"));
	if (ev->wd == wd_info)
		return (len > 5 && !strcmp(ev->name + len - 5, ".list")) ||
		       (len > 8 && !strcmp(ev->name + len - 8, ".md5sums"));
	return true;   /* updates/ */
}

bool trust_follow_drain(struct trust *t)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t n;

	if (t->ifd < 0) {
		char now[DB_TRUST_FINGERPRINT_MAX];

		fingerprint(t, now, sizeof(now));   /* without inotify: four stats */
		if (strcmp(now, t->print) != 0)
			atomic_store(&t->pending, true);
		return atomic_load(&t->pending);
	}
	while ((n = read(t->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			any |= interesting(ev, t->wd_admin, t->wd_info);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (any)
		atomic_store(&t->pending, true);
	return atomic_load(&t->pending);
}

static void *follow(void *arg)
{
	struct trust *t = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = t->stop_fd, .events = POLLIN},
				      {.fd = t->ifd, .events = POLLIN}};
		pthread_mutex_lock(&t->refresh_lock);
		int retry_ms = t->retry_ms;
		pthread_mutex_unlock(&t->refresh_lock);
		int n = poll(p, 2, atomic_load(&t->pending) ? DEBOUNCE_MS : retry_ms ? retry_ms : -1);

		if (n < 0 && errno != EINTR)
			return NULL;
		if (p[0].revents & POLLIN)
			return NULL;
		pthread_mutex_lock(&t->refresh_lock);
		if (p[1].revents & POLLIN)
			trust_follow_drain(t);   /* quiet for DEBOUNCE_MS: then refresh */
		else if (n == 0 && (atomic_load(&t->pending) || t->retry_ms))
			trust_index_refresh(t);
		pthread_mutex_unlock(&t->refresh_lock);
	}
}

int trust_follow_start(struct trust *t, char *err, size_t errlen)
{
	const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE;
	char dir[PATH_MAX];

	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (t->stop_fd < 0 || t->ifd < 0) {
		snprintf(err, errlen, "trust: cannot follow %s: %s", t->admindir, strerror(errno));
		return -1;
	}
	t->wd_admin = inotify_add_watch(t->ifd, t->admindir, mask);
	snprintf(dir, sizeof(dir), "%s/info", t->admindir);
	t->wd_info = inotify_add_watch(t->ifd, dir, mask);
	snprintf(dir, sizeof(dir), "%s/updates", t->admindir);
	inotify_add_watch(t->ifd, dir, mask);   /* may not exist: status alone then */
	if (t->wd_admin < 0 || t->wd_info < 0) {
		snprintf(err, errlen, "trust: cannot watch %s: %s", t->admindir, strerror(errno));
		return -1;
	}
	if (pthread_create(&t->follower, NULL, follow, t) != 0) {
		snprintf(err, errlen, "trust: cannot start the follower thread");
		return -1;
	}
	t->follower_running = true;
	return 0;
}

void trust_follow_stop(struct trust *t)
{
	uint64_t one = 1;

	if (t->follower_running) {
		(void)!write(t->stop_fd, &one, sizeof(one));
		pthread_join(t->follower, NULL);
		t->follower_running = false;
	}
	if (t->ifd >= 0)
		close(t->ifd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	t->ifd = t->stop_fd = -1;
}
