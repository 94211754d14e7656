/* gatekeeperd internals: the modules of the daemon and the state they share.
 * Not a public door: only the daemon's own sources include it (and unit tests). */
#ifndef GK_GATEKEEPERD_H
#define GK_GATEKEEPERD_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "db/db.h"
#include "gatekeeper/denied.h"
#include "gatekeeper/kcache.h"
#include "gatekeeper/proto.h"      /* GK_DEFAULT_SOCKET, shared with gatekeeper-ctl */
#include "gatekeeper/util.h"
#include "policy/policy.h"

#define GK_DEFAULT_POLICY "/etc/gatekeeper/policy.yaml"
#define GK_DEFAULT_DB "/var/lib/gatekeeper/gatekeeper.db"

/* ---- log.c: one line per event, key=value, to stderr or syslog ---- */
enum gk_log_level { GK_LOG_ERR, GK_LOG_WARN, GK_LOG_INFO, GK_LOG_DEBUG };
void log_init(bool to_stderr);
/* fmt is the caller's own text; every %s argument is a value from outside
 * and is escaped (\" \\ \xNN) so that it cannot forge a field or a line.
 * No '*' width or precision. log_format writes what log_msg would log. */
void log_msg(enum gk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_format(char *line, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A line already made of log_kv values: logged as it is. */
void log_line(enum gk_log_level level, const char *line);
/* Append key=value to buf, quoting value when it holds spaces, quotes or
 * control characters (so one decision stays one parseable line). */
void log_kv(char *buf, size_t size, size_t *len, const char *key, const char *value);
int64_t gk_now_us(void);        /* CLOCK_REALTIME */
int64_t gk_mono_us(void);       /* CLOCK_MONOTONIC */
int64_t gk_cpu_us(void);        /* CLOCK_PROCESS_CPUTIME_ID: this process's CPU */
/* Now + ms on clk: the deadline of a pthread_cond_timedwait on that clock. */
struct timespec gk_deadline_in_ms(clockid_t clk, int ms);
/* A condition variable whose timed waits use CLOCK_MONOTONIC: a clock step
 * must not stretch or cut short a wait (pair with gk_deadline_in_ms). */
void gk_cond_init_monotonic(pthread_cond_t *cond);

/* ---- identify.c: SHA-256 of a file through its fd, with a cache ---- */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t ctime_ns;
	nlink_t nlink;       /* 0: no name links to it (memfd, O_TMPFILE, deleted) */
	/* When this was taken the clock had moved past the ctime (by the
	 * filesystem's granularity), so any later change moves the ctime: only
	 * content read after such an identity may be kept under it (in the
	 * hash cache, the digest store, the kernel's cache). */
	bool settled;
	/* On overlayfs (or its filesystem unknown) a shared writable mapping
	 * made through the overlay maps the file beneath: once its descriptor
	 * is closed, no lease on the overlay's file sees that writer, its
	 * writes need not move the ctime, its release raises no event, and
	 * the kernel refuses no exec for it (no ETXTBSY). So nothing read there
	 * is kept (hash_cache_keeps), unless the policy trusts the files that
	 * root owns and only root may write (root_only): only a process running
	 * as root, or with CAP_DAC_OVERRIDE, can map those so from now on (a
	 * mapping made while a user could write the file outlives a chmod). */
	bool overlay;
	bool root_only;
};
int file_id_of_fd(int fd, struct file_id *id);   /* fstat and fstatfs; -1 + errno */
/* Same file, same size and ctime (settled is not compared). */
bool file_id_same(const struct file_id *a, const struct file_id *b);
/* A second read of a file, after the one that gave its digest under the
 * identity `before` (a scan reads it again, in another process, later):
 * was it of the same content? CHANGED: the identity moved (now NULL: it
 * could not be taken), so the second read's result does not belong to
 * that digest. KEEP: it cannot have moved unseen (the identity had
 * settled, or the lease taken before the first read still stands,
 * `guarded`): the result may be kept under the digest. FOR_NOW: no change
 * was seen but one could have gone unseen (a rewrite within the ctime's
 * granularity; a filesystem whose content a server changes,
 * `changes_elsewhere`): the result decides this judgement and is kept
 * nowhere. */
enum file_reread { FILE_REREAD_KEEP, FILE_REREAD_FOR_NOW, FILE_REREAD_CHANGED };
enum file_reread file_reread_check(const struct file_id *before, const struct file_id *now,
				   bool guarded, bool changes_elsewhere);
struct hash_cache;
struct hash_cache *hash_cache_new(void);
void hash_cache_free(struct hash_cache *hc);
/* The store of digests (digests.h) that hashing reads through and
 * hash_cache_forget reaches; NULL (the default): compute, never store.
 * Set before any thread uses hc, cleared before the store is closed. */
struct digests;
void hash_cache_use_store(struct hash_cache *hc, struct digests *store);   /* hc NULL-safe */
struct digests *hash_cache_store(const struct hash_cache *hc);
/* Whether the lease ticket guard still stands for the file id (no writer
 * broke it): see identify_fd_guarded. Set before any thread uses hc. */
void hash_cache_use_guard(struct hash_cache *hc,
			  bool (*holds)(void *ctx, const struct file_id *id, uint64_t guard), void *ctx);
/* That guard (not 0) still stands for id; false without a guard function. */
bool hash_cache_guard_holds(const struct hash_cache *hc, const struct file_id *id, uint64_t guard);
/* The digest of an unchanged file (same dev, ino, size, ctime), if known. */
bool hash_cache_lookup(struct hash_cache *hc, const struct file_id *id,
		       unsigned char out[GK_SHA256_LEN]);
/* Policy `overlayfs_cache: root_owned`: what is read of an overlayfs file
 * that only root may write is kept (file_id.root_only). */
void hash_cache_trust_overlay_root(struct hash_cache *hc, bool trust);
/* May what was read under id be kept for later, in memory or in the
 * kernel's cache (file_id.overlay)? */
bool hash_cache_keeps(const struct hash_cache *hc, const struct file_id *id);
/* The cached hash of an unchanged file, or hash it, re-checking that the
 * file did not change while it was read. A caller that finds the file
 * being hashed already waits for that hash. guard: the kernel cache's lease
 * ticket taken before the read (kcache_arm), 0 none. The digest of a file
 * whose ctime had not settled is kept nowhere, so the waiter takes it from
 * the hasher only when both read under the same lease, which stands still
 * (hash_cache_use_guard) and so since before the hasher's read; otherwise
 * it reads the file again. */
int identify_fd_guarded(struct hash_cache *hc, int fd, struct file_id *id,
			unsigned char out[GK_SHA256_LEN], const atomic_bool *cancel,
			uint64_t guard);
/* Not cancellable, no guard: for the control thread and the tests. */
int identify_fd(struct hash_cache *hc, int fd, struct file_id *id,
		unsigned char out[GK_SHA256_LEN]);
/* The file was written: its cached hash may not describe it any more
 * (a write through a shared mapping need not change its ctime). */
void hash_cache_forget(struct hash_cache *hc, int fd, dev_t dev, ino_t ino);
/* Not sure the file was not written (a close of it may be queued and not
 * yet handled): read it again, once, instead of trusting a digest kept. */
void hash_cache_distrust(struct hash_cache *hc, dev_t dev, ino_t ino);
/* Closes were lost: no digest kept is trusted again (digests_closes_lost). */
void hash_cache_closes_lost(struct hash_cache *hc);
/* Every digest of the filesystem of device dev, which is gone: in memory
 * and in the store (digests_forget_dev). */
void hash_cache_forget_dev(struct hash_cache *hc, dev_t dev);

/* ---- stats.c: counters and the decision-latency histogram ---- */
struct gk_stats {
	atomic_uint_fast64_t events, perm_events, allows, denies, would_deny, timeouts,
		overloads, queue_overflows, audit_dropped, pending,
		prescans, prescan_coalesced, prescan_dropped, first_execs_prejudged,
		first_execs_kernel_hits, kernel_cache_unsettled,
		miss_close_waits, miss_close_waits_long, miss_digests_rehashed;
	/* Of events and pending, those of the remote group (remote.c): a
	 * server's stall is not the local path's (alive.c). */
	atomic_uint_fast64_t remote_events, remote_pending;
	atomic_uint_fast64_t latency_hist[64 * 8];
	atomic_uint_fast64_t latency_sum_us;   /* for the metrics' histogram _sum */
};
void stats_record_latency(struct gk_stats *s, uint64_t us);
uint64_t stats_latency_percentile(const struct gk_stats *s, double pct);
/* Cumulative counts at power-of-two bounds (exact: they are bucket edges):
 * below[k] = decisions that took less than 2^k microseconds, k < n.
 * Returns the count of all decisions. */
uint64_t stats_latency_below_pow2(const struct gk_stats *s, uint64_t *below, unsigned n);

/* ---- systemd.c: the watchdog, as the main loop's thread feeds it ---- */
struct event_path_probe {      /* alive.c: what the previous look saw */
	uint64_t answered;
	int64_t progress_us;
};
struct gk_svc_watchdog {
	bool asked;                /* systemd was asked (once: see systemd.c) */
	uint64_t us;               /* 0: systemd asked for no watchdog */
	int64_t last_ping_us;
	struct event_path_probe probe;
};

/* ---- admin.c: admin rules in memory (mirror of the db table) ---- */
struct admin_rules;
struct admin_rules *admin_rules_new(void);
void admin_rules_free(struct admin_rules *ar);
enum gk_verdict admin_rules_get(struct admin_rules *ar, const unsigned char sha[GK_SHA256_LEN]);
/* UNKNOWN removes. -1: out of memory, nothing changed; never after
 * admin_rules_reserve, with no other change between. */
int admin_rules_set(struct admin_rules *ar, const unsigned char sha[GK_SHA256_LEN],
		    enum gk_verdict v);
/* Room for one more rule, made before the store is written: a rule must
 * never be in the store and not in the table the exec path reads. */
int admin_rules_reserve(struct admin_rules *ar);
size_t admin_rules_count(struct admin_rules *ar);
size_t admin_rules_denies(struct admin_rules *ar);
struct gk_daemon;
/* Open d->db and load d->admin, failing safe: see admin.c. */
int admin_store_open(struct gk_daemon *d, char *err, size_t errlen);

/* ---- sentinel.c: answers for a frozen daemon, from outside its threads ---- */
enum gk_slot_state { SLOT_FREE, SLOT_PENDING, SLOT_ANSWERING, SLOT_ANSWERED };
enum gk_slot_answerer { SLOT_BY_DAEMON, SLOT_BY_WATCHDOG, SLOT_BY_SENTINEL };
/* One permission event in flight, in memory shared with the sentinel. */
struct gk_slot {
	_Atomic uint32_t state;        /* enum gk_slot_state */
	_Atomic uint32_t verdict;      /* what was answered */
	_Atomic uint32_t answered_by;  /* enum gk_slot_answerer */
	int32_t fd;                    /* the event's fd number in the daemon */
	uint32_t group;                /* the sentinel's id of its group; 0: none */
	_Atomic int64_t start_us;      /* CLOCK_MONOTONIC */
};
/* An event in this state still awaits its answer: the watchdog ticks and
 * the sentinel stays awake for it, not for one answered whose worker a
 * server still holds. */
static inline bool slot_awaits_answer(uint32_t state)
{
	return state == SLOT_PENDING || state == SLOT_ANSWERING;
}
struct gk_shared {
	_Atomic int64_t reader_beat_us;    /* the event reader last turned over */
	_Atomic int64_t watchdog_beat_us;  /* the in-daemon watchdog last ticked */
	_Atomic int64_t timeout_us;        /* the policy's decision_timeout_ms */
	_Atomic uint32_t on_error;         /* the policy's on_error verdict */
	_Atomic uint64_t sentinel_answers, sentinel_reads;
	uint32_t n_slots;
	struct gk_slot slots[];
};
struct gk_shared *sentinel_shared_new(unsigned n_slots);
void sentinel_shared_free(struct gk_shared *sh);
/* PENDING -> ANSWERING: true if the caller now owns the answer. */
bool sentinel_slot_claim(struct gk_slot *s);
struct gk_sentinel;
struct gk_sentinel *sentinel_start(struct gk_shared *sh, char *err, size_t errlen);
void sentinel_stop(struct gk_sentinel *s);                       /* NULL-safe */
/* End the process but keep s: a late sentinel_drop_group is a no-op. */
void sentinel_end(struct gk_sentinel *s);
/* Its id; 0 if none. answer_only: the sentinel answers the group's events
 * the daemon read, but never reads it (a remote group's read can wait on a
 * server for good). */
uint32_t sentinel_add_group(struct gk_sentinel *s, int group_fd, bool answer_only);
void sentinel_drop_group(struct gk_sentinel *s, uint32_t id);
bool sentinel_alive(const struct gk_sentinel *s);
pid_t sentinel_pid(const struct gk_sentinel *s);

/* ---- the daemon ---- */
struct gk_options {
	const char *policy_path, *db_path, *socket_path;
	bool foreground, kernel_cache, try_bpf, bpf_after_ready;
	unsigned workers, scan_workers;
	unsigned max_pending;    /* permission events judged or queued at once */
	const char *subuid_path; /* subuid(5): whose subordinate ids are */
	const char *scanner_path, *scanner_user;   /* NULL: scanner.h's defaults */
};

/* options.c: the command line (exits for --help and --version). */
int gk_options_parse(int argc, char **argv, struct gk_options *o);

/* One fanotify group and what it watches; replaced whole on a policy change
 * of mode or watch list. */
struct fan_group {
	int fd;
	atomic_int inflight;    /* events read but not yet released */
	bool perm;              /* enforce: FAN_OPEN_EXEC_PERM; monitor: FAN_OPEN_EXEC */
	bool remote;            /* marks only filesystems a server serves (remote.c) */
	uint64_t mask;
	uint32_t sentinel_id;   /* the sentinel's copy of a permission group; 0: none */
	struct fan_group *older;   /* retired remote groups: the next one still draining */
};

struct gk_events;
struct gk_prescan;

/* Everything the daemon holds. Each subsystem is an object it owns, made by
 * its *_start and undone by its *_stop (NULL-safe, and safe after a start
 * that failed half-way), so that tests can start one several times. */
struct gk_daemon {
	struct gk_options opt;
	pthread_rwlock_t policy_lock;       /* guards policy, policy_applied_us, admin_gid */
	/* Held across a whole apply_policy (control apply, SIGHUP reload), so
	 * one never frees the policy or scanners another is building on. */
	pthread_mutex_t apply_lock;
	struct gk_policy *policy;
	int64_t policy_applied_us;
	gid_t admin_gid;                    /* (gid_t)-1: none */
	struct admin_rules *admin;
	struct fan_group *group;            /* current; swapped under policy_lock */
	struct fan_group *retired;          /* old group, closed when its events are answered */
	/* The same for filesystems a server serves (FUSE, NFS...), read by a
	 * thread of their own (remote.c): a server that stalls the open
	 * fanotify makes for each event holds up only their execs. */
	struct fan_group *remote, *remote_retired;   /* retired: a list, by ->older */
	struct kcache *kc;
	struct gk_stats stats;
	int64_t started_us;
	/* Start-up phases (monotonic µs), logged with "ready": a slow start on
	 * the boot's critical path says where its time went. */
	struct gk_start_times {
		int64_t begin, store_opened, store, sentinel, scanners, kernel, trust, marks;
		int64_t exec_to_begin;   /* wall time from the exec to begin; -1: unknown */
		int64_t cpu_begin, cpu_store, cpu_trust, cpu_marks;   /* gk_cpu_us() then */
	} start_at;
	bool store_closed_cleanly;   /* its clean mark matched: not read through at start */
	atomic_bool stopping;
	struct gk_db *db;                   /* the control thread's connection */
	struct audit_writer *audit;         /* audit.c: the audit table's writer */
	struct scan_set *scanners;          /* swapped under policy_lock; readers take a reference */
	struct trust *trust;                /* trust.h; NULL: no `trust:` source. Set before events start */
	struct control_server *control;     /* the control socket (control.h) */
	struct metrics_writer *metrics;     /* the node_exporter textfile (metrics.h) */
	struct hash_cache *hashes;          /* digests by (dev, inode, size, ctime) */
	struct digests *digests;            /* digests.h: their store, lent to hashes */
	struct gk_events *events;           /* permission events: slots, workers, deadlines */
	struct gk_reader *reader;           /* reads d->group (reader.c) */
	struct gk_remote_reader *remote_reader;   /* reads d->remote (remote.c) */
	struct gk_prescan *prescan;         /* close-write group and its scan queue */
	/* prejudge.h; NULL: none. Atomic: flushes come from any thread. */
	struct gk_prejudge *_Atomic prejudge;
	struct gk_mounts *mounts;           /* the mount tracker (mounts.h) */
	struct gk_fileless *fileless;       /* `fileless:` in force (fileless.h) */
	struct gk_denied *denied;           /* names of kernel-cached denials (denied.h) */
	atomic_bool unmarked_in_kernel;     /* `unmarked_filesystems: deny` in force (mounts.h) */
	struct gk_shared *shared;           /* in-flight slots, shared with the sentinel */
	struct gk_sentinel *sentinel;
	struct gk_svc_watchdog watchdog;    /* systemd.c; the main loop's thread only */
	int start_nice;                     /* the nice it was started at (the unit's) */
	const char *boost;                  /* what became of a negative one: gatekeeperd.c */
	int booting;                        /* svc_system_booting() at the start */
	char booting_why[128];
	/* --bpf-after-ready: the load waits for the boot's end (systemd.h);
	 * main loop's thread. The flag is for the status reply. */
	struct svc_boot_wait *boot_wait;
	atomic_bool bpf_waits_for_boot;
};

/* fan.c: fanotify groups. Both permission groups of a policy, marked:
 * *local for filesystems whose content changes only through this kernel,
 * *remote for those a server serves. -1 with err, nothing left open. */
int fan_groups_open(const struct gk_policy *policy, struct fan_group **local,
		    struct fan_group **remote, char *err, size_t errlen);
void fan_group_close(struct fan_group *g);
void fan_group_close_async(struct fan_group *g);
void fan_close_async(int fd);
/* Answer a permission event. Never fails silently: logs errors. */
void fan_reply(int group_fd, int event_fd, enum gk_verdict verdict);

/* judge.c: the one decision function (miss path, pre-scan, control queries) */
struct judgement {
	uint64_t kcache_epoch;     /* kernel-cache epoch when judging began */
	uint64_t identified_ns;    /* CLOCK_MONOTONIC just before id was taken */
	struct file_id id;
	bool have_id;
	bool need_hash;            /* watched, or a hash rule could deny it anyway */
	bool fileless;             /* no name links to it (memfd, O_TMPFILE, deleted) */
	enum gk_watch_fact watch;
	unsigned char sha256[GK_SHA256_LEN];
	bool have_sha;
	struct gk_decision decision;
	bool monitor;              /* decided under a monitor-mode policy: never deny */
	char path[4096];
	/* The path the kernel gave names another file (or none) here: the exec
	 * came through a mount of another mount namespace, whose owner, a user
	 * in a user namespace of their own included, chose the name. */
	bool path_elsewhere;
	/* Whether the path may be walked through filesystems that ask a
	 * server (judge_begin_may_wait): not on the threads that serve local
	 * execs, which walk only what the kernel has cached (judge.c). */
	bool path_may_wait;
	enum gk_trust_match trust;  /* what trust made of it (trust.h) */
	char trust_detail[160];
	bool path_after_answer;    /* judge_by_content decided: path not read yet */
	bool sha_cached;           /* judge_by_content found sha256 in the hash cache */
	bool stale_digest;         /* prescan_before_miss was unsure: hash it anew */
	bool as_indexed;           /* trust as indexed now (trust_identify_indexed) */
	uint64_t lease_ticket;     /* leased before the read (kcache_arm); 0: not */
	/* The scan's read may not have been of sha256's content, though no
	 * change was seen (FILE_REREAD_FOR_NOW): the verdict is this
	 * judgement's, not to be kept as that content's. */
	bool verdict_for_now;
};
/* What the event itself tells: identity (judge_identify), then path and
 * whether it is watched (judge_locate); judge_begin does both. */
void judge_identify(struct gk_daemon *d, int fd, struct judgement *j);
void judge_locate(struct gk_daemon *d, int fd, struct judgement *j);
void judge_begin(struct gk_daemon *d, int fd, struct judgement *j);
/* The same, for a thread a server may hold up (a remote worker, a query). */
void judge_begin_may_wait(struct gk_daemon *d, int fd, struct judgement *j);
/* After judge_identify: decide from a digest in memory when the levels
 * above the watch scope (fileless, admin and policy hash rules) decide.
 * False, deciding nothing, otherwise. */
bool judge_by_content(struct gk_daemon *d, struct judgement *j);
/* After judge_by_content decided: read the path, and make the decision
 * that the route knowing it makes (the record's source). */
void judge_after_answer(struct gk_daemon *d, int fd, struct judgement *j);
/* After judge_by_content (its hash cache lookup) and judge_locate: decide
 * without reading the file (its digest is cached, no scan is due).
 * Returns false, deciding nothing, when the file must be read. */
bool judge_from_memory(struct gk_daemon *d, struct judgement *j);
/* An exec's file a writer had open (j->lease_ticket KCACHE_ARM_WRITER):
 * wait a little for the writer to go, and begin again if it went. Returns
 * the lease then taken for the exec (0: none); j->lease_ticket says what
 * arming found last. */
uint64_t judge_wait_for_writer(struct gk_daemon *d, int fd, struct judgement *j);
/* The writer stayed, or (lapsed) one that came while it was judged may
 * have written once the kernel took the lease back: an allow becomes a
 * denial for this exec alone. */
void judge_refuse_for_writer(struct judgement *j, bool lapsed);
/* After judge_begin: identify, decide, scan if due, decide again. A file
 * that changed between its digest and its scan is judged once more from
 * judge_begin (lease_ticket kept); a second change is a scan error. */
void judge_fully(struct gk_daemon *d, int fd, struct judgement *j, const atomic_bool *cancel);
/* judge_begin (judge_begin_may_wait if may_wait) + judge_fully. */
void judge_file(struct gk_daemon *d, int fd, struct judgement *j, bool may_wait,
		const atomic_bool *cancel);
/* Record the judgement in the kernel cache, unless the file changed since it
 * was identified (the entry would vouch for content nobody judged). */
void judge_cache_in_kernel(struct gk_daemon *d, int fd, const struct judgement *j);

/* scan.c: the scanner engines the policy configures */
struct scan_set;
struct scan_result;
struct proto_buf;
/* The engines of p for daemon d, each reused from current when p configures
 * it the same way; NULL and err when one cannot be built (hash lists that
 * do not load included). d->kc must be open: a signature set put in force
 * later flushes it. */
struct scan_set *scan_set_for(struct gk_daemon *d, struct scan_set *current,
			      const struct gk_policy *p, char *err, size_t errlen);
/* Whether p's hash lists load (the daemon's start checks before it forks):
 * -1 with "POLICY: scanners.hashlist: FILE:LINE: why" in err. */
int scan_check_hashlists(const struct gk_policy *p, char *err, size_t errlen);
void scan_set_get(struct scan_set *s);
void scan_set_put(struct scan_set *s);
void scan_set_reload(struct scan_set *s);
/* pid is a scanner process being started: its exec (gatekeeper-scand and
 * its interpreter) is the daemon's own, to allow without judging it. */
bool scan_owns_exec(struct gk_daemon *d, pid_t pid);
void scan_set_report(struct scan_set *s, struct proto_buf *reply);
/* Scans run (cache hits are not scans) and the time they took, since start
 * (a new set carries the old one's totals). */
void scan_set_times(struct scan_set *s, uint64_t *scans, uint64_t *scan_us);
/* After a scan that read fd: did it read the content sha names
 * (file_reread_check)? */
struct scan_reread {
	enum file_reread (*check)(void *ctx, int fd);
	void *ctx;
};
/* Scan fd, whose content's digest is sha, as plan says (a cache hit by sha
 * reads nothing). Returns what reread said of the scan's read (KEEP when
 * nothing was read; reread NULL: KEEP): only a KEEP result is cached under
 * sha, and a CHANGED one is a SCAN_ERROR (a detection included), which the
 * caller may judge again. */
enum file_reread scan_with_plan(struct scan_set *s, int fd, const unsigned char *sha,
				const struct gk_scan_plan *plan, const struct scan_reread *reread,
				struct scan_result *out);

/* events.c: the permission-event route. The reading thread decides what
 * memory can decide and answers at once; the rest goes to workers; a
 * watchdog answers whatever reaches its deadline. */
/* The slots live in d->shared: max_pending for the workers, and one more
 * per event of the batch that the reading thread handles at a time. */
#define EVENTS_READ_BATCH 64
struct gk_events *events_start(struct gk_daemon *d, unsigned workers);
/* Read and handle whatever is ready on g->fd. Returns 0 once a read came
 * back short, else the errno that ended reading (EAGAIN: nothing was
 * ready; EINTR: a signal, the reader's kick). */
int events_read(struct gk_events *ev, struct fan_group *g);
/* Stop workers after answering all queued events; ev is freed unless keep
 * (the remote reader was left: it may still admit). NULL-safe. False: a
 * remote worker still waits on a server (see remote_reader_stop), and was
 * left; ev is kept, and nothing it can reach may be freed. */
bool events_stop(struct gk_events *ev, bool keep);
/* The judging stage of a worker (tests stall it to reach deadlines). */
typedef void events_judge_fn(struct gk_daemon *d, int fd, struct judgement *j,
			     const atomic_bool *cancel);
void events_set_judge(struct gk_events *ev, events_judge_fn *fn);
/* (Re-)read the subordinate id ranges (subids.h) by which the workers'
 * turns tell users apart: if force, or if the file changed since. At start
 * and at each policy applied; the watchdog looks once a second. */
void events_subids_refresh(struct gk_events *ev, const char *path, bool force);

/* recorder.c: the record of an exec, made after the reply. An exec the
 * reading thread answered is recorded on a thread of its own, so that the
 * exec it let go does not wait behind the record, nor behind the kernel
 * cache entry of its allow (cache: make it there, judge_cache_in_kernel). */
#define RECORDER_RING 128            /* records queued; beyond, the reader records inline */
struct gk_recorder;
struct gk_recorder *recorder_start(struct gk_daemon *d);
/* Queue the record (the fd is then the recorder's to close); false when
 * the queue is full: the caller caches and records it itself. */
bool recorder_take(struct gk_recorder *r, int fd, const struct db_audit *a,
		   const struct judgement *j, bool cache);
/* Complete the record (the path if not read yet; exe NULL: read the
 * caller's now) and submit it to the audit writer. */
void recorder_submit(struct gk_daemon *d, int fd, struct db_audit *a, struct judgement *j,
			const char *exe);
void recorder_stop(struct gk_recorder *r);

/* reader.c: the thread that reads d->group (and d->retired while it
 * drains), waiting in read(2) itself. Start once the group and d->events
 * exist; kick after d->group or d->retired changed (returns once the
 * reader has looked again); stop before d->events. NULL-safe. */
#define READER_KICK_SIGNAL (SIGRTMIN + 3)
struct gk_reader;
struct gk_reader *reader_start(struct gk_daemon *d);
void reader_kick(struct gk_reader *r);
void reader_stop(struct gk_reader *r);
/* In a reading thread: let READER_KICK_SIGNAL end its waits (every other
 * thread blocks it). */
void reader_take_kicks(void);

/* remote.c: the thread that reads d->remote (and d->remote_retired), and
 * hands every event to the remote workers. Its read can wait on a server
 * for good: kick returns at once, and stop gives up after a bound (false:
 * the thread is still in the kernel, so nothing it uses may be freed).
 * NULL-safe. */
#define REMOTE_RETIRED_MAX 4   /* retired remote groups draining at once */
struct gk_remote_reader;
struct gk_remote_reader *remote_reader_start(struct gk_daemon *d);
/* How many retired remote groups still drain; under policy_lock. */
unsigned remote_retired_count(const struct gk_daemon *d);
void remote_reader_kick(struct gk_remote_reader *r);
bool remote_reader_stop(struct gk_remote_reader *r);
/* The rest of a stop that left a remote thread: see remote.c. No return. */
_Noreturn void remote_exit_leaving(struct gk_daemon *d, int rc);

/* signals.c: the main loop's signals. gk_signal_fd blocks them (and the
 * reader's kick) in the calling thread, before any other exists, and
 * returns their signalfd; gk_signal_action says what one asks for. A
 * SIGTERM, SIGINT or SIGHUP that no process sent (a descriptor's F_SETSIG
 * signal, si_code POLL_*) asks for nothing: logged once, ignored. */
struct signalfd_siginfo;
enum gk_signal_action {
	GK_SIGNAL_NONE,
	GK_SIGNAL_STOP,
	GK_SIGNAL_RELOAD,
	GK_SIGNAL_LEASE_BROKEN,      /* the lease on ssi_fd */
	GK_SIGNAL_LEASES_CHECK,      /* some lease, which one unknown */
};
int gk_signal_fd(void);
enum gk_signal_action gk_signal_action(const struct signalfd_siginfo *si);

/* prescan.c: judge newly written executables before their first exec */
int prescan_group_open(const struct gk_policy *p, char *err, size_t errlen);
/* Takes group_fd (from prescan_group_open), also when it fails. */
struct gk_prescan *prescan_start(struct gk_daemon *d, int group_fd, unsigned workers);
void prescan_stop(struct gk_prescan *ps);                 /* NULL-safe */
void prescan_swap_group(struct gk_prescan *ps, int fd);   /* takes the fd */
/* Before a permission event is judged: are the closes that came before it
 * handled (so no cached digest outlives a write through a shared mapping)?
 * read_us: when its read of events returned (its closes came before).
 * Counts a pre-judged file whose first exec still asked the daemon. Waits
 * for them a few ms, up to 30 ms while their reader is short of a CPU
 * (one such wait per read of events). False: a close of this very file
 * may not be handled yet: its cached digest must not be trusted. */
bool prescan_before_miss(struct gk_prescan *ps, const struct file_id *id, int64_t read_us);
/* A FAN_OPEN_EXEC notification on the permission group (group_fd). NULL-safe. */
void prescan_exec_seen(struct gk_prescan *ps, int group_fd, int fd);

/* audit.c: decisions to the audit table and the log, after the reply */
struct audit_writer;
enum audit_kind {
	AUDIT_EXEC,        /* an exec was answered: audit row, verdict, log line */
	AUDIT_PRESCAN,     /* a written file was judged: verdict and log line */
	AUDIT_KERNEL,      /* the kernel denied from its cache: audit row, log line */
};
/* Starts d->audit (NULL until then and after audit_stop). */
int audit_start(struct gk_daemon *d);
void audit_submit(struct gk_daemon *d, const struct db_audit *a, enum audit_kind kind);
/* The decision's log line (a structured entry under journald) alone, now:
 * for the writer, and for the sentinel, which has no store. */
void audit_log_decision(const struct db_audit *a, enum audit_kind kind);
void audit_stop(struct gk_daemon *d);   /* safe without a (successful) start */
/* Records waiting for the store (at most 65536); stalled: it refuses them. */
size_t audit_backlog(struct gk_daemon *d, bool *stalled);
void audit_sync(struct gk_daemon *d);   /* wait (bounded) until what is queued is stored */

/* control_sock.c: the control socket (the server itself: control.h).
 * init before any thread starts (d->control is then valid for
 * control_publish until free), start, stop (safe if start never ran or
 * failed; start again is fine), free after the last publisher stopped. */
int control_init(struct gk_daemon *d, char *err, size_t errlen);
int control_start(struct gk_daemon *d, char *err, size_t errlen);
void control_stop(struct gk_daemon *d);
void control_free(struct gk_daemon *d);
struct proto_buf;
/* status: the subscribers now, and the records they lost. */
void control_report(struct gk_daemon *d, struct proto_buf *reply);
/* control_cmd.c: run one request. */
void control_dispatch(struct gk_daemon *d, const char *verb, const char *arg, int fd,
		      const atomic_bool *cancel, struct proto_buf *reply);

/* apply.c: apply a parsed policy (takes ownership on success). -1: the
 * policy cannot be applied here; -2: busy (a previous change still drains). */
int apply_policy(struct gk_daemon *d, struct gk_policy *p, char *err, size_t errlen);
/* The policy's cache switches (fanotify_cache, overlayfs_cache), at start
 * and at each apply (which flushes the kernel's cache after). */
void apply_cache_switches(struct gk_daemon *d, const struct gk_policy *p);
/* Judge paths through root's symbolic links as the kernel names them
 * (policy_resolve_links): notes says which (NULL: logged at once). */
int apply_resolve_links(struct gk_policy *p, struct gk_policy_errors *notes, char *err,
			size_t errlen);
int apply_resolve_group(const struct gk_policy *p, gid_t *gid, char *err, size_t errlen);

#endif
