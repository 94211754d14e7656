/* The ClamAV engine as the daemon sees it: a supervisor of gatekeeper-scand
 * processes (scand.c). The daemon never maps libclamav and never parses a
 * file format: it passes each file's descriptor to a confined process and
 * reads back one fixed-size result, which it checks like any hostile input.
 *
 * One signature set = one zygote process (it loaded the signatures) and up
 * to `processes` workers forked from it, one scan each at a time, so scans
 * run in parallel as they did in process and a slow file holds up only its
 * own worker. A reload starts a new zygote beside the old one (scanner.c
 * swaps the sets); the old processes end when their last scan is done.
 *
 * A worker that crashes, is killed (OOM killer, kill -9), sends garbage or
 * does not answer within the scan's time limit (+ SCAN_GRACE_MS) is killed
 * through a pidfd, reaped by its zygote, and its scan is a SCAN_ERROR that
 * says why; the next scan forks a fresh worker. If the zygote itself dies
 * the set reports itself broken and scanner.c reloads at once.
 *
 * Invariant 3 (never exec while holding events): a load forks and execs
 * gatekeeper-scand, which raises a FAN_OPEN_EXEC_PERM event when the
 * executable sits on a watched filesystem. Loads run on scanner.c's reload
 * thread (the daemon opens this engine with load_in_background), a thread
 * that never reads or holds permission events, so the daemon's event
 * threads stay free to answer that exec while this thread waits for the
 * HELLO. fexecve of a descriptor opened before marking would not help:
 * execveat opens the file again and raises the same event. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scanner/engine.h"
#include "scanner/scand.h"

#define MAX_PROCS 64u
#define DEFAULT_PROCS 4u
#define SCAN_GRACE_MS 250u
#define HELLO_TIMEOUT_MS (10 * 60 * 1000)
#define REAP_TIMEOUT_MS 2000

/* The zygotes between their fork and their HELLO: their own exec (and its
 * interpreter's) is this scanner's, which the daemon allows without
 * judging (scanner_owns_pid), or a policy that wants every new program
 * scanned would wait for the very scanner it is starting. */
#define MAX_STARTING 4
struct starting {
	pthread_mutex_t lock;
	pid_t pid[MAX_STARTING];
};

struct proc_cfg {
	char *scand, *user, *db_dir, *tmp_dir;
	struct scanner_limits limits;
	bool no_archives;
	unsigned processes, memory_mb;
	struct starting *starting;   /* mutable through the const cfg */
};

static void note_starting(struct starting *st, pid_t pid, pid_t replace)
{
	pthread_mutex_lock(&st->lock);
	for (unsigned i = 0; i < MAX_STARTING; i++)
		if (st->pid[i] == replace) {
			st->pid[i] = pid;
			break;
		}
	pthread_mutex_unlock(&st->lock);
}

struct worker {
	bool used, busy;
	pid_t pid;
	int fd, pidfd;
};

struct pool {
	const struct proc_cfg *cfg;
	pid_t zpid;
	int zfd;
	pthread_mutex_t ctl;           /* one zygote request and its reply at a time */
	pthread_mutex_t lock;          /* guards w[] and starting */
	pthread_cond_t freed;
	struct worker w[MAX_PROCS];
	unsigned starting;
	atomic_bool broken;
	atomic_uint_fast64_t next_id;
};

/* ---- starting the zygote ---- */

static void fmt_u64(char *buf, size_t size, uint64_t v)
{
	snprintf(buf, size, "%llu", (unsigned long long)v);
}

static pid_t spawn_zygote(const struct proc_cfg *c, int *ctl, char *err, size_t errlen)
{
	if (access(c->scand, X_OK) < 0) {
		scanner_line(err, errlen, "%s: cannot execute the scanner: %s", c->scand,
			     strerror(errno));
		return -1;
	}
	char n[7][24];
	fmt_u64(n[0], sizeof(n[0]), (uint64_t)getpid());
	fmt_u64(n[1], sizeof(n[1]), c->memory_mb);
	fmt_u64(n[2], sizeof(n[2]), c->limits.max_file_size);
	fmt_u64(n[3], sizeof(n[3]), c->limits.max_scan_size);
	fmt_u64(n[4], sizeof(n[4]), c->limits.max_scan_ms);
	fmt_u64(n[5], sizeof(n[5]), c->limits.max_recursion);
	fmt_u64(n[6], sizeof(n[6]), c->limits.max_files);
	const char *argv[32] = { c->scand, "--parent", n[0], "--db", c->db_dir, "--memory-mb", n[1],
				 "--max-file-size", n[2], "--max-scan-size", n[3], "--max-scan-ms", n[4],
				 "--max-recursion", n[5], "--max-files", n[6] };
	size_t k = 17;
	if (c->user)
		argv[k++] = "--user", argv[k++] = c->user;
	if (c->tmp_dir)
		argv[k++] = "--tmp", argv[k++] = c->tmp_dir;
	if (c->no_archives)
		argv[k++] = "--no-archives";
	char test_env[128];
	const char *hook = getenv(SCAND_TEST_ENV);
	const char *envp[2] = { NULL, NULL };
	if (hook) {
		snprintf(test_env, sizeof(test_env), "%s=%s", SCAND_TEST_ENV, hook);
		envp[0] = test_env;
	}
	int sv[2], gate[2] = { -1, -1 }, msgs[2];   /* msgs: its stderr (scand_io.c) */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		scanner_line(err, errlen, "clamav: socketpair: %s", strerror(errno));
		return -1;
	}
	if (pipe2(gate, O_CLOEXEC) < 0 || pipe2(msgs, O_CLOEXEC) < 0) {
		scanner_line(err, errlen, "clamav: pipe: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			close(sv[i]);
			if (gate[i] >= 0)
				close(gate[i]);
		}
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0)
		scand_exec(c->scand, (char *const *)argv, (char *const *)envp, sv[1], msgs[1],
			   gate[0]);
	close(sv[1]);
	close(gate[0]);
	close(msgs[1]);
	if (pid > 0) {
		note_starting(c->starting, pid, 0);
		(void)!write(gate[1], "", 1);
		if (scand_relay_start(msgs[0], pid) < 0)
			scanner_log(SCANNER_LOG_ERR, "clamav: the scanner process's messages are "
				    "lost: cannot start their relay");
	} else {
		close(msgs[0]);
	}
	close(gate[1]);
	if (pid < 0) {
		scanner_line(err, errlen, "clamav: cannot start the scanner: fork: %s", strerror(errno));
		close(sv[0]);
		return -1;
	}
	*ctl = sv[0];
	return pid;
}

static void end_zygote(pid_t pid, int ctl, char *why, size_t whylen)
{
	if (ctl >= 0)
		close(ctl);
	kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (why)
		scand_describe_exit(status, why, whylen);
}

/* ---- signature sets: a zygote that loaded them ---- */

static int start_worker(struct pool *p, struct worker *w, char *err, size_t errlen);

static void *proc_load(const void *cfgp, unsigned *n_sigs, char *err, size_t errlen)
{
	const struct proc_cfg *c = cfgp;
	struct pool *p = calloc(1, sizeof(*p));
	if (!p) {
		scanner_line(err, errlen, "clamav: out of memory");
		return NULL;
	}
	p->cfg = c;
	p->zpid = spawn_zygote(c, &p->zfd, err, errlen);
	if (p->zpid < 0) {
		free(p);
		return NULL;
	}
	struct scand_msg m;
	int rc = scand_recv(p->zfd, &m, NULL, HELLO_TIMEOUT_MS);
	note_starting(c->starting, 0, p->zpid);   /* it has exec'd (or is dead) */
	if (rc < 0 || m.op != SCAND_HELLO) {
		char why[128];
		int e = errno;
		end_zygote(p->zpid, p->zfd, why, sizeof(why));
		scanner_line(err, errlen, "clamav: the scanner process %s before it loaded: %s",
			     e == ETIMEDOUT ? "hung" : "ended", why);
		free(p);
		return NULL;
	}
	if (m.a != 0) {
		end_zygote(p->zpid, p->zfd, NULL, 0);
		scanner_line(err, errlen, "%s", m.text[0] ? m.text : "clamav: the scanner failed to load");
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->ctl, NULL);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	*n_sigs = m.b > 0 ? (unsigned)m.b : 0;
	/* One worker before the swap: the first scan on a new set does not
	 * wait for a fork of a zygote that holds a large engine. */
	struct worker w = { .used = true };
	if (start_worker(p, &w, err, errlen) == 0)
		p->w[0] = w;
	if (errlen)
		err[0] = '\0';   /* a failed fork here is retried by the first scan */
	return p;
}

static void proc_unload(void *set)
{
	struct pool *p = set;
	for (unsigned i = 0; i < MAX_PROCS; i++) {
		if (!p->w[i].used)
			continue;
		syscall(SYS_pidfd_send_signal, p->w[i].pidfd, SIGKILL, NULL, 0);
		close(p->w[i].pidfd);
		close(p->w[i].fd);
	}
	/* The workers die with their zygote (PDEATHSIG). */
	end_zygote(p->zpid, p->zfd, NULL, 0);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->ctl);
	free(p);
}

static bool proc_broken(void *set)
{
	return atomic_load(&((struct pool *)set)->broken);
}

/* ---- workers ---- */

/* The worker is the zygote's child (checked, since the zygote is not
 * trusted with the daemon's kill), held by a pidfd from here on. */
static int adopt(struct pool *p, pid_t pid, struct worker *w)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	FILE *f = pidfd >= 0 ? fopen(path, "re") : NULL;
	char *paren = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	int ppid = -1;
	if (f)
		fclose(f);
	if (!paren || sscanf(paren, ") %*c %d", &ppid) != 1 || ppid != p->zpid) {
		if (pidfd >= 0)
			close(pidfd);
		return -1;
	}
	w->pid = pid;
	w->pidfd = pidfd;
	return 0;
}

static int zygote_call(struct pool *p, uint32_t op, int32_t a, struct scand_msg *reply, int *fd,
		       uint32_t want)
{
	pthread_mutex_lock(&p->ctl);
	int rc = scand_send(p->zfd, op, a, 0, 0, NULL, -1);
	if (rc == 0)
		rc = scand_recv(p->zfd, reply, fd, REAP_TIMEOUT_MS);
	if (rc == 0 && reply->op != want) {
		if (fd && *fd >= 0)
			close(*fd);
		errno = EBADMSG;
		rc = -1;
	}
	if (rc < 0)
		atomic_store(&p->broken, true);
	pthread_mutex_unlock(&p->ctl);
	return rc;
}

static int start_worker(struct pool *p, struct worker *w, char *err, size_t errlen)
{
	struct scand_msg m;
	int fd = -1;
	if (zygote_call(p, SCAND_FORK, 0, &m, &fd, SCAND_WORKER) < 0) {
		scanner_line(err, errlen, "scanner unavailable: its supervisor process %s",
			     errno == ETIMEDOUT ? "hangs" : "died");
		return -1;
	}
	if (m.a <= 0 || fd < 0 || adopt(p, m.a, w) < 0) {
		if (fd >= 0)
			close(fd);
		scanner_line(err, errlen, "cannot start a scanner process: %s",
			     m.text[0] ? m.text : "bad answer from the supervisor");
		return -1;
	}
	w->fd = fd;
	return 0;
}

/* A free worker (slot index), forking one when none is free and the pool
 * is not full; waits for one otherwise. -1 with err. */
static int checkout(struct pool *p, char *err, size_t errlen)
{
	pthread_mutex_lock(&p->lock);
	for (;;) {
		unsigned used = 0;
		for (unsigned i = 0; i < MAX_PROCS; i++) {
			if (p->w[i].used && !p->w[i].busy) {
				p->w[i].busy = true;
				pthread_mutex_unlock(&p->lock);
				return (int)i;
			}
			used += p->w[i].used;
		}
		if (used + p->starting < p->cfg->processes)
			break;
		pthread_cond_wait(&p->freed, &p->lock);
	}
	p->starting++;
	pthread_mutex_unlock(&p->lock);
	struct worker w = { .used = true, .busy = true };
	int rc = start_worker(p, &w, err, errlen);
	pthread_mutex_lock(&p->lock);
	p->starting--;
	int slot = -1;
	for (unsigned i = 0; rc == 0 && i < MAX_PROCS && slot < 0; i++)
		if (!p->w[i].used) {
			p->w[i] = w;
			slot = (int)i;
		}
	pthread_cond_broadcast(&p->freed);
	pthread_mutex_unlock(&p->lock);
	return slot;
}

static void checkin(struct pool *p, int slot)
{
	pthread_mutex_lock(&p->lock);
	p->w[slot].busy = false;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

/* Kill the worker, learn from its zygote how it ended, free the slot. */
static void retire(struct pool *p, int slot, char *why, size_t whylen)
{
	struct worker *w = &p->w[slot];
	syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
	struct scand_msg m;
	if (zygote_call(p, SCAND_REAP, w->pid, &m, NULL, SCAND_REAPED) == 0 && m.a == w->pid &&
	    m.b != -1 && why)
		scand_describe_exit(m.b, why, whylen);
	close(w->pidfd);
	close(w->fd);
	pthread_mutex_lock(&p->lock);
	memset(w, 0, sizeof(*w));
	pthread_cond_broadcast(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

static void proc_scan(const void *cfgp, void *set, int fd, const unsigned char *sha256,
		      unsigned max_ms, struct scan_result *out)
{
	(void)sha256;
	const struct proc_cfg *c = cfgp;
	struct pool *p = set;
	out->status = SCAN_ERROR;
	int own = scand_file_for_scanner(fd, out->detail, sizeof(out->detail));
	int slot = own < 0 ? -1 : checkout(p, out->detail, sizeof(out->detail));
	if (slot < 0) {
		if (own >= 0)
			close(own);
		return;
	}
	unsigned limit = max_ms && max_ms < c->limits.max_scan_ms ? max_ms : c->limits.max_scan_ms;
	uint64_t id = atomic_fetch_add(&p->next_id, 1) + 1;
	struct scand_msg m;
	int rc = scand_send(p->w[slot].fd, SCAND_SCAN, 0, 0, id, NULL, own);
	close(own);
	if (rc == 0)
		rc = scand_recv(p->w[slot].fd, &m, NULL, (int)(limit + SCAN_GRACE_MS));
	if (rc == 0 && m.op == SCAND_RESULT && m.id == id && m.a >= SCAN_CLEAN && m.a <= SCAN_ERROR) {
		out->status = (enum scan_status)m.a;
		scanner_line(out->detail, sizeof(out->detail), "%s", m.text);
		checkin(p, slot);
		return;
	}
	int e = rc == 0 ? EBADMSG : errno;
	char how[128] = "";
	retire(p, slot, how, sizeof(how));
	if (e == ETIMEDOUT)
		scanner_line(out->detail, sizeof(out->detail),
			     "limit exceeded: max_scan_ms (no answer within %u ms, "
			     "scanner process killed)", limit + SCAN_GRACE_MS);
	else if (e == EBADMSG)
		scanner_line(out->detail, sizeof(out->detail),
			     "scanner process sent a malformed answer (killed)");
	else
		scanner_line(out->detail, sizeof(out->detail), "scanner process %s",
			     how[0] ? how : "died");
}

/* ---- watching the database directory (without libclamav) ---- */

/* A fingerprint of the directory and of every file in it (name, inode,
 * size, mtime): freshclam's renames, new, removed and rewritten files all
 * change it. */
struct dir_watch {
	uint64_t sum;
};

static uint64_t mix(uint64_t h, const void *data, size_t len)
{
	const unsigned char *b = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static int fingerprint(const char *dir, uint64_t *out)
{
	DIR *d = opendir(dir);
	struct stat sb;
	if (!d || fstat(dirfd(d), &sb) < 0) {
		if (d)
			closedir(d);
		return -1;
	}
	uint64_t h = mix(0xcbf29ce484222325ull, &sb.st_ino, sizeof(sb.st_ino));
	h = mix(h, &sb.st_mtim, sizeof(sb.st_mtim));
	uint64_t sum = 0;   /* order-free: readdir's order may change */
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &sb, 0) < 0)
			continue;
		uint64_t f = mix(0xcbf29ce484222325ull, e->d_name, strlen(e->d_name));
		f = mix(f, &sb.st_ino, sizeof(sb.st_ino));
		f = mix(f, &sb.st_size, sizeof(sb.st_size));
		f = mix(f, &sb.st_mtim, sizeof(sb.st_mtim));
		sum += f;
	}
	closedir(d);
	*out = h ^ sum;
	return 0;
}

static void *proc_watch_start(const void *cfgp)
{
	const struct proc_cfg *c = cfgp;
	struct dir_watch *w = calloc(1, sizeof(*w));
	if (w && fingerprint(c->db_dir, &w->sum) < 0) {
		free(w);
		return NULL;
	}
	return w;
}

static bool proc_watch_changed(const void *cfgp, void *watch)
{
	const struct proc_cfg *c = cfgp;
	uint64_t now;
	return fingerprint(c->db_dir, &now) < 0 || now != ((struct dir_watch *)watch)->sum;
}

static void proc_watch_free(void *watch)
{
	free(watch);
}

static bool proc_owns_pid(const void *cfgp, pid_t pid)
{
	const struct proc_cfg *c = cfgp;
	bool mine = false;
	pthread_mutex_lock(&c->starting->lock);
	for (unsigned i = 0; i < MAX_STARTING && pid > 0; i++)
		mine |= c->starting->pid[i] == pid;
	pthread_mutex_unlock(&c->starting->lock);
	return mine;
}

static void proc_cfg_free(void *cfgp)
{
	struct proc_cfg *c = cfgp;
	if (!c)
		return;
	if (c->starting)
		pthread_mutex_destroy(&c->starting->lock);
	free(c->starting);
	free(c->scand);
	free(c->user);
	free(c->db_dir);
	free(c->tmp_dir);
	free(c);
}

static const struct engine_ops proc_ops = {
	.name = "clamav",
	.load = proc_load,
	.scan = proc_scan,
	.unload = proc_unload,
	.watch_start = proc_watch_start,
	.watch_changed = proc_watch_changed,
	.watch_free = proc_watch_free,
	.cfg_free = proc_cfg_free,
	.broken = proc_broken,
	.owns_pid = proc_owns_pid,
};

/* gatekeeper-scand beside the running program (the build tree), else in
 * ../libexec/gatekeeper/ from it (an installed /usr/sbin/gatekeeperd). */
static char *find_scand(void)
{
	char path[PATH_MAX + 64];
	if (scanner_path_from_self("gatekeeper-scand", path, sizeof(path)) < 0)
		return strdup("/usr/libexec/gatekeeper/gatekeeper-scand");
	if (access(path, X_OK) == 0)
		return strdup(path);
	scanner_path_from_self("../libexec/gatekeeper/gatekeeper-scand", path, sizeof(path));
	return strdup(path);
}

struct scanner *scanner_clamav_open(const struct scanner_clamav_config *in, char *err,
				    size_t errlen)
{
	static const struct scanner_clamav_config defaults = { .db_dir = NULL };
	if (!in)
		in = &defaults;
	struct proc_cfg *c = calloc(1, sizeof(*c));
	if (!c) {
		scanner_line(err, errlen, "clamav: out of memory");
		return NULL;
	}
	if (scanner_limits_resolve(&in->limits, &c->limits, err, errlen) < 0) {
		proc_cfg_free(c);
		return NULL;
	}
	c->no_archives = in->no_archives;
	c->processes = in->processes ? in->processes : DEFAULT_PROCS;
	if (c->processes > MAX_PROCS)
		c->processes = MAX_PROCS;
	c->memory_mb = in->max_memory_mb ? in->max_memory_mb : SCAND_DEFAULT_MEMORY_MB;
	c->db_dir = strdup(in->db_dir && in->db_dir[0] ? in->db_dir : SCANNER_CLAMAV_DEFAULT_DB);
	c->scand = in->scand_path ? strdup(in->scand_path) : find_scand();
	c->user = in->user ? strdup(in->user) : NULL;
	c->tmp_dir = in->tmp_dir ? strdup(in->tmp_dir) : NULL;
	c->starting = calloc(1, sizeof(*c->starting));
	if (c->starting)
		pthread_mutex_init(&c->starting->lock, NULL);
	if (!c->db_dir || !c->scand || (in->user && !c->user) || (in->tmp_dir && !c->tmp_dir) ||
	    !c->starting) {
		scanner_line(err, errlen, "clamav: out of memory");
		proc_cfg_free(c);
		return NULL;
	}
	return scanner_start(&proc_ops, c, in->check_interval_ms, in->load_in_background,
			     &in->on_swap, err, errlen);
}
