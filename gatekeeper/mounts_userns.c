/* Filesystems the daemon can never see: those mounted in a user namespace
 * of an unprivileged user's own. Creating a user namespace needs no
 * privilege where the kernel allows it (Debian's default), and its owner
 * may mount a tmpfs or a FUSE filesystem there. fanotify marks only reach
 * the daemon's own mount namespace, so a program copied onto such a
 * filesystem runs unjudged, whatever the policy says of its content. The
 * daemon says whether the host leaves it open, and which sysctl closes
 * it; `unmarked_filesystems: deny` closes it in the kernel programs (bpf
 * mode), by refusing every program on a filesystem without a mark. */
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/mounts.h"
#include "gatekeeper/proto.h"
#include "gatekeeper/util.h"

static long read_sysctl(const char *proc_root, const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/sys/%s", proc_root, name);
	return gk_read_number(path);
}

bool mounts_user_mounts(const char *proc_root, char *out, size_t size)
{
	char ns[4200];
	struct stat st;
	snprintf(ns, sizeof(ns), "%s/self/ns/user", proc_root);
	if (stat(ns, &st) != 0) {
		snprintf(out, size, "refused (this kernel has no user namespaces)");
		return false;
	}
	long max = read_sysctl(proc_root, "user/max_user_namespaces");
	long clone = read_sysctl(proc_root, "kernel/unprivileged_userns_clone");   /* Debian's */
	if (max == 0) {
		snprintf(out, size, "refused (user.max_user_namespaces=0)");
		return false;
	}
	if (clone == 0) {
		snprintf(out, size, "refused (kernel.unprivileged_userns_clone=0)");
		return false;
	}
	snprintf(out, size,
		 "possible: any user can mount a filesystem in a user namespace of their own, "
		 "where programs run unjudged; %s closes it",
		 clone >= 0 ? "sysctl kernel.unprivileged_userns_clone=0" : "sysctl user.max_user_namespaces=0");
	return true;
}

static bool unmarked_wanted(struct gk_daemon *d, bool *enforce)
{
	pthread_rwlock_rdlock(&d->policy_lock);
	bool deny = d->policy->unmarked_filesystems == GK_VERDICT_DENY;
	*enforce = d->policy->mode == GK_MODE_ENFORCE;
	pthread_rwlock_unlock(&d->policy_lock);
	return deny;
}

void mounts_unmarked_apply(struct gk_daemon *d)
{
	bool enforce, deny = unmarked_wanted(d, &enforce);
	bool live = kcache_set_unmarked(d->kc, deny && enforce);
	atomic_store(&d->unmarked_in_kernel, deny && enforce && live);
	if (!deny || !enforce || live)
		return;
	if (kcache_bpf_loading(d->kc))
		log_msg(GK_LOG_INFO, "unmarked_filesystems=deny enforced=no until=bpf_loaded");
	else
		log_msg(GK_LOG_WARN, "warning=\"unmarked_filesystems: deny is not enforced: it needs "
			"kernel mode bpf (now %s)\"", kcache_mode(d->kc));
}

void mounts_unmarked_report(struct gk_daemon *d, struct proto_buf *reply)
{
	bool enforce, deny = unmarked_wanted(d, &enforce);
	proto_str(reply, "unmarked_filesystems",
		  !deny ? "allow: programs on filesystems without the daemon's mark run unjudged"
		  : !enforce ? "deny (monitor: nothing refused)"
		  : atomic_load(&d->unmarked_in_kernel) ? "deny, in the kernel (bpf)"
		  : kcache_bpf_loading(d->kc) ? "deny: not enforced until the BPF programs are loaded"
					       : "deny: not enforced (needs kernel mode bpf)");
}
