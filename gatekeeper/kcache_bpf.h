/* kcache_bpf: the BPF LSM backend of kcache (bpf/gatekeeper.bpf.c through
 * its generated skeleton). Used only by kcache.c. */
#ifndef GK_KCACHE_BPF_H
#define GK_KCACHE_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

struct kcache_bpf;

/* A decoded ring-buffer record. */
struct kcache_bpf_event {
	enum { KCACHE_BPF_DENY = 1, KCACHE_BPF_INVALIDATE = 2 } kind;
	uint32_t pid;
	uint64_t dev, ino;
	char comm[16];
	bool had_allow;   /* INVALIDATE: the inode held an allow (may hold an ignore mark) */
	bool via_mmap;    /* INVALIDATE: by a route fanotify cannot see (shared mmap) */
};

/* Probe by a real load and attach. On failure returns NULL with a one-line
 * reason in why (including /sys/kernel/security/lsm when bpf is absent). */
struct kcache_bpf *kcache_bpf_open(char *why, size_t whylen);
void kcache_bpf_close(struct kcache_bpf *kb);
/* Store verdict for the inode of fd, stamped with the current epoch. */
int kcache_bpf_record(struct kcache_bpf *kb, int fd, enum gk_verdict verdict);
/* Bump the global epoch: every stored verdict becomes stale at once. */
void kcache_bpf_bump_epoch(struct kcache_bpf *kb);
int kcache_bpf_ringbuf_fd(struct kcache_bpf *kb);
void kcache_bpf_drain(struct kcache_bpf *kb, void (*fn)(void *ctx, const struct kcache_bpf_event *ev),
		      void *ctx);
struct kcache_bpf_counters {
	uint64_t allows, denies, invalidations;
};
void kcache_bpf_counters(struct kcache_bpf *kb, struct kcache_bpf_counters *out);

#endif
