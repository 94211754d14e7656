/* digests: what a file's filesystem tells about keeping its digests (see
 * digests.h): whose they are, and whether the file can change unseen. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "gatekeeper/digests.h"
#include "gatekeeper/kcache.h"
#include "gatekeeper/util.h"

/* <linux/fs.h> before 6.5 lacks it; the ABI is fixed. */
#ifndef FS_IOC_GETFSUUID
struct fsuuid2 {
	unsigned char len;
	unsigned char uuid[16];
};
#define FS_IOC_GETFSUUID _IOR(0x15, 0, struct fsuuid2)
#endif

static bool all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int digests_fs_identity(int fd, dev_t dev, char *out, size_t size)
{
	struct fsuuid2 u = { .len = sizeof(u.uuid) };
	struct statfs sf;
	/* the device first: a device's rows are one range of the key
	 * (digests_forget_dev) */
	int d = snprintf(out, size, "dev:%u:%u:", major(dev), minor(dev));
	size_t n;

	if (d < 0 || (size_t)d + sizeof("uuid:") >= size || fstatfs(fd, &sf) < 0)
		return -1;
	n = (size_t)d;
	bool have_fsid = sf.f_fsid.__val[0] != 0 || sf.f_fsid.__val[1] != 0;
	/* A filesystem that never set its UUID still answers, with zeros (the
	 * kernel defaults the length to 16): that is no identity. */
	bool have_uuid = ioctl(fd, FS_IOC_GETFSUUID, &u) == 0 && u.len > 0 &&
			 u.len <= sizeof(u.uuid) && !all_zero(u.uuid, u.len);
	if (have_uuid) {
		n += (size_t)snprintf(out + n, size - n, "uuid:");
		for (unsigned i = 0; i < u.len && n + 2 < size; i++)
			n += (size_t)snprintf(out + n, size - n, "%02x", u.uuid[i]);
	} else if (!have_fsid) {
		return -1;
	}
	/* A UUID alone is not enough. btrfs subvolumes share theirs and each
	 * numbers its inodes from 256 (f_fsid tells them apart), and a user's
	 * USB stick or loop image (udisks mounts them) can copy another
	 * filesystem's UUID and inode numbers: while both are mounted, the
	 * device tells them apart. */
	int w = snprintf(out + n, size - n, "%sfsid:%08x%08x:%lx", have_uuid ? ":" : "",
			 (unsigned)sf.f_fsid.__val[0], (unsigned)sf.f_fsid.__val[1],
			 (unsigned long)sf.f_type);
	return w < 0 || (size_t)w >= size - n ? -1 : 0;
}

/* Could the file change without a new ctime? Only through a writable
 * shared mapping made before (a new one moves the ctime at its first
 * write), whose open file holds the file open for writing; a read lease
 * is refused then (EAGAIN). On a description of our own, taken and given
 * back at once: fd's may carry the kernel cache's lease. A writer that
 * opens meanwhile waits for the close, or (O_NONBLOCK) fails; a lease that
 * cannot be taken (the filesystem has none) leaves it unsure: true.
 * Not on shmem (tmpfs, memfd) or hugetlbfs: a shared mapping there is
 * written without a fault once read, so even a new one moves no ctime.
 * Nor where the lease sees only some writers: on overlayfs those of the
 * overlay's file, not of the upper or lower one beneath it; on network
 * and cluster filesystems those of this machine. */
bool digests_may_change_unseen(int fd, const struct file_id *id, atomic_bool *refusal_logged)
{
	char self[4096];
	struct stat st;
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return true;
	unsigned long magic = (unsigned long)sf.f_type;
	if (magic == TMPFS_MAGIC || magic == HUGETLBFS_MAGIC || magic == OVERLAYFS_SUPER_MAGIC ||
	    kcache_magic_changes_elsewhere(magic))
		return true;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	int own = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (own < 0)
		return true;
	bool unseen = fstat(own, &st) < 0 || st.st_dev != id->dev || st.st_ino != id->ino;
	if (!unseen && fcntl(own, F_SETLEASE, F_RDLCK) < 0) {
		unseen = true;
		/* EAGAIN: a writer. Else leases are off (fs.leases-enable, no
		 * CAP_LEASE, the filesystem): say so once, nothing is kept. */
		int e = errno;
		if (e != EAGAIN && !atomic_exchange(refusal_logged, true)) {
			gk_fd_path(fd, self, sizeof(self));
			log_msg(GK_LOG_WARN, "warning=\"digests: no read lease on %s: %s: its "
				"digests, and those of files like it, are not kept across restarts "
				"(logged once)\"", self, strerror(e));
		}
	}
	close(own);   /* the lease goes with it */
	return unseen;
}
