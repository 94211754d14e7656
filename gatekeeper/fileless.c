/* `fileless: deny`, put in force where the kernel lets us.
 *
 * fanotify cannot see a memfd exec: the memfd superblock (an internal shmem
 * mount) takes no filesystem mark. So:
 *  - bpf mode: the kernel programs refuse the exec of any file with no link
 *    (memfd, O_TMPFILE, deleted), by route, before any verdict is looked up;
 *  - fanotify mode: vm.memfd_noexec=2 makes the kernel refuse memfd execs
 *    (memfd_create without MFD_EXEC seals the memfd non-executable; with
 *    MFD_EXEC it fails; Linux 6.3 to 6.5 refuse it, host-wide, to every
 *    memfd_create that does not ask for the seal, so there it is not
 *    raised). The sysctl is per pid namespace (ours and those
 *    below it); the value we found is put back when the policy no longer
 *    denies and on exit (not after SIGKILL: then it stays 2). An O_TMPFILE or
 *    deleted file lives on a real filesystem: if that one is marked, its exec
 *    raises a permission event and the daemon refuses it (judge.c reads
 *    the link count of the identity it takes); on an unmarked filesystem nothing sees it.
 * Monitor mode never blocks: neither the sysctl nor the kernel programs are
 * switched; the daemon logs would-denies for what it sees. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/fileless.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/proto.h"

#define MEMFD_NOEXEC "/proc/sys/vm/memfd_noexec"

/* Owned by struct gk_daemon (d->fileless). vm.memfd_noexec belongs to the
 * whole pid namespace: the value found before we raised it is put back by
 * fileless_restore (on a policy that no longer denies, and on exit). */
struct gk_fileless {
	pthread_mutex_t lock;
	int saved;               /* value found before we raised it; -1: untouched */
	bool sysctl_missing;
	bool refuses_unsealed;   /* =2 broke every unsealed memfd_create (6.3-6.5) */
	char live[320];          /* status line */
};

struct gk_fileless *fileless_new(void)
{
	struct gk_fileless *fl = calloc(1, sizeof(*fl));
	if (!fl)
		return NULL;
	pthread_mutex_init(&fl->lock, NULL);
	fl->saved = -1;
	return fl;
}

void fileless_free(struct gk_fileless *fl)
{
	if (!fl)
		return;
	fileless_restore(fl);
	pthread_mutex_destroy(&fl->lock);
	free(fl);
}

static int write_sysctl(int v)
{
	int fd = open(MEMFD_NOEXEC, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[8];
	int n = snprintf(buf, sizeof(buf), "%d\n", v);
	int rc = write(fd, buf, (size_t)n) == n ? 0 : -1;
	int saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return rc;
}

/* Under vm.memfd_noexec=2, Linux 6.6 and later give a memfd_create that
 * asks for neither MFD_EXEC nor MFD_NOEXEC_SEAL a sealed memfd; 6.3 to 6.5
 * refused it with EACCES, which breaks every program of the namespace that
 * uses memfds (journald clients, browsers, Wayland). */
static bool unsealed_memfd_refused(void)
{
	int fd = memfd_create("gk-noexec-probe", MFD_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EACCES;
}

/* Raise vm.memfd_noexec to 2; false if this kernel cannot, or should not. */
static bool raise_memfd_noexec(struct gk_fileless *fl)
{
	int cur = (int)gk_read_number(MEMFD_NOEXEC);
	if (cur < 0) {
		fl->sysctl_missing = true;
		return false;
	}
	if (cur >= 2)
		return true;
	if (fl->refuses_unsealed)   /* asked once: not again at each apply */
		return false;
	if (write_sysctl(2) < 0) {
		log_msg(GK_LOG_ERR, "error=\"%s=2: %s\"", MEMFD_NOEXEC, strerror(errno));
		return false;
	}
	if (unsealed_memfd_refused()) {
		fl->refuses_unsealed = true;
		if (write_sysctl(cur) < 0)
			log_msg(GK_LOG_ERR, "error=\"%s=%d (put back): %s\"", MEMFD_NOEXEC, cur,
				strerror(errno));
		log_msg(GK_LOG_ERR, "error=\"vm.memfd_noexec=2 makes this kernel refuse every "
			"memfd_create without MFD_NOEXEC_SEAL (Linux 6.3-6.5), for every program: put "
			"back to %d; fileless: deny needs bpf mode here\"", cur);
		return false;
	}
	if (fl->saved < 0)
		fl->saved = cur;
	log_msg(GK_LOG_INFO, "fileless_deny sysctl=vm.memfd_noexec value=2 was=%d", cur);
	return true;
}

static void restore_locked(struct gk_fileless *fl)
{
	if (fl->saved < 0)
		return;
	if (write_sysctl(fl->saved) < 0)
		log_msg(GK_LOG_ERR, "error=\"%s=%d (restore): %s\"", MEMFD_NOEXEC, fl->saved,
			strerror(errno));
	else
		log_msg(GK_LOG_INFO, "fileless_restored sysctl=vm.memfd_noexec value=%d", fl->saved);
	fl->saved = -1;
}

void fileless_apply(struct gk_daemon *d)
{
	pthread_rwlock_rdlock(&d->policy_lock);
	bool deny = d->policy->fileless == GK_VERDICT_DENY;
	bool enforce = d->policy->mode == GK_MODE_ENFORCE;
	pthread_rwlock_unlock(&d->policy_lock);
	struct gk_fileless *fl = d->fileless;
	if (!fl)
		return;
	/* The other enforce-only switch of the kernel programs: applied here
	 * because it follows the mode at the same moments (start, apply, bpf
	 * adopted late). */
	kcache_set_write_guard(d->kc, enforce);
	pthread_mutex_lock(&fl->lock);
	bool in_kernel = kcache_set_fileless(d->kc, deny && enforce);
	if (!deny) {
		restore_locked(fl);
		snprintf(fl->live, sizeof(fl->live), "allow: fileless programs are not refused");
	} else if (!enforce) {
		restore_locked(fl);
		snprintf(fl->live, sizeof(fl->live),
			 "deny (monitor: nothing refused; O_TMPFILE/deleted files on marked "
			 "filesystems logged as would-deny, memfd execs unseen)");
	} else if (in_kernel) {
		restore_locked(fl);
		snprintf(fl->live, sizeof(fl->live),
			 "deny, in the kernel (bpf): exec of a memfd, O_TMPFILE or deleted file refused");
	} else if (raise_memfd_noexec(fl)) {
		snprintf(fl->live, sizeof(fl->live),
			 "deny, vm.memfd_noexec=2: exec of a memfd made since refused by the kernel "
			 "(not of one made before); O_TMPFILE and deleted files refused on marked "
			 "filesystems only");
	} else {
		snprintf(fl->live, sizeof(fl->live),
			 "deny, NOT enforced for memfd (%s); O_TMPFILE and deleted files refused "
			 "on marked filesystems only",
			 fl->sysctl_missing ? "no vm.memfd_noexec: Linux < 6.3"
			 : fl->refuses_unsealed ? "vm.memfd_noexec=2 would refuse every unsealed "
						  "memfd here: Linux 6.3-6.5"
			 : "cannot set vm.memfd_noexec");
	}
	pthread_mutex_unlock(&fl->lock);
}

void fileless_restore(struct gk_fileless *fl)
{
	if (!fl)
		return;
	pthread_mutex_lock(&fl->lock);
	restore_locked(fl);
	pthread_mutex_unlock(&fl->lock);
}

void fileless_report(struct gk_fileless *fl, struct proto_buf *reply)
{
	if (!fl) {
		proto_str(reply, "fileless", "");
		return;
	}
	pthread_mutex_lock(&fl->lock);
	proto_str(reply, "fileless", fl->live);
	pthread_mutex_unlock(&fl->lock);
}
