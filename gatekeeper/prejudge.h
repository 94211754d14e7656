/* prejudge: judge the programs dpkg installed before anyone runs them. This
 * header is the module's only door.
 *
 * With a `trust: [dpkg]` source, a low-priority thread walks every file the
 * trust index lists with an MD5 and that has an execute bit, and judges it as
 * its first exec would: its digests go into the store (kept across restarts),
 * and an allow goes into the kernel cache where that holds no file open (bpf
 * mode; monitor mode's ignore marks). The first exec of a packaged program is
 * then a kernel hit, or at worst a miss answered from memory. Only allows are
 * cached: a file dpkg has just unpacked may not be indexed yet, and a cached
 * deny would refuse its postinst in the kernel before the daemon could apply
 * dpkg's changes. Nothing is audited: the walk decides nothing an exec asked.
 *
 * The walk runs at start (with --bpf-after-ready, once the load has ended,
 * loaded or not) and again after every flush of the kernel cache (a trust
 * change, a policy apply, new signatures, an admin rule), once a burst of
 * flushes has settled. */
#ifndef GK_PREJUDGE_H
#define GK_PREJUDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "gatekeeper/gatekeeperd.h"

struct gk_prejudge;

/* NULL when there is nothing to walk (no trust source) or on failure (then
 * logged; the daemon runs on, judging on first exec as before). */
struct gk_prejudge *prejudge_start(struct gk_daemon *d);
/* Stops a walk at the next file and joins the thread (before the trust
 * index and the kernel cache close). A flush may still come, from the trust
 * follower, until that stops: the object stays until prejudge_free (last).
 * Both NULL-safe; prejudge_free stops first if need be. */
void prejudge_stop(struct gk_prejudge *pj);
void prejudge_free(struct gk_prejudge *pj);

/* Make every kernel-cached verdict stale (kcache_forget_all) and walk again
 * once the flushes settle. The one way the daemon flushes. */
void prejudge_flush(struct gk_daemon *d);
/* status says "due" from now until the walk that a prejudge_flush to come
 * asks for has started: set before a change that the walk must follow (the
 * switch to bpf mode), so that no status shows the change without it. */
void prejudge_due(struct gk_daemon *d);

/* status: prejudge (off, waiting, due, walking); with a walker, walks finished,
 * programs judged over all walks and, of them, allows cached in the kernel,
 * and the last finished walk's programs and duration. */
struct proto_buf;
void prejudge_report(struct gk_prejudge *pj, struct proto_buf *reply);

#endif
