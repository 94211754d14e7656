/* prescan.c's insides, shared with prescan_wait.c: how far the close
 * reader has got, which a miss waits on. Nothing else includes it. */
#ifndef GK_PRESCAN_IMPL_H
#define GK_PRESCAN_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gatekeeper/gatekeeperd.h"

/* What the close reader handles per read (a few ms of handling). */
#define PRESCAN_READ_EVENTS 128

/* The closes queued or in hand at a moment: the reader's batches and
 * bytes of events it must have handled, on group generation gen. */
struct closes_mark {
	uint64_t batch, bytes, gen;
	int64_t taken_us;
};

/* Written by the close reader only (prescan.c), read by misses. */
struct close_progress {
	atomic_int *group_fd;                 /* the reader's group, replaced by a policy change */
	atomic_uint_fast64_t group_gen;       /* replacements so far */
	atomic_uint_fast64_t batches_begun, batches_done, bytes_read, bytes_handled;
	atomic_int reader_tid;
	atomic_int file_fd;                   /* the closed file it handles, or -1 */
	/* The last mark a miss waited for: an exec read before it was taken
	 * is covered by it (its closes were queued before). */
	pthread_mutex_t last_lock;
	struct closes_mark last;
};

void close_progress_init(struct close_progress *cp, atomic_int *group_fd);
void close_progress_destroy(struct close_progress *cp);
/* Whether every close queued before an exec read at read_us is handled,
 * waiting for the reader as prescan_before_miss says. */
bool close_progress_before_miss(struct close_progress *cp, struct gk_daemon *d, int64_t read_us);

#endif
