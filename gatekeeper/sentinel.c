/* The sentinel: a small process outside the daemon's thread group that
 * answers permission events when the daemon cannot (stopped by SIGSTOP,
 * every thread blocked). The kernel has no timeout of its own for them, so
 * without it a frozen daemon would freeze every exec on the host.
 *
 * It shares with the daemon one memory region: the in-flight slots (which
 * event fd numbers wait for an answer, since when), two heartbeats and the
 * policy's deadline and on_error verdict. A response names an event by the
 * fd number it has in the reader, so the sentinel, holding a copy of the
 * group, can answer an event the daemon read. Exactly one party answers:
 * each claims a slot with a compare-and-swap (sentinel_slot_claim) before writing,
 * and the daemon closes an event fd only once its slot says answered, so a
 * response can never reach a later event that reused the number.
 *
 * Events the daemon has not read are read and answered by the sentinel only
 * while the group has stayed readable for a whole deadline and the daemon's
 * reader has not turned over since. When the daemon dies, the sentinel
 * exits at once: its copies close, and the kernel releases what was pending. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"

/* Busy, it looks once a tick: a 32nd of the deadline, 20 to 100 ms. Late
 * by a tick or two is a few percent of the deadline; at the default 5 s a
 * boot's stream of execs costs it 10 looks a second instead of 50 (each a
 * pread of the daemon's stat and a sweep of the slots). */
#define SENTINEL_TICK_MS 20
#define SENTINEL_TICK_MAX_MS 100
#define SENTINEL_QUIET_US 1000000    /* no event read for this long, none in flight: quiet */
#define QUIET_MAX_MS 5000
/* The local and remote groups, a retired local one, REMOTE_RETIRED_MAX
 * retired remote ones, two new ones at an apply, and drops in flight. */
#define SENTINEL_MAX_GROUPS 12
_Static_assert(SENTINEL_MAX_GROUPS >= 2 + 1 + REMOTE_RETIRED_MAX + 2 + 2, "sentinel groups");

struct sentinel_msg {
	uint32_t op;               /* 1: add the attached group fd; 2: drop; 3: exit;
				      4: add it, to answer only (never read) */
	uint32_t id;
};

struct gk_sentinel {
	pid_t pid;
	int sock;                  /* to the sentinel */
	uint32_t next_id;
};

struct watched_group {
	uint32_t id;
	int fd;
	bool answer_only;            /* a remote group: its read may wait on a server */
	int64_t readable_since_us;   /* 0: not readable at the last look */
};

struct gk_shared *sentinel_shared_new(unsigned n_slots)
{
	size_t size = sizeof(struct gk_shared) + (size_t)n_slots * sizeof(struct gk_slot);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct gk_shared *sh = p;
	sh->n_slots = n_slots;
	atomic_store(&sh->timeout_us, 5000000);
	atomic_store(&sh->on_error, GK_VERDICT_ALLOW);
	return sh;
}

void sentinel_shared_free(struct gk_shared *sh)
{
	if (sh)
		munmap(sh, sizeof(*sh) + (size_t)sh->n_slots * sizeof(struct gk_slot));
}

bool sentinel_slot_claim(struct gk_slot *s)
{
	uint32_t expected = SLOT_PENDING;
	return atomic_compare_exchange_strong(&s->state, &expected, SLOT_ANSWERING);
}

static void reply(int group_fd, int event_fd, uint32_t verdict)
{
	struct fanotify_response r = {
		.fd = event_fd, .response = verdict == GK_VERDICT_DENY ? FAN_DENY : FAN_ALLOW
	};
	while (write(group_fd, &r, sizeof(r)) < 0 && errno == EINTR)
		;
}

/* What the sentinel polls of a group: nothing of one it only answers. */
static int polled_fd(const struct watched_group *g)
{
	return g->answer_only ? -1 : g->fd;
}

static struct watched_group *group_by_id(struct watched_group *g, uint32_t id)
{
	for (int i = 0; i < SENTINEL_MAX_GROUPS; i++)
		if (g[i].fd >= 0 && g[i].id == id)
			return &g[i];
	return NULL;
}

/* The daemon's watchdog has not ticked for a deadline: answer its overdue
 * slots ourselves. */
static void sweep_slots(struct gk_shared *sh, struct watched_group *groups, int64_t now)
{
	int64_t limit = atomic_load(&sh->timeout_us);
	if (now - atomic_load(&sh->watchdog_beat_us) <= limit)
		return;
	uint32_t verdict = atomic_load(&sh->on_error);
	for (unsigned i = 0; i < sh->n_slots; i++) {
		struct gk_slot *s = &sh->slots[i];
		if (atomic_load(&s->state) != SLOT_PENDING || now - atomic_load(&s->start_us) <= limit)
			continue;
		struct watched_group *g = group_by_id(groups, s->group);
		if (!g || !sentinel_slot_claim(s))
			continue;
		atomic_store(&s->verdict, verdict);
		atomic_store(&s->answered_by, SLOT_BY_SENTINEL);
		atomic_fetch_add(&sh->sentinel_answers, 1);
		reply(g->fd, s->fd, verdict);
		atomic_store(&s->state, SLOT_ANSWERED);
	}
}

/* The daemon's reader waits in read(2) on the same file description
 * (reader.c): O_NONBLOCK is ours for this one read, then put back. */
static ssize_t read_without_waiting(int fd, void *buf, size_t size)
{
	int fl = fcntl(fd, F_GETFL);
	bool flip = fl >= 0 && !(fl & O_NONBLOCK);
	if (flip)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	ssize_t n = read(fd, buf, size);
	int saved = errno;
	if (flip)
		fcntl(fd, F_SETFL, fl);
	errno = saved;
	return n;
}

/* An exec the daemon never read is still a decision on record: its log line
 * (a structured entry under journald; no audit row, the store is the
 * daemon's), the same line the daemon writes for its own. */
static void record_read_answer(const struct fanotify_event_metadata *m, uint32_t verdict,
			       const char *detail, int64_t unread_us)
{
	char path[4096];
	gk_fd_path(m->fd, path, sizeof(path));
	struct db_audit a = { .time_us = gk_now_us(), .pid = m->pid, .exe = "", .path = path,
			      .verdict = (enum gk_verdict)verdict, .source = GK_SOURCE_ON_ERROR,
			      .detail = detail, .mode = GK_MODE_ENFORCE,
			      .latency_us = unread_us > UINT32_MAX ? UINT32_MAX : (uint32_t)unread_us };
	audit_log_decision(&a, AUDIT_EXEC);
}

/* Nobody has read this group for a whole deadline: read and answer. */
static void take_over_reading(struct gk_shared *sh, struct watched_group *g, int64_t now)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	int64_t limit = atomic_load(&sh->timeout_us);
	if (!g->readable_since_us || now - g->readable_since_us <= limit ||
	    atomic_load(&sh->reader_beat_us) >= g->readable_since_us)
		return;
	ssize_t len = read_without_waiting(g->fd, buf, sizeof(buf));
	uint32_t verdict = atomic_load(&sh->on_error);
	char detail[128];
	snprintf(detail, sizeof(detail), "decision timeout: the daemon read nothing for %lld ms; "
		 "answered by its sentinel", (long long)((now - g->readable_since_us) / 1000));
	const struct fanotify_event_metadata *m = (const void *)buf;
	for (; len > 0 && FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
		if (m->fd < 0)
			continue;
		if (m->mask & FAN_OPEN_EXEC_PERM) {
			atomic_fetch_add(&sh->sentinel_reads, 1);
			reply(g->fd, m->fd, verdict);
			record_read_answer(m, verdict, detail, now - g->readable_since_us);
		}
		close(m->fd);
	}
	g->readable_since_us = 0;
}

/* Has the daemon begun to exit (a SIGKILL too)? PF_EXITING (0x4 in
 * include/linux/sched.h) is set at the start of do_exit. The daemon's files
 * are released last, after each fanotify group of its own is torn down, and
 * a teardown can wait for an SRCU grace period (seconds under load): so the
 * pending events are answered here as soon as it begins, not when it is
 * gone. */
static bool daemon_exiting(int stat_fd)
{
	char buf[1024];
	unsigned long flags = 0;
	ssize_t n = pread(stat_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & 0x4;
}

#define RELEASE_READS_MAX 16      /* per group and call of allow_everything */

/* As the kernel does when a group is closed: allow what is pending, read or
 * not, and go on doing so until the daemon is gone. Each allow is on
 * record: an exec the daemon had read is counted (its slot names no path),
 * one it never read gets its decision line. */
static void allow_everything(struct gk_shared *sh, struct watched_group *groups)
{
	static const char detail[] = "the daemon exited: allowed, as the kernel does when its group closes";
	char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	unsigned read_by_daemon = 0, unread = 0;
	for (unsigned i = 0; i < sh->n_slots; i++) {
		struct gk_slot *s = &sh->slots[i];
		struct watched_group *g = group_by_id(groups, s->group);
		if (atomic_load(&s->state) != SLOT_PENDING || !g || !sentinel_slot_claim(s))
			continue;
		reply(g->fd, s->fd, GK_VERDICT_ALLOW);
		atomic_store(&s->state, SLOT_ANSWERED);
		read_by_daemon++;
	}
	for (int i = 0; i < SENTINEL_MAX_GROUPS; i++) {
		ssize_t len;
		/* Bounded: execs that keep coming are the next call's, or the
		 * kernel's once we exit. */
		for (int reads = 0; polled_fd(&groups[i]) >= 0 && reads < RELEASE_READS_MAX &&
				    (len = read_without_waiting(groups[i].fd, buf, sizeof(buf))) > 0; reads++) {
			const struct fanotify_event_metadata *m = (const void *)buf;
			for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
				if (m->fd < 0)
					continue;
				if (m->mask & FAN_OPEN_EXEC_PERM) {
					reply(groups[i].fd, m->fd, GK_VERDICT_ALLOW);
					record_read_answer(m, GK_VERDICT_ALLOW, detail, 0);
					unread++;
				}
				close(m->fd);
			}
		}
	}
	if (read_by_daemon || unread)
		log_msg(GK_LOG_WARN, "sentinel_released_on_exit allowed=%u read_by_daemon=%u unread=%u "
			"reason=\"%s\"", read_by_daemon + unread, read_by_daemon, unread, detail);
}

/* A frozen daemon may have read events it had not yet entered in a slot
 * (stopped between read(2) and the slot): no table names their fd numbers.
 * They are among the daemon's open descriptors, and a response naming a
 * number that is no pending event of the group is refused by the kernel
 * (ENOENT) and changes nothing, so every open number is answered. Only
 * while both the reader and the watchdog have been still for a deadline. */
static void answer_unlisted(struct gk_shared *sh, struct watched_group *groups, DIR *fds,
			    int64_t now)
{
	int64_t limit = atomic_load(&sh->timeout_us);
	if (now - atomic_load(&sh->reader_beat_us) <= limit ||
	    now - atomic_load(&sh->watchdog_beat_us) <= limit)
		return;
	uint32_t verdict = atomic_load(&sh->on_error);
	rewinddir(fds);
	for (struct dirent *e; (e = readdir(fds));) {
		char *end;
		long n = strtol(e->d_name, &end, 10);
		if (*end || n < 3)
			continue;
		for (int i = 0; i < SENTINEL_MAX_GROUPS; i++)
			if (groups[i].fd >= 0)
				reply(groups[i].fd, (int)n, verdict);
	}
}

/* False: the daemon is gone (its end of the socket closed). */
static bool on_message(int sock, struct watched_group *groups)
{
	struct sentinel_msg msg;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return false;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int fd = -1;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (msg.op == 3)
		_exit(0);
	struct watched_group *g = group_by_id(groups, msg.id);
	if (msg.op == 2 && g) {
		close(g->fd);
		g->fd = -1;
	}
	for (int i = 0; (msg.op == 1 || msg.op == 4) && fd >= 0 && i < SENTINEL_MAX_GROUPS; i++) {
		if (groups[i].fd < 0) {
			groups[i] = (struct watched_group){ .id = msg.id, .fd = fd,
							    .answer_only = msg.op == 4 };
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return true;
}

/* Nothing in flight: no event awaiting an answer, no group with an unread
 * event, and the reader has read nothing for a second. */
static bool sentinel_quiet(struct gk_shared *sh, const struct watched_group *groups)
{
	if (gk_mono_us() - atomic_load(&sh->reader_beat_us) < SENTINEL_QUIET_US)
		return false;
	for (int i = 0; i < SENTINEL_MAX_GROUPS; i++)
		if (groups[i].fd >= 0 && groups[i].readable_since_us)
			return false;
	for (unsigned i = 0; i < sh->n_slots; i++)
		if (slot_awaits_answer(atomic_load(&sh->slots[i].state)))
			return false;
	return true;
}

static int quiet_ms(struct gk_shared *sh)
{
	int64_t ms = atomic_load(&sh->timeout_us) / 1000;
	return ms < SENTINEL_TICK_MS ? SENTINEL_TICK_MS : ms > QUIET_MAX_MS ? QUIET_MAX_MS : (int)ms;
}

static int busy_tick_ms(struct gk_shared *sh)
{
	int64_t ms = atomic_load(&sh->timeout_us) / 1000 / 32;
	return ms < SENTINEL_TICK_MS ? SENTINEL_TICK_MS
	       : ms > SENTINEL_TICK_MAX_MS ? SENTINEL_TICK_MAX_MS : (int)ms;
}

static void sentinel_main(int sock, pid_t daemon_pid, struct gk_shared *sh)
{
	struct watched_group groups[SENTINEL_MAX_GROUPS];
	int pidfd = (int)syscall(SYS_pidfd_open, daemon_pid, 0);
	char stat_path[64];
	snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)daemon_pid);
	int stat_fd = open(stat_path, O_RDONLY | O_CLOEXEC);
	snprintf(stat_path, sizeof(stat_path), "/proc/%d/fd", (int)daemon_pid);
	DIR *fds = opendir(stat_path);
	prctl(PR_SET_NAME, "gk-sentinel");
	if (pidfd < 0 || stat_fd < 0 || !fds || getppid() != daemon_pid)
		_exit(0);
	for (int i = 0; i < SENTINEL_MAX_GROUPS; i++)
		groups[i] = (struct watched_group){ .fd = -1 };
	for (;;) {
		struct pollfd p[2 + SENTINEL_MAX_GROUPS] = {
			{ .fd = pidfd, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
		for (int i = 0; i < SENTINEL_MAX_GROUPS; i++)
			p[2 + i] = (struct pollfd){ .fd = polled_fd(&groups[i]), .events = POLLIN };
		/* Busy: wait on the daemon and its messages only, and sample the
		 * groups' readability once a tick (waking on every event would take
		 * CPU from the very execs we guard). Quiet: a new event wakes us,
		 * and otherwise one look a deadline (at most QUIET_MAX_MS) finds
		 * events a frozen reader read but never entered in a slot
		 * (answer_unlisted): an idle daemon must not cost the host a
		 * wake-up every 20 ms. */
		bool quiet = sentinel_quiet(sh, groups);
		int n_fds = quiet ? 2 + SENTINEL_MAX_GROUPS : 2;
		if (poll(p, n_fds, quiet ? quiet_ms(sh) : busy_tick_ms(sh)) < 0 && errno != EINTR)
			_exit(1);
		if (p[0].revents || (p[1].revents && !on_message(sock, groups))) {
			allow_everything(sh, groups);   /* the daemon died: release, on record */
			_exit(0);
		}
		for (int i = 0; i < SENTINEL_MAX_GROUPS; i++)
			p[2 + i].fd = polled_fd(&groups[i]);
		poll(p + 2, SENTINEL_MAX_GROUPS, 0);
		if (daemon_exiting(stat_fd)) {
			allow_everything(sh, groups);
			continue;
		}
		int64_t now = gk_mono_us();
		sweep_slots(sh, groups, now);
		answer_unlisted(sh, groups, fds, now);
		for (int i = 0; i < SENTINEL_MAX_GROUPS; i++) {
			if (polled_fd(&groups[i]) < 0)
				continue;
			bool readable = p[2 + i].revents & POLLIN;
			if (!readable)
				groups[i].readable_since_us = 0;
			else if (!groups[i].readable_since_us)
				groups[i].readable_since_us = now;
			else
				take_over_reading(sh, &groups[i], now);
		}
	}
}

/* Fork before any thread exists: the child keeps only its socket (and the
 * shared mapping); every other inherited descriptor is closed. */
struct gk_sentinel *sentinel_start(struct gk_shared *sh, char *err, size_t errlen)
{
	int sv[2];
	struct gk_sentinel *s = calloc(1, sizeof(*s));
	if (!s || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "sentinel: %s", strerror(errno));
		free(s);
		return NULL;
	}
	pid_t parent = getpid();
	s->pid = fork();
	if (s->pid == 0) {
		/* Before the descriptors go: syslog's own would otherwise be a
		 * number that a group or an event fd takes later. It reconnects
		 * when the sentinel logs. */
		closelog();
		if (dup2(sv[1], 3) < 0)
			_exit(1);
		syscall(SYS_close_range, 4, ~0U, 0);
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		sentinel_main(3, parent, sh);
	}
	close(sv[1]);
	if (s->pid < 0) {
		snprintf(err, errlen, "sentinel: fork: %s", strerror(errno));
		close(sv[0]);
		free(s);
		return NULL;
	}
	s->sock = sv[0];
	return s;
}

static int send_msg(struct gk_sentinel *s, uint32_t op, uint32_t id, int fd)
{
	struct sentinel_msg msg = { .op = op, .id = id };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(s->sock, &mh, MSG_NOSIGNAL) == sizeof(msg) ? 0 : -1;
}

uint32_t sentinel_add_group(struct gk_sentinel *s, int group_fd, bool answer_only)
{
	if (!s)
		return 0;
	uint32_t id = ++s->next_id;
	if (send_msg(s, answer_only ? 4 : 1, id, group_fd) < 0) {
		log_msg(GK_LOG_ERR, "error=\"cannot hand a group to the sentinel\" errno=%d", errno);
		return 0;
	}
	return id;
}

void sentinel_drop_group(struct gk_sentinel *s, uint32_t id)
{
	if (s && id)
		send_msg(s, 2, id, -1);
}

bool sentinel_alive(const struct gk_sentinel *s)
{
	return s && kill(s->pid, 0) == 0;
}

pid_t sentinel_pid(const struct gk_sentinel *s)
{
	return s ? s->pid : -1;
}

void sentinel_end(struct gk_sentinel *s)
{
	if (!s)
		return;
	send_msg(s, 3, 0, -1);
	waitpid(s->pid, NULL, 0);
}

void sentinel_stop(struct gk_sentinel *s)
{
	if (!s)
		return;
	sentinel_end(s);
	close(s->sock);
	free(s);
}
