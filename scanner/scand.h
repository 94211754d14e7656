/* The separate scanner process (gatekeeper-scand) and its wire protocol.
 * Internal to scanner/: the daemon reaches it only through scanner.h
 * (scanner_clamav_open), the unit tests and gatekeeper-scand include it.
 *
 * One SOCK_SEQPACKET message per request or reply, all of one fixed-size
 * struct; a file travels as an SCM_RIGHTS descriptor beside a message.
 * Everything a scanner process sends is hostile input to the daemon: the
 * receiver checks the magic, the size, the op and the ranges, makes the text
 * one NUL-terminated line, and closes any descriptor it did not ask for.
 *
 *   zygote (one per signature set; loads the engine, then only forks)
 *     -> HELLO   a = 0 loaded / -1 failed, b = signatures, text = error
 *     <- FORK    -> WORKER  a = pid (-1 failed), fd = the worker's socket
 *     <- REAP a = pid (after the daemon SIGKILLed it)
 *                -> REAPED  a = pid, b = wait status (-1: not its child)
 *   worker (forked from the zygote; shares its engine copy-on-write)
 *     <- SCAN id, fd = the file     -> RESULT id, a = enum scan_status, text = detail */
#ifndef GK_SCANNER_SCAND_H
#define GK_SCANNER_SCAND_H

#include <stdint.h>
#include <sys/types.h>

#include "scanner/scanner.h"

#define SCAND_MAGIC 0x676b7364u   /* "gksd" */
#define SCAND_TEXT_MAX 256
/* The zygote's end of its socket in gatekeeper-scand. */
#define SCAND_CTL_FD 3
/* Test hooks in the scanner process, read from this environment variable
 * (the daemon passes it on; nothing else of its environment):
 * "delay:MS" sleeps MS before scanning a file that holds "gk-scand-slow";
 * "hog" allocates until the memory limit refuses, for a file that holds
 * "gk-scand-hog"; "probe" answers, for a file that holds "gk-scand-probe",
 * an error whose detail says what socket(), writes and execve() did in the
 * worker; "hostile" does what a compromised worker would try, each against
 * a file that holds its marker: "gk-scand-setsig" F_SETSIG(SIGTERM) and
 * O_NONBLOCK on the file's descriptor, then scans it; "gk-scand-fcntl"
 * answers an error saying what fcntl commands did; "gk-scand-killzygote"
 * answers what tgkill and tkill of its zygote did; "gk-scand-forge" writes
 * a forged daemon log line to stdout and stderr and a flood of lines to
 * stderr, then scans; "gk-scand-abort" calls abort() (several:
 * "delay:MS,hog,probe,hostile"). The unit removes the variable
 * (UnsetEnvironment=): an installed daemon never passes it on. */
#define SCAND_TEST_ENV "GK_SCAND_TEST"
#define SCAND_DEFAULT_USER "gatekeeper-scan"
#define SCAND_FALLBACK_USER "nobody"
#define SCAND_DEFAULT_MEMORY_MB 4096u

enum scand_op {
	SCAND_HELLO = 1,
	SCAND_FORK,
	SCAND_WORKER,
	SCAND_REAP,
	SCAND_REAPED,
	SCAND_SCAN,
	SCAND_RESULT,
	SCAND_OP_MAX = SCAND_RESULT,
};

struct scand_msg {
	uint32_t magic, op;
	int32_t a, b;
	uint64_t id;
	char text[SCAND_TEXT_MAX];
};

/* Send m (magic filled in) with fd attached unless fd < 0. Never raises
 * SIGPIPE. 0, or -1 and errno. */
int scand_send(int sock, uint32_t op, int32_t a, int32_t b, uint64_t id, const char *text,
	       int fd);
/* Receive one message within timeout_ms (-1: no limit). The fd attached,
 * if any, goes to *fd (CLOEXEC) when fd is not NULL, is closed otherwise;
 * *fd is -1 when none came. 0 ok; -1 and errno: ETIMEDOUT, EPIPE (the peer
 * closed), EBADMSG (wrong size, magic or op: the message is dropped). */
int scand_recv(int sock, struct scand_msg *m, int *fd, int timeout_ms);

/* One line for a wait status: "killed by signal 11 (SIGSEGV)". */
void scand_describe_exit(int status, char *buf, size_t size);

/* Fill in the defaults of the ClamAV limits and check them; -1 with err. */
int scanner_limits_resolve(const struct scanner_limits *in, struct scanner_limits *out,
			   char *err, size_t errlen);

/* ---- the daemon's side (scand_io.c) ---- */
/* The file fd names, opened again read-only for a scanner process: an open
 * file description of its own, never the caller's (whose F_SETSIG and
 * F_SETOWN a lease shares). A regular file only. -1 with err. */
int scand_file_for_scanner(int fd, char *err, size_t errlen);
/* In the child of a fork: wait for one byte on gate, then exec path with
 * sock as SCAND_CTL_FD, /dev/null as fds 0 and 1, err_fd as fd 2, nothing
 * else. Async-signal-safe. */
_Noreturn void scand_exec(const char *path, char *const argv[], char *const envp[], int sock,
			  int err_fd, int gate);
/* A detached thread that reads the scanner processes' stderr from fd
 * (taken over, closed at their end) and logs each line through scanner_log,
 * escaped and rate-limited, named by pid (the zygote). -1: fd closed. */
int scand_relay_start(int fd, pid_t pid);

/* ---- gatekeeper-scand only (sandbox.c) ---- */
struct scand_sandbox {
	const char *user;       /* NULL: SCAND_DEFAULT_USER, else SCAND_FALLBACK_USER */
	const char *scratch;    /* where the private tmpfs goes (scand.c picks /dev/shm) */
	unsigned memory_mb;     /* RLIMIT_AS */
};
/* Confine the calling process for good: new network and mount namespaces
 * (every mount read-only, a fresh tmpfs on the scratch path, owned by the
 * scanner user), RLIMIT_AS, the scanner user, no capabilities (bounding
 * set and ambient too), no_new_privs, not dumpable, and the seccomp
 * allowlist. Must run as root (or, as an unprivileged user, with user
 * namespaces: it keeps that user). -1 with err: the caller must not scan. */
int scand_sandbox_enter(const struct scand_sandbox *sb, char *err, size_t errlen);
/* In a freshly forked worker: no more processes, no more sockets, no
 * signal to any process but itself. */
int scand_sandbox_worker(char *err, size_t errlen);

#endif
