/* gatekeeper-scand's confinement: what a process that parses hostile files
 * with libclamav may still do. Everything here fails closed: a step that
 * does not work stops the scanner (its scans are errors, on_error applies),
 * it never scans with less confinement than described in scand.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "scanner/engine.h"
#include "scanner/scand.h"

static int fail(char *err, size_t errlen, const char *what)
{
	scanner_line(err, errlen, "sandbox: %s: %s", what, strerror(errno));
	return -1;
}

static int lookup_user(const char *name, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(name ? name : SCAND_DEFAULT_USER);
	if (!pw && !name) {
		scanner_log(SCANNER_LOG_WARN, "scanner user %s does not exist, running scans as %s "
			    "(create the system user, or pass --scanner-user)",
			    SCAND_DEFAULT_USER, SCAND_FALLBACK_USER);
		pw = getpwnam(SCAND_FALLBACK_USER);
	}
	if (!pw) {
		scanner_line(err, errlen, "sandbox: no such user: %s",
			     name ? name : SCAND_FALLBACK_USER);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		scanner_line(err, errlen, "sandbox: refusing to scan as %s: uid or gid 0",
			     pw->pw_name);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Every mount read-only (recursively, in this namespace only), then a
 * fresh tmpfs where libclamav unpacks: the one place it can write. */
static int private_mounts(const char *scratch, uid_t uid, gid_t gid, unsigned memory_mb,
			  char *err, size_t errlen)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(err, errlen, "make mounts private");
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					     MOUNT_ATTR_NODEV };
	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0)
		return fail(err, errlen, "remount / read-only");
	char opts[128];
	if (uid != (uid_t)-1)
		snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u,size=%um", (unsigned)uid,
			 (unsigned)gid, memory_mb);
	else
		snprintf(opts, sizeof(opts), "mode=0700,size=%um", memory_mb);
	if (mount("gk-scan-tmp", scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0) {
		scanner_line(err, errlen, "sandbox: mount a scratch tmpfs on %s: %s", scratch,
			     strerror(errno));
		return -1;
	}
	return 0;
}

static int drop_bounding_set(char *err, size_t errlen)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return fail(err, errlen, "drop the capability bounding set");
	return 0;
}

/* After the switch of user (which needs CAP_SETUID, and clears the
 * permitted set of a non-root user anyway): nothing left, also in a user
 * namespace. */
static int drop_capabilities(char *err, size_t errlen)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return fail(err, errlen, "clear ambient capabilities");
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	if (syscall(SYS_capset, &h, d) < 0)
		return fail(err, errlen, "capset");
	return 0;
}

static int become_user(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return fail(err, errlen, "switch to the scanner user");
	if (setresuid(0, 0, 0) == 0) {
		scanner_line(err, errlen, "sandbox: could become root again");
		return -1;
	}
	return 0;
}

#define ALLOW(name) rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), 0)

/* fcntl: the commands libclamav, glibc and scand use (descriptor flags,
 * status flags, duplicates). Not F_SETSIG, F_SETOWN, F_SETLEASE, F_SETLK
 * and the rest: a description can be shared with another process, and its
 * signal settings reach that process (scand_io.c). The command is an
 * unsigned int: compared in 32 bits. */
static int allow_fcntl(scmp_filter_ctx ctx)
{
	static const int cmds[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD, F_DUPFD_CLOEXEC };
	int rc = 0;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (unsigned)cmds[i]));
	return rc;
}

/* What libclamav needs to load signatures and scan a descriptor (files in
 * the scratch directory, memory, time, the socket it already has), and what
 * the zygote needs to fork workers. Anything else fails with EPERM: no
 * socket(), no exec, no ptrace, no mount, no namespaces, no setuid. */
static int load_allowlist(char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return fail(err, errlen, "seccomp_init");
	int rc = 0;
	ALLOW(read); ALLOW(write); ALLOW(pread64); ALLOW(pwrite64); ALLOW(readv); ALLOW(writev);
	ALLOW(lseek); ALLOW(close); ALLOW(fstat); ALLOW(newfstatat); ALLOW(statx); ALLOW(stat);
	ALLOW(lstat); ALLOW(openat); ALLOW(open); ALLOW(getdents64); ALLOW(dup);
	ALLOW(dup2); ALLOW(dup3); ALLOW(access); ALLOW(faccessat); ALLOW(faccessat2);
	ALLOW(readlink); ALLOW(readlinkat); ALLOW(getcwd); ALLOW(chdir); ALLOW(fchdir);
	ALLOW(unlink); ALLOW(unlinkat); ALLOW(mkdir); ALLOW(mkdirat); ALLOW(rmdir);
	ALLOW(rename); ALLOW(renameat); ALLOW(renameat2); ALLOW(ftruncate); ALLOW(fsync);
	ALLOW(fdatasync); ALLOW(umask); ALLOW(chmod); ALLOW(fchmod); ALLOW(fchmodat);
	ALLOW(fadvise64); ALLOW(fstatfs); ALLOW(statfs);
	ALLOW(mmap); ALLOW(munmap); ALLOW(mprotect); ALLOW(mremap); ALLOW(madvise); ALLOW(brk);
	ALLOW(futex); ALLOW(set_robust_list); ALLOW(rseq); ALLOW(set_tid_address);
	ALLOW(clock_gettime); ALLOW(clock_getres); ALLOW(clock_nanosleep); ALLOW(nanosleep);
	ALLOW(gettimeofday); ALLOW(time); ALLOW(getpid); ALLOW(gettid); ALLOW(getppid);
	ALLOW(getuid); ALLOW(geteuid); ALLOW(getgid); ALLOW(getegid); ALLOW(getrandom);
	ALLOW(sched_yield); ALLOW(sched_getaffinity); ALLOW(uname); ALLOW(sysinfo);
	ALLOW(getrlimit); ALLOW(prlimit64); ALLOW(getrusage);
	ALLOW(exit); ALLOW(exit_group); ALLOW(rt_sigreturn); ALLOW(rt_sigprocmask);
	/* kill and tgkill: the zygote kills its workers; a worker may neither
	 * kill nor tgkill but itself (scand_sandbox_worker). No tkill. */
	ALLOW(rt_sigaction); ALLOW(sigaltstack); ALLOW(tgkill);
	ALLOW(sendmsg); ALLOW(recvmsg); ALLOW(sendto); ALLOW(recvfrom); ALLOW(poll); ALLOW(ppoll);
	ALLOW(wait4); ALLOW(kill); ALLOW(prctl); ALLOW(seccomp);
	rc = rc ? rc : allow_fcntl(ctx);
	/* The zygote's worker sockets; no other family. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
					SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	/* fork and threads, never into a new namespace. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
					SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWNS | CLONE_NEWUSER |
					CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
					CLONE_NEWCGROUP, 0));
	/* clone3's flags sit in memory a filter cannot read: ENOSYS makes
	 * glibc fall back to clone. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		errno = -rc;
		return fail(err, errlen, "load the seccomp allowlist");
	}
	return 0;
}

int scand_sandbox_enter(const struct scand_sandbox *sb, char *err, size_t errlen)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	bool root = geteuid() == 0;
	if (root && lookup_user(sb->user, &uid, &gid, err, errlen) < 0)
		return -1;
	int ns = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | (root ? 0 : CLONE_NEWUSER);
	if (unshare(ns) < 0)
		return fail(err, errlen, root ? "unshare network and mount namespaces"
					      : "unshare user, network and mount namespaces");
	if (private_mounts(sb->scratch, uid, gid, sb->memory_mb, err,
			   errlen) < 0)
		return -1;
	struct rlimit as = { .rlim_cur = (rlim_t)sb->memory_mb << 20,
			     .rlim_max = (rlim_t)sb->memory_mb << 20 };
	struct rlimit none = { 0, 0 };
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* the sanitizers' shadow memory needs terabytes of address space */
	as.rlim_cur = as.rlim_max = RLIM_INFINITY;
#endif
	if (setrlimit(RLIMIT_AS, &as) < 0 || setrlimit(RLIMIT_CORE, &none) < 0)
		return fail(err, errlen, "set RLIMIT_AS");
	if (drop_bounding_set(err, errlen) < 0)
		return -1;
	if (root && become_user(uid, gid, err, errlen) < 0)
		return -1;
	if (drop_capabilities(err, errlen) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail(err, errlen, "set no_new_privs");
	if (chdir("/") < 0)
		return fail(err, errlen, "chdir /");
	return load_allowlist(err, errlen);
}

int scand_sandbox_worker(char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return fail(err, errlen, "seccomp_init");
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* threads (CLONE_THREAD) stay possible, new processes do not */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
					SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socketpair), 0);
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(wait4), 0);
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 0);
	/* Signals to itself only (abort and raise use tgkill): not to its
	 * zygote, whose death ends every worker, nor to other workers. */
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tgkill), 1,
					SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)getpid()));
	rc = rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tkill), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		errno = -rc;
		return fail(err, errlen, "load the worker's seccomp filter");
	}
	return 0;
}
