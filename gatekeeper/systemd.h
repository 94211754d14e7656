/* systemd integration: Type=notify readiness and status, reloads, the
 * watchdog, and decisions as structured journal entries. Every call is a
 * no-op when the daemon does not run under systemd (or journald). */
#ifndef GATEKEEPER_SYSTEMD_H
#define GATEKEEPER_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gk_daemon;
struct gk_stats;
struct db_audit;

/* Learn systemd's watchdog interval (and take WATCHDOG_* out of the
 * environment): before any thread starts. */
void svc_init(struct gk_daemon *d);
/* READY=1 with STATUS= naming the policy mode and the kernel mode. Call it
 * once the fanotify marks stand and the kernel mode is chosen, and again
 * after a reload. */
void svc_ready(struct gk_daemon *d);
/* STATUS= alone: a policy applied through the control socket. */
void svc_status(struct gk_daemon *d);
/* RELOADING=1 (with MONOTONIC_USEC=), before re-reading the policy. */
void svc_reloading(void);
/* STOPPING=1, as shutdown begins. */
void svc_stopping(void);
/* The main loop's poll timeout: -1 (none), or short enough that the
 * watchdog is fed in time when systemd asked for one (WatchdogSec=). */
int svc_poll_timeout_ms(struct gk_daemon *d);
/* From the main loop, every turn: WATCHDOG=1 when one is due and the event
 * path is alive (alive.c). A wedged path stops the pings and systemd kills
 * and restarts the daemon. */
void svc_watchdog(struct gk_daemon *d);

/* boot_wait.c: is systemd still starting the boot (the default target not
 * yet reached)? 1: yes, PID 1 says so; 2: taken so (started minutes after
 * the kernel at most, and this boot not seen to end); 0: no (this boot was
 * seen to end: over_mark holds its boot ID, or utmp has its runlevel), or
 * not booted with systemd; -1: cannot tell. why says which. PID 1 is asked
 * only in the last case (a restart on a running system whose utmp has no
 * runlevel), and over_mark ("": none) is written when the boot is seen to
 * be over. */
int svc_system_booting(const char *over_mark, char *why, size_t whylen);
/* The runlevel the utmp file at path records ('1'-'5': systemd writes it
 * once the default target is reached); 0: none, or no such file. */
int svc_utmp_runlevel(const char *path);
/* --bpf-after-ready while systemd still starts the boot's transaction: a
 * thread watches /run/utmp (inotify) until it records a runlevel, asking
 * PID 1 only every 30 s meanwhile (in case none comes), at most max_s
 * seconds; then it writes over_mark. NULL: not booted with systemd (or no
 * thread could start): nothing to wait for.
 * svc_boot_wait_fd turns readable when the wait is over. */
struct svc_boot_wait;
struct svc_boot_wait *svc_boot_wait_start(int max_s, const char *over_mark);
int svc_boot_wait_fd(const struct svc_boot_wait *w);
/* Ends the wait (at once if still under way), says how it ended and how
 * long it took, frees w. NULL: no-op. */
void svc_boot_wait_end(struct svc_boot_wait *w, char *why, size_t whylen, int64_t *waited_ms);

/* alive.c: is the event path turning over? It is alive when no event waits,
 * or when an event was answered within the last interval_us. The probe
 * (gatekeeperd.h) keeps what the previous call saw. */
struct event_path_probe;
bool alive_event_path_turns(const struct gk_stats *s, struct event_path_probe *p,
			    int64_t now_us, int64_t interval_us);
/* And the reader: alive unless events wait unread while its last read
 * (reader_beat_us) is an interval old. */
bool alive_reader_keeps_up(int64_t reader_beat_us, bool events_waiting, int64_t now_us,
			   int64_t interval_us);

/* journal.c: when stderr is connected to the journal (JOURNAL_STREAM), one
 * decision becomes one structured entry (MESSAGE = the key=value line, plus
 * GK_VERDICT, GK_SOURCE, GK_PATH, GK_SHA256, GK_PID, GK_EXE, GK_LATENCY_US,
 * GK_MODE, GK_WOULD_DENY, GK_DETAIL, GK_KIND) and true is returned; false
 * means the caller logs the line as before. */
bool journal_active(void);   /* stderr is the journal's stream */
bool journal_decision(const char *kind, const struct db_audit *a, const char *sha_hex,
		      bool warn, const char *message);

#endif
