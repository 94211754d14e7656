/* What a filesystem's type says about it: whether programs can live on it
 * at all. (Whether this kernel sees every change to its content is the
 * kernel cache's to say: kcache_fstype_uncached.) */
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

bool mounts_fstype_pseudo(const char *fstype)
{
	for (size_t i = 0; i < sizeof(pseudo_fs) / sizeof(pseudo_fs[0]); i++)
		if (!strcmp(fstype, pseudo_fs[i]))
			return true;
	return false;
}
