/* Identify a file by the SHA-256 of its content, read through the fd the
 * kernel gave us (FMODE_NONOTIFY: reading it raises no event). An unchanged
 * file (same dev, inode, size and ctime) is never hashed twice. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/digests.h"

#define HASH_CACHE_SLOTS 16384           /* direct-mapped; a collision rehashes */
#define HASH_CACHE_LOCKS 64
#define HASH_RETRIES 3

struct hash_slot {
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
	bool used;
};

static struct hash_slot cache[HASH_CACHE_SLOTS];

/* Files being hashed right now: a second caller for the same file waits for
 * the first instead of reading it again (the miss path meeting a pre-scan). */
#define HASHING_MAX 64
static struct file_id hashing[HASHING_MAX];
static bool hashing_busy[HASHING_MAX];
static pthread_mutex_t hashing_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hashing_done = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t cache_locks[HASH_CACHE_LOCKS] = {
	[0 ... HASH_CACHE_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER
};

int file_id_of_fd(int fd, struct file_id *id)
{
	struct stat st;
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
	return 0;
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->ctime_ns == b->ctime_ns;
}

static int hash_and_cache(int fd, struct file_id *id, unsigned char out[GK_SHA256_LEN],
			  const atomic_bool *cancel);

static size_t slot_of(const struct file_id *id)
{
	uint64_t h = (uint64_t)id->ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)id->dev;
	return (size_t)(h ^ (h >> 29)) % HASH_CACHE_SLOTS;
}

static bool cache_lookup(const struct file_id *id, unsigned char out[GK_SHA256_LEN])
{
	size_t slot = slot_of(id);
	pthread_mutex_t *lock = &cache_locks[slot % HASH_CACHE_LOCKS];
	pthread_mutex_lock(lock);
	bool hit = cache[slot].used && same_id(&cache[slot].id, id);
	if (hit)
		memcpy(out, cache[slot].sha, GK_SHA256_LEN);
	pthread_mutex_unlock(lock);
	return hit;
}

/* Returns the claimed hashing slot, -1 when none was free (hash anyway), or
 * -2 after waiting for another hasher of the same file (look again). */
static int claim_hashing(const struct file_id *id, const atomic_bool *cancel)
{
	int free_slot = -1;
	pthread_mutex_lock(&hashing_lock);
	for (int i = 0; i < HASHING_MAX; i++) {
		if (!hashing_busy[i]) {
			free_slot = free_slot < 0 ? i : free_slot;
		} else if (same_id(&hashing[i], id)) {
			while (hashing_busy[i] && same_id(&hashing[i], id) &&
			       !(cancel && atomic_load(cancel))) {
				struct timespec until;
				clock_gettime(CLOCK_REALTIME, &until);
				until.tv_nsec += 10 * 1000000;
				if (until.tv_nsec >= 1000000000) {
					until.tv_sec++;
					until.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&hashing_done, &hashing_lock, &until);
			}
			pthread_mutex_unlock(&hashing_lock);
			return -2;
		}
	}
	if (free_slot >= 0) {
		hashing[free_slot] = *id;
		hashing_busy[free_slot] = true;
	}
	pthread_mutex_unlock(&hashing_lock);
	return free_slot;
}

static void release_hashing(int claimed)
{
	if (claimed < 0)
		return;
	pthread_mutex_lock(&hashing_lock);
	hashing_busy[claimed] = false;
	pthread_cond_broadcast(&hashing_done);
	pthread_mutex_unlock(&hashing_lock);
}

int identify_fd(int fd, struct file_id *id, unsigned char out[GK_SHA256_LEN],
		const atomic_bool *cancel)
{
	if (file_id_of_fd(fd, id) < 0)
		return -1;
	int claimed;
	do {
		if (cache_lookup(id, out))
			return 0;
		claimed = claim_hashing(id, cancel);
	} while (claimed == -2 && !(cancel && atomic_load(cancel)));
	int rc = hash_and_cache(fd, id, out, cancel);
	release_hashing(claimed);
	return rc;
}

static int hash_and_cache(int fd, struct file_id *id, unsigned char out[GK_SHA256_LEN],
			  const atomic_bool *cancel)
{
	size_t slot = slot_of(id);
	pthread_mutex_t *lock = &cache_locks[slot % HASH_CACHE_LOCKS];

	/* A writer may change the file while we read it: the hash must belong
	 * to the content the id describes, so compare the id before and after. */
	for (int attempt = 0; attempt < HASH_RETRIES; attempt++) {
		struct file_id after;
		if (digests_read(fd, id, out, NULL, cancel) < 0 || file_id_of_fd(fd, &after) < 0)
			return -1;
		if (same_id(id, &after)) {
			pthread_mutex_lock(lock);
			cache[slot].id = *id;
			memcpy(cache[slot].sha, out, GK_SHA256_LEN);
			cache[slot].used = true;
			pthread_mutex_unlock(lock);
			return 0;
		}
		*id = after;
		slot = slot_of(id);
		lock = &cache_locks[slot % HASH_CACHE_LOCKS];
	}
	errno = EAGAIN;    /* still being written: the caller applies on_error */
	return -1;
}

void hash_cache_forget(dev_t dev, ino_t ino)
{
	struct file_id probe = { .dev = dev, .ino = ino };
	size_t slot = slot_of(&probe);
	pthread_mutex_t *lock = &cache_locks[slot % HASH_CACHE_LOCKS];
	pthread_mutex_lock(lock);
	if (cache[slot].used && cache[slot].id.dev == dev && cache[slot].id.ino == ino)
		cache[slot].used = false;
	pthread_mutex_unlock(lock);
	digests_forget(dev, ino);
}
