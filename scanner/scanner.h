/* scanner: judge a file's content by signatures. This header is the
 * subsystem's only door.
 *
 * One interface, two engines:
 *   - hash lists: text files of "<64 hex SHA-256> [name]" lines;
 *   - ClamAV: libclamav's engine API, run in separate unprivileged processes
 *     (gatekeeper-scand: no capabilities, its own user, no network, a
 *     seccomp allowlist, a private scratch tmpfs; never clamd). The caller
 *     never maps libclamav: it passes the file's fd over a socket.
 * Each struct scanner is one engine with one signature set in force. Every
 * call is thread-safe; scans from many worker threads run at once.
 *
 * Reloads never pause scans: a new signature set is built beside the one
 * in force (on the scanner's own reload thread), then swapped in with a
 * pointer swap. A scan holds a reference to the set it started with, so an
 * in-flight scan finishes on the old set, which the reload thread frees
 * once its last scan has let go. A failed reload changes nothing: the old
 * set stays in force and the error is kept for scanner_status().
 *
 * Scans read only through the fd given (pread and fstat; libclamav is given
 * no path), so fanotify event fds may be passed: reading them raises no
 * event. The fd's offset may be moved. */
#ifndef GK_SCANNER_H
#define GK_SCANNER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SCANNER_SHA256_LEN 32
#define SCANNER_DETAIL_MAX 160   /* the size of gk_decision.detail */

enum scan_status {
	SCAN_CLEAN = 0,
	SCAN_INFECTED,   /* detail: the signature name */
	SCAN_ERROR,      /* detail: why, one line; the policy's on_error applies */
};

struct scan_result {
	enum scan_status status;
	char detail[SCANNER_DETAIL_MAX];   /* "" when clean */
};

/* Per-scan limits of the ClamAV engine; 0 takes the default. A file over a
 * limit is reported as SCAN_ERROR "limit exceeded: ..." (never as clean).
 * A scanner process that has not answered max_scan_ms + 250 ms after it got
 * the file is killed: SCAN_ERROR "scanner timed out ...". One that crashes
 * or is killed: SCAN_ERROR "scanner process killed by signal N (SIGx)".
 * The next scan gets a fresh process; scans in other processes go on. */
/* Called on the engine's reload thread each time it puts a new signature set
 * in force (a reload, or a load in the background): verdicts reached with
 * the old set, or while none was loaded, must not outlive it. Not called for
 * a load the open itself makes: its caller knows. */
typedef void (*scanner_swap_fn)(void *ctx, const char *engine);
struct scanner_swap_hook {
	scanner_swap_fn fn;          /* NULL: none */
	void *ctx;
};

/* libclamav counts sizes in ints: max_file_size and max_scan_size may not
 * be larger (an open with larger limits fails). */
#define SCANNER_CLAMAV_SIZE_MAX 2147483647ull
struct scanner_limits {
	uint64_t max_file_size;    /* bytes; default 100 MiB */
	uint64_t max_scan_size;    /* bytes read in all, archives unpacked; default 400 MiB */
	uint32_t max_scan_ms;      /* wall time of one scan; default 4000 */
	uint32_t max_recursion;    /* archive nesting; default 16 */
	uint32_t max_files;        /* files inside one archive; default 10000 */
};

#define SCANNER_CLAMAV_DEFAULT_DB "/var/lib/clamav"

struct scanner_clamav_config {
	const char *db_dir;          /* NULL: SCANNER_CLAMAV_DEFAULT_DB */
	const char *tmp_dir;         /* where libclamav unpacks; NULL: $TMPDIR or /tmp */
	struct scanner_limits limits;
	bool no_archives;            /* archives are unpacked and scanned unless set */
	/* How often the database directory is checked for changes
	 * (cl_statchkdir plus the directory's own mtime); 0: every 60 s. */
	unsigned check_interval_ms;
	/* Return at once and load on the reload thread; until the first load
	 * ends, scans answer SCAN_ERROR "unavailable: loading". A load starts
	 * (fork + exec) gatekeeper-scand: a caller that answers fanotify
	 * permission events must load in the background (its own exec of the
	 * scanner raises one). */
	bool load_in_background;
	/* The scanner executable; NULL: gatekeeper-scand beside the calling
	 * program, else ../libexec/gatekeeper/gatekeeper-scand from it. */
	const char *scand_path;
	/* The user the scanner runs as; NULL: "gatekeeper-scan", and when that
	 * user does not exist, "nobody" (with a warning). Never root. */
	const char *user;
	struct scanner_swap_hook on_swap;
	/* Scans that may run at once (one process each, forked from the one
	 * that loaded the signatures); 0: 4. More wait for a free process. */
	unsigned processes;
	/* RLIMIT_AS of each scanner process, MiB; 0: 4096. */
	unsigned max_memory_mb;
};

/* Open an engine and load its signatures (except load_in_background).
 * Returns NULL only when nothing could be opened (bad arguments, no memory,
 * no thread), with err set. When the signatures cannot be loaded (missing
 * directory or file, corrupt database, bad hash-list line) the scanner is
 * still returned, err holds one line naming the directory or file:line, and
 * every scan answers SCAN_ERROR "unavailable: <reason>" until a reload
 * succeeds. err is "" after a clean load. */
struct scanner *scanner_clamav_open(const struct scanner_clamav_config *cfg,
				    char *err, size_t errlen);

struct scanner_hashlist_config {
	const char *const *files;   /* list files; all of them form one set */
	size_t n_files;
	unsigned check_interval_ms; /* files checked for changes (stat); 0: every 60 s */
	struct scanner_swap_hook on_swap;
};
/* Hash-list line: "<64 hex digits> [name]". Blank lines and lines starting
 * with '#' are skipped. A detection's detail is the name, or "FILE:LINE"
 * when the line has none. A list file must be a regular file (a FIFO or a
 * device is refused, never waited on) of at most SCANNER_HASHLIST_MAX_BYTES. */
#define SCANNER_HASHLIST_MAX_BYTES (1ull << 30)
#define SCANNER_HASHLIST_MAX_TEXT "1 GiB"
struct scanner *scanner_hashlist_open(const struct scanner_hashlist_config *cfg,
				      char *err, size_t errlen);
/* Load the lists as an open would, then drop them: 0, or -1 with the same
 * one-line err ("FILE:LINE: why", "FILE: cannot open hash list: why").
 * Starts no thread: for checking a policy before it is applied. */
int scanner_hashlist_check(const char *const *files, size_t n_files, char *err, size_t errlen);

/* rel ("gatekeeper-scand", "../gatekeeper-scand") from the directory of
 * the running program (/proc/self/exe) into out: 0, or -1 when that cannot
 * be read or out is too small. */
int scanner_path_from_self(const char *rel, char *out, size_t size);

/* Scan the file behind fd. sha256 (SCANNER_SHA256_LEN bytes) may be given
 * when the caller has hashed the content already; the hash-list engine then
 * reads nothing. Never blocks on a reload. */
/* SHA-256 of the file behind fd through OpenSSL EVP, never moving its
 * offset. Stops with ECANCELED once *cancel (may be NULL) becomes true.
 * 0 ok, -1 and errno. Shared by the hash-list engine and the daemon. */
int scanner_sha256_fd(int fd, unsigned char out[SCANNER_SHA256_LEN], const atomic_bool *cancel);
/* SHA-256 and, when md5 (SCANNER_MD5_LEN bytes) is not NULL, MD5 in the same
 * one read (two EVP contexts fed from the same buffer). */
#define SCANNER_MD5_LEN 16
int scanner_digests_fd(int fd, unsigned char sha256[SCANNER_SHA256_LEN],
		       unsigned char *md5, const atomic_bool *cancel);

void scanner_scan_fd(struct scanner *s, int fd, const unsigned char *sha256,
		     struct scan_result *out);

/* Scan with several engines: the first detection wins (and ends the scan);
 * otherwise the first error ("ENGINE: reason"); otherwise clean. n may be 0. */
void scanner_scan_all(struct scanner *const *list, size_t n, int fd,
		      const unsigned char *sha256, struct scan_result *out);
/* The same within max_ms (0: each engine's own limit): a scanner process
 * that has not answered max_ms + 250 ms after it got the file is killed
 * and the scan is SCAN_ERROR "limit exceeded: max_scan_ms (..., scanner
 * process killed)". */
void scanner_scan_all_within(struct scanner *const *list, size_t n, int fd,
			     const unsigned char *sha256, unsigned max_ms, struct scan_result *out);

/* Ask for a reload and return at once (e.g. on SIGHUP; not from a signal
 * handler itself: it takes a mutex). Requests made while a reload runs are
 * served by one more reload after it. */
void scanner_reload(struct scanner *s);
/* Ask for a reload and wait for it to end, at most timeout_ms. 0 when a
 * new signature set is in force; -1 with err set when the load failed (the
 * old set stays) or the wait timed out. */
int scanner_reload_wait(struct scanner *s, unsigned timeout_ms, char *err, size_t errlen);

struct scanner_status {
	const char *engine;          /* "clamav" | "hashlist" */
	bool available;              /* a signature set is in force */
	bool reloading;              /* a new set is being built */
	unsigned signatures;         /* in the set in force */
	uint64_t generation;         /* sets loaded so far (1 after the first) */
	int64_t loaded_at;           /* CLOCK_REALTIME seconds of the set in force; 0 none */
	uint32_t last_load_ms;       /* how long the last load took, failed or not */
	uint64_t reloads_failed;
	uint64_t scans, infected, errors;
	char last_error[256];        /* of the last load if it failed, else "" */
};
void scanner_status(struct scanner *s, struct scanner_status *out);

/* Whether pid is a scanner process this scanner is starting, between its
 * fork and the end of its exec. The exec of gatekeeper-scand raises a
 * permission event when it sits on a watched filesystem: a daemon allows
 * the events of such a pid at once instead of judging them (a judgement
 * could need the very scanner being started). The pid cannot be reused
 * meanwhile: the scanner has not reaped it. */
bool scanner_owns_pid(struct scanner *s, pid_t pid);

/* Stop the reload thread and free everything. No scan may be running. */
void scanner_close(struct scanner *s);

/* Where the scanners' own messages go, one line each: the outcome of every
 * reload made by the reload thread (a database change, scanner_reload) and
 * libclamav's warnings and errors. Default: stderr, prefixed "scanner: ".
 * Set it before the first open; fn is called from any thread. */
enum scanner_log_level { SCANNER_LOG_ERR, SCANNER_LOG_WARN, SCANNER_LOG_INFO };
typedef void (*scanner_log_fn)(void *ctx, enum scanner_log_level level, const char *msg);
void scanner_set_logger(scanner_log_fn fn, void *ctx);


#endif
