/* digests: the SHA-256 (and MD5, where trust needs it) of files, kept in the
 * store across restarts and reboots. This header is the module's only door.
 *
 * Key: the filesystem's identity, the inode, the ctime and the size. A file
 * changed in any way (write, truncate, chmod, rename over it, a new inode)
 * gets a new ctime, and ctime cannot be set by a user (utimensat sets
 * atime/mtime only; ctime becomes "now"), so a changed file misses.
 *
 * The filesystem's identity is its UUID as the kernel reports it
 * (FS_IOC_GETFSUUID, Linux >= 6.5: the on-disk UUID for ext4, xfs, btrfs; a
 * per-mount random one for tmpfs), else statfs's f_fsid with the fs type
 * (the kernel answers FS_IOC_GETFSUUID with 16 zero bytes for a filesystem
 * that never set a UUID: that counts as none).
 * Not the device number alone: st_dev is handed out at mount time
 * (anonymous devices for tmpfs, overlayfs, btrfs subvolumes; loop and USB
 * devices by order of attach), so after a reboot another filesystem can
 * hold the same st_dev and inode numbers. But the device too, and f_fsid:
 * a UUID can be copied (a user's USB stick), and btrfs subvolumes share
 * one (digests_fs_identity). A device number that moves at a reboot costs
 * a hash again, no more. A filesystem with neither UUID nor f_fsid is never
 * stored. */
#ifndef GK_DIGESTS_H
#define GK_DIGESTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "gatekeeper/gatekeeperd.h"

#define DIGESTS_MD5_LEN 16

struct digests;

/* A store of digests in the database that `store` opened and checked (on
 * a connection of its own: `store` may close first); NULL and err on
 * failure. Every call below takes a NULL struct digests too: digests
 * are then computed, never stored. */
struct digests *digests_open(const struct gk_db *store, char *err, size_t errlen);
void digests_close(struct digests *g);   /* NULL-safe */

/* The digests of the file behind fd whose identity (taken before) is id:
 * from the store when it holds them for that identity (with MD5 if md5 is
 * not NULL), else read once (both digests together) and stored when id
 * had settled, nobody held the file open for writing when the read began
 * (a read lease could be had: every later change then moves the ctime),
 * and the file did not change while it was read (a writer that opens it
 * in the moment the lease stands breaks it: SIGIO, which every thread must
 * block or handle). The caller
 * checks that (id again after the call) as for any read. 0 ok, -1 and
 * errno. */
int digests_read(struct digests *g, int fd, const struct file_id *id, unsigned char sha[GK_SHA256_LEN],
		 unsigned char *md5, const atomic_bool *cancel);

/* The file behind fd (device dev, inode ino) was written: it may have
 * changed without a new ctime (a write through a shared mapping), so its
 * stored digests are not used again; they go from the store (which may
 * wait for a writer, only for a file whose stored row still matches). */
void digests_forget(struct digests *g, int fd, dev_t dev, ino_t ino);
/* Closes were lost (the kernel could not hand one over): no stored digest
 * is read again in this run, and the next start drops them all. */
void digests_closes_lost(struct digests *g);
/* Not sure the file was not written (its close may be queued, unhandled):
 * its stored digests are not read until it is read again. */
void digests_distrust(struct digests *g, dev_t dev, ino_t ino);
/* The filesystem of device dev is gone (unmounted): the same device may
 * come back with content changed meanwhile under the same inode numbers,
 * sizes and ctimes (a user's USB stick or loop image), so its stored
 * digests go (on the caller's thread, which may wait for the store). */
void digests_forget_dev(struct digests *g, dev_t dev);
/* Its first step alone: the device's rows are not read from now on (the
 * hash cache clears its memory of the device between the two). */
void digests_mark_gone(struct digests *g, dev_t dev);

/* "dev:MAJOR:MINOR:[uuid:HEX:]fsid:HEX:TYPE" for the filesystem holding fd,
 * whose st_dev is dev (the caller's fstat of it); -1 if it has neither a
 * UUID nor an f_fsid. */
#define DIGESTS_FS_ID_MAX 128
int digests_fs_identity(int fd, dev_t dev, char *out, size_t size);
/* Could the file behind fd (identity id) change without moving its ctime,
 * after this? Yes while anyone holds it open for writing, and always on a
 * filesystem where that is not all (tmpfs, overlayfs, network ones). A
 * lease refused but for a writer is logged once per refusal_logged. */
bool digests_may_change_unseen(int fd, const struct file_id *id, atomic_bool *refusal_logged);

struct digests_stats {
	uint64_t hits, misses, stored;
	const char *unread_why;   /* not read until restart, and why; NULL: read */
};
void digests_get_stats(struct digests *g, struct digests_stats *out);   /* NULL: zeros */

#endif
