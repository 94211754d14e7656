/* The engine-independent half of a scanner: the signature set in force,
 * reference counts that let in-flight scans finish on the set they began
 * with, and the reload thread that builds new sets beside it.
 *
 * One mutex guards the pointer to the set in force and the counts; it is
 * held only for a pointer copy and a count change, never while a set is
 * loaded, compiled or freed, so a reload never makes a scan wait. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scanner/engine.h"

#define DEFAULT_CHECK_MS 60000u
#define ERR_MAX 256

/* One loaded signature set and the scans that use it. */
struct sigset {
	void *set;
	unsigned long refs;   /* guarded by scanner.lock */
	unsigned n_sigs;
	int64_t loaded_at;
};

struct scanner {
	const struct engine_ops *ops;
	void *cfg;
	unsigned check_ms;

	pthread_mutex_t lock;
	pthread_cond_t wake;        /* to the reload thread: a request, or stop */
	pthread_cond_t done;        /* from it: a reload ended; from scans: a retired set is free */
	struct sigset *cur;         /* NULL: unavailable */
	char unavailable[ERR_MAX];  /* why cur is NULL */
	uint64_t requested, served; /* reload requests; the last one a finished reload covered */
	bool reloading, stopping, last_failed;
	uint64_t generation, reloads_failed;
	uint32_t last_load_ms;
	char last_error[ERR_MAX];

	void *watch;                /* touched by the reload thread only (after start) */
	struct scanner_swap_hook on_swap;   /* set before the reload thread starts */
	pthread_t thread;
	bool thread_started;
	atomic_uint_fast64_t scans, infected, errors;
};

/* ---- messages ---- */

static void log_to_stderr(void *ctx, enum scanner_log_level level, const char *msg)
{
	(void)ctx;
	static const char *const names[] = { "error", "warning", "info" };
	fprintf(stderr, "scanner: %s: %s\n", names[level], msg);
}

/* Global because libclamav's own message callback is: set by the daemon at
 * every scanner change while reload threads may be logging, hence the lock. */
static scanner_log_fn log_fn = log_to_stderr;
static void *log_ctx;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void scanner_set_logger(scanner_log_fn fn, void *ctx)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn ? fn : log_to_stderr;
	log_ctx = fn ? ctx : NULL;
	pthread_mutex_unlock(&log_lock);
}

static void one_line(char *buf)
{
	size_t len = 0;
	for (char *p = buf; *p; p++, len++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	while (len > 0 && buf[len - 1] == ' ')
		buf[--len] = '\0';
}

void scanner_line(char *buf, size_t size, const char *fmt, ...)
{
	if (!size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	one_line(buf);
}

void scanner_log(enum scanner_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	one_line(msg);
	pthread_mutex_lock(&log_lock);
	scanner_log_fn fn = log_fn;
	void *ctx = log_ctx;
	pthread_mutex_unlock(&log_lock);
	fn(ctx, level, msg);
}

/* ---- time ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec deadline_in(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* ---- loading and swapping ---- */

/* Build a new set beside the one in force and swap it in. The old set is
 * freed here, on the loading thread, once its last scan has let go. */
static int load_and_swap(struct scanner *s, char *err, size_t errlen)
{
	void *watch = s->ops->watch_start(s->cfg); /* before loading: a change during the load is seen next time */
	unsigned n_sigs = 0;
	int64_t t0 = mono_ms();
	void *set = s->ops->load(s->cfg, &n_sigs, err, errlen);
	struct sigset *fresh = set ? calloc(1, sizeof(*fresh)) : NULL;
	if (set && !fresh) {
		s->ops->unload(set);
		set = NULL;
		scanner_line(err, errlen, "%s: out of memory", s->ops->name);
	}
	uint32_t took = (uint32_t)(mono_ms() - t0);

	if (s->watch)
		s->ops->watch_free(s->watch);
	s->watch = watch;

	pthread_mutex_lock(&s->lock);
	s->last_load_ms = took;
	s->last_failed = !set;
	if (!set) {
		s->reloads_failed++;
		snprintf(s->last_error, sizeof(s->last_error), "%s", err);
		if (!s->cur)
			snprintf(s->unavailable, sizeof(s->unavailable), "%s", err);
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	fresh->set = set;
	fresh->n_sigs = n_sigs;
	fresh->loaded_at = (int64_t)time(NULL);
	struct sigset *old = s->cur;
	s->cur = fresh;
	s->generation++;
	s->last_error[0] = '\0';
	while (old && old->refs > 0)
		pthread_cond_wait(&s->done, &s->lock);
	pthread_mutex_unlock(&s->lock);

	if (old) {
		s->ops->unload(old->set);
		free(old);
	}
	if (s->on_swap.fn)
		s->on_swap.fn(s->on_swap.ctx, s->ops->name);
	if (errlen)
		err[0] = '\0';
	return 0;
}

static bool sources_changed(struct scanner *s)
{
	if (s->watch)
		return s->ops->watch_changed(s->cfg, s->watch);
	/* Nothing to compare with (the sources were missing): they changed
	 * when they can be looked at now. */
	void *w = s->ops->watch_start(s->cfg);
	if (!w)
		return false;
	s->ops->watch_free(w);
	return true;
}

static void reload_logged(struct scanner *s)
{
	char err[ERR_MAX];
	int64_t t0 = mono_ms();
	if (load_and_swap(s, err, sizeof(err)) < 0) {
		pthread_mutex_lock(&s->lock);
		bool serving = s->cur != NULL;
		pthread_mutex_unlock(&s->lock);
		scanner_log(SCANNER_LOG_ERR, "%s: reload failed, %s: %s", s->ops->name,
			    serving ? "the signatures in force stay" : "scans answer unavailable",
			    err);
		return;
	}
	struct scanner_status st;
	scanner_status(s, &st);
	scanner_log(SCANNER_LOG_INFO, "%s: loaded %u signatures in %lld ms (generation %llu)",
		    s->ops->name, st.signatures, (long long)(mono_ms() - t0),
		    (unsigned long long)st.generation);
}

static void *reload_thread(void *arg)
{
	struct scanner *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		if (s->requested == s->served) {
			struct timespec until = deadline_in(s->check_ms);
			int rc = pthread_cond_timedwait(&s->wake, &s->lock, &until);
			if (s->stopping || s->requested != s->served || rc != ETIMEDOUT)
				continue;
			pthread_mutex_unlock(&s->lock);
			bool changed = sources_changed(s);
			pthread_mutex_lock(&s->lock);
			if (changed && s->requested == s->served)
				s->requested++;
			continue;
		}
		uint64_t target = s->requested;
		s->reloading = true;
		pthread_mutex_unlock(&s->lock);
		reload_logged(s);
		pthread_mutex_lock(&s->lock);
		s->served = target;
		s->reloading = false;
		pthread_cond_broadcast(&s->done);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- life cycle ---- */

static int init_sync(struct scanner *s)
{
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr))
		return -1;
	int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(&s->wake, &attr);
	if (!rc && (rc = pthread_cond_init(&s->done, &attr)) != 0)
		pthread_cond_destroy(&s->wake);
	pthread_condattr_destroy(&attr);
	if (rc)
		return -1;
	if (pthread_mutex_init(&s->lock, NULL)) {
		pthread_cond_destroy(&s->wake);
		pthread_cond_destroy(&s->done);
		return -1;
	}
	return 0;
}

struct scanner *scanner_start(const struct engine_ops *ops, void *cfg,
			      unsigned check_interval_ms, bool background,
			      const struct scanner_swap_hook *on_swap, char *err, size_t errlen)
{
	struct scanner *s = calloc(1, sizeof(*s));
	if (!s || init_sync(s) < 0) {
		scanner_line(err, errlen, "%s: cannot start: out of memory", ops->name);
		free(s);
		ops->cfg_free(cfg);
		return NULL;
	}
	s->ops = ops;
	s->cfg = cfg;
	s->check_ms = check_interval_ms ? check_interval_ms : DEFAULT_CHECK_MS;
	if (errlen)
		err[0] = '\0';
	if (background) {
		snprintf(s->unavailable, sizeof(s->unavailable), "loading");
		s->requested = 1;
	} else {
		load_and_swap(s, err, errlen);
	}
	if (on_swap)   /* after the open's own load: its caller knows of that one */
		s->on_swap = *on_swap;
	int rc = pthread_create(&s->thread, NULL, reload_thread, s);
	if (rc) {
		scanner_line(err, errlen, "%s: cannot start the reload thread: %s", ops->name,
			     strerror(rc));
		scanner_close(s);
		return NULL;
	}
	s->thread_started = true;
	return s;
}

void scanner_close(struct scanner *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_broadcast(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	if (s->cur) {
		s->ops->unload(s->cur->set);
		free(s->cur);
	}
	if (s->watch)
		s->ops->watch_free(s->watch);
	s->ops->cfg_free(s->cfg);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->done);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- scanning ---- */

static void scan_within(struct scanner *s, int fd, const unsigned char *sha256,
			unsigned max_ms, struct scan_result *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	struct sigset *g = s->cur;
	if (g)
		g->refs++;
	else
		scanner_line(out->detail, sizeof(out->detail), "unavailable: %s", s->unavailable);
	pthread_mutex_unlock(&s->lock);

	if (g) {
		s->ops->scan(s->cfg, g->set, fd, sha256, max_ms, out);
		bool broken = s->ops->broken && s->ops->broken(g->set);
		pthread_mutex_lock(&s->lock);
		if (--g->refs == 0 && g != s->cur)
			pthread_cond_broadcast(&s->done);
		/* A set that cannot serve any more is replaced at once, once. */
		if (broken && g == s->cur && s->requested == s->served && !s->reloading) {
			s->requested++;
			pthread_cond_signal(&s->wake);
		}
		pthread_mutex_unlock(&s->lock);
	} else {
		out->status = SCAN_ERROR;
	}
	atomic_fetch_add(&s->scans, 1);
	if (out->status == SCAN_INFECTED)
		atomic_fetch_add(&s->infected, 1);
	else if (out->status == SCAN_ERROR)
		atomic_fetch_add(&s->errors, 1);
}

void scanner_scan_fd(struct scanner *s, int fd, const unsigned char *sha256,
		     struct scan_result *out)
{
	scan_within(s, fd, sha256, 0, out);
}

void scanner_scan_all(struct scanner *const *list, size_t n, int fd,
		      const unsigned char *sha256, struct scan_result *out)
{
	scanner_scan_all_within(list, n, fd, sha256, 0, out);
}

void scanner_scan_all_within(struct scanner *const *list, size_t n, int fd,
			     const unsigned char *sha256, unsigned max_ms, struct scan_result *out)
{
	struct scan_result first_error = { .status = SCAN_CLEAN };
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		struct scan_result r;
		scan_within(list[i], fd, sha256, max_ms, &r);
		if (r.status == SCAN_INFECTED) {
			*out = r;
			return;
		}
		if (r.status == SCAN_ERROR && first_error.status == SCAN_CLEAN) {
			first_error.status = SCAN_ERROR;
			scanner_line(first_error.detail, sizeof(first_error.detail), "%s: %s",
				     list[i]->ops->name, r.detail);
		}
	}
	if (first_error.status == SCAN_ERROR)
		*out = first_error;
}

bool scanner_owns_pid(struct scanner *s, pid_t pid)
{
	return s && s->ops->owns_pid && s->ops->owns_pid(s->cfg, pid);
}

/* ---- reloads and status ---- */

void scanner_reload(struct scanner *s)
{
	pthread_mutex_lock(&s->lock);
	s->requested++;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

int scanner_reload_wait(struct scanner *s, unsigned timeout_ms, char *err, size_t errlen)
{
	struct timespec until = deadline_in(timeout_ms);
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	uint64_t mine = ++s->requested;
	pthread_cond_signal(&s->wake);
	while (s->served < mine && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&s->done, &s->lock, &until);
	int ret = 0;
	if (s->served < mine) {
		scanner_line(err, errlen, "%s: reload still running after %u ms", s->ops->name,
			     timeout_ms);
		ret = -1;
	} else if (s->last_failed) {
		scanner_line(err, errlen, "%s", s->last_error);
		ret = -1;
	} else if (errlen) {
		err[0] = '\0';
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void scanner_status(struct scanner *s, struct scanner_status *out)
{
	memset(out, 0, sizeof(*out));
	out->engine = s->ops->name;
	pthread_mutex_lock(&s->lock);
	out->available = s->cur != NULL;
	out->reloading = s->reloading;
	if (s->cur) {
		out->signatures = s->cur->n_sigs;
		out->loaded_at = s->cur->loaded_at;
	}
	out->generation = s->generation;
	out->last_load_ms = s->last_load_ms;
	out->reloads_failed = s->reloads_failed;
	snprintf(out->last_error, sizeof(out->last_error), "%s",
		 s->last_failed ? s->last_error : "");
	pthread_mutex_unlock(&s->lock);
	out->scans = atomic_load(&s->scans);
	out->infected = atomic_load(&s->infected);
	out->errors = atomic_load(&s->errors);
}

/* SHA-256 of the whole file, read with pread from offset 0 (the fd's
 * offset does not move), in 1 MiB chunks. */
#define SCANNER_HASH_CHUNK (1024 * 1024)

int scanner_digests_fd(int fd, unsigned char sha256[SCANNER_SHA256_LEN],
		       unsigned char *md5, const atomic_bool *cancel)
{
	int rc = -1, saved = EIO;
	unsigned char *buf = malloc(SCANNER_HASH_CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_MD_CTX *mctx = md5 ? EVP_MD_CTX_new() : NULL;
	if (!buf || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    (md5 && (!mctx || !EVP_DigestInit_ex(mctx, EVP_md5(), NULL)))) {
		saved = ENOMEM;
		goto cleanup;
	}
	for (off_t off = 0;;) {
		if (cancel && atomic_load(cancel)) {
			saved = ECANCELED;
			goto cleanup;
		}
		ssize_t n = pread(fd, buf, SCANNER_HASH_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		/* One read feeds both digests while the chunk is in cache. */
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n) ||
		    (mctx && !EVP_DigestUpdate(mctx, buf, (size_t)n)))
			goto cleanup;
		off += n;
	}
	if (!EVP_DigestFinal_ex(ctx, sha256, NULL) || (mctx && !EVP_DigestFinal_ex(mctx, md5, NULL)))
		goto cleanup;
	rc = 0;
cleanup:
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(mctx);
	free(buf);
	if (rc)
		errno = saved;
	return rc;
}

int scanner_sha256_fd(int fd, unsigned char out[SCANNER_SHA256_LEN], const atomic_bool *cancel)
{
	return scanner_digests_fd(fd, out, NULL, cancel);
}

int scanner_path_from_self(const char *rel, char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	int len = snprintf(out, size, "%s/%s", dirname(self), rel);
	return len < 0 || (size_t)len >= size ? -1 : 0;
}
