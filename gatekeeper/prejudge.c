/* Judge packaged programs before their first exec (see prejudge.h).
 *
 * The pre-scan cannot do it for dpkg: dpkg writes each file under a temporary
 * name and renames it into place, which moves the ctime the stored digest is
 * keyed on, and its package is indexed only later. So the walk comes after
 * the index has changed, over the index itself.
 *
 * The thread runs at nice 19 and the lowest best-effort I/O priority: it
 * takes the locks the event path takes (policy, hash cache, store), so it is
 * not put in SCHED_IDLE or the idle I/O class, where a busy host could leave
 * it holding one of them indefinitely. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/prejudge.h"
#include "gatekeeper/proto.h"
#include "gatekeeper/trust.h"

/* A burst of flushes (apt runs dpkg several times) starts one walk. */
#define SETTLE_MS 2000
#define IOPRIO_WHO_THREAD 1          /* IOPRIO_WHO_PROCESS: with a tid, that thread */
#define IOPRIO_LOWEST_BE ((2 << 13) | 7)

struct gk_prejudge {
	struct gk_daemon *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool requested, stopping;    /* under lock */
	atomic_bool cancel;          /* stops the judgement under way */
	atomic_bool walking;
	atomic_bool due;             /* a walk is asked for and not yet under way */
	atomic_uint_fast64_t walks, judged, cached, last_walk_ms, last_walk_programs;
};

struct path_list {
	char **v;
	size_t n, cap;
};

static int add_path(void *ctx, const char *path)
{
	struct path_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(path)))
		return -1;
	l->n++;
	return 0;
}

static void free_paths(struct path_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* The regular file with an execute bit at path, opened for reading; -1 for
 * anything else. The name is resolved without following a last symlink and
 * without opening what it names first (a FIFO or a device could block or
 * act on an open), then the inode found is reopened through /proc. */
static int open_program(const char *path)
{
	struct stat st;
	char self[64];
	int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -1;
	if (fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
		close(pfd);
		return -1;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	int fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOATIME);
	if (fd < 0 && errno == EPERM)   /* O_NOATIME: not the owner, no CAP_FOWNER */
		fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	close(pfd);
	return fd;
}

/* Stop walking: stopping, or a new request (the next walk starts over), or
 * dpkg is at work. Then walk again once it has settled: a refresh that finds
 * nothing trust-relevant changed flushes nothing and would ask for no walk. */
static bool walk_interrupted(struct gk_prejudge *pj)
{
	bool dpkg_busy = trust_changes_pending(pj->d->trust);
	pthread_mutex_lock(&pj->lock);
	if (dpkg_busy) {
		pj->requested = true;
		atomic_store(&pj->due, true);
	}
	bool stop = pj->stopping || pj->requested;
	pthread_mutex_unlock(&pj->lock);
	return stop;
}

static void judge_program(struct gk_prejudge *pj, int fd, uint64_t *programs)
{
	struct gk_daemon *d = pj->d;
	struct judgement j;
	judge_begin(d, fd, &j);
	j.as_indexed = true;   /* at nice 19: never the refresh lock the misses wait on */
	judge_fully(d, fd, &j, &pj->cancel);
	(*programs)++;
	atomic_fetch_add(&pj->judged, 1);
	/* Allows only (see prejudge.h), of files inside the watched paths
	 * (outside them an exec costs the daemon nothing to answer). */
	if (j.decision.verdict != GK_VERDICT_ALLOW || j.watch != GK_WATCH_INSIDE ||
	    kcache_allow_holds_file(d->kc))
		return;
	judge_cache_in_kernel(d, fd, &j);
	atomic_fetch_add(&pj->cached, 1);
}

static void walk(struct gk_prejudge *pj)
{
	struct gk_daemon *d = pj->d;
	struct path_list paths = { 0 };
	uint64_t programs = 0;
	int64_t began = gk_mono_us();
	if (walk_interrupted(pj))
		goto out;
	if (trust_foreach_path(d->trust, add_path, &paths) != 0) {
		log_msg(GK_LOG_ERR, "error=\"prejudge: cannot list the packaged files\"");
		goto out;
	}
	for (size_t i = 0; i < paths.n; i++) {
		if (walk_interrupted(pj))
			goto out;
		int fd = open_program(paths.v[i]);
		if (fd < 0)
			continue;
		judge_program(pj, fd, &programs);
		close(fd);
	}
	uint64_t took_ms = (uint64_t)(gk_mono_us() - began) / 1000;
	atomic_store(&pj->last_walk_ms, took_ms);
	atomic_store(&pj->last_walk_programs, programs);
	/* before the count: a status that sees this walk counted sees it done
	 * (prejudge_report reads the counts first) */
	atomic_store(&pj->walking, false);
	atomic_fetch_add(&pj->walks, 1);
	log_msg(GK_LOG_INFO, "prejudged programs=%llu files_listed=%zu took_ms=%llu",
		(unsigned long long)programs, paths.n, (unsigned long long)took_ms);
out:
	atomic_store(&pj->walking, false);
	free_paths(&paths);
}

/* Under lock: wait for a request, then until none came for SETTLE_MS.
 * False: stopping. */
static bool wait_for_request(struct gk_prejudge *pj)
{
	while (!pj->requested && !pj->stopping)
		pthread_cond_wait(&pj->cond, &pj->lock);
	while (pj->requested && !pj->stopping) {
		pj->requested = false;
		struct timespec until = gk_deadline_in_ms(CLOCK_MONOTONIC, SETTLE_MS);
		int rc = 0;
		while (!pj->requested && !pj->stopping && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&pj->cond, &pj->lock, &until);
	}
	return !pj->stopping;
}

static void *walker_main(void *arg)
{
	struct gk_prejudge *pj = arg;
	pthread_setname_np(pthread_self(), "gk-prejudge");
	pid_t tid = (pid_t)syscall(SYS_gettid);
	if (setpriority(PRIO_PROCESS, (id_t)tid, 19) < 0 ||
	    syscall(SYS_ioprio_set, IOPRIO_WHO_THREAD, tid, IOPRIO_LOWEST_BE) < 0)
		log_msg(GK_LOG_INFO, "prejudge_priority error=\"%s\"", strerror(errno));
	pthread_mutex_lock(&pj->lock);
	while (wait_for_request(pj)) {
		/* --bpf-after-ready: a walk before the switch would cache nothing
		 * (fanotify mode holds no file open on a guess) and the switch asks
		 * for one, so this one waits for it, due. At boot it would only take
		 * CPU from the units that wait for sysinit.target. */
		if (kcache_bpf_loading(pj->d->kc))
			continue;
		/* walking before due is cleared: status never reads "waiting" between */
		atomic_store(&pj->walking, true);
		atomic_store(&pj->due, false);
		pthread_mutex_unlock(&pj->lock);
		walk(pj);
		pthread_mutex_lock(&pj->lock);
	}
	pthread_mutex_unlock(&pj->lock);
	return NULL;
}

struct gk_prejudge *prejudge_start(struct gk_daemon *d)
{
	if (!d->trust)
		return NULL;
	struct gk_prejudge *pj = calloc(1, sizeof(*pj));
	if (!pj)
		goto fail;
	pj->d = d;
	pthread_mutex_init(&pj->lock, NULL);
	gk_cond_init_monotonic(&pj->cond);
	pj->requested = true;   /* the first walk, once the start has settled */
	atomic_store(&pj->due, true);
	int rc = pthread_create(&pj->thread, NULL, walker_main, pj);
	if (rc == 0)
		return pj;
	errno = rc;
	pthread_cond_destroy(&pj->cond);
	pthread_mutex_destroy(&pj->lock);
	free(pj);
fail:
	log_msg(GK_LOG_ERR, "error=\"prejudge: cannot start: %s\"", strerror(errno));
	return NULL;
}

void prejudge_stop(struct gk_prejudge *pj)
{
	if (!pj)
		return;
	pthread_mutex_lock(&pj->lock);
	bool joined = pj->stopping;
	pj->stopping = true;
	atomic_store(&pj->cancel, true);
	pthread_cond_signal(&pj->cond);
	pthread_mutex_unlock(&pj->lock);
	if (!joined)
		pthread_join(pj->thread, NULL);
}

void prejudge_free(struct gk_prejudge *pj)
{
	if (!pj)
		return;
	prejudge_stop(pj);
	pthread_cond_destroy(&pj->cond);
	pthread_mutex_destroy(&pj->lock);
	free(pj);
}

void prejudge_flush(struct gk_daemon *d)
{
	kcache_forget_all(d->kc);
	struct gk_prejudge *pj = atomic_load(&d->prejudge);
	if (!pj)
		return;
	pthread_mutex_lock(&pj->lock);
	pj->requested = true;
	atomic_store(&pj->due, true);
	pthread_cond_signal(&pj->cond);
	pthread_mutex_unlock(&pj->lock);
}

void prejudge_due(struct gk_daemon *d)
{
	struct gk_prejudge *pj = atomic_load(&d->prejudge);
	if (pj)
		atomic_store(&pj->due, true);
}

void prejudge_report(struct gk_prejudge *pj, struct proto_buf *reply)
{
	static const struct { const char *key; size_t off; } counters[] = {
#define C(key, field) { key, offsetof(struct gk_prejudge, field) }
		C("prejudge_walks", walks), C("prejudged_programs", judged),
		C("prejudged_cached", cached), C("prejudge_last_walk_programs", last_walk_programs),
		C("prejudge_last_walk_ms", last_walk_ms),
#undef C
	};
	enum { N = sizeof(counters) / sizeof(counters[0]) };
	int64_t values[N];
	/* The counts before the state: the walker clears walking before it
	 * counts the walk, so a walk counted here is never shown as walking. */
	for (size_t i = 0; i < N; i++) {
		atomic_uint_fast64_t *c = pj ? (atomic_uint_fast64_t *)((char *)pj + counters[i].off) : NULL;
		values[i] = c ? (int64_t)atomic_load(c) : 0;
	}
	proto_str(reply, "prejudge", !pj ? "off: no trust source" :
				     atomic_load(&pj->walking) ? "walking" :
				     atomic_load(&pj->due) ? "due" : "waiting");
	for (size_t i = 0; i < N; i++)
		proto_num(reply, counters[i].key, values[i]);
}
