/* kcache: the kernel-side verdict cache. The daemon decides; kcache records
 * the decision where the kernel can answer the next exec without asking:
 * a fanotify evictable ignore mark for an allow (fanotify mode), plus the BPF
 * LSM inode-storage map for allow and deny (bpf mode). */
#ifndef GK_KCACHE_H
#define GK_KCACHE_H

#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "policy/policy.h"

struct kcache;

struct kcache_stats {
	uint64_t ignore_marks;     /* ignore marks added */
	uint64_t flushes;          /* forget_all calls */
	bool hits_measurable;      /* only in bpf mode */
	uint64_t kernel_allows;    /* bpf: execs allowed from the map */
	uint64_t kernel_denies;    /* bpf: execs denied from the map */
	uint64_t invalidations;    /* bpf: verdicts made stale by a write route */
	uint64_t hold_refusals;    /* bpf: execs refused (ETXTBSY) until a stale mark is gone */
	uint64_t ringbuf_drops;    /* bpf: ring-buffer records lost */
	/* Cached allows' leases (fanotify mode) and execs' while judged (any). */
	uint64_t leases_held, lease_breaks, leases_refused;
};

/* fanotify mode keeps a read lease on each cached allow; a writer's open
 * raises this signal (SIGIO if the queue of them overflowed), which the
 * daemon must block in every thread and pass to kcache_lease_broken. */
#define KCACHE_LEASE_SIGNAL (SIGRTMIN + 2)
void kcache_lease_broken(struct kcache *kc, int fd);   /* fd -1: SIGIO, look at all */
/* fanotify mode's lease holds the allowed file open, and an open file keeps
 * its mount busy (umount: EBUSY). may_pin says on which filesystems (by
 * st_dev) that is acceptable; elsewhere an allow is not cached in the kernel
 * and each exec asks the daemon, which answers from memory. NULL: anywhere.
 * may_pin is called with ctx; once this returns, the old one is not. */
void kcache_set_pin_filter(struct kcache *kc, bool (*may_pin)(void *ctx, dev_t dev), void *ctx);
/* Is a filesystem of this type (as mountinfo names it) one where nothing is
 * cached in the kernel: FUSE, NFS, CIFS and others whose content a server or
 * another machine changes (kcache_record tells them by their superblock)? */
bool kcache_fstype_uncached(const char *fstype);
/* Is the file open at fd on such a filesystem (unknown: yes)? Nothing read
 * from it may be kept for later (its next read may differ). */
bool kcache_changes_elsewhere(int fd);
/* The same, for a filesystem whose statfs f_type the caller has. */
bool kcache_magic_changes_elsewhere(unsigned long magic);

/* Would caching an allow now keep the file open (fanotify mode's lease)?
 * Then only an exec that asked should be cached, not a guess at one. */
bool kcache_allow_holds_file(struct kcache *kc);
/* Does the cache learn of every write in time by itself (leases, BPF)? */
bool kcache_sees_writes(const struct kcache *kc);

/* When to load the BPF LSM programs: never (--no-bpf); now, in kcache_open;
 * later (--bpf-after-ready): kcache_open runs only the cheap checks and
 * starts in fanotify mode, kcache_load_bpf_later loads in a thread of its
 * own, kcache_adopt_bpf switches to bpf mode. On failure: fanotify mode,
 * and kcache_why says why. */
enum kcache_bpf_when { KCACHE_BPF_NEVER, KCACHE_BPF_NOW, KCACHE_BPF_LATER };

/* group_fd, mask: the fanotify group and the events (FAN_OPEN_EXEC_PERM or
 * FAN_OPEN_EXEC) that ignore marks silence (-1: no ignore marks).
 * enabled=false is the round-trip gate (--no-kernel-cache): nothing is cached. */
struct kcache *kcache_open(int group_fd, uint64_t mask, bool enabled, enum kcache_bpf_when when);
/* KCACHE_BPF_LATER: start the load (at nice 19). Returns an eventfd that
 * turns readable when it has ended, successful or not; then call
 * kcache_adopt_bpf. -1: nothing to load (or the thread could not start). */
int kcache_load_bpf_later(struct kcache *kc);
/* Take the loaded programs into use: bpf mode from now on, and every
 * verdict fanotify mode cached is dropped (it refills on the next miss).
 * Closes the eventfd. False: the load failed (kcache_why says why). */
bool kcache_adopt_bpf(struct kcache *kc);
/* A later load is pending: bpf mode may still come. */
bool kcache_bpf_loading(const struct kcache *kc);
/* The fanotify group was replaced (policy change of mode or watch list);
 * group_fd -1: add no marks until the next call. */
void kcache_set_group(struct kcache *kc, int group_fd, uint64_t mask);
/* Policy `fanotify_cache`: off = in fanotify mode, cache no allows in the
 * kernel and hold no leases (writers never meet EAGAIN; every exec asks the
 * daemon). No effect in bpf mode. The caller flushes (kcache_forget_all). */
void kcache_set_fanotify_cache(struct kcache *kc, bool leases);

/* First-exec counting (pre-judged files, enforce mode). The permission
 * group, not a second group, reports the first FAN_OPEN_EXEC of the inode
 * behind fd: an inode mark of another group of ours could be pinned by an
 * exec waiting on a permission event and make the kernel's teardown of that
 * group wait for the answer (see gatekeeperd(8), "kill -9"). -1: not watched. */
int kcache_watch_first_exec(struct kcache *kc, int fd);
/* That first exec was seen on group_fd: stop reporting the inode's execs. */
void kcache_first_exec_seen(int group_fd, int fd);
void kcache_close(struct kcache *kc);

const char *kcache_mode(const struct kcache *kc);  /* "bpf" | "fanotify" | "off" */
const char *kcache_why(const struct kcache *kc);   /* one line: why this mode */

/* Record the verdict for the inode behind fd (a fanotify event fd), judged
 * when the file had the st_dev, st_ino, st_ctim and st_size of judged,
 * taken at identified_ns (CLOCK_MONOTONIC): if it has changed since, the
 * kernel holds the verdict stale (ticket: see kcache_arm). Nothing is
 * recorded on a filesystem whose content changes with no write through this
 * kernel (FUSE, NFS, CIFS, ...); overlayfs files are the caller's to refuse
 * (judge_cache_in_kernel: hash_cache_keeps, by policy). Returns 0 when the
 * kernel now holds it, 1 when there was nothing to record it in (kernel
 * caches off, between two groups, such a filesystem) or the judgement is of
 * an older epoch, -1 on error. epoch: kcache_epoch() when judging began. A
 * judgement of an epoch that kcache_forget_all has since left never reaches
 * the kernel, not even for a moment: it is checked under the lock the flush
 * takes. */
int kcache_record(struct kcache *kc, int fd, enum gk_verdict verdict, const struct stat *judged,
		  uint64_t ticket, uint64_t identified_ns, uint64_t epoch);
/* fanotify mode: lease the file behind fd before it is read, so that a
 * write from then on is seen (the lease breaks) however close to the read
 * it comes: kcache_record with the ticket then caches an allow of content
 * read after this, whether or not its ctime had settled (0: not armed;
 * bpf mode, or nothing would be cached). kcache_disarm gives the lease back
 * if nothing was recorded with it.
 * exec: fd is an exec being judged, in any mode, the kernel cache off
 * included. Its lease holds a writer that comes out until kcache_disarm,
 * after the reply: the exec then meets that writer (ETXTBSY), never
 * content written after the read. Where no lease can be taken the file is
 * only asked about.
 * KCACHE_ARM_WRITER: a writer has the file open (or waits on a lease an
 * exec judgement holds). KCACHE_ARM_REFUSED: no lease could be taken, or
 * (bpf mode) leases cannot tell. kcache_record with either caches no
 * allow: the writer may change the content without moving the ctime (a
 * shared mapping) and close before the record, which would then find the
 * file free of writers. */
#define KCACHE_ARM_REFUSED UINT64_MAX
#define KCACHE_ARM_WRITER (UINT64_MAX - 1)
uint64_t kcache_arm(struct kcache *kc, int fd, bool exec);
/* Has anyone the file behind fd open for writing, a shared writable
 * mapping included? Asked with a read lease on a description of our own,
 * given back at once: 0 no writer, EAGAIN a writer (or someone's write
 * lease), another errno when leases cannot tell there. */
int kcache_writer_probe(int fd);
/* A lease was taken before the read (a ticket, not 0 or refused). */
static inline bool kcache_ticket_taken(uint64_t ticket)
{
	return ticket && ticket < KCACHE_ARM_WRITER;
}
static inline bool kcache_ticket_refused(uint64_t ticket)
{
	return ticket >= KCACHE_ARM_WRITER;
}
/* An exec's lease (ticket) a writer broke so long ago that the kernel may
 * have taken it back (fs.lease-break-time): the writer may have written. */
bool kcache_exec_lease_lapsed(struct kcache *kc, int fd, uint64_t ticket);
/* fs.lease-break-time less a second, in µs (the kernel's default if it
 * cannot be read). */
int64_t kcache_lease_grace_us(void);
/* That lease still stands: no writer has opened the file since it was taken. */
bool kcache_armed(struct kcache *kc, dev_t dev, ino_t ino, uint64_t ticket);
void kcache_disarm(struct kcache *kc, int fd, uint64_t ticket, bool exec);
/* Take back what kcache_record set for the inode of fd (it changed while it
 * was being judged). */
int kcache_unrecord(struct kcache *kc, int fd);
/* Make every cached verdict stale at once (rule change): the caches refill
 * lazily on the next miss. Waits for kcache_record calls in progress. */
int kcache_forget_all(struct kcache *kc);
/* Moves with every flush (before it flushes): forget_all, and the drop of
 * every ignore mark after a change fanotify did not see (bpf mode). A
 * judgement that began at another epoch may rest on rules or signatures
 * that have changed, or on content read before such a change. */
uint64_t kcache_epoch(const struct kcache *kc);

/* `fileless: deny` (deny=true) in the kernel programs. Returns whether the
 * kernel enforces it (bpf mode); false: the caller must find another way. */
bool kcache_set_fileless(struct kcache *kc, bool deny);

/* Enforce mode's guard in the kernel programs: an exec whose file was written
 * after the exec opened it, and before the kernel refused its writers, fails
 * with ETXTBSY. Returns whether the kernel guards it (bpf mode only). */
bool kcache_set_write_guard(struct kcache *kc, bool on);

/* `unmarked_filesystems: deny` (deny=true) in the kernel programs. Returns
 * whether the kernel enforces it now (bpf mode only). */
bool kcache_set_unmarked(struct kcache *kc, bool deny);

/* bpf mode: the ring buffer of denials and invalidations (-1 otherwise). */
int kcache_event_fd(const struct kcache *kc);
struct kcache_denial {
	uint32_t pid;
	bool fileless;      /* the exec of a file no name links to (`fileless: deny`) */
	bool unmarked;      /* a file on a filesystem without the daemon's mark */
	bool written;       /* written during the exec (ETXTBSY, kcache_set_write_guard) */
	uint64_t dev, ino;
	char comm[16];
};
/* Drain the ring buffer: denials go to on_denial (for the audit log);
 * invalidations of inodes that may hold an ignore mark drop the marks. */
void kcache_drain(struct kcache *kc, void (*on_denial)(void *ctx, const struct kcache_denial *d),
		  void *ctx);

void kcache_get_stats(const struct kcache *kc, struct kcache_stats *out);

#endif
