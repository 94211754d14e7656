/* Names of kernel-cached denials (see denied.h). A fixed table: a newer
 * denial takes the slot of an older one that hashes alike, so memory stays
 * bounded however many files are denied; a refusal whose name was pushed
 * out is audited without it, as before. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/denied.h"
#include "gatekeeper/util.h"

#define DENIED_SLOTS 4096

struct denied_slot {
	dev_t dev;
	ino_t ino;
	char *path;         /* NULL: empty */
	bool have_sha;
	unsigned char sha[GK_SHA256_LEN];
};

struct gk_denied {
	pthread_mutex_t lock;   /* judging threads write, the ring-buffer reader reads */
	struct denied_slot slots[DENIED_SLOTS];
};

struct gk_denied *denied_new(void)
{
	struct gk_denied *dn = calloc(1, sizeof(*dn));
	if (dn)
		pthread_mutex_init(&dn->lock, NULL);
	return dn;
}

void denied_free(struct gk_denied *dn)
{
	if (!dn)
		return;
	for (size_t i = 0; i < DENIED_SLOTS; i++)
		free(dn->slots[i].path);
	pthread_mutex_destroy(&dn->lock);
	free(dn);
}

void denied_remember(struct gk_denied *dn, dev_t dev, ino_t ino, const char *path,
		     const unsigned char *sha)
{
	if (!dn || !path || !path[0])
		return;
	struct denied_slot *s = &dn->slots[gk_inode_hash(dev, ino) % DENIED_SLOTS];
	pthread_mutex_lock(&dn->lock);
	if (!s->path || s->dev != dev || s->ino != ino || strcmp(s->path, path)) {
		char *copy = strdup(path);
		if (copy) {   /* out of memory: the old name stays, harmless */
			free(s->path);
			*s = (struct denied_slot){ .dev = dev, .ino = ino, .path = copy };
		}
	}
	if (s->path && s->dev == dev && s->ino == ino) {
		s->have_sha = sha != NULL;
		if (sha)
			memcpy(s->sha, sha, GK_SHA256_LEN);
	}
	pthread_mutex_unlock(&dn->lock);
}

bool denied_name(struct gk_denied *dn, dev_t dev, ino_t ino, char *out, size_t size,
		 unsigned char sha[GK_SHA256_LEN], bool *have_sha)
{
	if (have_sha)
		*have_sha = false;
	if (!dn || !size)
		return false;
	struct denied_slot *s = &dn->slots[gk_inode_hash(dev, ino) % DENIED_SLOTS];
	pthread_mutex_lock(&dn->lock);
	bool found = s->path && s->dev == dev && s->ino == ino;
	if (found) {
		snprintf(out, size, "%s", s->path);
		if (sha && have_sha && s->have_sha) {
			memcpy(sha, s->sha, GK_SHA256_LEN);
			*have_sha = true;
		}
	}
	pthread_mutex_unlock(&dn->lock);
	return found;
}
