/* gk-vmtool: the guest tests' hands. Each subcommand is one real syscall
 * route, reported on one line so the shell tests can compare it:
 *   exec FILE                      fork+execve; the child prints, or "exec-error ENAME"
 *   exec-linger FILE               execve in this process; if refused, print
 *                                  "exec-error ENAME" and stay a second (a caller
 *                                  still there when the refusal is audited)
 *   mmap-write FILE DATA [exec]    overwrite the last strlen(DATA) bytes through
 *                                  a MAP_SHARED mapping, munmap, close, (exec at once)
 *   mmap-late FILE DATA GOFILE     map first, wait for GOFILE, then write, unmap, exec
 *   mmap-exec FILE                 mmap PROT_EXEC: "mapped" or "mmap-error ENAME"
 *   mprotect-exec FILE             mmap PROT_READ, mprotect PROT_EXEC
 *   pwrite FILE DATA               write(2) over the trailer, no truncation
 *   truncate FILE LEN              truncate(2) by path
 *   ftruncate-fd FD LEN            ftruncate(2) on an inherited fd (opened before)
 *   open-write-nb FILE             open O_WRONLY|O_NONBLOCK: "opened" or "open-error ENAME"
 *   exec-raced FILE DATA|- [HELD]  fork+execve FILE while a fanotify group of our own
 *                                  holds the exec permission event of HELD (FILE,
 *                                  or the ELF interpreter FILE names); meanwhile
 *                                  overwrite HELD's trailer with DATA (pwrite, or
 *                                  "mmap:DATA" through a shared mapping, or
 *                                  "premapped:DATA" through one made before the
 *                                  exec, by a group asked first; "romap" only
 *                                  tries a shared writable mapping through a
 *                                  read-only descriptor), close, then allow: the
 *                                  race between an answer and the kernel's
 *                                  refusal of writers, made certain
 *   bench N FILE [OUT]             median microseconds of N fork+execve+wait
 *                                  (each sample also appended to OUT)
 *   as-user UID CMD [ARG...]       drop to UID (gid UID, no groups), exec CMD */
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "E?";
}

/* fork+execve FILE; an execve failure travels back through a CLOEXEC pipe. */
static int spawn(const char *file, bool quiet, int *exec_errno)
{
	int pipefd[2], status = 0, err = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)file, NULL }, *envp[] = { NULL };

		if (quiet) {
			int devnull = open("/dev/null", O_WRONLY);
			dup2(devnull, 1);
		}
		execve(file, argv, envp);
		err = errno;
		if (write(pipefd[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pipefd[1]);
	if (pid < 0 || read(pipefd[0], &err, sizeof(err)) != sizeof(err))
		err = 0;
	close(pipefd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	*exec_errno = err;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int do_exec(const char *file)
{
	int err = 0, rc;

	fflush(stdout);
	rc = spawn(file, false, &err);
	if (err) {
		printf("exec-error %s\n", ename(err));
		return 1;
	}
	if (rc == 128)
		printf("exec-killed\n");
	return rc;
}

static int map_and_write(const char *file, const char *data, const char *gofile)
{
	size_t len = strlen(data);
	struct stat st;
	char *map = MAP_FAILED;
	int fd = open(file, O_RDWR), rc = 1;

	if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size < len)
		goto cleanup;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto cleanup;
	if (gofile) {
		printf("mapped\n");
		fflush(stdout);
		for (int i = 0; i < 1000 && access(gofile, F_OK) != 0; i++)
			usleep(10000);
	}
	memcpy(map + st.st_size - (off_t)len, data, len);
	rc = 0;
cleanup:
	if (rc)
		printf("mmap-write-error %s\n", ename(errno));
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int map_exec(const char *file, bool via_mprotect)
{
	struct stat st;
	int fd = open(file, O_RDONLY), prot = via_mprotect ? PROT_READ : PROT_READ | PROT_EXEC;
	void *map = MAP_FAILED;

	if (fd < 0 || fstat(fd, &st) != 0)
		goto fail;
	map = mmap(NULL, (size_t)st.st_size, prot, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	if (via_mprotect && mprotect(map, (size_t)st.st_size, PROT_READ | PROT_EXEC) != 0)
		goto fail;
	printf("mapped\n");
	munmap(map, (size_t)st.st_size);
	close(fd);
	return 0;
fail:
	printf("mmap-error %s\n", ename(errno));
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	return 1;
}

static int pwrite_trailer(const char *file, const char *data)
{
	size_t len = strlen(data);
	struct stat st;
	int fd = open(file, O_WRONLY), rc = 1;

	if (fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size >= len &&
	    pwrite(fd, data, len, st.st_size - (off_t)len) == (ssize_t)len)
		rc = 0;
	if (rc)
		printf("pwrite-error %s\n", ename(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* "premapped:": a shared writable mapping made before the exec, its
 * descriptor closed, so that only the mapping's release ends its writer. */
struct premap {
	char *addr;
	size_t len;
};

static bool premap_open(const char *file, struct premap *pm)
{
	struct stat st;
	int fd = open(file, O_RDWR);

	pm->addr = MAP_FAILED;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
		pm->len = (size_t)st.st_size;
		pm->addr = mmap(NULL, pm->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	/* the exec's process must not inherit it: its writer would outlive ours */
	if (pm->addr != MAP_FAILED && madvise(pm->addr, pm->len, MADV_DONTFORK) != 0) {
		munmap(pm->addr, pm->len);
		pm->addr = MAP_FAILED;
	}
	if (fd >= 0)
		close(fd);
	return pm->addr != MAP_FAILED;
}

/* A reader asking for a shared writable mapping: the kernel refuses it. */
static int try_map_read_only(const char *file)
{
	struct stat st;
	void *map = MAP_FAILED;
	int fd = open(file, O_RDONLY), err = 0;

	if (fd >= 0 && fstat(fd, &st) == 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		err = errno;
	}
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	if (map == MAP_FAILED && err == EACCES)
		return 0;
	printf("romap-unexpected %s\n", map != MAP_FAILED ? "mapped" : ename(err));
	return 1;
}

static int write_while_held(const char *held, const char *data, struct premap *pm)
{
	size_t len = strlen(data);

	if (pm->addr != MAP_FAILED) {
		if (len > pm->len)
			return 1;
		memcpy(pm->addr + pm->len - len, data, len);
		munmap(pm->addr, pm->len);   /* its release runs before munmap returns */
		pm->addr = MAP_FAILED;
		return 0;
	}
	if (strcmp(data, "-") == 0)
		return 0;
	if (strcmp(data, "romap") == 0)
		return try_map_read_only(held);
	if (strncmp(data, "mmap:", 5) == 0)
		return map_and_write(held, data + 5, NULL);
	return pwrite_trailer(held, data);
}

/* Where the kernel answered from its map, the daemon's ignore mark leaves our
 * group alone: the write then comes after the answer. Where the daemon is
 * asked too, our turn may come before or after its (groups of one class go
 * by address): either way the write comes after the exec's open. A
 * pre-content group ("premapped:") is asked before the daemon's. */
static int exec_raced(const char *file, const char *data, const char *held)
{
	struct fanotify_event_metadata ev;
	struct pollfd ready;
	struct premap pm = { .addr = MAP_FAILED };
	bool premapped = strncmp(data, "premapped:", 10) == 0;
	int fan = -1, rc = 1;
	pid_t pid = -1;

	if (premapped && !premap_open(held, &pm)) {
		printf("mmap-error %s\n", ename(errno));
		return 1;
	}
	fan = fanotify_init((premapped ? FAN_CLASS_PRE_CONTENT : FAN_CLASS_CONTENT) | FAN_CLOEXEC,
			    O_RDONLY);
	if (fan < 0 || fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_EXEC_PERM, AT_FDCWD, held) != 0) {
		printf("fanotify-error %s\n", ename(errno));
		goto cleanup;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(fan);
		_exit(do_exec(file));
	}
	/* an exec refused before our turn raises nothing for us */
	ready = (struct pollfd){ .fd = fan, .events = POLLIN };
	if (pid < 0 || poll(&ready, 1, 10000) != 1 || read(fan, &ev, sizeof(ev)) != (ssize_t)sizeof(ev) ||
	    ev.fd < 0) {
		printf("fanotify-read-error %s\n", ename(errno));
		goto cleanup;
	}
	rc = write_while_held(held, premapped ? data + 10 : data, &pm);
	struct fanotify_response allow = { .fd = ev.fd, .response = FAN_ALLOW };
	if (write(fan, &allow, sizeof(allow)) != (ssize_t)sizeof(allow))
		printf("fanotify-write-error %s\n", ename(errno));
	close(ev.fd);
cleanup:
	if (pm.addr != MAP_FAILED)
		munmap(pm.addr, pm.len);
	if (fan >= 0)
		close(fan);   /* releases an event still pending */
	if (pid > 0) {
		int status = 0;
		waitpid(pid, &status, 0);
		if (rc == 0)
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	}
	return rc;
}

static int do_ftruncate(int fd, off_t len)
{
	if (ftruncate(fd, len) == 0)
		return 0;
	printf("ftruncate-error %s\n", ename(errno));
	return 1;
}

static int open_write_nb(const char *file)
{
	int fd = open(file, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		printf("open-error %s\n", ename(errno));
		return 1;
	}
	close(fd);
	printf("opened\n");
	return 0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static int bench(int n, const char *file, const char *out)
{
	long *us = n > 0 ? calloc((size_t)n, sizeof(*us)) : NULL;
	FILE *samples = out ? fopen(out, "a") : NULL;
	struct timespec t0, t1;
	int err = 0;

	if (!us || (out && !samples)) {
		free(us);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (spawn(file, true, &err) != 0 || err) {
			printf("bench-error %s\n", ename(err));
			free(us);
			if (samples)
				fclose(samples);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		us[i] = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
		if (samples)
			fprintf(samples, "%ld\n", us[i]);
	}
	if (samples)
		fclose(samples);
	qsort(us, (size_t)n, sizeof(*us), cmp_long);
	printf("median_us=%ld p10_us=%ld p90_us=%ld n=%d\n", us[n / 2], us[n / 10], us[n * 9 / 10], n);
	free(us);
	return 0;
}

static int as_user(uid_t uid, char **cmd)
{
	if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
		printf("as-user-error %s\n", ename(errno));
		return 1;
	}
	execv(cmd[0], cmd);
	printf("exec-error %s\n", ename(errno));
	return 127;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "", *file = argc > 2 ? argv[2] : NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "exec") == 0 && argc == 3)
		return do_exec(file);
	if (strcmp(cmd, "exec-linger") == 0 && argc == 3) {
		execv(file, (char *[]){ (char *)file, NULL });
		printf("exec-error %s\n", ename(errno));
		sleep(1);
		return 1;
	}
	if (strcmp(cmd, "mmap-write") == 0 && (argc == 4 || argc == 5)) {
		if (map_and_write(file, argv[3], NULL) != 0)
			return 1;
		return argc == 5 ? do_exec(file) : 0;
	}
	if (strcmp(cmd, "mmap-late") == 0 && argc == 5)
		return map_and_write(file, argv[3], argv[4]) != 0 ? 1 : do_exec(file);
	if (strcmp(cmd, "mmap-exec") == 0 && argc == 3)
		return map_exec(file, false);
	if (strcmp(cmd, "mprotect-exec") == 0 && argc == 3)
		return map_exec(file, true);
	if (strcmp(cmd, "pwrite") == 0 && argc == 4)
		return pwrite_trailer(file, argv[3]);
	if (strcmp(cmd, "truncate") == 0 && argc == 4) {
		if (truncate(file, atol(argv[3])) == 0)
			return 0;
		printf("truncate-error %s\n", ename(errno));
		return 1;
	}
	if (strcmp(cmd, "open-write-nb") == 0 && argc == 3)
		return open_write_nb(file);
	if (strcmp(cmd, "exec-raced") == 0 && (argc == 4 || argc == 5))
		return exec_raced(file, argv[3], argc == 5 ? argv[4] : file);
	if (strcmp(cmd, "ftruncate-fd") == 0 && argc == 4)
		return do_ftruncate(atoi(file), atol(argv[3]));
	if (strcmp(cmd, "bench") == 0 && (argc == 4 || argc == 5))
		return bench(atoi(argv[2]), argv[3], argc == 5 ? argv[4] : NULL);
	if (strcmp(cmd, "as-user") == 0 && argc >= 4)
		return as_user((uid_t)atol(argv[2]), argv + 3);
	fprintf(stderr, "usage: gk-vmtool exec|exec-linger|mmap-write|mmap-late|mmap-exec|mprotect-exec|"
		"pwrite|truncate|ftruncate-fd|open-write-nb|exec-raced|bench|as-user ...\n");
	return 2;
}
