/* policy: the YAML policy (libyaml) -- parse, validate, compile, decide.
 * This header is the subsystem's only door. */
#ifndef GK_POLICY_H
#define GK_POLICY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GK_SHA256_LEN 32
#define GK_SHA256_HEX_LEN 64
#define GK_POLICY_MAX_BYTES (1024 * 1024)

/* Values are stored in SQLite and in the BPF map: never renumber. */
enum gk_verdict {
	GK_VERDICT_UNKNOWN = 0,
	GK_VERDICT_ALLOW = 1,
	GK_VERDICT_DENY = 2,
};

enum gk_mode {
	GK_MODE_ENFORCE = 0,
	GK_MODE_MONITOR = 1,
};

/* Where a verdict came from, highest precedence first (shared/DESIGN.md).
 * Stored in SQLite by name (gk_source_name), never by number. */
enum gk_source {
	GK_SOURCE_NONE = 0,
	GK_SOURCE_ADMIN,       /* gatekeeper-ctl allow|deny, by SHA-256 */
	GK_SOURCE_POLICY_HASH, /* a policy rule matching the SHA-256 */
	GK_SOURCE_POLICY_PATH, /* a policy rule matching the path (subtree or glob) */
	GK_SOURCE_SCANNER,     /* a scanner result */
	GK_SOURCE_DEFAULT,     /* the policy's default for unknown files */
	GK_SOURCE_ON_ERROR,    /* scanner error, limit or decision timeout */
	GK_SOURCE_UNWATCHED,   /* outside every watched subtree */
	/* A packaged file whose content matches what its package manager
	 * recorded. Ranks between policy hash and policy path rules (see
	 * policy_decide); last here only because the numbers are not renumbered. */
	GK_SOURCE_TRUST,
	GK_SOURCE_FILELESS,    /* `fileless: deny`: a program with no file name */
};

enum gk_rule_match {
	GK_MATCH_PATH,    /* `path: /dir` -- the file itself or anything below it */
	GK_MATCH_GLOB,    /* `glob: PATTERN` -- fnmatch(3) per component; a "**" component crosses '/' */
	GK_MATCH_SHA256,  /* `sha256: <64 hex>` */
	GK_MATCH_SCANNER, /* only `scanner: RESULT`: every watched path, by scan result */
};

/* A rule's `scanner:` condition. PATH and GLOB rules may carry one too. */
enum gk_scanner_match {
	GK_SCANNER_ANY = 0,   /* no `scanner:` key */
	GK_SCANNER_INFECTED,
	GK_SCANNER_CLEAN,
	GK_SCANNER_ERROR,     /* a scanner failed or hit a limit */
};

struct gk_rule {
	enum gk_rule_match match;
	char *pattern;                         /* PATH and GLOB */
	unsigned char sha256[GK_SHA256_LEN];   /* SHA256 */
	/* ALLOW or DENY; UNKNOWN when `scan` is set. */
	enum gk_verdict action;
	/* `action: scan`: no verdict; forces a scan (policy_scan_plan). Only
	 * PATH and GLOB rules without a scanner condition. */
	bool scan;
	enum gk_scanner_match scanner;
	unsigned line;                         /* where it was written, for `detail` */
};

/* `scanners.clamav.enabled` */
enum gk_engine_switch {
	GK_ENGINE_OFF = 0,  /* also: no `clamav:` key at all */
	GK_ENGINE_ON,
	GK_ENGINE_AUTO,     /* on when the database directory exists (checked at parse) */
};

#define GK_CLAMAV_DEFAULT_DB "/var/lib/clamav"

/* `scanners:` -- which engines exist. An engine runs only if configured here. */
struct gk_scanners {
	char **hashlist_files;          /* absolute, normalised; none: no hash-list engine */
	size_t n_hashlist_files;
	enum gk_engine_switch clamav_enabled;
	char *clamav_database;          /* absolute, normalised; GK_CLAMAV_DEFAULT_DB if not given */
	/* clamav_enabled is ON, or AUTO and clamav_database was a directory when
	 * the policy was parsed. */
	bool clamav_active;
};

#define GK_SCAN_DEFAULT_MAX_FILE_SIZE (64ull << 20)
#define GK_SCAN_DEFAULT_MAX_SCAN_MS 5000u

/* One `scan:` entry: engines and limits for a subtree; the longest matching
 * path wins. Keys not given hold the defaults. */
struct gk_scan_subtree {
	char *path;                  /* absolute, normalised */
	bool engines_given;          /* false: every configured-and-enabled engine */
	bool hashlist, clamav;       /* the engines listed (when engines_given) */
	uint64_t max_file_size;      /* bytes, 1..16G */
	unsigned max_scan_time_ms;   /* 10..600000 */
	unsigned line;
};

/* `trust:` -- where trusted software comes from, in the order listed. */
enum gk_trust_kind {
	GK_TRUST_DPKG = 0,   /* dpkg database: info/PKG.list, PKG.md5sums, status, diversions */
};

#define GK_DPKG_DEFAULT_ADMINDIR "/var/lib/dpkg"

struct gk_trust_source {
	enum gk_trust_kind kind;
	/* dpkg: like dpkg --root: the lists name paths below `root` ("/" by
	 * default); the database is `admindir` (ROOT/var/lib/dpkg by default). */
	char *root;                  /* absolute, normalised */
	char *admindir;              /* absolute, normalised */
	unsigned line;
};

/* `audit:` -- what the audit log keeps. */
struct gk_audit_config {
	bool log_allows;             /* default true; denies and would-denies are always logged */
	unsigned retain_days;        /* default 30; 1..3650 */
	uint64_t max_rows;           /* default 1000000; 1000..1000000000 */
};

/* `fanotify_cache:` -- without BPF LSM, are allows cached in the kernel? */
enum gk_fanotify_cache {
	GK_FANOTIFY_CACHE_LEASES,    /* default: ignore marks kept honest by read leases */
	GK_FANOTIFY_CACHE_OFF,       /* no kernel cache, no leases: every exec asks the daemon */
};

/* `overlayfs_cache:` -- is anything read of an overlayfs file kept (its
 * digest in memory, its verdict in the kernel)? A writer can change such a
 * file unseen (a shared mapping made through the overlay). */
enum gk_overlayfs_cache {
	GK_OVERLAYFS_CACHE_OFF,          /* default: each exec there is hashed again */
	GK_OVERLAYFS_CACHE_ROOT_OWNED,   /* files root owns and only root may write are kept */
};

/* `metrics:` -- the daemon writes its metrics (the Prometheus text format,
 * as `gatekeeper-ctl metrics` prints them) to a node_exporter textfile. */
struct gk_metrics_config {
	char *textfile;              /* absolute, ends in .prom; NULL: not written */
	unsigned interval_s;         /* default 15; 1..3600 */
};

struct gk_policy {
	char *name;              /* the file it came from (as given) */
	char *text;              /* the source text, NUL-terminated, for `policy show` */
	size_t text_len;
	/* Of text, computed at the first policy_sha256_hex(): OpenSSL's first
	 * use loads its providers, which a daemon starting at boot need not
	 * wait for. */
	char sha256_hex[GK_SHA256_HEX_LEN + 1];
	atomic_bool sha256_done;
	pthread_mutex_t sha256_lock;

	enum gk_mode mode;
	char **watch;            /* absolute, normalised (no trailing '/', no . or ..) */
	size_t n_watch;
	enum gk_verdict default_verdict;
	enum gk_verdict on_error;        /* defaults to default_verdict */
	unsigned decision_timeout_ms;    /* default 5000; 10..600000 */
	char *admin_group;               /* NULL: root only */
	struct gk_rule *rules;           /* file order; per level deny wins, else 1st allow */
	size_t n_rules;
	enum gk_verdict overload;        /* too many pending events; defaults to on_error */
	struct gk_scanners scanners;
	struct gk_scan_subtree *scan;    /* file order */
	size_t n_scan;
	struct gk_audit_config audit;
	struct gk_trust_source *trust;   /* file order; none: no trust level */
	size_t n_trust;
	enum gk_fanotify_cache fanotify_cache;
	enum gk_overlayfs_cache overlayfs_cache;
	struct gk_metrics_config metrics;
	/* `fileless`: may a program with no file name run (a memfd, an unlinked
	 * O_TMPFILE or deleted file)? Default allow (runc re-executes itself
	 * from a memfd). */
	enum gk_verdict fileless;
	/* `unmarked_filesystems`: may a program run from a filesystem that holds
	 * no mark of the daemon (another mount namespace's: a container's, a
	 * user's own)? deny needs `watch: [/]` and BPF LSM. Default allow. */
	enum gk_verdict unmarked_filesystems;
	/* Compiled when parsed: can any `sha256:` rule deny? Outside the watched
	 * subtrees only a hash rule can deny, so without one the daemon need
	 * not hash files there. */
	bool hash_rules_deny;
	/* Compiled when parsed: is there any `sha256:` rule? Without one (and
	 * without an admin rule) the content alone never decides. */
	bool hash_rules;
	/* Compiled when parsed: can the path change a default or scanner
	 * verdict (a `path:` or `glob:` rule, a `scan:` subtree)? */
	bool verdict_by_path;
};

/* Diagnostics: every error as "file:line:column: message" (1-based). */
#define GK_POLICY_MAX_ERRORS 32
struct gk_policy_errors {
	size_t count;            /* may exceed GK_POLICY_MAX_ERRORS; only the first are kept */
	char msg[GK_POLICY_MAX_ERRORS][320];
};

/* Parse a policy held in memory. `name` is used in messages and kept.
 * Returns NULL and fills errs (count >= 1) on any error. */
struct gk_policy *policy_parse(const char *name, const char *text, size_t len,
			       struct gk_policy_errors *errs);
/* Read (at most GK_POLICY_MAX_BYTES) and parse. An unreadable, oversized or
 * non-regular file is reported as "file: message". */
struct gk_policy *policy_load(const char *path, struct gk_policy_errors *errs);
/* The same through an already open fd (the control socket passes one). */
struct gk_policy *policy_load_fd(int fd, const char *name, struct gk_policy_errors *errs);
/* The kernel names a file by a path with no symbolic link in it: rewrite
 * the watch, path-rule, glob and scan paths that go through a link owned by
 * root as the kernel will name them (policy_links.c). The daemon calls it
 * on every policy it loads, and `policy check` too; the parser does not
 * (its result must not depend on the machine). notes: one line for each
 * path rewritten or left as written. Returns how many were rewritten, or
 * -1 (out of memory: the policy is unusable). */
int policy_resolve_links(struct gk_policy *p, struct gk_policy_errors *notes);
/* Every watch path exists here: the daemon refuses to start with, or to
 * apply, a policy whose watch paths do not, and `policy check` must say so
 * before an upgrade restarts the daemon with it. -1 and err ("POLICY:
 * watch PATH: why") for the first that does not. */
int policy_check_watch(const struct gk_policy *p, char *err, size_t errlen);
void policy_free(struct gk_policy *policy);
/* The SHA-256 of the policy's text, in hex ("" if OpenSSL failed); safe
 * from any thread that holds the policy. */
const char *policy_sha256_hex(struct gk_policy *policy);

/* What the trust sources (policy `trust:`) say about one file. */
enum gk_trust_match {
	GK_TRUST_UNKNOWN = 0,   /* not asked: no trust source, or not watched */
	GK_TRUST_MATCH,         /* a package lists it and its content is what it recorded */
	GK_TRUST_DIFFERS,       /* listed, but the content differs from the recorded digest */
	GK_TRUST_NO_DIGEST,     /* listed, but the package recorded no digest for it */
	GK_TRUST_NOT_PACKAGED,  /* no installed package lists it */
};

/* Whether a file lies inside the watched subtrees, when the caller already
 * knows (the daemon asks policy_path_watched once per event). */
enum gk_watch_fact {
	GK_WATCH_FROM_PATH = 0,    /* not given: policy_decide works it out */
	GK_WATCH_INSIDE,
	GK_WATCH_OUTSIDE,
};

/* What the daemon knows about one file when it asks for a decision. */
struct gk_file_facts {
	const char *path;                      /* absolute; NULL if unknown */
	enum gk_watch_fact watch;
	const unsigned char *sha256;           /* GK_SHA256_LEN bytes; NULL if unknown */
	enum gk_verdict admin;                 /* admin rule for this hash, or UNKNOWN */
	enum gk_verdict scan;                  /* ALLOW clean, DENY infected, UNKNOWN not scanned */
	const char *scan_detail;               /* signature name, or NULL */
	bool scan_error;                       /* a scanner failed or a limit was hit */
	const char *scan_error_reason;         /* why, or NULL */
	enum gk_trust_match trust;             /* what the trust sources say */
	const char *trust_detail;              /* MATCH: "dpkg PKG VERSION"; DIFFERS,
						  NO_DIGEST: the package; else NULL */
	bool fileless;                         /* no name links to it (st_nlink == 0) */
};

struct gk_decision {
	enum gk_verdict verdict;
	enum gk_source source;
	char detail[160];  /* "rule 3 (line 12)", a signature name, an error reason, "" */
};

/* `fileless: deny` refuses a fileless program before anything else (the
 * kernel programs refuse it by route, not by content, and so does this).
 * Then precedence: admin > policy hash rule > trust > policy path rule >
 * scanner > default. Deny beats allow at the same level. Trust only allows
 * (MATCH, source trust, detail "dpkg PKG VERSION"); a file it does not trust
 * falls through, and a DIFFERS or NO_DIGEST finding is appended to the
 * detail of whatever decides ("differs from the digest dpkg recorded for
 * PKG"). Trust needs a `trust:` source in the policy. A path outside every watched
 * subtree is GK_SOURCE_UNWATCHED/ALLOW (admin and hash rules still apply).
 * The scanner level: infected is DENY (source scanner, detail the
 * signature); an error gives the matching `scanner: error` rule, else
 * on_error (source on-error either way: never cache it); clean gives the
 * matching `scanner: clean` rule (source scanner), else falls to default. */
void policy_decide(const struct gk_policy *policy, const struct gk_file_facts *facts,
		   struct gk_decision *out);
/* Is path inside one of the watched subtrees? */
bool policy_path_watched(const struct gk_policy *policy, const char *path);

/* What to scan a file with, and within which limits. */
struct gk_scan_plan {
	bool hashlist, clamav;
	uint64_t max_file_size;      /* bytes; a bigger file is a scan error ("limit") */
	unsigned max_scan_time_ms;
};
/* Fills out for a file at path (NULL: unknown, treated as watched) and
 * returns whether any engine should run. The longest `scan:` entry holding
 * path gives engines and limits; without one, every configured-and-enabled
 * engine with 64M and 5000 ms. An `action: scan` rule matching path turns
 * an empty engine list into every configured-and-enabled engine. A path
 * outside every watched subtree gets no engine. */
bool policy_scan_plan(const struct gk_policy *policy, const char *path, struct gk_scan_plan *out);
/* The same for a file whose facts are known (facts->watch is honoured). */
bool policy_scan_plan_for(const struct gk_policy *policy, const struct gk_file_facts *facts,
			  struct gk_scan_plan *out);
/* facts->watch if given, else worked out from facts->path (NULL: watched). */
bool policy_facts_watched(const struct gk_policy *policy, const struct gk_file_facts *facts);

const char *gk_verdict_name(enum gk_verdict v);     /* "allow" "deny" "unknown" */
const char *gk_source_name(enum gk_source s);       /* "admin" "policy-hash" "policy-path" "scanner" "default" "on-error" "unwatched" "trust" "fileless" "none" */
/* Why trust did not allow, for details and `query`: "differs from the digest
 * dpkg recorded for PKG", "dpkg recorded no digest for it (PKG)", "not in
 * any package"; "" for UNKNOWN and MATCH. */
void gk_trust_why_not(enum gk_trust_match m, const char *pkg, char *out, size_t size);
const char *gk_mode_name(enum gk_mode m);           /* "enforce" "monitor" */
enum gk_source gk_source_from_name(const char *name); /* GK_SOURCE_NONE if unknown */
enum gk_verdict gk_verdict_from_name(const char *name); /* GK_VERDICT_UNKNOWN if unknown */

/* Hex helpers (hex.c) shared by everyone who prints or parses a digest. */
void gk_sha256_to_hex(const unsigned char sha[GK_SHA256_LEN], char hex[GK_SHA256_HEX_LEN + 1]);
/* Exactly 64 hex digits and the end of the string: 0; else -1, sha untouched. */
int gk_sha256_from_hex(const char *hex, unsigned char sha[GK_SHA256_LEN]);
/* The first len characters of hex (digits in either case) as len / 2 bytes
 * into out: their count, or -1 (out untouched) if len is odd, out has fewer
 * than len / 2 bytes, or a character is no hex digit (a NUL before len ends
 * the reading there: hex may be shorter than len). */
int gk_hex_decode(const char *hex, size_t len, unsigned char *out, size_t size);

/* Text (text.c): what no line of output shows raw, for everyone who prints
 * text from outside (file names, policy values, messages). */
/* The length (1..4) of the well-formed UTF-8 sequence at p (n bytes left),
 * or 0 if it is not one (overlong, surrogate, past U+10FFFF, cut short). */
size_t gk_utf8_len(const unsigned char *p, size_t n);
/* Is the sequence at p, u bytes long as gk_utf8_len measured it (0: not
 * UTF-8), one that no line of text may show raw: not UTF-8, a C0 control,
 * DEL, a C1 control (U+0080..U+009F), or the line or paragraph separator
 * (U+2028, U+2029)? */
bool gk_control_seq(const unsigned char *p, size_t u);
/* The len bytes of text into out (size bytes, NUL included), each byte of
 * such a sequence as \xHH, everything else as it is; whole characters only.
 * Returns the length written; *taken (if not NULL): the bytes of text used. */
size_t gk_text_escape(char *out, size_t size, const char *text, size_t len, size_t *taken);

#endif
