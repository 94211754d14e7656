/* kcache_lease: read leases that keep fanotify mode's ignore marks honest
 * (see kcache_lease.c). Used only by kcache.c. */
#ifndef GK_KCACHE_LEASE_H
#define GK_KCACHE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct kcache_leases;

struct kcache_leases *kcache_leases_new(int signo, size_t limit);
void kcache_leases_free(struct kcache_leases *t);
/* Whether the file open at fd still has the size and ctime that judged
 * records: content read after its ctime settled is unchanged if so. */
bool kcache_file_as_judged(int fd, const struct stat *judged);
/* Lease a duplicate of event_fd (the file judged names: dev, ino, size,
 * ctime), then add its ignore mark if the file is still as judged. -1: not
 * cached (a writer has the file open or changed it, or the filesystem has no
 * leases). ticket (not 0): mark only the lease kcache_leases_arm gave it, and
 * only if no writer has broken it since. */
int kcache_leases_hold(struct kcache_leases *t, int event_fd, const struct stat *judged,
		       int group_fd, uint64_t mask, uint64_t ticket);
/* Lease the file before it is read, without a mark: a ticket for
 * kcache_leases_hold, 0 if refused (*why: EAGAIN, a writer has it open or
 * waits on a lease an exec judgement holds; another errno when no lease
 * could be taken). hold_writers (an exec's judgement): a writer that comes
 * waits until the matching kcache_leases_disarm, however its lease is let
 * go meanwhile. kcache_leases_disarm: give back a lease still unmarked (its
 * verdict was not cached), or let go meanwhile. */
uint64_t kcache_leases_arm(struct kcache_leases *t, int event_fd, dev_t dev, ino_t ino,
			   int group_fd, uint64_t mask, bool hold_writers, int *why);
bool kcache_leases_stand(struct kcache_leases *t, dev_t dev, ino_t ino, uint64_t ticket);
/* A writer broke ticket's lease: *since_us gets when the lease was taken
 * (CLOCK_MONOTONIC). Once fs.lease-break-time has passed since the break
 * (which came after that), the kernel may have taken the lease back. */
bool kcache_leases_broken_since(struct kcache_leases *t, dev_t dev, ino_t ino, uint64_t ticket,
				int64_t *since_us);
/* fs.lease-break-time less a second: no exec joins a broken lease older. */
void kcache_leases_set_grace(struct kcache_leases *t, int64_t grace_us);
void kcache_leases_disarm(struct kcache_leases *t, dev_t dev, ino_t ino, uint64_t ticket,
			  int group_fd, uint64_t mask, bool hold_writers);
/* A lease-break signal named fd: drop its mark, then let the writer go
 * (once no exec judgement holds it out). */
void kcache_leases_broken(struct kcache_leases *t, int fd, int group_fd, uint64_t mask);
void kcache_leases_broken_unknown(struct kcache_leases *t, int group_fd, uint64_t mask);
void kcache_leases_forget_inode(struct kcache_leases *t, dev_t dev, ino_t ino, int group_fd,
				uint64_t mask);
void kcache_leases_release_all(struct kcache_leases *t, int group_fd, uint64_t mask);
void kcache_leases_counters(struct kcache_leases *t, uint64_t *held, uint64_t *breaks,
			    uint64_t *refused);

#endif
