/* sysfilter LIST PROGRAM [ARG...]: run PROGRAM under a seccomp allowlist,
 * the system calls named in the file LIST (blank-separated; names this
 * architecture lacks are skipped, as systemd skips them). The host suite
 * starts every daemon this way with the unit's SystemCallFilter= list, so
 * each test also proves that list is enough: a call outside it fails with
 * EPERM, as under the unit's SystemCallErrorNumber=EPERM, and the kernel
 * logs it (audit type=1326), which the suite looks for after each test.
 * GK_SYSFILTER_LOG_ONLY=1: log such calls but let them through (to find
 * what a new build needs). GK_SYSFILTER_EACCES="NAME ...": those calls
 * fail with EACCES instead (a kernel that refuses them, played).
 * openat2 fails with ENOSYS, as under the unit's RestrictSUIDSGID=: systemd
 * answers it so (seccomp cannot look into its flags), whatever the list. */
#include <errno.h>
#include <stdbool.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Named in GK_SYSFILTER_EACCES. */
static bool refused(const char *name)
{
	const char *list = getenv("GK_SYSFILTER_EACCES");
	size_t len = strlen(name);
	for (const char *p = list; p && (p = strstr(p, name)); p += len)
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
	return false;
}

static int die(const char *what, int err)
{
	fprintf(stderr, "sysfilter: %s: %s\n", what, strerror(err));
	return 127;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sysfilter LIST PROGRAM [ARG...]\n");
		return 2;
	}
	const char *log_only = getenv("GK_SYSFILTER_LOG_ONLY");
	bool permissive = log_only && strcmp(log_only, "1") == 0;
	scmp_filter_ctx ctx = seccomp_init(permissive ? SCMP_ACT_LOG : SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return die("seccomp_init", ENOMEM);
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	FILE *f = fopen(argv[1], "re");
	if (!f)
		return die(argv[1], errno);
	char name[128];
	int allowed = 0;
	while (rc == 0 && fscanf(f, "%127s", name) == 1) {
		int nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR || nr < 0 || refused(name) || nr == SCMP_SYS(openat2))
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		allowed++;
	}
	fclose(f);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
	const char *eacces = getenv("GK_SYSFILTER_EACCES");
	char *list = strdup(eacces ? eacces : ""), *save = NULL;
	for (char *t = strtok_r(list, " ", &save); rc == 0 && t; t = strtok_r(NULL, " ", &save)) {
		int nr = seccomp_syscall_resolve_name(t);
		if (nr == __NR_SCMP_ERROR || nr < 0) {
			fprintf(stderr, "sysfilter: GK_SYSFILTER_EACCES: no system call %s\n", t);
			return 127;
		}
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 0);
	}
	free(list);
	if (rc == 0 && allowed == 0) {
		fprintf(stderr, "sysfilter: %s names no system call of this architecture\n", argv[1]);
		return 127;
	}
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return die("load the allowlist", -rc);
	execv(argv[2], argv + 2);
	return die(argv[2], errno);
}
