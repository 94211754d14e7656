/* Placeholder until the BPF LSM backend lands: always reports bpf mode as
 * unavailable, so the daemon runs in fanotify mode. */
#include <stdio.h>

#include "gatekeeper/kcache_bpf.h"

struct kcache_bpf *kcache_bpf_open(char *why, size_t whylen)
{
	snprintf(why, whylen, "BPF LSM backend not built");
	return NULL;
}
void kcache_bpf_close(struct kcache_bpf *kb) { (void)kb; }
int kcache_bpf_record(struct kcache_bpf *kb, int fd, enum gk_verdict v) { (void)kb; (void)fd; (void)v; return -1; }
void kcache_bpf_bump_epoch(struct kcache_bpf *kb) { (void)kb; }
int kcache_bpf_ringbuf_fd(struct kcache_bpf *kb) { (void)kb; return -1; }
void kcache_bpf_drain(struct kcache_bpf *kb, void (*fn)(void *, const struct kcache_bpf_event *), void *ctx)
{ (void)kb; (void)fn; (void)ctx; }
void kcache_bpf_counters(struct kcache_bpf *kb, struct kcache_bpf_counters *out)
{ (void)kb; out->allows = out->denies = out->invalidations = 0; }
