/* fanotify groups: enforce mode answers FAN_OPEN_EXEC_PERM events; monitor
 * mode only listens to FAN_OPEN_EXEC notifications, so it can never block an
 * exec. Each watched path marks the whole filesystem that holds it and every
 * filesystem mounted below it (mounts.c); the policy scopes decisions to the
 * watched subtrees. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/mounts.h"

static struct fan_group *group_open(bool perm, bool remote, char *err, size_t errlen)
{
	struct fan_group *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->perm = perm;
	g->remote = remote;
	g->mask = perm ? FAN_OPEN_EXEC_PERM : FAN_OPEN_EXEC;
	/* Unlimited marks: every allowed inode carries an ignore mark. */
	unsigned flags = (perm ? FAN_CLASS_CONTENT : FAN_CLASS_NOTIF) | FAN_CLOEXEC |
			 FAN_NONBLOCK | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS;
	g->fd = fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (g->fd < 0) {
		snprintf(err, errlen, "fanotify_init: %s", strerror(errno));
		fan_group_close(g);
		return NULL;
	}
	return g;
}

/* Why two: reading an event opens its file for the reader, and on FUSE or
 * a network filesystem that open is a request to a server, which may never
 * answer (a hung NFS server, a FUSE server that stalls on purpose). Every
 * event queued behind it in the same group would wait too, and with them
 * every exec on the host. */
int fan_groups_open(const struct gk_policy *policy, struct fan_group **local,
		    struct fan_group **remote, char *err, size_t errlen)
{
	bool perm = policy->mode == GK_MODE_ENFORCE;
	*local = group_open(perm, false, err, errlen);
	*remote = *local ? group_open(perm, true, err, errlen) : NULL;
	if (*remote && mounts_mark_group((*local)->fd, (*remote)->fd, (*local)->mask, policy, err,
					 errlen) == 0)
		return 0;
	fan_group_close(*local);
	fan_group_close(*remote);
	*local = *remote = NULL;
	return -1;
}

void fan_group_close(struct fan_group *g)
{
	if (!g)
		return;
	/* Closing the group releases (allows) any event still pending. */
	if (g->fd >= 0)
		close(g->fd);
	free(g);
}

static void *close_in_background(void *fd)
{
	close((int)(intptr_t)fd);
	return NULL;
}

/* Tearing a fanotify group down waits in the kernel until no exec waits on
 * a permission event of any group marking the same files; answering those
 * is our own work. So a group that is replaced while we serve is closed on
 * a thread of its own, never on one that answers events. */
void fan_close_async(int fd)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, close_in_background, (void *)(intptr_t)fd) != 0)
		close(fd);
	pthread_attr_destroy(&attr);
}

void fan_group_close_async(struct fan_group *g)
{
	fan_close_async(g->fd);
	g->fd = -1;
	fan_group_close(g);
}

void fan_reply(int group_fd, int event_fd, enum gk_verdict verdict)
{
	struct fanotify_response r = {
		.fd = event_fd,
		.response = verdict == GK_VERDICT_DENY ? FAN_DENY : FAN_ALLOW,
	};
	for (;;) {
		ssize_t n = write(group_fd, &r, sizeof(r));
		if (n == (ssize_t)sizeof(r))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		/* ENOENT: the event is gone, answered already (by the sentinel for
		 * a frozen daemon) or released with its group */
		if (n < 0 && errno == ENOENT) {
			log_msg(GK_LOG_INFO, "event_already_answered fd=%d", event_fd);
			return;
		}
		log_msg(GK_LOG_ERR, "error=\"fanotify reply failed\" fd=%d errno=%d", event_fd,
			n < 0 ? errno : 0);
		return;
	}
}
