/* Superblocks that went away between two reads of the mount table.
 *
 * A digest is cached by device, inode, size and ctime. A filesystem on a
 * device its user controls (a USB stick, a loop-mounted image) can be
 * unmounted, changed elsewhere with every one of those kept, and mounted
 * again on the same device: the cached digest, and with it an allow, would
 * then stand for content nobody judged. So when no mount shows a device any
 * more, its digests go.
 *
 * A device none of whose earlier mounts (by mount ID) remain is gone, even
 * if it shows again under new ones. But mountinfo's IDs are reused (the
 * lowest free one), so an unmount and mount again between two reads of
 * the table (the tracker merges the events) can look like no change: the
 * tracker wakes at once on a change, which makes that window short, not
 * closed. Nor is a change made while the daemon was not running seen. */
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/mounts.h"

static int by_id(const void *a, const void *b)
{
	unsigned x = ((const struct sb_mount *)a)->id, y = ((const struct sb_mount *)b)->id;
	return x < y ? -1 : x > y;
}

/* Is this mount (its ID, on that device) in the table? An ID alone is not
 * enough: the kernel hands a freed one to the next mount, of any device. */
static bool has_mount(const struct sb_mount *sorted, size_t n, const struct sb_mount *m)
{
	const struct sb_mount *found = bsearch(m, sorted, n, sizeof(*sorted), by_id);
	return found && found->dev == m->dev;
}

static int by_dev(const void *a, const void *b)
{
	dev_t x = ((const struct sb_mount *)a)->dev, y = ((const struct sb_mount *)b)->dev;
	return x < y ? -1 : x > y;
}

size_t mounts_seen_update(struct mounts_seen *s, struct sb_mount *now, size_t n_now, dev_t *gone,
			  size_t max_gone)
{
	size_t n_gone = 0;
	qsort(now, n_now, sizeof(*now), by_id);
	if (s->known)
		qsort(s->m, s->n, sizeof(*s->m), by_dev);
	/* one device at a time: gone unless one of its earlier mounts shows */
	for (size_t i = 0, end; s->known && i < s->n; i = end) {
		bool stays = false;
		for (end = i; end < s->n && s->m[end].dev == s->m[i].dev; end++)
			stays = stays || has_mount(now, n_now, &s->m[end]);
		if (stays)
			continue;
		if (n_gone < max_gone)
			gone[n_gone] = s->m[i].dev;
		n_gone++;
	}
	free(s->m);
	s->m = now;
	s->n = n_now;
	s->known = true;
	return n_gone;
}

void mounts_forget_gone(struct gk_daemon *d, struct mounts_seen *s, struct sb_mount *now,
			size_t n_now)
{
	dev_t *gone = malloc((s->n ? s->n : 1) * sizeof(*gone));
	if (!now || !gone) {   /* unknown: what is gone now is seen at the next read */
		free(now);
		free(gone);
		return;
	}
	size_t n_gone = mounts_seen_update(s, now, n_now, gone, s->n);
	for (size_t i = 0; i < n_gone; i++) {
		hash_cache_forget_dev(d->hashes, gone[i]);
		log_msg(GK_LOG_DEBUG, "filesystem_gone dev=%u:%u digests=forgotten", major(gone[i]),
			minor(gone[i]));
	}
	free(gone);
}

void mounts_seen_free(struct mounts_seen *s)
{
	free(s->m);
	*s = (struct mounts_seen){ 0 };
}
