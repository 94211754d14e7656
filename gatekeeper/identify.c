/* Identify a file by the SHA-256 of its content, read through the fd the
 * kernel gave us (FMODE_NONOTIFY: reading it raises no event). An unchanged
 * file (same dev, inode, size and ctime) is never hashed twice. */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"

#define HASH_CACHE_SLOTS 16384           /* direct-mapped; a collision rehashes */
#define HASH_CACHE_LOCKS 64
#define HASH_CHUNK (1024 * 1024)
#define HASH_RETRIES 3

struct hash_slot {
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
	bool used;
};

static struct hash_slot cache[HASH_CACHE_SLOTS];
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

static size_t slot_of(const struct file_id *id)
{
	uint64_t h = (uint64_t)id->ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)id->dev;
	return (size_t)(h ^ (h >> 29)) % HASH_CACHE_SLOTS;
}

int sha256_fd(int fd, unsigned char out[GK_SHA256_LEN], const atomic_bool *cancel)
{
	int rc = -1, saved = 0;
	unsigned char *buf = malloc(HASH_CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!buf || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		saved = ENOMEM;
		goto cleanup;
	}
	for (off_t off = 0;;) {
		if (cancel && atomic_load(cancel)) {
			saved = ECANCELED;
			goto cleanup;
		}
		ssize_t n = pread(fd, buf, HASH_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
			saved = EIO;
			goto cleanup;
		}
		off += n;
	}
	if (!EVP_DigestFinal_ex(ctx, out, NULL)) {
		saved = EIO;
		goto cleanup;
	}
	rc = 0;
cleanup:
	EVP_MD_CTX_free(ctx);
	free(buf);
	if (rc)
		errno = saved;
	return rc;
}

int identify_fd(int fd, struct file_id *id, unsigned char out[GK_SHA256_LEN],
		const atomic_bool *cancel)
{
	if (file_id_of_fd(fd, id) < 0)
		return -1;
	size_t slot = slot_of(id);
	pthread_mutex_t *lock = &cache_locks[slot % HASH_CACHE_LOCKS];
	pthread_mutex_lock(lock);
	bool hit = cache[slot].used && same_id(&cache[slot].id, id);
	if (hit)
		memcpy(out, cache[slot].sha, GK_SHA256_LEN);
	pthread_mutex_unlock(lock);
	if (hit)
		return 0;

	/* A writer may change the file while we read it: the hash must belong
	 * to the content the id describes, so compare the id before and after. */
	for (int attempt = 0; attempt < HASH_RETRIES; attempt++) {
		struct file_id after;
		if (sha256_fd(fd, out, cancel) < 0 || file_id_of_fd(fd, &after) < 0)
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

void hash_cache_clear(void)
{
	for (size_t i = 0; i < HASH_CACHE_SLOTS; i++) {
		pthread_mutex_t *lock = &cache_locks[i % HASH_CACHE_LOCKS];
		pthread_mutex_lock(lock);
		cache[i].used = false;
		pthread_mutex_unlock(lock);
	}
}
