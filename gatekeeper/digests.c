/* digests: see digests.h. One store connection, used under a mutex; it
 * waits briefly for the lock (a trust refresh may be writing) and on a busy
 * store simply computes without storing. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "db/db.h"
#include "gatekeeper/digests.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/util.h"
#include "scanner/scanner.h"


/* A read records the forgets so far; a forget stamps its inode's slot with
 * its number, and the read stores nothing if its slot was stamped since. */
#define GEN_SLOTS 4096
/* Written files whose stored rows are being dropped, or could not be
 * (tried again at the next drop and at close): at most this many at once,
 * else the store is no longer read for this run. Only a file whose row
 * still matches its ctime and size gets here (a write through a shared
 * mapping need not move them): rare. */
#define DROPPING_MAX 64
/* Files a miss could not be sure were not written (digests_distrust): the
 * latest ones; the miss's worker reads its file at once. */
#define DISTRUSTED_MAX 64
/* Devices gone (digests_forget_dev) whose rows are still in the store: at
 * most this many at once, else the store is no longer read for this run. */
#define GONE_MAX 64
/* Rows are dropped on a connection of their own, off the miss path's lock
 * (by the mount tracker and the close reader). It waits this long for a
 * writer, no more: those threads have more to do. */
#define UPKEEP_BUSY_MS 200

struct dropping {
	dev_t dev;
	ino_t ino;
	bool failed;
	char fs[DIGESTS_FS_ID_MAX];
};

/* Owned by struct gk_daemon (d->digests); the hash cache borrows it
 * (hash_cache_use_store), which is how identify.c reaches it. */
struct digests {
	pthread_mutex_t lock;
	struct gk_db *db;
	struct dropping dropping[DROPPING_MAX];
	size_t n_dropping;
	struct { dev_t dev; ino_t ino; bool used; } distrusted[DISTRUSTED_MAX];
	unsigned distrusted_next;
	uint64_t slot_gen[GEN_SLOTS];
	dev_t gone[GONE_MAX];
	size_t n_gone;
	uint64_t forgets;               /* forgets so far, each numbered */
	uint64_t dev_gen;               /* the number of the last device gone */
	/* Why the store is not read for the rest of this run (NULL: it is). */
	const char *unread_why;
	/* The store's unsure mark (db_digests_unsure_set) set by this run;
	 * kept at close: for rows this run no longer knows (closes lost, a
	 * drop not listed). */
	bool unsure_marked, unsure_keep;
	bool in_use_marked;             /* PATH.digests-in-use, until a clean close */
	atomic_bool lease_refusal_logged;
	struct digests_stats stats;
	const struct gk_db *store;      /* to open upkeep, when first needed */
	/* Drops rows off the miss path's lock; it may wait for a writer. */
	pthread_mutex_t upkeep_lock;
	struct gk_db *upkeep;
};

/* The last run left digests that may be stale (why): none is kept. */
static void drop_every_digest(struct digests *g, const char *why)
{
	db_set_busy_timeout(g->db, UPKEEP_BUSY_MS);
	if (db_digest_forget_fs(g->db, "dev:") == 0 && db_digest_forget_old_keys(g->db) == 0 &&
	    db_digests_unsure_clear(g->db) == 0) {
		log_msg(GK_LOG_WARN, "warning=\"digests: %s: every stored digest was dropped\"", why);
		return;
	}
	g->unread_why = "the last run's possibly stale digests could not be dropped";
	g->unsure_marked = g->unsure_keep = true;   /* the mark stays for the next start */
	log_msg(GK_LOG_WARN, "warning=\"digests: %s, and the store cannot drop its digests now: "
		"it is not read until restart\"", why);
}

/* A change's new ctime is metadata, written to disk later than its data
 * can be (a journal commit, lazytime, O_DIRECT or fdatasync): if the
 * machine went down with the store in use, a file may hold new content
 * under its old ctime. The store is marked in use with the boot's ID; a
 * mark of another boot, or none that can be made, drops or disables it. */
static void mark_in_use(struct digests *g)
{
	char boot[64], last[64];
	bool have_boot = gk_read_text("/proc/sys/kernel/random/boot_id", boot, sizeof(boot)) > 0;
	int was = db_digests_in_use_get(g->db, last, sizeof(last));
	if (db_digests_unsure(g->db))
		drop_every_digest(g, "the last run may have left stale digests in the store");
	else if (was != 0 && (was < 0 || !have_boot || strcmp(last, boot) != 0))
		drop_every_digest(g, "the machine went down while the store was in use");
	if (have_boot && db_digests_in_use_set(g->db, boot) == 0) {
		g->in_use_marked = true;
		return;
	}
	if (!g->unread_why)
		g->unread_why = "the store cannot be marked in use";
	log_msg(GK_LOG_ERR, "error=\"digests: cannot mark the store in use: %s: no digest is "
		"read or kept until restart\"", have_boot ? strerror(errno) : "no boot ID");
}

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
	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->upkeep_lock, NULL);
	g->store = store;
	mark_in_use(g);
	/* The miss path holds g->lock around these statements: a store locked by
	 * another process must cost it nothing (issue 12, item 5). */
	db_set_busy_timeout(g->db, 0);
	return g;
}


static size_t slot_of(dev_t dev, ino_t ino)
{
	return gk_inode_hash(dev, ino) % GEN_SLOTS;
}

/* Caller holds g->lock. */
static ssize_t dropping_at(const struct digests *g, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < g->n_dropping; i++)
		if (g->dropping[i].dev == dev && g->dropping[i].ino == ino)
			return (ssize_t)i;
	return -1;
}

/* Caller holds g->lock. False: the list is full, the store is not read again. */
static bool dropping_add(struct digests *g, dev_t dev, ino_t ino, const char *fs)
{
	if (dropping_at(g, dev, ino) >= 0)
		return true;
	if (g->n_dropping < DROPPING_MAX) {
		struct dropping *e = &g->dropping[g->n_dropping++];
		e->dev = dev;
		e->ino = ino;
		e->failed = false;
		snprintf(e->fs, sizeof(e->fs), "%s", fs);
		return true;
	}
	if (g->unread_why)
		return false;
	g->unread_why = "too many written files with their stored rows not dropped";
	log_msg(GK_LOG_WARN, "warning=\"digests: more than %d written files with their stored "
		"digests not dropped yet: the store is not read again until restart\"", DROPPING_MAX);
	return false;
}

/* Caller holds g->lock. */
static void dropping_remove(struct digests *g, dev_t dev, ino_t ino)
{
	ssize_t i = dropping_at(g, dev, ino);
	if (i >= 0)
		g->dropping[i] = g->dropping[--g->n_dropping];
}

/* Caller holds g->lock. Whether the store holds a digest for the file as
 * it is now (now NULL: unknown), under identity fs; unknown: as if it did. */
static bool stored_for(struct digests *g, const char *fs, const struct file_id *now)
{
	unsigned char sha[GK_SHA256_LEN], md5[DIGESTS_MD5_LEN];
	bool has_md5;

	return !now || db_digest_get(g->db, fs, (uint64_t)now->ino, now->ctime_ns, (int64_t)now->size,
				     sha, md5, &has_md5) != 1;
}

/* The upkeep connection, opened when first needed. Caller holds upkeep_lock. */
static struct gk_db *upkeep(struct digests *g)
{
	char err[256];

	if (!g->upkeep && g->store) {
		g->upkeep = db_open_another(g->store, err, sizeof(err));
		if (g->upkeep) {
			db_set_busy_timeout(g->upkeep, UPKEEP_BUSY_MS);
			/* rows keyed before identities began with the device:
			 * never matched again */
			db_digest_forget_old_keys(g->upkeep);
		}
	}
	return g->upkeep;
}

/* Marked beside the store, so that a restart drops every digest, unless a
 * clean close finds nothing left to drop (keep: it cannot tell). */
static void mark_unsure(struct digests *g, bool keep)
{
	pthread_mutex_lock(&g->lock);
	bool first = !g->unsure_marked;
	g->unsure_marked = true;
	g->unsure_keep |= keep;
	pthread_mutex_unlock(&g->lock);
	if (first && db_digests_unsure_set(g->db) != 0)
		log_msg(GK_LOG_ERR, "error=\"digests: cannot mark the store's digests unsure: %s\"",
			strerror(errno));
}

/* Drops that failed before, again. Caller holds upkeep_lock (then g->lock:
 * the order everywhere). A row stored again meanwhile may go too: a miss. */
static void drop_failed_again(struct digests *g)
{
	for (size_t i = 0;;) {
		struct dropping e;
		pthread_mutex_lock(&g->lock);
		while (i < g->n_dropping && !g->dropping[i].failed)
			i++;
		bool more = i < g->n_dropping;
		if (more)
			e = g->dropping[i];
		pthread_mutex_unlock(&g->lock);
		if (!more || db_digest_forget_inode(g->upkeep, e.fs, (uint64_t)e.ino) != 0)
			return;
		pthread_mutex_lock(&g->lock);
		ssize_t at = dropping_at(g, e.dev, e.ino);
		if (at >= 0 && g->dropping[at].failed)
			dropping_remove(g, e.dev, e.ino);   /* the last entry moves into its place */
		else
			i++;
		pthread_mutex_unlock(&g->lock);
	}
}

/* On the upkeep connection, off g->lock. A row that cannot go stays
 * listed (unread) and is tried again at the next drop and at close. */
static void drop_rows(struct digests *g, const char *fs, dev_t dev, ino_t ino, bool listed)
{
	pthread_mutex_lock(&g->upkeep_lock);
	bool dropped = upkeep(g) && db_digest_forget_inode(g->upkeep, fs, (uint64_t)ino) == 0;
	if (dropped)
		drop_failed_again(g);
	pthread_mutex_unlock(&g->upkeep_lock);
	pthread_mutex_lock(&g->lock);
	ssize_t at = dropping_at(g, dev, ino);
	if (at >= 0 && dropped)
		dropping_remove(g, dev, ino);
	else if (at >= 0)
		g->dropping[at].failed = true;
	pthread_mutex_unlock(&g->lock);
	if (dropped)
		return;
	mark_unsure(g, !listed);
	log_msg(GK_LOG_WARN, "warning=\"digests: cannot drop the stored digests of a written "
		"file (dev %u:%u inode %llu) yet: %s\"", major(dev), minor(dev),
		(unsigned long long)ino, listed ? "not read meanwhile, tried again later" :
		"the store is not read again until restart");
}

/* A written file whose row no longer matches its ctime and size needs
 * nothing: its key moved. One whose row still does has the row dropped,
 * on the caller's thread, unread meanwhile. Without an identity now the
 * file had none when read: nothing of it was stored. */
void digests_forget(struct digests *g, int fd, dev_t dev, ino_t ino)
{
	char fs[DIGESTS_FS_ID_MAX];
	struct file_id now;

	if (!g)
		return;
	bool have_fs = digests_fs_identity(fd, dev, fs, sizeof(fs)) == 0;
	bool know_now = have_fs && file_id_of_fd(fd, &now) == 0 && now.dev == dev && now.ino == ino;
	pthread_mutex_lock(&g->lock);
	g->slot_gen[slot_of(dev, ino)] = ++g->forgets;
	bool drop = have_fs && g->db && stored_for(g, fs, know_now ? &now : NULL);
	bool listed = drop && dropping_add(g, dev, ino, fs);
	pthread_mutex_unlock(&g->lock);
	if (drop)
		drop_rows(g, fs, dev, ino, listed);
}

void digests_closes_lost(struct digests *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	if (!g->unread_why)
		g->unread_why = "closes of written files were lost";
	pthread_mutex_unlock(&g->lock);
	mark_unsure(g, true);
}

void digests_distrust(struct digests *g, dev_t dev, ino_t ino)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->slot_gen[slot_of(dev, ino)] = ++g->forgets;
	unsigned i = g->distrusted_next++ % DISTRUSTED_MAX;
	g->distrusted[i].dev = dev;
	g->distrusted[i].ino = ino;
	g->distrusted[i].used = true;
	pthread_mutex_unlock(&g->lock);
}

void digests_close(struct digests *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->upkeep_lock);
	if (g->n_dropping && upkeep(g))
		drop_failed_again(g);
	pthread_mutex_unlock(&g->upkeep_lock);
	bool failed = false;
	for (size_t i = 0; i < g->n_dropping; i++)
		failed |= g->dropping[i].failed;
	if (g->unsure_marked && !g->unsure_keep && !failed)
		db_digests_unsure_clear(g->db);
	else if (g->unsure_marked)   /* another daemon on the store may have taken it */
		db_digests_unsure_set(g->db);
	if (g->in_use_marked)
		db_digests_in_use_clear(g->db);
	db_close(g->db);
	if (g->upkeep)
		db_close(g->upkeep);
	pthread_mutex_destroy(&g->lock);
	pthread_mutex_destroy(&g->upkeep_lock);
	free(g);
}

/* Caller holds g->lock. The file's place among the distrusted, -1: none. */
static ssize_t distrusted_at(const struct digests *g, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < DISTRUSTED_MAX; i++)
		if (g->distrusted[i].used && g->distrusted[i].dev == dev && g->distrusted[i].ino == ino)
			return (ssize_t)i;
	return -1;
}

/* Caller holds g->lock: the file was read again and its digest stored. */
static void read_again(struct digests *g, dev_t dev, ino_t ino)
{
	dropping_remove(g, dev, ino);
	for (ssize_t i; (i = distrusted_at(g, dev, ino)) >= 0;)
		g->distrusted[i].used = false;
}

/* Caller holds g->lock. */
static bool gone(const struct digests *g, dev_t dev)
{
	for (size_t i = 0; i < g->n_gone; i++)
		if (g->gone[i] == dev)
			return true;
	return false;
}

/* Between the device's going and its rows' removal, its rows are not read. */
static void set_gone(struct digests *g, dev_t dev, bool on)
{
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->n_gone; i++)
		if (g->gone[i] == dev)
			g->gone[i] = g->gone[--g->n_gone];
	if (on)
		g->dev_gen = ++g->forgets;
	if (on && g->n_gone < GONE_MAX) {
		g->gone[g->n_gone++] = dev;
	} else if (on && !g->unread_why) {
		g->unread_why = "too many devices gone with their stored rows not dropped";
		log_msg(GK_LOG_WARN, "warning=\"digests: more than %d devices gone with their rows "
			"not dropped yet: the store is not read again until restart\"", GONE_MAX);
	}
	pthread_mutex_unlock(&g->lock);
}

void digests_mark_gone(struct digests *g, dev_t dev)
{
	if (g)
		set_gone(g, dev, true);
}

void digests_forget_dev(struct digests *g, dev_t dev)
{
	char prefix[48];

	if (!g)
		return;
	set_gone(g, dev, true);
	snprintf(prefix, sizeof(prefix), "dev:%u:%u:", major(dev), minor(dev));
	pthread_mutex_lock(&g->upkeep_lock);
	bool dropped = upkeep(g) && db_digest_forget_fs(g->upkeep, prefix) == 0;
	pthread_mutex_unlock(&g->upkeep_lock);
	/* rows that could not go stay unread for this run, and the next start
	 * drops every row */
	if (dropped)
		set_gone(g, dev, false);
	else
		mark_unsure(g, true);
}

/* Caller holds g->lock. */
static bool forgotten(struct digests *g, const struct file_id *id)
{
	return g->unread_why || gone(g, id->dev) || dropping_at(g, id->dev, id->ino) >= 0 ||
	       distrusted_at(g, id->dev, id->ino) >= 0;
}

/* *gen: the forgets so far, for store. */
static bool lookup(struct digests *g, const char *fs, const struct file_id *id, unsigned char *sha,
		   unsigned char *md5, uint64_t *gen)
{
	unsigned char m[DIGESTS_MD5_LEN];
	bool has_md5 = false, hit = false;

	pthread_mutex_lock(&g->lock);
	*gen = g->forgets;
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

/* Not when a forget of the file's slot or of its device came since the
 * read began (gen): what was read may be what the forget was about. */
static void store(struct digests *g, const char *fs, const struct file_id *id, const unsigned char *sha,
		  const unsigned char *md5, uint64_t gen)
{
	size_t s = slot_of(id->dev, id->ino);

	pthread_mutex_lock(&g->lock);
	if (g->slot_gen[s] > gen || g->dev_gen > gen || gone(g, id->dev) || g->unread_why) {
		pthread_mutex_unlock(&g->lock);
		return;
	}
	/* Read after the write that made us forget, and in place of the old
	 * row: trustworthy again. */
	if (g->db && db_digest_put(g->db, fs, (uint64_t)id->ino, id->ctime_ns, (int64_t)id->size,
				  sha, md5) == 0) {
		read_again(g, id->dev, id->ino);
		g->stats.stored++;
	}
	pthread_mutex_unlock(&g->lock);
}


int digests_read(struct digests *g, int fd, const struct file_id *id, unsigned char sha[GK_SHA256_LEN],
		 unsigned char *md5, const atomic_bool *cancel)
{
	char fs[DIGESTS_FS_ID_MAX];
	bool have_fs = g && digests_fs_identity(fd, id->dev, fs, sizeof(fs)) == 0;
	struct file_id after;
	uint64_t gen = 0;

	if (have_fs && lookup(g, fs, id, sha, md5, &gen))
		return 0;
	/* Kept across restarts only if every change after the read moves the
	 * ctime: a close the daemon never saw (queued at a crash, or made while
	 * it was down) cannot then leave a stored digest stale. */
	bool keep = have_fs && id->settled && !digests_may_change_unseen(fd, id, &g->lease_refusal_logged);
	if (scanner_digests_fd(fd, sha, md5, cancel) < 0)
		return -1;
	if (keep && file_id_of_fd(fd, &after) == 0 && file_id_same(id, &after))
		store(g, fs, id, sha, md5, gen);
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
	out->unread_why = g->unread_why;
	pthread_mutex_unlock(&g->lock);
}
