/* Admin rules in memory, so the miss path never waits on SQLite. The db
 * table is the truth; this mirror is loaded at start and kept in step by the
 * control thread, which writes the db first. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/gatekeeperd.h"

struct admin_entry {
	unsigned char sha[GK_SHA256_LEN];
	enum gk_verdict verdict;         /* UNKNOWN: empty or deleted */
	bool used;                       /* ever used (probe chains stay intact) */
};

struct admin_rules {
	pthread_rwlock_t lock;
	struct admin_entry *slots;
	size_t cap, count, denies, used;
};

struct admin_rules *admin_rules_new(void)
{
	struct admin_rules *ar = calloc(1, sizeof(*ar));
	if (!ar)
		return NULL;
	ar->cap = 1024;
	ar->slots = calloc(ar->cap, sizeof(*ar->slots));
	if (!ar->slots) {
		free(ar);
		return NULL;
	}
	pthread_rwlock_init(&ar->lock, NULL);
	return ar;
}

void admin_rules_free(struct admin_rules *ar)
{
	if (!ar)
		return;
	pthread_rwlock_destroy(&ar->lock);
	free(ar->slots);
	free(ar);
}

static size_t probe_start(const struct admin_rules *ar, const unsigned char *sha)
{
	uint64_t h;
	memcpy(&h, sha, sizeof(h));     /* a SHA-256 is already uniformly spread */
	return (size_t)(h % ar->cap);
}

static struct admin_entry *find(struct admin_rules *ar, const unsigned char *sha, bool for_insert)
{
	struct admin_entry *free_slot = NULL;
	for (size_t i = probe_start(ar, sha), n = 0; n < ar->cap; n++, i = (i + 1) % ar->cap) {
		struct admin_entry *e = &ar->slots[i];
		if (!e->used)
			return for_insert ? (free_slot ? free_slot : e) : NULL;
		if (e->verdict != GK_VERDICT_UNKNOWN && !memcmp(e->sha, sha, GK_SHA256_LEN))
			return e;
		if (e->verdict == GK_VERDICT_UNKNOWN && !free_slot)
			free_slot = e;
	}
	return for_insert ? free_slot : NULL;
}

static int grow(struct admin_rules *ar)
{
	struct admin_entry *old = ar->slots;
	size_t old_cap = ar->cap;
	struct admin_entry *slots = calloc(old_cap * 2, sizeof(*slots));
	if (!slots)
		return -1;
	ar->slots = slots;
	ar->cap = old_cap * 2;
	ar->used = ar->count;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].verdict == GK_VERDICT_UNKNOWN)
			continue;
		struct admin_entry *e = find(ar, old[i].sha, true);
		*e = old[i];
	}
	free(old);
	return 0;
}

enum gk_verdict admin_rules_get(struct admin_rules *ar, const unsigned char sha[GK_SHA256_LEN])
{
	pthread_rwlock_rdlock(&ar->lock);
	struct admin_entry *e = find(ar, sha, false);
	enum gk_verdict v = e ? e->verdict : GK_VERDICT_UNKNOWN;
	pthread_rwlock_unlock(&ar->lock);
	return v;
}

void admin_rules_set(struct admin_rules *ar, const unsigned char sha[GK_SHA256_LEN],
		     enum gk_verdict v)
{
	pthread_rwlock_wrlock(&ar->lock);
	struct admin_entry *e = find(ar, sha, false);
	if (e) {
		ar->denies -= e->verdict == GK_VERDICT_DENY;
		if (v == GK_VERDICT_UNKNOWN)
			ar->count--;
		e->verdict = v;
		ar->denies += v == GK_VERDICT_DENY;
	} else if (v != GK_VERDICT_UNKNOWN) {
		if ((ar->used + 1) * 4 > ar->cap * 3 && grow(ar) < 0) {
			pthread_rwlock_unlock(&ar->lock);
			return;   /* out of memory: the db still holds the rule */
		}
		e = find(ar, sha, true);
		ar->used += !e->used;
		memcpy(e->sha, sha, GK_SHA256_LEN);
		e->verdict = v;
		e->used = true;
		ar->count++;
		ar->denies += v == GK_VERDICT_DENY;
	}
	pthread_rwlock_unlock(&ar->lock);
}

static int load_one(void *ctx, const unsigned char sha[GK_SHA256_LEN], enum gk_verdict v)
{
	admin_rules_set(ctx, sha, v);
	return 0;
}

int admin_rules_load(struct admin_rules *ar, struct gk_db *db)
{
	return db_admin_foreach(db, load_one, ar);
}

size_t admin_rules_count(struct admin_rules *ar)
{
	pthread_rwlock_rdlock(&ar->lock);
	size_t n = ar->count;
	pthread_rwlock_unlock(&ar->lock);
	return n;
}

size_t admin_rules_denies(struct admin_rules *ar)
{
	pthread_rwlock_rdlock(&ar->lock);
	size_t n = ar->denies;
	pthread_rwlock_unlock(&ar->lock);
	return n;
}
