/* The event tests' fixture (test_events.c, test_recorder.c): a socketpair
 * stands in for the fanotify group; the test writes fanotify_event_metadata
 * records (whose fds are real files of this process) into one end and reads
 * the daemon's fanotify_responses from it. Include after cmocka.h. */
#ifndef GK_TEST_EVENTS_UTIL_H
#define GK_TEST_EVENTS_UTIL_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/kcache.h"
#include "settle_util.h"
#include "test_scanner_util.h"

struct fixture {
	struct gk_daemon d;
	struct fan_group g;
	int peer;                 /* the test's end: events in, responses out */
	char *dir;
};

static atomic_bool stall_release;

/* A judge that never finishes on its own: only the watchdog's cancel or the
 * test's release ends it. */
static inline void stalled_judge(struct gk_daemon *d, int fd, struct judgement *j,
			  const atomic_bool *cancel)
{
	(void)fd;
	while (!atomic_load(cancel) && !atomic_load(&stall_release))
		usleep(1000);
	j->decision = (struct gk_decision){ .verdict = GK_VERDICT_ALLOW,
					    .source = GK_SOURCE_DEFAULT };
	(void)d;
}

/* Stalls only the judgement of the file whose inode is stall_ino; with
 * stall_past_cancel, as a read a server holds does, past the deadline's
 * cancel too. */
static ino_t stall_ino;
static bool stall_past_cancel;
static inline void judge_stalling_one_file(struct gk_daemon *d, int fd, struct judgement *j,
					   const atomic_bool *cancel)
{
	static const atomic_bool never = false;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_ino == stall_ino)
		stalled_judge(d, fd, j, stall_past_cancel ? &never : cancel);
	else
		judge_fully(d, fd, j, cancel);
}

static inline struct fixture *setup_with(const char *policy_tail, bool perm, unsigned workers,
				  unsigned max_pending)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gk_policy_errors errs = { 0 };
	char text[1024], err[256];
	int sv[2];
	assert_non_null(f);
	f->dir = scratch_dir();
	assert_non_null(f->dir);
	snprintf(text, sizeof(text), "mode: %s\nwatch: [%s]\n%s", perm ? "enforce" : "monitor",
		 f->dir, policy_tail);
	f->d.policy = policy_parse("test.yaml", text, strlen(text), &errs);
	if (!f->d.policy)
		fail_msg("policy: %s", errs.msg[0]);
	pthread_rwlock_init(&f->d.policy_lock, NULL);
	f->d.admin_gid = (gid_t)-1;
	f->d.admin = admin_rules_new();
	f->d.kc = kcache_open(-1, 0, false, KCACHE_BPF_NEVER);
	f->d.hashes = hash_cache_new();
	f->d.scanners = scan_set_for(&f->d, NULL, f->d.policy, err, sizeof(err));
	assert_non_null(f->d.admin);
	assert_non_null(f->d.kc);
	assert_non_null(f->d.hashes);
	assert_non_null(f->d.scanners);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	f->g = (struct fan_group){ .fd = sv[0], .perm = perm,
				   .mask = perm ? FAN_OPEN_EXEC_PERM : FAN_OPEN_EXEC };
	f->peer = sv[1];
	atomic_store(&stall_release, false);
	f->d.shared = sentinel_shared_new(max_pending + EVENTS_READ_BATCH);
	assert_non_null(f->d.shared);
	f->d.events = events_start(&f->d, workers);
	assert_non_null(f->d.events);
	return f;
}

static inline void teardown_fixture(struct fixture *f)
{
	atomic_store(&stall_release, true);
	events_stop(f->d.events, false);
	close(f->g.fd);
	close(f->peer);
	scan_set_put(f->d.scanners);
	hash_cache_free(f->d.hashes);
	sentinel_shared_free(f->d.shared);
	kcache_close(f->d.kc);
	admin_rules_free(f->d.admin);
	policy_free(f->d.policy);
	pthread_rwlock_destroy(&f->d.policy_lock);
	scratch_remove(f->dir);
	free(f);
}

/* A file in the watched directory; returns an fd open on it read-only, as
 * fanotify opens an event's file (a writer open would hold its execs). */
static inline int watched_file(struct fixture *f, const char *name, const char *content)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	int w = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	assert_true(w >= 0);
	assert_int_equal(write(w, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(close(w), 0);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Truncate the file open at fd to size, through a writer of its own. */
static inline int truncate_fd(int fd, off_t size)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	return truncate(self, size);
}

/* A writer of the file open at fd (-1 on error). */
static inline int writer_of_fd(int fd)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	return open(self, O_WRONLY | O_CLOEXEC);
}

/* A watched file whose digest the daemon already knows (in its hash
 * cache): sha receives it. Returns an fd open on the file. */
static inline int known_file(struct fixture *f, const char *name, const char *content,
			     unsigned char sha[GK_SHA256_LEN])
{
	int fd = watched_file(f, name, content);
	struct file_id id;
	settle_file(fd);
	assert_int_equal(identify_fd(f->d.hashes, fd, &id, sha), 0);
	return fd;
}

/* Send one event for (a dup of) file_fd, as asked by process pid; returns
 * the event's fd number. */
static inline int send_event_as(struct fixture *f, int file_fd, pid_t pid)
{
	int event_fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 3);
	assert_true(event_fd >= 0);
	struct fanotify_event_metadata m = {
		.event_len = sizeof(m), .vers = FANOTIFY_METADATA_VERSION,
		.metadata_len = sizeof(m), .mask = f->g.mask, .fd = event_fd, .pid = pid,
	};
	assert_int_equal(write(f->peer, &m, sizeof(m)), (ssize_t)sizeof(m));
	return event_fd;
}

static inline int send_event(struct fixture *f, int file_fd)
{
	return send_event_as(f, file_fd, getpid());
}

/* A child of ours (*child) that became uid; only root can ask. */
static inline pid_t process_as(uid_t uid, pid_t *child)
{
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t parent = getpid();
	*child = fork();
	assert_true(*child >= 0);
	if (*child == 0) {
		/* It ends with the test, whatever the test's end: after setresuid,
		 * which clears a death signal set before. */
		if (setresuid(uid, uid, uid) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
		    getppid() != parent || write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c;
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return *child;
}

/* A process of another user than this one's: pid 1 (root's) unless this
 * is root, then a child of ours that became nobody (*child). */
static inline pid_t other_users_process(pid_t *child)
{
	return getuid() != 0 ? 1 : process_as(65534, child);
}

static inline void other_users_process_end(pid_t child)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
}

/* The next response, or -1 if none comes within ms. */
static inline int read_response(struct fixture *f, int ms, struct fanotify_response *r)
{
	struct pollfd p = { .fd = f->peer, .events = POLLIN };
	if (poll(&p, 1, ms) != 1)
		return -1;
	assert_int_equal(read(f->peer, r, sizeof(*r)), (ssize_t)sizeof(*r));
	return 0;
}

static inline void expect_response(struct fixture *f, int event_fd, uint32_t response, int ms)
{
	struct fanotify_response r;
	if (read_response(f, ms, &r) < 0)
		fail_msg("no response for event fd %d within %d ms", event_fd, ms);
	assert_int_equal(r.fd, event_fd);
	assert_int_equal(r.response, response);
}

#endif
