/* kcache_bpf: the BPF LSM backend of kcache (bpf/gatekeeper.bpf.c through
 * its generated skeleton). Used only by kcache.c. */
#ifndef GK_KCACHE_BPF_H
#define GK_KCACHE_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "policy/policy.h"

struct kcache_bpf;

/* A decoded ring-buffer record.
 *
 * Ignore marks and the kernel hold: a write through a shared mmap raises no
 * FS_MODIFY, so an evictable ignore mark set with an ALLOW would survive it.
 * When such a route (via_mmap) meets an inode carrying an exec ignore mark,
 * the kernel sets a hold: exec of that inode fails with ETXTBSY until the
 * ignore mark is gone (or the caller says it dropped its marks, or a new
 * verdict is recorded).
 * So on an INVALIDATE with had_allow && via_mmap the caller drops its ignore
 * marks (dev/ino cannot name a mark: flush them all; the map's verdicts stay);
 * the hold then releases itself at the next exec. Plain write(2)/truncate
 * invalidations need nothing: FS_MODIFY already cleared the mark. */
struct kcache_bpf_event {
	enum { KCACHE_BPF_DENY = 1, KCACHE_BPF_INVALIDATE = 2 } kind;
	uint32_t route;   /* enum gk_route (bpf/gatekeeper.h): what denied / invalidated */
	uint32_t pid;
	uint64_t dev, ino; /* dev as in st_dev (0/0 for `lost`) */
	char comm[16];
	bool had_allow;   /* INVALIDATE: the inode held an allow (may hold an ignore mark) */
	bool via_mmap;    /* INVALIDATE: by a route fanotify cannot see (shared mmap) */
	bool hold;        /* INVALIDATE: exec of the inode is refused until its marks drop */
	bool lost;        /* INVALIDATE: records were lost (ring full): inode unknown */
};

/* The cheap part of the probe (the LSM list, a two-instruction load): true
 * with a one-line reason when no load can succeed. */
bool kcache_bpf_impossible(char *why, size_t whylen);
/* Probe by a real load and attach (kcache_bpf_impossible first). On failure returns NULL with a one-line
 * reason in why (including /sys/kernel/security/lsm when bpf is absent). */
struct kcache_bpf *kcache_bpf_open(char *why, size_t whylen);
void kcache_bpf_close(struct kcache_bpf *kb);
/* Store verdict for the inode of fd, stamped with the current epoch and the
 * inode's ctime/size now (fstat). Replaces any earlier value and its hold.
 * GK_VERDICT_UNKNOWN drops the value (kcache_bpf_forget). */
int kcache_bpf_record(struct kcache_bpf *kb, int fd, enum gk_verdict verdict);
/* The same, with the fstat taken before the content was hashed: a change
 * between judging and recording then leaves the verdict stale (ctime/size).
 * A hold set after identified_ns (CLOCK_MONOTONIC, when judged was taken)
 * stays: the write that set it may be newer than the content judged.
 * Stamped with epoch, the one the judgement began in (kcache_bpf_set_epoch),
 * not the current one: a judgement from before an epoch change is never
 * fresh to the programs. */
int kcache_bpf_record_judged(struct kcache_bpf *kb, int fd, enum gk_verdict verdict,
			     const struct stat *judged, uint64_t identified_ns, uint64_t epoch);
/* Drop the value of the inode of fd (no error if it had none). */
int kcache_bpf_forget(struct kcache_bpf *kb, int fd);
/* `fileless: deny` in the kernel: refuse the exec of unlinked files. */
void kcache_bpf_set_fileless(struct kcache_bpf *kb, bool deny);
/* Enforce mode: refuse (ETXTBSY) the exec of a file written between the
 * exec's open and the kernel's refusal of its writers (bpf/write_guard.bpf.h). */
void kcache_bpf_set_write_guard(struct kcache_bpf *kb, bool on);
/* `unmarked_filesystems: deny` in the kernel: refuse to run files from
 * filesystems without an exec-permission mark while the daemon's root
 * filesystem has one. Returns whether that holds now (false: no programs,
 * or the anchor on "/" could not be taken). */
bool kcache_bpf_set_unmarked(struct kcache_bpf *kb, bool deny);
/* Bump the global epoch: every stored verdict becomes stale at once. */
void kcache_bpf_bump_epoch(struct kcache_bpf *kb);
/* Every ignore mark of the caller's was dropped: the holds set before
 * lapse (they guarded those marks). */
void kcache_bpf_marks_dropped(struct kcache_bpf *kb);
/* Move the global epoch to epoch (never back): every verdict stamped with
 * another becomes stale at once. */
void kcache_bpf_set_epoch(struct kcache_bpf *kb, uint64_t epoch);
/* An fd to poll(2): readable when ring-buffer records wait (an epoll fd). */
int kcache_bpf_ringbuf_fd(struct kcache_bpf *kb);
/* Deliver every waiting record to fn; lost records are reported once as an
 * INVALIDATE with `lost` set (and had_allow, via_mmap, hold). */
void kcache_bpf_drain(struct kcache_bpf *kb, void (*fn)(void *ctx, const struct kcache_bpf_event *ev),
		      void *ctx);
struct kcache_bpf_counters {
	uint64_t allows, denies, invalidations;
	uint64_t hold_refusals;  /* execs refused (ETXTBSY) by a hold */
	uint64_t ringbuf_drops;  /* records lost because the ring buffer was full */
};
void kcache_bpf_counters(struct kcache_bpf *kb, struct kcache_bpf_counters *out);

#endif
