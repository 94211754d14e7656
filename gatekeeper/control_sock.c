/* The control socket's file and access rules, and the daemon's side of the
 * control server: who may use it (root or the admin group, by SO_PEERCRED
 * and SO_PEERGROUPS) and which commands run. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gatekeeper/control.h"
#include "gatekeeper/gatekeeperd.h"

/* Refuse to replace the socket of a daemon that still answers on it. */
static int claim_path(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a socket", path);
		return -1;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int alive = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (probe >= 0)
		close(probe);
	if (alive) {
		snprintf(err, errlen, "%s: another gatekeeperd is running", path);
		return -1;
	}
	unlink(path);
	return 0;
}

/* Nothing in dir but the entry name: a directory for the socket alone. */
static bool holds_only(const char *dir, const char *name)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return false;
	bool only = true;
	for (struct dirent *e; only && (e = readdir(dh));)
		only = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, name);
	closedir(dh);
	return only;
}

void control_set_access(const char *path, gid_t admin_gid, gid_t prev_gid)
{
	bool group = admin_gid != (gid_t)-1;
	if (chown(path, 0, group ? admin_gid : 0) < 0 || chmod(path, group ? 0660 : 0600) < 0)
		log_msg(GK_LOG_WARN, "warning=\"cannot set the socket's access\" path=\"%s\" errno=%d",
			path, errno);
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	struct stat st;
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	/* Only a directory that is root's and private to us (as we create it):
	 * its group is root's or one we gave it (before this apply, or before a
	 * restart: then it holds our socket alone), never another's. */
	if (stat(dir, &st) < 0 || st.st_uid != 0 || (st.st_mode & 0027) ||
	    (st.st_gid != 0 && st.st_gid != admin_gid && st.st_gid != prev_gid &&
	     !holds_only(dir, slash + 1)))
		return;
	if (chown(dir, 0, group ? admin_gid : 0) == 0)
		chmod(dir, group ? 0750 : 0700);
}

int control_listen(const char *path, gid_t admin_gid, bool *made, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	*made = false;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long (limit %zu bytes)", path,
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (claim_path(path, err, errlen) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old = umask(0177);
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	*made = rc == 0;
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 512) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	control_set_access(path, admin_gid, (gid_t)-1);
	return fd;
}

/* ------------------------------------------------------ the daemon's side */

static bool peer_is_admin(void *ctx, const struct control_peer *peer)
{
	struct gk_daemon *d = ctx;
	if (!peer->known)
		return false;
	if (peer->uid == 0)
		return true;
	pthread_rwlock_rdlock(&d->policy_lock);
	gid_t admin = d->admin_gid;
	pthread_rwlock_unlock(&d->policy_lock);
	if (admin == (gid_t)-1)
		return false;
	if (peer->gid == admin)
		return true;
	for (size_t i = 0; i < peer->n_groups; i++)
		if (peer->groups[i] == admin)
			return true;
	return false;
}

static void daemon_dispatch(void *ctx, const char *verb, const char *arg, int fd,
			    const atomic_bool *cancel, struct proto_buf *reply)
{
	control_dispatch(ctx, verb, arg, fd, cancel, reply);
}

/* status reads counters and takes the policy lock for reading: safe beside
 * anything. The others share the store connection and apply.c's state, so
 * they keep running one at a time. */
static bool daemon_parallel(void *ctx, const char *verb)
{
	(void)ctx;
	return !strcmp(verb, "status");
}

/* Before any thread of the daemon starts: from here on d->control is valid
 * for control_publish until control_free, so the audit writer may publish
 * without a lock and without a race on the pointer. */
int control_init(struct gk_daemon *d, char *err, size_t errlen)
{
	struct control_ops ops = { .ctx = d, .authorize = peer_is_admin,
				   .dispatch = daemon_dispatch, .parallel = daemon_parallel };
	if (!d->control)
		d->control = control_server_new(d->opt.socket_path, &ops, NULL, err, errlen);
	return d->control ? 0 : -1;
}

int control_start(struct gk_daemon *d, char *err, size_t errlen)
{
	if (control_init(d, err, errlen) < 0)
		return -1;
	pthread_rwlock_rdlock(&d->policy_lock);
	gid_t gid = d->admin_gid;
	pthread_rwlock_unlock(&d->policy_lock);
	return control_server_start(d->control, gid, err, errlen);
}

void control_stop(struct gk_daemon *d)
{
	control_server_stop(d->control);
}

void control_free(struct gk_daemon *d)
{
	control_server_free(d->control);
	d->control = NULL;
}

void control_report(struct gk_daemon *d, struct proto_buf *reply)
{
	unsigned subscribers;
	unsigned long long dropped;
	control_sub_counts(d->control, &subscribers, &dropped);
	proto_num(reply, "subscribers", subscribers);
	proto_num(reply, "subscriber_records_dropped", (int64_t)dropped);
}
