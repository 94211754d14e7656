/* Filesystems the daemon can never see: those mounted in a user namespace
 * of an unprivileged user's own. Creating a user namespace needs no
 * privilege where the kernel allows it (Debian's default), and its owner
 * may mount a tmpfs or a FUSE filesystem there. fanotify marks only reach
 * the daemon's own mount namespace, so a program copied onto such a
 * filesystem runs unjudged, whatever the policy says of its content. The
 * daemon cannot close that by itself (see gatekeeperd(8), CAVEATS); it
 * says whether the host leaves it open, and which sysctl closes it. */
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "gatekeeper/mounts.h"

/* The sysctl's value, or -1 when it is missing or unreadable. */
static long read_sysctl(const char *root, const char *name)
{
	char path[4200];
	long v;
	snprintf(path, sizeof(path), "%s/%s", root, name);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int n = fscanf(f, "%ld", &v);
	fclose(f);
	return n == 1 ? v : -1;
}

bool mounts_user_mounts(const char *proc_root, char *out, size_t size)
{
	char sys[4200], ns[4200];
	struct stat st;
	snprintf(sys, sizeof(sys), "%s/sys", proc_root);
	snprintf(ns, sizeof(ns), "%s/self/ns/user", proc_root);
	if (stat(ns, &st) != 0) {
		snprintf(out, size, "refused (this kernel has no user namespaces)");
		return false;
	}
	if (read_sysctl(sys, "user/max_user_namespaces") == 0) {
		snprintf(out, size, "refused (user.max_user_namespaces=0)");
		return false;
	}
	if (read_sysctl(sys, "kernel/unprivileged_userns_clone") == 0) {
		snprintf(out, size, "refused (kernel.unprivileged_userns_clone=0)");
		return false;
	}
	snprintf(out, size,
		 "possible: any user can mount a filesystem in a user namespace of their own, "
		 "where programs run unjudged; %s closes it",
		 read_sysctl(sys, "kernel/unprivileged_userns_clone") >= 0
			 ? "sysctl kernel.unprivileged_userns_clone=0"
			 : "sysctl user.max_user_namespaces=0");
	return true;
}
