/* Small helpers that several daemon modules share. */
#include <stdio.h>
#include <unistd.h>

#include <stdint.h>

#include "gatekeeper/util.h"

size_t gk_inode_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	return (size_t)(h ^ (h >> 31));
}

/* The kernel's name for a /proc link: "" when it cannot say (a process
 * that has exited, an fd closed meanwhile). */
static void proc_readlink(const char *link, char *out, size_t size)
{
	ssize_t n = readlink(link, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

void gk_fd_path(int fd, char *out, size_t size)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	proc_readlink(link, out, size);
}

void gk_pid_exe(pid_t pid, char *out, size_t size)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	proc_readlink(link, out, size);
}
