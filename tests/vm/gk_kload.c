/* gk-kload: a stand-in for gatekeeperd that drives kcache_bpf directly, so
 * the BPF programs are proven in the guest without the daemon. It loads and
 * attaches through kcache_bpf_open, then reads one command per line on
 * stdin and answers one line on stdout ("ok ..." or "err ..."):
 *   allow PATH        record ALLOW and add an evictable exec ignore mark
 *   allow-nomark PATH record ALLOW only
 *   deny PATH         record DENY
 *   forget PATH       drop the inode's value
 *   unmark            flush every ignore mark of its fanotify group
 *   bump              bump the global epoch
 *   marks-dropped     say the ignore marks were dropped (holds lapse)
 *   counters          allows= denies= invalidations= holds= drops=
 *   events            drain the ring buffer: kind/route/flags of each record
 * The programs detach when this process exits, however it exits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "gatekeeper/kcache_bpf.h"

struct kload {
	struct kcache_bpf *kb;
	int fan_fd;
};

static void print_event(void *ctx, const struct kcache_bpf_event *ev)
{
	(void)ctx;
	printf(" %s:%u:%s%s%s%s:%llu", ev->kind == KCACHE_BPF_DENY ? "deny" : "inval", ev->route,
	       ev->had_allow ? "A" : "", ev->via_mmap ? "M" : "", ev->hold ? "H" : "",
	       ev->lost ? "L" : "", (unsigned long long)ev->ino);
}

static int record_path(struct kload *kl, const char *path, enum gk_verdict v, bool mark)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (kcache_bpf_record(kl->kb, fd, v) != 0)
		goto cleanup;
	if (mark && fanotify_mark(kl->fan_fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_EVICTABLE,
				  FAN_OPEN_EXEC_PERM, fd, NULL) != 0)
		goto cleanup;
	rc = 0;
cleanup:
	close(fd);
	return rc;
}

static int forget_path(struct kload *kl, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = kcache_bpf_forget(kl->kb, fd);
	close(fd);
	return rc;
}

static int run_command(struct kload *kl, char *line)
{
	char *arg = strchr(line, ' ');
	struct kcache_bpf_counters c;

	if (arg)
		*arg++ = '\0';
	if (strcmp(line, "allow") == 0 && arg)
		return record_path(kl, arg, GK_VERDICT_ALLOW, true);
	if (strcmp(line, "allow-nomark") == 0 && arg)
		return record_path(kl, arg, GK_VERDICT_ALLOW, false);
	if (strcmp(line, "deny") == 0 && arg)
		return record_path(kl, arg, GK_VERDICT_DENY, false);
	if (strcmp(line, "forget") == 0 && arg)
		return forget_path(kl, arg);
	if (strcmp(line, "unmark") == 0)
		return fanotify_mark(kl->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL);
	if (strcmp(line, "bump") == 0) {
		kcache_bpf_bump_epoch(kl->kb);
		return 0;
	}
	if (strcmp(line, "marks-dropped") == 0) {
		kcache_bpf_marks_dropped(kl->kb);
		return 0;
	}
	if (strcmp(line, "counters") == 0) {
		kcache_bpf_counters(kl->kb, &c);
		printf("ok allows=%llu denies=%llu invalidations=%llu holds=%llu drops=%llu\n",
		       (unsigned long long)c.allows, (unsigned long long)c.denies,
		       (unsigned long long)c.invalidations, (unsigned long long)c.hold_refusals,
		       (unsigned long long)c.ringbuf_drops);
		return 1;
	}
	if (strcmp(line, "events") == 0) {
		printf("ok");
		kcache_bpf_drain(kl->kb, print_event, NULL);
		printf("\n");
		return 1;
	}
	errno = EINVAL;
	return -1;
}

int main(void)
{
	struct kload kl = { .kb = NULL, .fan_fd = -1 };
	char why[512], line[4096];
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	kl.kb = kcache_bpf_open(why, sizeof(why));
	if (!kl.kb) {
		printf("err load: %s\n", why);
		return 1;
	}
	kl.fan_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY);
	if (kl.fan_fd < 0) {
		printf("err fanotify_init: %s\n", strerror(errno));
		return 1;
	}
	printf("ok loaded\n");
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		rc = run_command(&kl, line);
		if (rc == 0)
			printf("ok\n");
		else if (rc < 0)
			printf("err %s: %s\n", line, strerror(errno));
	}
	kcache_bpf_close(kl.kb);
	close(kl.fan_fd);
	return 0;
}
