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

#endif
