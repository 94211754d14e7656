/* The limit of any userspace exec gate: a fanotify permission group that
 * answers FAN_ALLOW to every exec at once, judging nothing. make bench
 * measures it beside gatekeeperd's miss path, so the distance to the
 * limit is a ratio measured in the same run.
 *
 *   raw_responder DIR      (as root; marks the filesystem holding DIR)
 * Prints "ready" on stdout once marked; runs until killed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char buf[16 * 1024] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	if (argc != 2) {
		fprintf(stderr, "usage: raw_responder DIR\n");
		return 2;
	}
	int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fd < 0 || fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM,
				    AT_FDCWD, argv[1]) < 0) {
		fprintf(stderr, "raw_responder: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ssize_t len = read(fd, buf, sizeof(buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			return 1;
		struct fanotify_event_metadata *m = (void *)buf;
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			if (m->fd < 0)
				continue;
			struct fanotify_response r = { .fd = m->fd, .response = FAN_ALLOW };
			if (write(fd, &r, sizeof(r)) != sizeof(r))
				perror("raw_responder: reply");
			close(m->fd);
		}
	}
}
