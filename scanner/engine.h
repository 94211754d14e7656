/* scanner internals: what an engine plugs into the generic scanner
 * (scanner.c: reference-counted signature sets, the reload thread, stats).
 * Not a door: only the scanner sources include it; everyone else uses
 * scanner.h. */
#ifndef GK_SCANNER_ENGINE_H
#define GK_SCANNER_ENGINE_H

#include <stdarg.h>
#include <sys/types.h>

#include "scanner/scanner.h"

struct engine_ops {
	const char *name;
	/* Build a complete signature set from the engine's configuration.
	 * NULL + one line in err on failure. Runs without any scanner lock. */
	void *(*load)(const void *cfg, unsigned *n_sigs, char *err, size_t errlen);
	/* Scan through fd with a set that load returned; never fails to fill out.
	 * max_ms: the caller's time limit for this scan (0: the engine's own). */
	void (*scan)(const void *cfg, void *set, int fd, const unsigned char *sha256,
		     unsigned max_ms, struct scan_result *out);
	void (*unload)(void *set);
	/* A snapshot of the signature sources, or NULL when they cannot be
	 * looked at now (e.g. the directory is missing). */
	void *(*watch_start)(const void *cfg);
	bool (*watch_changed)(const void *cfg, void *watch);
	void (*watch_free)(void *watch);
	void (*cfg_free)(void *cfg);
	/* Optional: the set can no longer serve (its scanner process
	 * supervisor died); scanner.c then asks for a reload at once. */
	bool (*broken)(void *set);
	/* Optional: pid is a process this engine is starting (scanner_owns_pid). */
	bool (*owns_pid)(const void *cfg, pid_t pid);
};

/* Start a scanner around an engine. Takes cfg (freed with ops->cfg_free,
 * also on failure). Loads at once unless background is set. on_swap may be
 * NULL. */
struct scanner *scanner_start(const struct engine_ops *ops, void *cfg,
			      unsigned check_interval_ms, bool background,
			      const struct scanner_swap_hook *on_swap, char *err, size_t errlen);

/* The in-process ClamAV engine (clamav.c, libclamav): gatekeeper-scand and
 * the benchmark build scanners from it; the daemon never links it. */
extern const struct engine_ops scanner_clamav_ops;
void *scanner_clamav_cfg_new(const struct scanner_clamav_config *cfg, char *err, size_t errlen);

void scanner_log(enum scanner_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* snprintf that never leaves a control character (a newline from a library
 * message, a name from a file) in a one-line message. */
void scanner_line(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
