/* The one header shared by the kernel programs (bpf/gatekeeper.bpf.c, built
 * with clang -target bpf and vmlinux.h) and userspace (gatekeeper/kcache_bpf.c,
 * C11): inode-storage values, ring-buffer records, counter slots.
 * Layouts are fixed-size and explicitly padded so both sides agree. */
#ifndef GK_BPF_GATEKEEPER_H
#define GK_BPF_GATEKEEPER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Verdict values: the same numbers as enum gk_verdict (policy/policy.h). */
#define GK_KV_ALLOW 1
#define GK_KV_DENY  2

/* gk_inode_verdict.attrs_valid: compare ctime/size at exec (defence in depth:
 * a write route the hooks missed still changes ctime or size). */
#define GK_KV_CHECK_ATTRS 1

/* The value kept in inode storage for one inode.
 *
 * Userspace writes the whole value when it records a verdict (keyed by a
 * fanotify event fd). The kernel only ever sets single fields with plain
 * stores (`stale`, `hold`, `hold_epoch`, `hold_ns`), never a read-modify-write of a
 * shared word, so concurrent hooks cannot lose each other's updates.
 *
 * fresh = verdict != 0 && !stale && epoch == global epoch && attrs match.
 * A stale value never allows and never denies: the exec falls through to
 * fanotify and the daemon judges the file again.
 *
 * hold: the inode was changed through a route fanotify cannot see (a shared
 * writable mmap, or a writer that outlived the verdict) while an ignore mark
 * silencing FAN_OPEN_EXEC_PERM sat on it. Exec is refused with ETXTBSY while
 * the hold is set, an exec ignore mark is still present and gk_hold_gen has
 * not moved. The daemon releases it by dropping its ignore marks and then
 * moving gk_hold_gen (marks of other groups, or more than the programs walk,
 * must not keep it), or by recording over it a verdict on content
 * identified after hold_ns (one identified before keeps the hold). */
struct gk_inode_verdict {
	__u32 verdict;      /* GK_KV_ALLOW | GK_KV_DENY (0: none) */
	__u32 stale;        /* set by the kernel on a write route */
	__u64 epoch;        /* global epoch when the verdict was recorded */
	__s64 ctime_sec;    /* the inode as userspace saw it at verdict time */
	__u32 ctime_nsec;
	__u32 attrs_valid;  /* GK_KV_CHECK_ATTRS */
	__u64 size;
	__u32 hold;         /* 1: exec refused while the ignore mark is present */
	__u32 pad;
	__u64 hold_gen;     /* gk_hold_gen when the hold was set */
	__u64 hold_ns;      /* CLOCK_MONOTONIC when the hold was set */
};

/* Ring-buffer record kinds. */
#define GK_EV_DENY       1  /* an exec or PROT_EXEC mapping was denied */
#define GK_EV_INVALIDATE 2  /* a verdict went stale, or a hold was set or enforced */

/* What made a verdict stale, or what was denied (gk_event.route). */
enum gk_route {
	GK_ROUTE_EXEC = 1,      /* DENY: exec open */
	GK_ROUTE_MMAP_EXEC,     /* DENY: mmap/mprotect with PROT_EXEC */
	GK_ROUTE_OPEN_WRITE,    /* INVALIDATE: open for write */
	GK_ROUTE_WRITE,         /* INVALIDATE: write, fallocate, copy_file_range... */
	GK_ROUTE_TRUNCATE,      /* INVALIDATE: truncate(2), ftruncate, O_TRUNC */
	GK_ROUTE_MMAP_SHARED,   /* INVALIDATE: shared writable mmap / mprotect */
	GK_ROUTE_WRITER_CLOSE,  /* INVALIDATE: a file mapped shared-writable was released */
	GK_ROUTE_HOLD_REFUSED,  /* INVALIDATE: exec refused by a pending hold (reminder) */
	GK_ROUTE_FILELESS,      /* DENY: exec of a file no name links to (`fileless: deny`) */
	GK_ROUTE_UNMARKED,      /* DENY: exec or PROT_EXEC mapping of a file on a filesystem
				 * without the daemon's mark (`unmarked_filesystems: deny`) */
	GK_ROUTE_WRITTEN,       /* DENY (ETXTBSY): exec of a file written since the exec
				 * opened it, before the kernel refused its writers */
};

/* gk_event.flags */
#define GK_EVF_HAD_ALLOW 0x1  /* the inode held an allow or an exec ignore mark */
#define GK_EVF_VIA_MMAP  0x2  /* changed by a route that raises no FS_MODIFY */
#define GK_EVF_HOLD      0x4  /* a hold is set: exec refused until marks drop */

#define GK_COMM_LEN 16

struct gk_event {
	__u32 kind;             /* GK_EV_* */
	__u32 route;            /* enum gk_route */
	__u32 flags;            /* GK_EVF_* */
	__u32 pid;              /* tgid of the task */
	__u64 dev;              /* kernel dev_t: major << 20 | minor */
	__u64 ino;
	char comm[GK_COMM_LEN];
};

/* Slots of the per-CPU counter array. */
enum gk_counter {
	GK_CNT_ALLOW = 0,       /* exec opens that found a fresh allow */
	GK_CNT_DENY,            /* execs and PROT_EXEC mappings denied */
	GK_CNT_INVALIDATE,      /* fresh verdicts made stale */
	GK_CNT_HOLD_REFUSED,    /* execs refused by a hold */
	GK_CNT_RINGBUF_DROP,    /* records lost: ring buffer full */
	GK_CNT_MAX,
};

#define GK_RINGBUF_BYTES (256 * 1024)

#endif
