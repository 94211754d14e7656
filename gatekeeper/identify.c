/* Identify a file by the SHA-256 of its content, read through the fd the
 * kernel gave us (FMODE_NONOTIFY: reading it raises no event). An unchanged
 * file (same dev, inode, size and ctime) is never hashed twice: the hash
 * cache remembers the digest of each (dev, inode) as of one (size, ctime),
 * when it was read after that ctime had settled (file_id.settled). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/digests.h"

#define HASH_CACHE_SLOTS 16384           /* direct-mapped; a collision rehashes */
#define HASH_CACHE_LOCKS 64
#define HASH_RETRIES 3
/* Files being hashed right now: a second caller for the same file waits for
 * the first instead of reading it again (the miss path meeting a pre-scan). */
#define HASHING_MAX 64

struct hash_slot {
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
	bool used;
	uint64_t forgot;            /* the number of the last forget of an inode of the slot's */
};

/* A file being hashed, and what its hasher found, for those waiting. */
struct hashing_slot {
	struct file_id id;
	bool busy;
	uint64_t guard;             /* the hasher's lease ticket (0: none) */
	uint64_t gen;               /* moves at every release */
	uint64_t began;             /* the forgets counted when the hasher began */
	bool found;                 /* the last hasher got sha for id */
	unsigned char sha[GK_SHA256_LEN];
};

struct hash_cache {
	struct hash_slot slots[HASH_CACHE_SLOTS];
	pthread_mutex_t slot_locks[HASH_CACHE_LOCKS];
	struct hashing_slot hashing[HASHING_MAX];
	pthread_mutex_t hashing_lock;
	pthread_cond_t hashing_done;
	struct digests *store;      /* borrowed from the daemon; NULL: none */
	bool (*guard_holds)(void *ctx, const struct file_id *id, uint64_t guard);
	void *guard_ctx;
	/* Forgets so far, each numbered; a hash is not kept when its slot, or
	 * a device (or everything: dev_forgot), was forgotten since it began. */
	atomic_uint_fast64_t forgets, dev_forgot;
	atomic_bool trust_overlay_root;
};

bool file_id_same(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->ctime_ns == b->ctime_ns;
}

enum file_reread file_reread_check(const struct file_id *before, const struct file_id *now,
				   bool guarded, bool changes_elsewhere)
{
	if (!now || !file_id_same(before, now))
		return FILE_REREAD_CHANGED;
	if (changes_elsewhere)
		return FILE_REREAD_FOR_NOW;
	return before->settled || guarded ? FILE_REREAD_KEEP : FILE_REREAD_FOR_NOW;
}

/* Filesystems whose timestamps have a granularity of about 2 s (the window
 * covers whole-second ones too). */
#define MSDOS_MAGIC 0x4d44
#define EXFAT_MAGIC 0x2011BAB0
#define COARSE_FS_WINDOW_NS (2500 * 1000000LL)

static int64_t coarse_now_ns(int64_t *tick_ns)
{
	struct timespec now, res;
	if (clock_gettime(CLOCK_REALTIME_COARSE, &now) < 0 ||
	    clock_getres(CLOCK_REALTIME_COARSE, &res) < 0)
		return -1;
	*tick_ns = (int64_t)res.tv_sec * 1000000000 + res.tv_nsec;
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* A ctime is only a change detector once the clock has moved past it: the
 * kernel stamps a change with the coarse clock (one tick: 1-10 ms; before
 * 6.13 even after a stat), with whole seconds on ext4 with 128-byte
 * inodes, ext2/3 and hfsplus (a ctime with no nanoseconds), or with 2 s
 * granularity on FAT-like filesystems, so a same-size rewrite within that
 * window keeps the ctime an identity was taken with. Such an identity must
 * not stand for the content read after it: "racy", in git's word. The
 * clock is read before the fstat: a change after the fstat is stamped no
 * earlier than that. The statfs tells overlayfs (file_id.overlay), whose
 * files report a layer's real device on some kernels. */
int file_id_of_fd(int fd, struct file_id *id)
{
	struct stat st;
	struct statfs sf;
	int64_t tick_ns = 0, now_ns = coarse_now_ns(&tick_ns);
	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	id->nlink = st.st_nlink;
	id->settled = now_ns >= 0 && id->ctime_ns <= now_ns - 2 * tick_ns;
	bool have_sf = fstatfs(fd, &sf) == 0;
	id->overlay = !have_sf || sf.f_type == OVERLAYFS_SUPER_MAGIC;
	/* The group's write bit stands for a POSIX ACL's mask too. */
	id->root_only = st.st_uid == 0 && !(st.st_mode & (S_IWGRP | S_IWOTH));
	if (id->settled && id->ctime_ns > now_ns - COARSE_FS_WINDOW_NS)
		id->settled = st.st_ctim.tv_nsec != 0 && have_sf &&
			      sf.f_type != MSDOS_MAGIC && sf.f_type != EXFAT_MAGIC;
	return 0;
}

struct hash_cache *hash_cache_new(void)
{
	struct hash_cache *hc = calloc(1, sizeof(*hc));
	if (!hc)
		return NULL;
	for (int i = 0; i < HASH_CACHE_LOCKS; i++)
		pthread_mutex_init(&hc->slot_locks[i], NULL);
	pthread_mutex_init(&hc->hashing_lock, NULL);
	pthread_cond_init(&hc->hashing_done, NULL);
	return hc;
}

void hash_cache_use_store(struct hash_cache *hc, struct digests *store)
{
	if (hc)
		hc->store = store;
}

void hash_cache_use_guard(struct hash_cache *hc,
			  bool (*holds)(void *ctx, const struct file_id *id, uint64_t guard), void *ctx)
{
	hc->guard_holds = holds;
	hc->guard_ctx = ctx;
}

bool hash_cache_keeps(const struct hash_cache *hc, const struct file_id *id)
{
	return !id->overlay || (id->root_only && hc && atomic_load(&hc->trust_overlay_root));
}

bool hash_cache_guard_holds(const struct hash_cache *hc, const struct file_id *id, uint64_t guard)
{
	return guard && hc && hc->guard_holds && hc->guard_holds(hc->guard_ctx, id, guard);
}

struct digests *hash_cache_store(const struct hash_cache *hc)
{
	return hc ? hc->store : NULL;
}

void hash_cache_free(struct hash_cache *hc)
{
	if (!hc)
		return;
	for (int i = 0; i < HASH_CACHE_LOCKS; i++)
		pthread_mutex_destroy(&hc->slot_locks[i]);
	pthread_mutex_destroy(&hc->hashing_lock);
	pthread_cond_destroy(&hc->hashing_done);
	free(hc);
}

static struct hash_slot *slot_of(struct hash_cache *hc, dev_t dev, ino_t ino,
				 pthread_mutex_t **lock)
{
	size_t i = gk_inode_hash(dev, ino) % HASH_CACHE_SLOTS;
	*lock = &hc->slot_locks[i % HASH_CACHE_LOCKS];
	return &hc->slots[i];
}

bool hash_cache_lookup(struct hash_cache *hc, const struct file_id *id,
		       unsigned char out[GK_SHA256_LEN])
{
	pthread_mutex_t *lock;
	if (!hash_cache_keeps(hc, id))
		return false;
	struct hash_slot *s = slot_of(hc, id->dev, id->ino, &lock);
	pthread_mutex_lock(lock);
	bool hit = s->used && file_id_same(&s->id, id);
	if (hit)
		memcpy(out, s->sha, GK_SHA256_LEN);
	pthread_mutex_unlock(lock);
	return hit;
}

/* Whether a forget of slot s or of a device came since gen (the forgets
 * counted when a hash began): it may be about this file. Caller holds the
 * slot's lock. */
static bool slot_forgotten_since(const struct hash_cache *hc, const struct hash_slot *s,
				 uint64_t gen)
{
	return s->forgot > gen || atomic_load(&hc->dev_forgot) > gen;
}

static bool forgotten_since(struct hash_cache *hc, const struct file_id *id, uint64_t gen)
{
	pthread_mutex_t *lock;
	struct hash_slot *s = slot_of(hc, id->dev, id->ino, &lock);
	pthread_mutex_lock(lock);
	bool since = slot_forgotten_since(hc, s, gen);
	pthread_mutex_unlock(lock);
	return since;
}

/* Unless a forget of its slot or of a device came since gen. */
static void cache_store(struct hash_cache *hc, const struct file_id *id,
			const unsigned char sha[GK_SHA256_LEN], uint64_t gen)
{
	pthread_mutex_t *lock;
	struct hash_slot *s = slot_of(hc, id->dev, id->ino, &lock);
	pthread_mutex_lock(lock);
	if (!slot_forgotten_since(hc, s, gen)) {
		s->id = *id;
		memcpy(s->sha, sha, GK_SHA256_LEN);
		s->used = true;
	}
	pthread_mutex_unlock(lock);
}

static void wait_a_moment(pthread_cond_t *cond, pthread_mutex_t *lock)
{
	struct timespec until = gk_deadline_in_ms(CLOCK_REALTIME, 10);
	pthread_cond_timedwait(cond, lock, &until);
}

/* The hasher this caller waited for read under the same lease, which stood
 * since before that read: its digest describes the file now. Caller holds
 * hashing_lock. */
static bool take_handed(const struct hashing_slot *h, const struct file_id *id, uint64_t gen,
			uint64_t guard, unsigned char out[GK_SHA256_LEN], uint64_t *began)
{
	if (!guard || h->gen != gen + 1 || !h->found || h->guard != guard ||
	    !file_id_same(&h->id, id))
		return false;
	memcpy(out, h->sha, GK_SHA256_LEN);
	*began = h->began;
	return true;
}

/* Returns the claimed hashing slot, -1 when none was free (hash anyway),
 * -2 after waiting for another hasher of the same file (look again), or -3
 * when that hasher's digest was taken into out (take_handed). */
static int claim_hashing(struct hash_cache *hc, const struct file_id *id,
			 const atomic_bool *cancel, uint64_t guard,
			 unsigned char out[GK_SHA256_LEN])
{
	int free_slot = -1;
	pthread_mutex_lock(&hc->hashing_lock);
	for (int i = 0; i < HASHING_MAX; i++) {
		struct hashing_slot *h = &hc->hashing[i];
		if (!h->busy) {
			free_slot = free_slot < 0 ? i : free_slot;
		} else if (file_id_same(&h->id, id)) {
			uint64_t gen = h->gen;
			while (h->busy && h->gen == gen && !(cancel && atomic_load(cancel)))
				wait_a_moment(&hc->hashing_done, &hc->hashing_lock);
			uint64_t began = 0;
			bool taken = take_handed(h, id, gen, guard, out, &began);
			pthread_mutex_unlock(&hc->hashing_lock);
			/* and no writer has broken that lease since, nor has the file
			 * been forgotten since that hash began (it may have read a
			 * stored row that is stale) */
			return taken && hash_cache_guard_holds(hc, id, guard) &&
			       !forgotten_since(hc, id, began) ? -3 : -2;
		}
	}
	if (free_slot >= 0) {
		struct hashing_slot *h = &hc->hashing[free_slot];
		h->id = *id;
		h->busy = true;
		h->guard = guard;
		h->began = atomic_load(&hc->forgets);
		h->found = false;
	}
	pthread_mutex_unlock(&hc->hashing_lock);
	return free_slot;
}

static void release_hashing(struct hash_cache *hc, int claimed, const struct file_id *id,
			    const unsigned char *sha)
{
	if (claimed < 0)
		return;
	pthread_mutex_lock(&hc->hashing_lock);
	struct hashing_slot *h = &hc->hashing[claimed];
	h->busy = false;
	h->gen++;
	h->found = sha && file_id_same(&h->id, id);
	if (h->found)
		memcpy(h->sha, sha, GK_SHA256_LEN);
	pthread_cond_broadcast(&hc->hashing_done);
	pthread_mutex_unlock(&hc->hashing_lock);
}

/* A writer may change the file while we read it: the hash must belong to
 * the content the id describes, so compare the id before and after. */
static int hash_and_cache(struct hash_cache *hc, int fd, struct file_id *id,
			  unsigned char out[GK_SHA256_LEN], const atomic_bool *cancel)
{
	for (int attempt = 0; attempt < HASH_RETRIES; attempt++) {
		struct file_id after;
		uint64_t gen = atomic_load(&hc->forgets);
		if (digests_read(hc->store, fd, id, out, NULL, cancel) < 0 || file_id_of_fd(fd, &after) < 0)
			return -1;
		if (file_id_same(id, &after)) {
			if (id->settled && hash_cache_keeps(hc, id))
				cache_store(hc, id, out, gen);
			return 0;
		}
		*id = after;
	}
	errno = EAGAIN;    /* still being written: the caller applies on_error */
	return -1;
}

int identify_fd_guarded(struct hash_cache *hc, int fd, struct file_id *id,
			unsigned char out[GK_SHA256_LEN], const atomic_bool *cancel,
			uint64_t guard)
{
	if (file_id_of_fd(fd, id) < 0)
		return -1;
	/* Nothing is kept of it, nor handed over: each caller reads it at once. */
	int claimed = -1;
	if (hash_cache_keeps(hc, id))
		do {
			if (hash_cache_lookup(hc, id, out))
				return 0;
			claimed = claim_hashing(hc, id, cancel, guard, out);
			if (claimed == -3)
				return 0;
		} while (claimed == -2 && !(cancel && atomic_load(cancel)));
	int rc = hash_and_cache(hc, fd, id, out, cancel);
	release_hashing(hc, claimed, id, rc == 0 ? out : NULL);
	return rc;
}

int identify_fd(struct hash_cache *hc, int fd, struct file_id *id,
		unsigned char out[GK_SHA256_LEN])
{
	return identify_fd_guarded(hc, fd, id, out, NULL, 0);
}

/* dev_forgot takes the number of a forget of everything on a device (or
 * of everything): the highest, whichever thread stamps last. */
static void stamp_wide_forget(struct hash_cache *hc)
{
	uint64_t mine = atomic_fetch_add(&hc->forgets, 1) + 1;
	uint64_t was = atomic_load(&hc->dev_forgot);
	while (was < mine && !atomic_compare_exchange_weak(&hc->dev_forgot, &was, mine))
		;
}

/* Every slot's hash (of device *dev, or of any when dev is NULL) goes. */
static void clear_memory(struct hash_cache *hc, const dev_t *dev, bool overlay_only)
{
	for (size_t l = 0; l < HASH_CACHE_LOCKS; l++) {
		pthread_mutex_lock(&hc->slot_locks[l]);
		for (size_t i = l; i < HASH_CACHE_SLOTS; i += HASH_CACHE_LOCKS)
			if ((!dev || hc->slots[i].id.dev == *dev) &&
			    (!overlay_only || hc->slots[i].id.overlay))
				hc->slots[i].used = false;
		pthread_mutex_unlock(&hc->slot_locks[l]);
	}
}

/* What was kept under the old setting goes: a root writer's mapping may
 * have changed it unseen, and an apply is how an admin says so. */
void hash_cache_trust_overlay_root(struct hash_cache *hc, bool trust)
{
	if (!hc)
		return;
	atomic_store(&hc->trust_overlay_root, trust);
	stamp_wide_forget(hc);
	clear_memory(hc, NULL, true);
}

void hash_cache_forget_dev(struct hash_cache *hc, dev_t dev)
{
	if (!hc)
		return;
	/* Hashes under way are not kept; the store reads none of the device's
	 * rows from now on, so a miss while memory is cleared cannot bring one
	 * back; memory goes before the rows, whose removal may wait. */
	stamp_wide_forget(hc);
	digests_mark_gone(hc->store, dev);
	clear_memory(hc, &dev, false);
	digests_forget_dev(hc->store, dev);
}

static void forget_in_memory(struct hash_cache *hc, dev_t dev, ino_t ino)
{
	pthread_mutex_t *lock;
	struct hash_slot *s = slot_of(hc, dev, ino, &lock);
	pthread_mutex_lock(lock);
	s->forgot = atomic_fetch_add(&hc->forgets, 1) + 1;
	if (s->used && s->id.dev == dev && s->id.ino == ino)
		s->used = false;
	pthread_mutex_unlock(lock);
}

/* The store first: a hash that begins once memory is cleared must not find
 * the row (and keep it in memory), and one that began before is not kept. */
void hash_cache_forget(struct hash_cache *hc, int fd, dev_t dev, ino_t ino)
{
	digests_forget(hc->store, fd, dev, ino);
	forget_in_memory(hc, dev, ino);
}

void hash_cache_closes_lost(struct hash_cache *hc)
{
	if (!hc)
		return;
	digests_closes_lost(hc->store);
	stamp_wide_forget(hc);
	clear_memory(hc, NULL, false);
}

void hash_cache_distrust(struct hash_cache *hc, dev_t dev, ino_t ino)
{
	digests_distrust(hc->store, dev, ino);
	forget_in_memory(hc, dev, ino);
}
