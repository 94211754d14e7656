/* What the kernel cache asks of a file's filesystem and of who has it open:
 * whether its content changes where no hook of this kernel sees it (a
 * server's filesystem), and whether a writer has it open. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "gatekeeper/kcache.h"

/* Filesystems whose content a server or another machine changes, with no
 * write through this kernel for a lease, FS_MODIFY or the BPF hooks to see:
 * by the superblock's magic, and by the type names mountinfo gives them. */
static const struct {
	unsigned long magic;
	const char *names[4];
} uncached_fs[] = {
	{ 0x65735546, { "fuse", "fuseblk", "virtiofs", "glusterfs" } },   /* and fuse.SUBTYPE */
	{ 0x6969, { "nfs", "nfs4" } },
	{ 0xFF534D42, { "cifs" } },
	{ 0xFE534D42, { "smb3" } },
	{ 0x517B, { "smbfs" } },
	{ 0x01021997, { "9p" } },
	{ 0x00c36400, { "ceph" } },
	{ 0x5346414F, { "afs" } },
	{ 0x6B414653, { "afs" } },
	{ 0x7461636f, { "ocfs2" } },
	{ 0x01161970, { "gfs2" } },
	{ 0x0BD00BD0, { "lustre" } },
	{ 0x20030528, { "orangefs", "pvfs2" } },
};
#define N_UNCACHED_FS (sizeof(uncached_fs) / sizeof(uncached_fs[0]))

bool kcache_fstype_uncached(const char *fstype)
{
	if (!strncmp(fstype, "fuse.", 5))
		return true;
	for (size_t i = 0; i < N_UNCACHED_FS; i++)
		for (size_t k = 0; k < 4 && uncached_fs[i].names[k]; k++)
			if (!strcmp(fstype, uncached_fs[i].names[k]))
				return true;
	return false;
}

/* By the superblock, not the mount table, which may not list a filesystem
 * yet. */
bool kcache_changes_elsewhere(int fd)
{
	struct statfs fs;
	if (fstatfs(fd, &fs) < 0)
		return true;   /* unknown: cache nothing */
	return kcache_magic_changes_elsewhere((unsigned long)fs.f_type);
}

bool kcache_magic_changes_elsewhere(unsigned long magic)
{
	for (size_t i = 0; i < N_UNCACHED_FS; i++)
		if (magic == uncached_fs[i].magic)
			return true;
	return false;
}

/* 0: no writer; EAGAIN: a writer (or a write lease someone holds); another
 * errno: no answer (no leases there, no CAP_LEASE, fs.leases-enable=0). */
int kcache_writer_probe(int fd)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	/* O_NONBLOCK: a write lease someone holds fails the open at once. */
	int own = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (own < 0)
		return errno == EWOULDBLOCK ? EAGAIN : errno;
	int e = fcntl(own, F_SETLEASE, F_RDLCK) < 0 ? errno : 0;
	close(own);   /* the lease goes with it */
	return e;
}

int64_t kcache_lease_grace_us(void)
{
	long seconds = 45;   /* the kernel's default */
	FILE *f = fopen("/proc/sys/fs/lease-break-time", "re");
	if (f) {
		if (fscanf(f, "%ld", &seconds) != 1)
			seconds = 45;
		fclose(f);
	}
	return seconds > 1 ? (int64_t)(seconds - 1) * 1000000 : 0;
}
