/* What a filesystem's type says about it: whether programs can live on it
 * at all, and whether this kernel sees every change to its content. */
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include "gatekeeper/mounts.h"

/* Filesystems where no program can be stored and run: kernel interfaces. */
static const char *const pseudo_fs[] = {
	"proc", "sysfs", "cgroup", "cgroup2", "devpts", "securityfs", "bpf", "tracefs",
	"debugfs", "pstore", "efivarfs", "configfs", "fusectl", "mqueue", "binfmt_misc",
	"autofs", "rpc_pipefs", "nsfs", "selinuxfs", "hugetlbfs", "nfsd",
};

/* Filesystems whose content a server or another machine changes, with no
 * write through this kernel for a lease, FS_MODIFY or the BPF hooks to see. */
static const char *const remote_fs[] = {
	"fuse", "fuseblk", "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "virtiofs",
	"afs", "ocfs2", "gfs2", "glusterfs", "lustre", "orangefs",
};

static bool listed(const char *fstype, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(fstype, list[i]))
			return true;
	return false;
}

bool mounts_fstype_pseudo(const char *fstype)
{
	return listed(fstype, pseudo_fs, sizeof(pseudo_fs) / sizeof(pseudo_fs[0]));
}

bool mounts_fstype_remote(const char *fstype)
{
	return !strncmp(fstype, "fuse.", 5) ||
	       listed(fstype, remote_fs, sizeof(remote_fs) / sizeof(remote_fs[0]));
}
