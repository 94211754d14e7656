/* The ClamAV engine: libclamav (cl_load, cl_engine_compile, cl_scandesc),
 * one compiled cl_engine per signature set. Linked only into
 * gatekeeper-scand (and the benchmark): the daemon runs it there, through
 * clamav_proc.c, and never maps libclamav itself.
 *
 * Scan options, chosen for an exec gate: ELF and PE parsing (PE for
 * binfmt/wine), archives on unless no_archives (self-extracting scripts and
 * zipapps are executables too; the limits bound their cost); documents,
 * mail, HTML and images off; no heuristic alerts except "limit exceeded",
 * which this engine reports as an error, never as a detection or as clean.
 * Databases: CL_DB_BYTECODE (signed bytecode, as clamd), no phishing, no PUA. */
#include <clamav.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scanner/engine.h"
#include "scanner/scand.h"

#define LIMIT_HEURISTIC "Heuristics.Limits.Exceeded."
#define CAPTURE_MAX 4

struct clamav_cfg {
	char *db_dir;
	char *tmp_dir;
	struct scanner_limits limits;   /* defaults filled in */
	bool archives;
};

/* ---- libclamav's process-wide setup and its messages ---- */

/* Errors libclamav reports while this thread loads a database or scans: they
 * say which file and line is wrong, which cl_load's return code does not,
 * and they reveal a scan that failed but came back CL_CLEAN. */
struct capture {
	char msg[CAPTURE_MAX][200];
	size_t count;
};
static _Thread_local struct capture *capture;

static void clamav_message(enum cl_msg severity, const char *fullmsg, const char *msg,
			   void *ctx)
{
	(void)fullmsg;
	(void)ctx;
	if (severity < CL_MSG_WARN)
		return;
	if (capture && severity >= CL_MSG_ERROR) {
		if (capture->count < CAPTURE_MAX)
			scanner_line(capture->msg[capture->count++], sizeof(capture->msg[0]), "%s",
				     msg);
		return;
	}
	scanner_log(severity >= CL_MSG_ERROR ? SCANNER_LOG_ERR : SCANNER_LOG_WARN, "clamav: %s",
		    msg);
}

static pthread_once_t clamav_once = PTHREAD_ONCE_INIT;
static cl_error_t clamav_init_rc;

static void clamav_init(void)
{
	cl_set_clcb_msg(clamav_message);
	clamav_init_rc = cl_init(CL_INIT_DEFAULT);
}

/* ---- loading ---- */

static cl_error_t apply_settings(struct cl_engine *e, const struct clamav_cfg *cfg)
{
	const struct scanner_limits *l = &cfg->limits;
	cl_error_t rc = cl_engine_set_num(e, CL_ENGINE_MAX_FILESIZE, (long long)l->max_file_size);
	if (rc == CL_SUCCESS)
		rc = cl_engine_set_num(e, CL_ENGINE_MAX_SCANSIZE, (long long)l->max_scan_size);
	if (rc == CL_SUCCESS)
		rc = cl_engine_set_num(e, CL_ENGINE_MAX_SCANTIME, l->max_scan_ms);
	if (rc == CL_SUCCESS)
		rc = cl_engine_set_num(e, CL_ENGINE_MAX_RECURSION, l->max_recursion);
	if (rc == CL_SUCCESS)
		rc = cl_engine_set_num(e, CL_ENGINE_MAX_FILES, l->max_files);
	if (rc == CL_SUCCESS && cfg->tmp_dir)
		rc = cl_engine_set_str(e, CL_ENGINE_TMPDIR, cfg->tmp_dir);
	return rc;
}

/* libclamav prefixes most messages with its function ("cli_loadhash: "). */
static const char *without_function(const char *msg)
{
	size_t len = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_()");
	return len > 0 && strncmp(msg + len, ": ", 2) == 0 && memchr(msg, '_', len) ? msg + len + 2
										      : msg;
}

/* One line that names the file when libclamav said which one was bad, with
 * the message that gives the line when there is one:
 * "DIR/x.ndb: Malformed database (Problem parsing database at line 1)". */
static void describe_load_error(const struct capture *cap, const char *dir, const char *what,
				cl_error_t rc, char *err, size_t errlen)
{
	static const char cant_load[] = "Can't load ";
	const char *named = NULL, *detail = NULL;
	for (size_t i = 0; i < cap->count; i++) {
		if (!named && strncmp(cap->msg[i], cant_load, sizeof(cant_load) - 1) == 0)
			named = cap->msg[i] + sizeof(cant_load) - 1;
		else if (!detail || (strstr(cap->msg[i], "line ") && !strstr(detail, "line ")))
			detail = without_function(cap->msg[i]);
	}
	if (named && detail)
		scanner_line(err, errlen, "%s (%s)", named, detail);
	else if (named)
		scanner_line(err, errlen, "%s", named);
	else
		scanner_line(err, errlen, "%s: %s: %s", dir, what, detail ? detail : cl_strerror(rc));
}

static void *clamav_load(const void *cfgp, unsigned *n_sigs, char *err, size_t errlen)
{
	const struct clamav_cfg *cfg = cfgp;
	pthread_once(&clamav_once, clamav_init);
	if (clamav_init_rc != CL_SUCCESS) {
		scanner_line(err, errlen, "libclamav: cl_init: %s", cl_strerror(clamav_init_rc));
		return NULL;
	}
	struct stat sb;
	int stat_rc = stat(cfg->db_dir, &sb);
	if (stat_rc < 0 || !S_ISDIR(sb.st_mode)) {
		scanner_line(err, errlen, "%s: cannot open the ClamAV database directory: %s",
			     cfg->db_dir, stat_rc < 0 ? strerror(errno) : "not a directory");
		return NULL;
	}
	/* libclamav answers clean when it cannot make its per-scan directory. */
	if (cfg->tmp_dir && access(cfg->tmp_dir, W_OK | X_OK) < 0) {
		scanner_line(err, errlen, "%s: cannot use as the ClamAV temporary directory: %s",
			     cfg->tmp_dir, strerror(errno));
		return NULL;
	}
	struct cl_engine *engine = cl_engine_new();
	if (!engine) {
		scanner_line(err, errlen, "%s: cannot create a ClamAV engine: out of memory",
			     cfg->db_dir);
		return NULL;
	}
	struct capture cap = { .count = 0 };
	unsigned sigs = 0;
	const char *what = "cannot apply the scan limits";
	capture = &cap;
	cl_error_t rc = apply_settings(engine, cfg);
	if (rc == CL_SUCCESS) {
		what = "cannot load the ClamAV database";
		rc = cl_load(cfg->db_dir, engine, &sigs, CL_DB_BYTECODE);
	}
	bool empty = rc == CL_SUCCESS && sigs == 0;
	if (empty)
		rc = CL_EMALFDB;
	if (rc == CL_SUCCESS) {
		what = "cannot compile the ClamAV engine";
		rc = cl_engine_compile(engine);
	}
	capture = NULL;
	if (rc != CL_SUCCESS) {
		if (empty)
			scanner_line(err, errlen, "%s: no signatures in the ClamAV database",
				     cfg->db_dir);
		else
			describe_load_error(&cap, cfg->db_dir, what, rc, err, errlen);
		cl_engine_free(engine);
		return NULL;
	}
	*n_sigs = sigs;
	return engine;
}

static void clamav_unload(void *engine)
{
	cl_engine_free(engine);
}

/* ---- scanning ---- */

static void limit_error(const char *virname, struct scan_result *out)
{
	static const struct {
		const char *clam, *ours;
	} names[] = {
		{ "MaxFileSize", "max_file_size" }, { "MaxScanSize", "max_scan_size" },
		{ "MaxScanTime", "max_scan_ms" },   { "MaxRecursion", "max_recursion" },
		{ "MaxFiles", "max_files" },
	};
	const char *which = virname + strlen(LIMIT_HEURISTIC);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(which, names[i].clam) == 0)
			which = names[i].ours;
	out->status = SCAN_ERROR;
	scanner_line(out->detail, sizeof(out->detail), "limit exceeded: %s", which);
}

static void clamav_scan(const void *cfgp, void *set, int fd, const unsigned char *sha256,
			unsigned max_ms, struct scan_result *out)
{
	(void)sha256;
	(void)max_ms;   /* libclamav has one time limit per engine */
	const struct clamav_cfg *cfg = cfgp;
	struct stat sb;
	out->status = SCAN_ERROR;
	if (fstat(fd, &sb) < 0) {
		scanner_line(out->detail, sizeof(out->detail), "cannot stat the file: %s",
			     strerror(errno));
		return;
	}
	if (!S_ISREG(sb.st_mode)) {
		scanner_line(out->detail, sizeof(out->detail), "not a regular file");
		return;
	}
	if ((uint64_t)sb.st_size > cfg->limits.max_file_size) {
		scanner_line(out->detail, sizeof(out->detail),
			     "limit exceeded: max_file_size (%lld > %llu bytes)",
			     (long long)sb.st_size, (unsigned long long)cfg->limits.max_file_size);
		return;
	}
	/* libclamav maps the file with pread from offset 0, but a few of its
	 * unpackers read from the current offset: start them at 0. */
	(void)lseek(fd, 0, SEEK_SET);
	struct cl_scan_options opts = {
		.parse = CL_SCAN_PARSE_ELF | CL_SCAN_PARSE_PE |
			 (cfg->archives ? CL_SCAN_PARSE_ARCHIVE : 0),
		.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX,
	};
	const char *virname = NULL;
	unsigned long scanned = 0;
	struct capture cap = { .count = 0 };
	capture = &cap;
	/* No file name: libclamav then has no path to open, only the fd. */
	cl_error_t rc = cl_scandesc(fd, NULL, &virname, &scanned, set, &opts);
	capture = NULL;
	if (rc == CL_CLEAN && cap.count > 0) {
		/* An error that libclamav logged but did not return (e.g. its
		 * temporary directory is gone) means "not scanned", not clean. */
		scanner_line(out->detail, sizeof(out->detail), "clamav: %s",
			     without_function(cap.msg[0]));
	} else if (rc == CL_CLEAN) {
		out->status = SCAN_CLEAN;
	} else if (rc == CL_VIRUS && virname &&
		   strncmp(virname, LIMIT_HEURISTIC, strlen(LIMIT_HEURISTIC)) == 0) {
		limit_error(virname, out);
	} else if (rc == CL_VIRUS) {
		out->status = SCAN_INFECTED;
		scanner_line(out->detail, sizeof(out->detail), "%s", virname ? virname : "unnamed");
	} else if (rc == CL_ETIMEOUT) {
		scanner_line(out->detail, sizeof(out->detail), "limit exceeded: max_scan_ms");
	} else {
		scanner_line(out->detail, sizeof(out->detail), "clamav: %s", cl_strerror(rc));
	}
}

/* ---- watching the database directory ---- */

/* cl_statchkdir sees new files and changed mtimes (in seconds); the
 * directory's own mtime adds removals and renames (freshclam renames). */
struct clamav_watch {
	struct cl_stat db;
	struct timespec dir_mtime;
	ino_t dir_ino;
};

static void *clamav_watch_start(const void *cfgp)
{
	const struct clamav_cfg *cfg = cfgp;
	pthread_once(&clamav_once, clamav_init);
	struct stat sb;
	if (stat(cfg->db_dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return NULL;
	struct clamav_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	if (cl_statinidir(cfg->db_dir, &w->db) != CL_SUCCESS) {
		cl_statfree(&w->db);
		free(w);
		return NULL;
	}
	w->dir_mtime = sb.st_mtim;
	w->dir_ino = sb.st_ino;
	return w;
}

static bool clamav_watch_changed(const void *cfgp, void *watch)
{
	const struct clamav_cfg *cfg = cfgp;
	struct clamav_watch *w = watch;
	struct stat sb;
	if (stat(cfg->db_dir, &sb) < 0 || sb.st_ino != w->dir_ino ||
	    sb.st_mtim.tv_sec != w->dir_mtime.tv_sec || sb.st_mtim.tv_nsec != w->dir_mtime.tv_nsec)
		return true;
	return cl_statchkdir(&w->db) != 0;
}

static void clamav_watch_free(void *watch)
{
	struct clamav_watch *w = watch;
	cl_statfree(&w->db);
	free(w);
}

static void clamav_cfg_free(void *cfgp)
{
	struct clamav_cfg *cfg = cfgp;
	if (!cfg)
		return;
	free(cfg->db_dir);
	free(cfg->tmp_dir);
	free(cfg);
}

const struct engine_ops scanner_clamav_ops = {
	.name = "clamav",
	.load = clamav_load,
	.scan = clamav_scan,
	.unload = clamav_unload,
	.watch_start = clamav_watch_start,
	.watch_changed = clamav_watch_changed,
	.watch_free = clamav_watch_free,
	.cfg_free = clamav_cfg_free,
};

void *scanner_clamav_cfg_new(const struct scanner_clamav_config *in, char *err, size_t errlen)
{
	static const struct scanner_clamav_config defaults = { .db_dir = NULL };
	if (!in)
		in = &defaults;
	struct clamav_cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		scanner_line(err, errlen, "clamav: out of memory");
		return NULL;
	}
	if (scanner_limits_resolve(&in->limits, &cfg->limits, err, errlen) < 0) {
		clamav_cfg_free(cfg);
		return NULL;
	}
	cfg->archives = !in->no_archives;
	cfg->db_dir = strdup(in->db_dir && in->db_dir[0] ? in->db_dir : SCANNER_CLAMAV_DEFAULT_DB);
	cfg->tmp_dir = in->tmp_dir ? strdup(in->tmp_dir) : NULL;
	if (!cfg->db_dir || (in->tmp_dir && !cfg->tmp_dir)) {
		scanner_line(err, errlen, "clamav: out of memory");
		clamav_cfg_free(cfg);
		return NULL;
	}
	return cfg;
}
