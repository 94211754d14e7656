/* digests: see digests.h. One store connection, used under a mutex; it
 * waits briefly for the lock (a trust refresh may be writing) and on a busy
 * store simply computes without storing. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include "db/db.h"
#include "gatekeeper/digests.h"
#include "gatekeeper/util.h"
#include "scanner/scanner.h"

/* <linux/fs.h> before 6.5 lacks it; the ABI is fixed. */
#ifndef FS_IOC_GETFSUUID
struct fsuuid2 {
	unsigned char len;
	unsigned char uuid[16];
};
#define FS_IOC_GETFSUUID _IOR(0x15, 0, struct fsuuid2)
#endif

/* Inodes written through a shared mapping since we started (their ctime
 * need not have moved): direct-mapped, and once a slot is needed for a
 * second inode the store is no longer read for this run (safe, slower). */
#define FORGOTTEN_SLOTS 4096

/* Owned by struct gk_daemon (d->digests); the hash cache borrows it
 * (hash_cache_use_store), which is how identify.c reaches it. */
struct digests {
	pthread_mutex_t lock;
	struct gk_db *db;
	struct { dev_t dev; ino_t ino; bool used; } forgotten[FORGOTTEN_SLOTS];
	bool distrust_store;
	struct digests_stats stats;
};

struct digests *digests_open(const struct gk_db *store, char *err, size_t errlen)
{
	struct digests *g = calloc(1, sizeof(*g));

	if (!g) {
		snprintf(err, errlen, "digests: %s", strerror(errno));
		return NULL;
	}
	if (!(g->db = db_open_another(store, err, errlen))) {
		free(g);
		return NULL;
	}
	/* The miss path holds g->lock around these statements: a store locked by
	 * another process must cost it nothing (issue 12, item 5). */
	db_set_busy_timeout(g->db, 0);
	pthread_mutex_init(&g->lock, NULL);
	return g;
}

void digests_close(struct digests *g)
{
	if (!g)
		return;
	db_close(g->db);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static bool all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int digests_fs_identity(int fd, dev_t dev, char *out, size_t size)
{
	struct fsuuid2 u = { .len = sizeof(u.uuid) };
	struct statfs sf;
	size_t n = 0;

	if (fstatfs(fd, &sf) < 0)
		return -1;
	bool have_fsid = sf.f_fsid.__val[0] != 0 || sf.f_fsid.__val[1] != 0;
	/* A filesystem that never set its UUID still answers, with zeros (the
	 * kernel defaults the length to 16): that is no identity. */
	if (ioctl(fd, FS_IOC_GETFSUUID, &u) == 0 && u.len > 0 && u.len <= sizeof(u.uuid) &&
	    !all_zero(u.uuid, u.len)) {
		n = (size_t)snprintf(out, size, "uuid:");
		for (unsigned i = 0; i < u.len && n + 2 < size; i++)
			n += (size_t)snprintf(out + n, size - n, "%02x", u.uuid[i]);
	} else if (!have_fsid) {
		return -1;
	}
	/* A UUID alone is not enough. btrfs subvolumes share theirs and each
	 * numbers its inodes from 256 (f_fsid tells them apart), and a user's
	 * USB stick or loop image (udisks mounts them) can copy another
	 * filesystem's UUID and inode numbers: while both are mounted, the
	 * device tells them apart. */
	int w = snprintf(out + n, size - n, "%sfsid:%08x%08x:%lx:dev:%u:%u", n ? ":" : "",
			 (unsigned)sf.f_fsid.__val[0], (unsigned)sf.f_fsid.__val[1],
			 (unsigned long)sf.f_type, major(dev), minor(dev));
	return w < 0 || (size_t)w >= size - n ? -1 : 0;
}

static size_t slot_of(dev_t dev, ino_t ino)
{
	return gk_inode_hash(dev, ino) % FORGOTTEN_SLOTS;
}

void digests_forget(struct digests *g, dev_t dev, ino_t ino)
{
	size_t s = slot_of(dev, ino);

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	if (g->forgotten[s].used && (g->forgotten[s].dev != dev || g->forgotten[s].ino != ino))
		g->distrust_store = true;
	g->forgotten[s].dev = dev;
	g->forgotten[s].ino = ino;
	g->forgotten[s].used = true;
	pthread_mutex_unlock(&g->lock);
}

void digests_forget_dev(struct digests *g, dev_t dev)
{
	char glob[48];

	if (!g)
		return;
	snprintf(glob, sizeof(glob), "*:dev:%u:%u", major(dev), minor(dev));
	pthread_mutex_lock(&g->lock);
	if (g->db && db_digest_forget_fs(g->db, glob) < 0)
		g->distrust_store = true;   /* rows that could not go are never read */
	pthread_mutex_unlock(&g->lock);
}

/* Caller holds g->lock. */
static bool forgotten(struct digests *g, const struct file_id *id)
{
	size_t s = slot_of(id->dev, id->ino);

	return g->distrust_store ||
	       (g->forgotten[s].used && g->forgotten[s].dev == id->dev && g->forgotten[s].ino == id->ino);
}

static bool lookup(struct digests *g, const char *fs, const struct file_id *id, unsigned char *sha,
		   unsigned char *md5)
{
	unsigned char m[DIGESTS_MD5_LEN];
	bool has_md5 = false, hit = false;

	pthread_mutex_lock(&g->lock);
	if (g->db && !forgotten(g, id) &&
	    db_digest_get(g->db, fs, (uint64_t)id->ino, id->ctime_ns, (int64_t)id->size, sha, m,
			  &has_md5) == 0 && (has_md5 || !md5)) {
		if (md5)
			memcpy(md5, m, sizeof(m));
		hit = true;
	}
	if (hit)
		g->stats.hits++;
	else
		g->stats.misses++;
	pthread_mutex_unlock(&g->lock);
	return hit;
}

static void store(struct digests *g, const char *fs, const struct file_id *id, const unsigned char *sha,
		  const unsigned char *md5)
{
	size_t s = slot_of(id->dev, id->ino);

	pthread_mutex_lock(&g->lock);
	/* Read after the mapping write that made us forget: trustworthy again. */
	if (g->forgotten[s].used && g->forgotten[s].dev == id->dev && g->forgotten[s].ino == id->ino)
		g->forgotten[s].used = false;
	if (g->db && db_digest_put(g->db, fs, (uint64_t)id->ino, id->ctime_ns, (int64_t)id->size,
				  sha, md5) == 0)
		g->stats.stored++;
	pthread_mutex_unlock(&g->lock);
}

int digests_read(struct digests *g, int fd, const struct file_id *id, unsigned char sha[GK_SHA256_LEN],
		 unsigned char *md5, const atomic_bool *cancel)
{
	char fs[DIGESTS_FS_ID_MAX];
	bool have_fs = g && digests_fs_identity(fd, id->dev, fs, sizeof(fs)) == 0;
	struct file_id after;

	if (have_fs && lookup(g, fs, id, sha, md5))
		return 0;
	if (scanner_digests_fd(fd, sha, md5, cancel) < 0)
		return -1;
	if (have_fs && id->settled && file_id_of_fd(fd, &after) == 0 && file_id_same(id, &after))
		store(g, fs, id, sha, md5);
	return 0;
}

void digests_get_stats(struct digests *g, struct digests_stats *out)
{
	if (!g) {
		*out = (struct digests_stats){ 0 };
		return;
	}
	pthread_mutex_lock(&g->lock);
	*out = g->stats;
	pthread_mutex_unlock(&g->lock);
}
