/* Small helpers that several daemon modules share (util.c). */
#ifndef GK_UTIL_H
#define GK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A well-mixed hash of an inode's identity, for tables keyed by inode. */
size_t gk_inode_hash(dev_t dev, ino_t ino);
/* The kernel's name for an fd (/proc/self/fd/N), "" if it cannot say. */
void gk_fd_path(int fd, char *out, size_t size);
/* A process's program (/proc/PID/exe), "" if it cannot say. */
void gk_pid_exe(pid_t pid, char *out, size_t size);
/* A process's real uid (/proc/PID/status); -1 if it cannot say (errno
 * ENOENT: no such process, reaped). */
int gk_pid_uid(pid_t pid, uid_t *uid);
/* The number a file such as a sysctl's holds, -1 if it is missing,
 * unreadable or holds none. */
long gk_read_number(const char *path);
/* A small file's text, at most size - 1 bytes, NUL-terminated; not through
 * a symbolic link. The bytes read, or -1 (buf then holds ""). */
ssize_t gk_read_text(const char *path, char *buf, size_t size);
/* path's contents replaced whole: written to path.tmp (mode 0600), synced
 * first when durable, then renamed over path, so that a crash leaves the
 * old contents or the new, never half. 0, or -1 with errno set (no .tmp is
 * left behind). */
int gk_replace_file(const char *path, const void *buf, size_t len, bool durable);

/* A thread that gathers work (the audit writer, the recorder) is not woken
 * per item: after work it lingers, waking by itself to take what came.
 * Each quiet tick doubles the next, from GK_LINGER_FIRST_MS up to
 * GK_LINGER_MAX_MS, and a quiet GK_LINGER_MS ends the lingering: a stream
 * of work is taken every 10 ms, a trickle costs a handful of wake-ups per
 * item instead of a hundred (each one a context switch taken from the
 * execs on a small or emulated machine). */
#define GK_LINGER_FIRST_MS 10
#define GK_LINGER_MAX_MS 160
#define GK_LINGER_MS 1000
struct gk_linger {
	bool on;                     /* lingering: the thread wakes by itself */
	unsigned quiet_ticks, quiet_ms;
};
/* The next tick's length while lingering. */
int gk_linger_tick_ms(const struct gk_linger *l);
/* After a wait of tick_ms (a tick, or a sleep until woken) that found work
 * or not: whether to linger now. Work found starts or restarts it at
 * 10 ms; a quiet wait while not lingering leaves it off. */
bool gk_linger_after(struct gk_linger *l, bool found, int tick_ms);

#endif
