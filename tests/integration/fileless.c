/* Test helper (host suite; the guest suites build it as gk-fileless): exec routes that bypass a file name, and the interpreter's
 * AT_EXECVE_CHECK question.
 *
 *   fileless memfd SRC       copy SRC into a memfd and fexecve it
 *   fileless tmpfile DIR SRC copy SRC into an unlinked O_TMPFILE file in DIR
 *                            and execveat(fd, "", AT_EMPTY_PATH) it
 *   fileless check PATH      act as an interpreter: ask the kernel whether
 *                            PATH may run, execveat(AT_EMPTY_PATH |
 *                            AT_EXECVE_CHECK) (Linux >= 6.14)
 *
 * An exec that happens replaces this process (SRC's exit status is ours).
 * A refusal prints "refused STEP errno=NAME" and exits 99; check prints
 * "allowed" or "refused check errno=NAME" and exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AT_EXECVE_CHECK
#define AT_EXECVE_CHECK 0x10000
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

extern char **environ;

static int refused(const char *step)
{
	printf("refused %s errno=%s\n", step, strerrorname_np(errno));
	fflush(stdout);
	return 99;
}

static int copy_in(int dst, const char *src)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (in < 0 || fstat(in, &st) < 0)
		return -1;
	off_t off = 0;
	while (off < st.st_size)
		if (sendfile(dst, in, &off, (size_t)(st.st_size - off)) <= 0)
			return -1;
	close(in);
	return 0;
}

static int exec_fd(int fd, const char *name, int flags)
{
	char *argv[] = { (char *)name, NULL };
	return (int)syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH | flags);
}

static int run_memfd(const char *src)
{
	/* MFD_EXEC asks for an executable memfd (refused under vm.memfd_noexec=2);
	 * kernels before 6.3 do not know the flag. */
	int fd = memfd_create("gk-fileless", MFD_CLOEXEC | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("gk-fileless", MFD_CLOEXEC);
	if (fd < 0)
		return refused("memfd_create");
	if (copy_in(fd, src) < 0)
		return refused("copy");
	exec_fd(fd, "gk-memfd", 0);
	return refused("exec");
}

static int run_tmpfile(const char *dir, const char *src)
{
	int w = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0755);
	if (w < 0)
		return refused("open_tmpfile");
	if (copy_in(w, src) < 0)
		return refused("copy");
	/* exec refuses a file open for writing (ETXTBSY): keep a read-only fd */
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", w);
	int r = open(link, O_RDONLY | O_CLOEXEC);
	if (r < 0)
		return refused("reopen");
	close(w);
	exec_fd(r, "gk-tmpfile", 0);
	return refused("exec");
}

static int run_check(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return refused("open");
	if (exec_fd(fd, path, AT_EXECVE_CHECK) < 0) {
		refused("check");
		return 0;
	}
	printf("allowed\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "memfd"))
		return run_memfd(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "tmpfile"))
		return run_tmpfile(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "check"))
		return run_check(argv[2]);
	fprintf(stderr, "usage: fileless memfd SRC | tmpfile DIR SRC | check PATH\n");
	return 2;
}
