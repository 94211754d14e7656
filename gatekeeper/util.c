/* Small helpers that several daemon modules share. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatekeeper/util.h"

size_t gk_inode_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	return (size_t)(h ^ (h >> 31));
}

/* The kernel's name for a /proc link (relative to dir, or AT_FDCWD): ""
 * when it cannot say (a process that has exited, an fd closed meanwhile). */
static void proc_readlink(int dir, const char *link, char *out, size_t size)
{
	ssize_t n = readlinkat(dir, link, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

/* This process's /proc/PID/fd, opened once: a name looked up there is one
 * path component instead of four (/proc, self, PID, fd), on every miss
 * before the reply. It is global because what it names is: the process's
 * one fd table. A forked child forgets it (it names the parent's table)
 * and opens its own. */
static atomic_int fd_dir = -1;
static pthread_once_t fd_dir_once = PTHREAD_ONCE_INIT;

static void fd_dir_forget(void)
{
	int dir = atomic_exchange(&fd_dir, -1);
	if (dir >= 0)
		close(dir);
}

static void fd_dir_forget_in_children(void)
{
	pthread_atfork(NULL, NULL, fd_dir_forget);
}

static int proc_fd_dir(void)
{
	int dir = atomic_load(&fd_dir);
	if (dir >= 0)
		return dir;
	pthread_once(&fd_dir_once, fd_dir_forget_in_children);
	dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -1;
	int none = -1;
	if (atomic_compare_exchange_strong(&fd_dir, &none, dir))
		return dir;
	close(dir);   /* another thread's is in place (none now holds it) */
	return none;
}

void gk_fd_path(int fd, char *out, size_t size)
{
	char link[64];
	int dir = proc_fd_dir();
	if (dir < 0) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		dir = AT_FDCWD;
	} else {
		snprintf(link, sizeof(link), "%d", fd);
	}
	proc_readlink(dir, link, out, size);
}

void gk_pid_exe(pid_t pid, char *out, size_t size)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	proc_readlink(AT_FDCWD, link, out, size);
}

int gk_pid_uid(pid_t pid, uid_t *uid)
{
	char path[64], text[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (pid <= 0) {
		errno = ESRCH;
		return -1;
	}
	if (gk_read_text(path, text, sizeof(text)) <= 0)
		return -1;   /* errno: ENOENT once the process is reaped */
	const char *line = strstr(text, "\nUid:\t");
	char *end;
	unsigned long v = line ? strtoul(line + 6, &end, 10) : 0;
	if (!line || end == line + 6 || v >= (uid_t)-1) {
		errno = EINVAL;
		return -1;
	}
	*uid = (uid_t)v;
	return 0;
}

long gk_read_number(const char *path)
{
	long v;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

ssize_t gk_read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 && size > 0 ? read(fd, buf, size - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (size > 0)
		buf[n > 0 ? n : 0] = '\0';
	return n;
}

int gk_replace_file(const char *path, const void *buf, size_t len, bool durable)
{
	char tmp[4200];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	int rc = write(fd, buf, len) == (ssize_t)len && (!durable || fsync(fd) == 0) ? 0 : -1;
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) == 0)
		return 0;
	int saved = errno;
	unlink(tmp);
	errno = saved;
	return -1;
}

int gk_linger_tick_ms(const struct gk_linger *l)
{
	int ms = GK_LINGER_FIRST_MS;
	for (unsigned i = 0; i < l->quiet_ticks && ms < GK_LINGER_MAX_MS; i++)
		ms *= 2;
	return ms < GK_LINGER_MAX_MS ? ms : GK_LINGER_MAX_MS;
}

bool gk_linger_after(struct gk_linger *l, bool found, int tick_ms)
{
	if (found) {
		*l = (struct gk_linger){ .on = true };
		return true;
	}
	if (!l->on)
		return false;
	l->quiet_ticks++;
	l->quiet_ms += (unsigned)tick_ms;
	if (l->quiet_ms >= GK_LINGER_MS)
		*l = (struct gk_linger){ 0 };
	return l->on;
}
