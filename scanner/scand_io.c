/* What the daemon hands a gatekeeper-scand process, and nothing more: at
 * its start a socket (fd 3), /dev/null as stdin and stdout and a pipe as
 * stderr; per scan an open file description of its own for the file.
 *
 * A descriptor passed with SCM_RIGHTS shares its open file description,
 * and a description is shared state: F_SETSIG and F_SETOWN (which signal a
 * lease break sends, and to whom), O_NONBLOCK, the offset. The daemon's
 * read lease (kcache_lease.c) is taken on a copy of the event fd's
 * description, so a worker given that description could choose the signal
 * the daemon gets when the lease breaks (SIGTERM: a clean stop, SIGKILL).
 * Hence scand_file_for_scanner.
 *
 * Whatever a scanner process writes to stderr (libclamav's messages, the
 * sandbox's warnings, a usage error) comes back through scanner_log as one
 * escaped message per line, at most RELAY_BURST lines per RELAY_WINDOW_S:
 * a compromised worker can neither forge a daemon log line nor flood the
 * journal. stdout is /dev/null: nothing of scand's writes there. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "scanner/engine.h"
#include "scanner/scand.h"

#define RELAY_LINE_MAX 400
#define RELAY_BURST 20
#define RELAY_WINDOW_S 10

/* Opening for read raises no FAN_OPEN_EXEC_PERM (the daemon's only
 * permission event), so this cannot wait on the daemon itself. The event
 * fd is a regular file (checked: a FIFO's open would wait for a writer);
 * O_NONBLOCK makes a conflicting write lease of another process fail the
 * open at once rather than wait for its break. A file on FUSE does ask its
 * server, as the daemon's own read of it already did. /proc/self/fd/N also
 * reaches deleted files and memfds, which have no path. */
int scand_file_for_scanner(int fd, char *err, size_t errlen)
{
	struct stat was, now;
	char path[64];
	if (fstat(fd, &was) < 0) {
		scanner_line(err, errlen, "fstat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(was.st_mode)) {
		scanner_line(err, errlen, "not a regular file");
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int own = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (own < 0 || fstat(own, &now) < 0 || now.st_dev != was.st_dev ||
	    now.st_ino != was.st_ino || fcntl(own, F_SETFL, 0) < 0) {
		scanner_line(err, errlen, "cannot open the file again for the scanner process: %s",
			     own < 0 ? strerror(errno) : "not the same file");
		if (own >= 0)
			close(own);
		return -1;
	}
	return own;
}

/* Only async-signal-safe calls between fork and exec: the daemon is
 * multi-threaded. */
_Noreturn void scand_exec(const char *path, char *const argv[], char *const envp[], int sock,
			  int err_fd, int gate)
{
	/* wait until the parent has noted this pid as its scanner's */
	char go;
	while (read(gate, &go, 1) < 0 && errno == EINTR)
		;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A scanner started during the daemon's boosted start (gatekeeperd(8))
	 * must not keep the boost: scans, pre-scans above all, are no more
	 * urgent than the programs around them. Raising one's nice needs no
	 * privilege. */
	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) < 0 && errno == 0)
		setpriority(PRIO_PROCESS, 0, 0);
	/* Copies above fds 0 to 3 first, so that no dup2 below overwrites one
	 * still needed; dup2 clears close-on-exec. */
	int s = fcntl(sock, F_DUPFD, 10), e = fcntl(err_fd, F_DUPFD, 10);
	int null = open("/dev/null", O_RDWR);
	if (s < 0 || e < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(e, 2) < 0 || dup2(s, SCAND_CTL_FD) < 0)
		_exit(127);
	/* Nothing else of the daemon's: above all no fanotify group, whose
	 * pending events must be released when the daemon dies. */
	syscall(SYS_close_range, SCAND_CTL_FD + 1, ~0u, 0);
	execve(path, argv, envp);
	_exit(127);
}

struct relay {
	int fd;
	pid_t pid;
	char line[RELAY_LINE_MAX + 1];
	size_t len;
	bool cut;
	unsigned sent;            /* lines logged in this window */
	unsigned long long dropped;
	time_t window;
};

static time_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void relay_window(struct relay *r)
{
	time_t now = mono_s();
	if (now - r->window < RELAY_WINDOW_S)
		return;
	if (r->dropped)
		scanner_log(SCANNER_LOG_WARN, "gatekeeper-scand %d: %llu more lines not logged "
			    "(at most %d in %d s)", (int)r->pid, r->dropped, RELAY_BURST,
			    RELAY_WINDOW_S);
	r->window = now;
	r->sent = 0;
	r->dropped = 0;
}

static void relay_emit(struct relay *r)
{
	r->line[r->len] = '\0';
	if (r->sent < RELAY_BURST) {
		r->sent++;
		scanner_log(SCANNER_LOG_WARN, "gatekeeper-scand %d: %s%s", (int)r->pid, r->line,
			    r->cut ? " [cut]" : "");
	} else {
		r->dropped++;
	}
	r->len = 0;
	r->cut = false;
}

/* Until every scanner process of this zygote is gone (end of file). */
static void *relay_main(void *arg)
{
	struct relay *r = arg;
	char buf[4096];
	pthread_setname_np(pthread_self(), "gk-scand-log");
	for (;;) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		int rc = poll(&p, 1, r->dropped ? 1000 : -1);
		relay_window(r);
		if (rc <= 0)
			continue;   /* EINTR, or a window to close */
		ssize_t n = read(r->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n')
				relay_emit(r);
			else if (r->len < RELAY_LINE_MAX)
				r->line[r->len++] = buf[i];
			else
				r->cut = true;
		}
	}
	if (r->len)
		relay_emit(r);
	r->window = 0;
	relay_window(r);
	close(r->fd);
	free(r);
	return NULL;
}

int scand_relay_start(int fd, pid_t pid)
{
	struct relay *r = calloc(1, sizeof(*r));
	pthread_attr_t attr;
	pthread_t t;
	int rc = -1;
	if (r && pthread_attr_init(&attr) == 0) {
		r->fd = fd;
		r->pid = pid;
		r->window = mono_s();
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, relay_main, r) == 0 ? 0 : -1;
		pthread_attr_destroy(&attr);
	}
	if (rc < 0) {
		free(r);
		close(fd);
	}
	return rc;
}
