/* Unit tests for policy/: the keys beyond the minimal form -- overload,
 * scanners, scan, audit, overlayfs_cache, and rules by scanner result or
 * with action scan.
 * Core keys and loading: test_policy.c; decisions and scan plans:
 * test_policy_decide.c. Each table row runs as its own cmocka test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/test_policy_util.h"

#define HEAD "mode: enforce\nwatch:\n  - /tmp\ndefault: allow\n"
/* lines 5-9: both engines configured (clamav off, so no host dependence) */
#define SCN "scanners:\n  hashlist:\n    files: [/etc/gk/deny.sha256]\n  clamav:\n    enabled: false\n"
#define NO_DIR "/nonexistent/gk-test-clamav"

/* ---- invalid policies: the first error's position and message ---- */

struct bad_case {
	const char *name;
	const char *yaml;
	unsigned line, column; /* of the first error */
	const char *message;   /* a substring of the first error */
	size_t count;          /* exact number of errors, or 0: any */
};

static const struct bad_case bad_cases[] = {
	/* overload */
	{"overload: bad value", HEAD "overload: block\n", 5, 11,
	 "'overload' must be allow or deny, not 'block'", 1},
	{"overload: typo in value", HEAD "overload: dney\n", 5, 11, "(did you mean 'deny'?)", 1},
	{"overload: typo in key", HEAD "overlaod: deny\n", 5, 1,
	 "unknown key 'overlaod' (did you mean 'overload'?)", 1},
	{"overload: a list", HEAD "overload: [deny]\n", 5, 11,
	 "'overload' must be allow or deny, not a list", 1},
	/* overlayfs_cache */
	{"overlayfs_cache: bad value", HEAD "overlayfs_cache: root\n", 5, 18,
	 "'overlayfs_cache' must be off or root_owned, not 'root'", 1},
	/* scanners */
	{"scanners: a list", HEAD "scanners: [clamav]\n", 5, 11,
	 "'scanners' must be a map like {clamav: {enabled: auto}}, not a list", 1},
	{"scanners: unknown engine", HEAD "scanners:\n  clamd: {}\n", 6, 3,
	 "scanners: unknown key 'clamd' (did you mean 'clamav'?)", 1},
	{"scanners: engine twice", HEAD "scanners:\n  clamav: {}\n  clamav: {}\n", 7, 3,
	 "scanners: duplicate key 'clamav' (first at line 6)", 1},
	{"hashlist: no files key", HEAD "scanners:\n  hashlist: {}\n", 6, 13,
	 "scanners.hashlist: missing required key 'files'", 1},
	{"hashlist: no value", HEAD "scanners:\n  hashlist:\n", 6, 12,
	 "'scanners.hashlist' has no value (expected a map like {files: [", 1},
	{"hashlist: a list", HEAD "scanners:\n  hashlist: [/a]\n", 6, 13,
	 "'scanners.hashlist' must be a map like", 1},
	{"hashlist: key typo", HEAD "scanners:\n  hashlist:\n    file: [/a]\n", 7, 5,
	 "scanners.hashlist: unknown key 'file' (did you mean 'files'?)", 2},
	{"hashlist: relative file", HEAD "scanners:\n  hashlist:\n    files: [/a, deny.sha256]\n",
	 7, 17, "hashlist file 'deny.sha256' is not an absolute path", 1},
	{"hashlist: no files", HEAD "scanners:\n  hashlist:\n    files: []\n", 7, 12,
	 "'scanners.hashlist.files' must list at least one file", 1},
	{"hashlist: file twice", HEAD "scanners:\n  hashlist:\n    files: [/a/x, /a//x]\n", 7, 19,
	 "hashlist file '/a/x' is listed twice", 1},
	{"hashlist: files a scalar", HEAD "scanners:\n  hashlist:\n    files: /a/x\n", 7, 12,
	 "'scanners.hashlist.files' must be a list of absolute file paths, not a scalar", 1},
	{"hashlist: file a map", HEAD "scanners:\n  hashlist:\n    files:\n      - {a: b}\n", 8, 9,
	 "hashlist file 1 must be a path, not a map", 1},
	{"clamav: enabled bad", HEAD "scanners:\n  clamav:\n    enabled: yes\n", 7, 14,
	 "'scanners.clamav.enabled' must be auto, true or false, not 'yes'", 1},
	{"clamav: enabled typo", HEAD "scanners:\n  clamav:\n    enabled: atuo\n", 7, 14,
	 "(did you mean 'auto'?)", 1},
	{"clamav: database relative", HEAD "scanners:\n  clamav:\n    database: var/lib/clamav\n", 7,
	 15, "clamav database 'var/lib/clamav' is not an absolute path", 1},
	{"clamav: database a list", HEAD "scanners:\n  clamav:\n    database: [/a]\n", 7, 15,
	 "'scanners.clamav.database' must be an absolute directory, not a list", 1},
	{"clamav: database no value", HEAD "scanners:\n  clamav:\n    database:\n", 7, 14,
	 "'scanners.clamav.database' has no value", 1},
	{"clamav: a scalar", HEAD "scanners:\n  clamav: yes\n", 6, 11,
	 "'scanners.clamav' must be a map like {enabled: auto, database: /var/lib/clamav}, not a scalar",
	 1},
	{"clamav: key typo", HEAD "scanners:\n  clamav:\n    databse: /a\n", 7, 5,
	 "scanners.clamav: unknown key 'databse' (did you mean 'database'?)", 1},
	/* scan */
	{"scan: a map", HEAD "scan: {path: /tmp}\n", 5, 7,
	 "'scan' must be a list of subtrees like {path: /home, engines: [hashlist, clamav]}, not a map",
	 1},
	{"scan: entry a scalar", HEAD "scan:\n  - /tmp\n", 6, 5,
	 "scan entry 1 must be a map like", 1},
	{"scan: no path", HEAD "scan:\n  - {engines: []}\n", 6, 5,
	 "scan entry 1: missing required key 'path'", 1},
	{"scan: relative path", HEAD "scan:\n  - path: tmp\n", 6, 11,
	 "scan entry 1: path 'tmp' is not an absolute path", 1},
	{"scan: path a list", HEAD "scan:\n  - path: [/tmp]\n", 6, 11,
	 "scan entry 1: path must be an absolute path, not a list", 1},
	{"scan: path twice", HEAD "scan:\n  - path: /tmp\n  - path: /tmp/\n", 7, 11,
	 "scan entry 2: path '/tmp' is already given by the entry at line 6", 1},
	{"scan: path outside every watch", HEAD "scan:\n  - path: /tmp/a\n  - path: /srv\n", 7, 11,
	 "scan entry 2: path '/srv' is outside every watched directory, so it would never apply", 1},
	{"scan: unknown engine", HEAD SCN "scan:\n  - {path: /tmp, engines: [clamd]}\n", 11, 28,
	 "scan entry 1: engine must be hashlist or clamav, not 'clamd' (did you mean 'clamav'?)", 1},
	{"scan: engine twice", HEAD SCN "scan:\n  - {path: /tmp, engines: [clamav, clamav]}\n", 11, 36,
	 "scan entry 1: engine 'clamav' is listed twice", 1},
	{"scan: engine not configured", HEAD "scan:\n  - {path: /tmp, engines: [hashlist, clamav]}\n",
	 6, 28, "scan entry 1: engine 'hashlist' is not configured under 'scanners'", 2},
	{"scan: engine configured by another key", HEAD "scanners: {clamav: {}}\n"
	 "scan:\n  - {path: /tmp, engines: [hashlist]}\n", 7, 28,
	 "scan entry 1: engine 'hashlist' is not configured under 'scanners'", 1},
	{"scan: engines a scalar", HEAD SCN "scan:\n  - {path: /tmp, engines: clamav}\n", 11, 27,
	 "scan entry 1: engines must be a list like [hashlist, clamav] ([] for no scanning), not a scalar",
	 1},
	{"scan: engines no value", HEAD SCN "scan:\n  - path: /tmp\n    engines:\n", 12, 13,
	 "scan entry 1: engines must be a list like", 1},
	{"scan: engine a list", HEAD SCN "scan:\n  - {path: /tmp, engines: [[clamav]]}\n", 11, 28,
	 "scan entry 1: engine must be hashlist or clamav, not a list", 1},
	{"scan: max_file_size zero", HEAD "scan:\n  - {path: /tmp, max_file_size: 0}\n", 6, 33,
	 "scan entry 1: max_file_size is 0; it must be between 1 and 16G", 1},
	{"scan: max_file_size too big", HEAD "scan:\n  - {path: /tmp, max_file_size: 17G}\n", 6, 33,
	 "scan entry 1: max_file_size is 17G; it must be between 1 and 16G", 1},
	{"scan: max_file_size one byte too big",
	 HEAD "scan:\n  - {path: /tmp, max_file_size: 17179869185}\n", 6, 33,
	 "max_file_size is 17179869185; it must be between 1 and 16G", 1},
	{"scan: max_file_size MB", HEAD "scan:\n  - {path: /tmp, max_file_size: 64MB}\n", 6, 33,
	 "scan entry 1: max_file_size must be a number of bytes with an optional K, M or G suffix "
	 "(like 64M), not '64MB'", 1},
	{"scan: max_file_size negative", HEAD "scan:\n  - {path: /tmp, max_file_size: -1}\n", 6, 33,
	 "not '-1'", 1},
	{"scan: max_file_size suffix only", HEAD "scan:\n  - {path: /tmp, max_file_size: M}\n", 6,
	 33, "not 'M'", 1},
	{"scan: max_file_size overflows", HEAD "scan:\n  - {path: /tmp, max_file_size: "
	 "9999999999999999999G}\n", 6, 33, "it must be between 1 and 16G", 1},
	{"scan: max_file_size a list", HEAD "scan:\n  - {path: /tmp, max_file_size: [1]}\n", 6, 33,
	 "scan entry 1: max_file_size must be a size like 64M, not a list", 1},
	{"scan: max_scan_time_ms too small", HEAD "scan:\n  - {path: /tmp, max_scan_time_ms: 9}\n",
	 6, 36, "scan entry 1: max_scan_time_ms is 9; it must be between 10 and 600000", 1},
	{"scan: max_scan_time_ms with unit", HEAD "scan:\n  - {path: /tmp, max_scan_time_ms: 5s}\n",
	 6, 36, "must be a whole number of milliseconds (10..600000), not '5s'", 1},
	{"scan: key typo", HEAD "scan:\n  - path: /tmp\n    max_filesize: 1M\n", 7, 5,
	 "scan entry 1: unknown key 'max_filesize' (did you mean 'max_file_size'?)", 1},
	{"scan: duplicate key", HEAD "scan:\n  - {path: /tmp, path: /tmp/a}\n", 6, 18,
	 "scan entry 1: duplicate key 'path' (first at line 6)", 1},
	/* audit */
	{"audit: a list", HEAD "audit: [log_allows]\n", 5, 8,
	 "'audit' must be a map like {log_allows: true, retain_days: 30}, not a list", 1},
	{"audit: log_allows yes", HEAD "audit:\n  log_allows: yes\n", 6, 15,
	 "'audit.log_allows' must be true or false, not 'yes'", 1},
	{"audit: log_allows typo", HEAD "audit:\n  log_allows: ture\n", 6, 15,
	 "(did you mean 'true'?)", 1},
	{"audit: retain_days zero", HEAD "audit:\n  retain_days: 0\n", 6, 16,
	 "'audit.retain_days' is 0; it must be between 1 and 3650", 1},
	{"audit: retain_days too many", HEAD "audit:\n  retain_days: 3651\n", 6, 16,
	 "between 1 and 3650", 1},
	{"audit: retain_days with unit", HEAD "audit:\n  retain_days: 30d\n", 6, 16,
	 "'audit.retain_days' must be a whole number of days (1..3650), not '30d'", 1},
	{"audit: max_rows too few", HEAD "audit:\n  max_rows: 999\n", 6, 13,
	 "'audit.max_rows' is 999; it must be between 1000 and 1000000000", 1},
	{"audit: max_rows too many", HEAD "audit:\n  max_rows: 1000000001\n", 6, 13,
	 "between 1000 and 1000000000", 1},
	{"audit: max_rows 1e9", HEAD "audit:\n  max_rows: 1e9\n", 6, 13,
	 "'audit.max_rows' must be a whole number of rows (1000..1000000000), not '1e9'", 1},
	{"audit: key typo", HEAD "audit:\n  retain_day: 3\n", 6, 3,
	 "audit: unknown key 'retain_day' (did you mean 'retain_days'?)", 1},
	{"audit: duplicate key", HEAD "audit:\n  max_rows: 1000\n  max_rows: 2000\n", 7, 3,
	 "audit: duplicate key 'max_rows' (first at line 6)", 1},
	/* metrics */
	{"metrics: textfile not .prom", HEAD "metrics: {textfile: /tmp/gk.txt}\n", 5, 21,
	 "metrics textfile '/tmp/gk.txt' must end in .prom", 1},
	{"metrics: textfile relative", HEAD "metrics: {textfile: gk.prom}\n", 5, 21,
	 "metrics textfile 'gk.prom' is not an absolute path", 1},
	{"metrics: no textfile", HEAD "metrics: {interval_s: 5}\n", 5, 10,
	 "metrics: missing required key 'textfile'", 1},
	{"metrics: interval 0", HEAD "metrics: {textfile: /a.prom, interval_s: 0}\n", 5, 42,
	 "'metrics.interval_s' is 0; it must be between 1 and 3600", 1},
	/* rules: scanner and action scan */
	{"rule: scanner bad value", HEAD "rules:\n  - {scanner: dirty, action: deny}\n", 6, 15,
	 "rule 1: scanner must be infected, clean or error, not 'dirty'", 1},
	{"rule: scanner typo", HEAD "rules:\n  - {scanner: cleen, action: allow}\n", 6, 15,
	 "(did you mean 'clean'?)", 1},
	{"rule: scanner no value", HEAD "rules:\n  - {path: /tmp, scanner: , action: allow}\n", 6, 27,
	 "rule 1: scanner has no value (expected infected, clean or error)", 1},
	{"rule: sha256 then scanner", HEAD "rules:\n  - sha256: " H64_A "\n    scanner: clean\n"
	 "    action: allow\n", 7, 5, "rule 1: 'sha256' and 'scanner' cannot be combined", 1},
	{"rule: scanner then sha256", HEAD "rules:\n  - scanner: clean\n    sha256: " H64_A "\n"
	 "    action: allow\n", 7, 5, "rule 1: 'sha256' and 'scanner' cannot be combined", 1},
	{"rule: scan by sha256", HEAD "rules:\n  - {sha256: " H64_A ", action: scan}\n", 6, 88,
	 "rule 1: action scan needs a path or glob", 1},
	{"rule: scan with scanner", HEAD "rules:\n  - {path: /tmp, scanner: clean, action: scan}\n",
	 6, 42, "rule 1: action scan cannot have a scanner condition", 1},
	{"rule: infected cannot allow", HEAD "rules:\n  - {scanner: infected, action: allow}\n", 6,
	 15, "rule 1: 'scanner: infected' cannot allow", 1},
	{"rule: scan alone", HEAD "rules:\n  - {action: scan}\n", 6, 5,
	 "rule 1 needs one of path, glob, sha256 or scanner", 1},
	{"rule: action typo scna", HEAD "rules:\n  - {glob: /tmp/*, action: scna}\n", 6, 28,
	 "rule 1: action must be allow, deny or scan, not 'scna' (did you mean 'scan'?)", 1},
	{"rule: scanner key typo", HEAD "rules:\n  - {scaner: clean, action: allow}\n", 6, 6,
	 "rule 1: unknown key 'scaner' (did you mean 'scanner'?)", 1},
	{"rule: scanner a list", HEAD "rules:\n  - {scanner: [clean], action: allow}\n", 6, 15,
	 "rule 1: scanner must be infected, clean or error, not a list", 1},
	/* several sections wrong at once: every error, in file order */
	{"errors in every new section", HEAD "overload: no\nscanners: {clamav: {enabled: on}}\n"
	 "scan: [{path: /tmp, max_scan_time_ms: 1}]\naudit: {max_rows: 1}\n", 5, 11,
	 "'overload' must be allow or deny, not 'no'", 4},
};

static void parse_bad(void **state)
{
	const struct bad_case *c = *state;
	expect_parse_error(c->yaml, strlen(c->yaml), c->line, c->column, c->message, NULL,
			   c->count);
}

/* ---- valid policies and what they compile to ---- */

/* Zero fields expect the defaults. */
struct good_case {
	const char *name;
	const char *yaml;
	enum gk_verdict overload;         /* UNKNOWN: expect on_error */
	size_t n_files;
	const char *file0;
	enum gk_engine_switch clamav;
	bool clamav_active;
	const char *database;             /* NULL: GK_CLAMAV_DEFAULT_DB */
	size_t n_scan;
	const char *scan0;                /* first entry's path */
	const char *engines0;             /* "hashlist,clamav", "" for [], NULL: not given */
	uint64_t size0;
	unsigned ms0;
	bool quiet;                       /* audit.log_allows: false */
	unsigned retain_days;
	uint64_t max_rows;
	const char *textfile;             /* metrics.textfile, NULL: none */
	unsigned interval_s;              /* 0: the default, 15 */
	size_t n_rules;                   /* and the last rule: */
	enum gk_rule_match match;
	enum gk_scanner_match scanner;
	enum gk_verdict action;
	bool scan;
};

#define FULL_POLICY                                                             \
	"mode: monitor\nwatch: [/tmp, /home]\ndefault: deny\non_error: allow\n"     \
	"overload: deny\n"                                                          \
	"scanners:\n  hashlist:\n    files: [/etc/gk/a.sha256, /etc/gk/b.sha256]\n" \
	"  clamav:\n    enabled: true\n    database: " NO_DIR "\n"                  \
	"scan:\n  - path: /home\n    engines: [hashlist, clamav]\n"                 \
	"    max_file_size: 64M\n    max_scan_time_ms: 5000\n"                      \
	"  - {path: /home/build, engines: []}\n"                                    \
	"audit:\n  log_allows: false\n  retain_days: 7\n  max_rows: 5000\n"         \
	"rules:\n  - {path: /home/build, action: scan}\n"                           \
	"  - {path: /home, scanner: clean, action: allow}\n"

static const struct good_case good_cases[] = {
	{.name = "new keys all absent", .yaml = HEAD},
	{.name = "overload deny", .yaml = HEAD "overload: deny\n", .overload = GK_VERDICT_DENY},
	{.name = "overload follows on_error", .yaml = HEAD "on_error: deny\n",
	 .overload = GK_VERDICT_DENY},
	{.name = "overload follows default", .yaml = "mode: enforce\nwatch: [/tmp]\ndefault: deny\n",
	 .overload = GK_VERDICT_DENY},
	{.name = "overload allow beside on_error deny", .yaml = HEAD "on_error: deny\noverload: allow\n",
	 .overload = GK_VERDICT_ALLOW},
	{.name = "scanners with no value", .yaml = HEAD "scanners:\n"},
	{.name = "scanners empty map", .yaml = HEAD "scanners: {}\n"},
	{.name = "hashlist files normalised", .yaml = HEAD "scanners:\n  hashlist:\n"
	 "    files:\n      - //etc/gk/./deny.sha256\n      - /srv/more.sha256\n",
	 .n_files = 2, .file0 = "/etc/gk/deny.sha256"},
	{.name = "clamav auto, database present", .yaml = HEAD "scanners:\n  clamav:\n"
	 "    enabled: auto\n    database: /tmp/\n", .clamav = GK_ENGINE_AUTO,
	 .clamav_active = true, .database = "/tmp"},
	{.name = "clamav auto, database missing", .yaml = HEAD "scanners:\n  clamav:\n"
	 "    database: " NO_DIR "\n", .clamav = GK_ENGINE_AUTO, .database = NO_DIR},
	{.name = "clamav true, database missing", .yaml = HEAD "scanners:\n  clamav:\n"
	 "    enabled: true\n    database: " NO_DIR "\n", .clamav = GK_ENGINE_ON,
	 .clamav_active = true, .database = NO_DIR},
	{.name = "clamav false, database present", .yaml = HEAD "scanners:\n  clamav:\n"
	 "    enabled: false\n    database: /tmp\n", .clamav = GK_ENGINE_OFF, .database = "/tmp"},
	{.name = "quoted enabled", .yaml = HEAD "scanners: {clamav: {enabled: \"true\"}}\n",
	 .clamav = GK_ENGINE_ON, .clamav_active = true},
	{.name = "scan with every key", .yaml = HEAD SCN "scan:\n  - path: /tmp\n"
	 "    engines: [clamav, hashlist]\n    max_file_size: 1G\n    max_scan_time_ms: 600000\n",
	 .n_files = 1, .file0 = "/etc/gk/deny.sha256", .n_scan = 1, .scan0 = "/tmp",
	 .engines0 = "hashlist,clamav", .size0 = 1ull << 30, .ms0 = 600000},
	{.name = "scan engines empty", .yaml = HEAD SCN "scan:\n  - {path: /tmp/x, engines: []}\n",
	 .n_files = 1, .file0 = "/etc/gk/deny.sha256", .n_scan = 1, .scan0 = "/tmp/x",
	 .engines0 = ""},
	{.name = "scan without engines", .yaml = HEAD "scan:\n  - path: /tmp\n", .n_scan = 1,
	 .scan0 = "/tmp"},
	{.name = "scan with no value", .yaml = HEAD "scan:\n"},
	{.name = "scan before scanners", .yaml = HEAD "scan:\n  - {path: /tmp, engines: [hashlist]}\n"
	 "scanners: {hashlist: {files: [/h]}}\n", .n_files = 1, .file0 = "/h", .n_scan = 1,
	 .scan0 = "/tmp", .engines0 = "hashlist"},
	{.name = "scan above the watch", .yaml = HEAD "scan:\n  - {path: /}\n", .n_scan = 1,
	 .scan0 = "/"},
	{.name = "scan size in bytes", .yaml = HEAD "scan:\n  - {path: /tmp, max_file_size: 1}\n",
	 .n_scan = 1, .scan0 = "/tmp", .size0 = 1},
	{.name = "scan size 512K", .yaml = HEAD "scan:\n  - {path: /tmp, max_file_size: 512K}\n",
	 .n_scan = 1, .scan0 = "/tmp", .size0 = 512 * 1024},
	{.name = "scan size 16G", .yaml = HEAD "scan:\n  - {path: /tmp, max_file_size: 16G}\n",
	 .n_scan = 1, .scan0 = "/tmp", .size0 = 16ull << 30},
	{.name = "scan size lowercase m", .yaml = HEAD "scan:\n  - {path: /tmp, max_file_size: 8m}\n",
	 .n_scan = 1, .scan0 = "/tmp", .size0 = 8ull << 20},
	{.name = "scan time lowest", .yaml = HEAD "scan:\n  - {path: /tmp, max_scan_time_ms: 10}\n",
	 .n_scan = 1, .scan0 = "/tmp", .ms0 = 10},
	{.name = "audit with no value", .yaml = HEAD "audit:\n"},
	{.name = "audit every key", .yaml = HEAD "audit:\n  log_allows: false\n  retain_days: 3650\n"
	 "  max_rows: 1000000000\n", .quiet = true, .retain_days = 3650, .max_rows = 1000000000},
	{.name = "audit lowest bounds", .yaml = HEAD "audit: {retain_days: 1, max_rows: 1000}\n",
	 .retain_days = 1, .max_rows = 1000},
	{.name = "audit log_allows true", .yaml = HEAD "audit: {log_allows: true}\n"},
	{.name = "metrics textfile, default interval", .yaml = HEAD "metrics: {textfile: /a//b.prom}\n",
	 .textfile = "/a/b.prom"},
	{.name = "metrics every key", .yaml = HEAD "metrics:\n  textfile: /a.prom\n  interval_s: 3600\n",
	 .textfile = "/a.prom", .interval_s = 3600},
	{.name = "rule: scanner alone", .yaml = HEAD "rules:\n  - {scanner: clean, action: allow}\n",
	 .n_rules = 1, .match = GK_MATCH_SCANNER, .scanner = GK_SCANNER_CLEAN,
	 .action = GK_VERDICT_ALLOW},
	{.name = "rule: path and scanner", .yaml = HEAD "rules:\n  - path: /tmp/dl\n"
	 "    scanner: error\n    action: deny\n", .n_rules = 1, .match = GK_MATCH_PATH,
	 .scanner = GK_SCANNER_ERROR, .action = GK_VERDICT_DENY},
	{.name = "rule: scanner before glob", .yaml = HEAD "rules:\n"
	 "  - {scanner: clean, glob: \"/tmp/**/*.sh\", action: deny}\n", .n_rules = 1,
	 .match = GK_MATCH_GLOB, .scanner = GK_SCANNER_CLEAN, .action = GK_VERDICT_DENY},
	{.name = "rule: infected deny", .yaml = HEAD "rules:\n  - {scanner: infected, action: deny}\n",
	 .n_rules = 1, .match = GK_MATCH_SCANNER, .scanner = GK_SCANNER_INFECTED,
	 .action = GK_VERDICT_DENY},
	{.name = "rule: action scan by glob", .yaml = HEAD "rules:\n"
	 "  - {glob: \"/tmp/*.AppImage\", action: scan}\n", .n_rules = 1, .match = GK_MATCH_GLOB,
	 .action = GK_VERDICT_UNKNOWN, .scan = true},
	{.name = "everything at once", .yaml = FULL_POLICY, .overload = GK_VERDICT_DENY,
	 .n_files = 2, .file0 = "/etc/gk/a.sha256", .clamav = GK_ENGINE_ON, .clamav_active = true,
	 .database = NO_DIR, .n_scan = 2, .scan0 = "/home", .engines0 = "hashlist,clamav",
	 .quiet = true, .retain_days = 7, .max_rows = 5000, .n_rules = 2, .match = GK_MATCH_PATH,
	 .scanner = GK_SCANNER_CLEAN, .action = GK_VERDICT_ALLOW},
};

static void check_scan0(const struct good_case *c, const struct gk_scan_subtree *s)
{
	char engines[32];

	assert_string_equal(s->path, c->scan0);
	snprintf(engines, sizeof(engines), "%s%s%s", s->hashlist ? "hashlist" : "",
		 s->hashlist && s->clamav ? "," : "", s->clamav ? "clamav" : "");
	assert_int_equal(s->engines_given, c->engines0 != NULL);
	if (c->engines0)
		assert_string_equal(engines, c->engines0);
	else
		assert_string_equal(engines, "");
	assert_int_equal(s->max_file_size, c->size0 ? c->size0 : GK_SCAN_DEFAULT_MAX_FILE_SIZE);
	assert_int_equal(s->max_scan_time_ms, c->ms0 ? c->ms0 : GK_SCAN_DEFAULT_MAX_SCAN_MS);
	assert_true(s->line > 0);
}

static void parse_good(void **state)
{
	const struct good_case *c = *state;
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("g.yaml", c->yaml, strlen(c->yaml), &errs);

	if (!p)
		fail_msg("unexpected error: %s", errs.msg[0]);
	assert_int_equal(p->overload, c->overload ? c->overload : p->on_error);
	assert_int_equal(p->scanners.n_hashlist_files, c->n_files);
	if (c->n_files)
		assert_string_equal(p->scanners.hashlist_files[0], c->file0);
	assert_int_equal(p->scanners.clamav_enabled, c->clamav);
	assert_int_equal(p->scanners.clamav_active, c->clamav_active);
	assert_string_equal(p->scanners.clamav_database,
			    c->database ? c->database : GK_CLAMAV_DEFAULT_DB);
	assert_int_equal(p->n_scan, c->n_scan);
	if (c->n_scan)
		check_scan0(c, &p->scan[0]);
	assert_int_equal(p->audit.log_allows, !c->quiet);
	assert_int_equal(p->audit.retain_days, c->retain_days ? c->retain_days : 30);
	assert_int_equal(p->audit.max_rows, c->max_rows ? c->max_rows : 1000000);
	if (c->textfile)
		assert_string_equal(p->metrics.textfile, c->textfile);
	else
		assert_null(p->metrics.textfile);
	assert_int_equal(p->metrics.interval_s, c->interval_s ? c->interval_s : 15);
	assert_int_equal(p->n_rules, c->n_rules);
	if (c->n_rules) {
		const struct gk_rule *r = &p->rules[c->n_rules - 1];

		assert_int_equal(r->match, c->match);
		assert_int_equal(r->scanner, c->scanner);
		assert_int_equal(r->action, c->action);
		assert_int_equal(r->scan, c->scan);
	}
	policy_free(p);
}

/* ---- single cases ---- */

/* `clamav:` alone is auto with the default database: on exactly when
 * /var/lib/clamav is a directory on this host. */
static void clamav_auto_default_database(void **state)
{
	static const char yaml[] = HEAD "scanners:\n  clamav:\n";
	struct gk_policy *p = policy_parse("c.yaml", yaml, strlen(yaml), NULL);
	struct stat st;
	bool present = stat(GK_CLAMAV_DEFAULT_DB, &st) == 0 && S_ISDIR(st.st_mode);

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->scanners.clamav_enabled, GK_ENGINE_AUTO);
	assert_string_equal(p->scanners.clamav_database, GK_CLAMAV_DEFAULT_DB);
	assert_int_equal(p->scanners.clamav_active, present);
	policy_free(p);
}

static void scan_entry_limit(void **state)
{
	size_t size = 64 * 1024, n;
	char *text = malloc(size);
	struct gk_policy_errors errs;

	(void)state;
	assert_non_null(text);
	n = (size_t)snprintf(text, size, "mode: enforce\ndefault: allow\nwatch: [/]\nscan:\n");
	for (int i = 0; i < 1025; i++)
		n += (size_t)snprintf(text + n, size - n, "  - path: /s%d\n", i);
	assert_null(policy_parse("t.yaml", text, n, &errs));
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.msg[0], "t.yaml:1029:5: more than 1024 scan entries");
	free(text);
}

/* The post-document checks report every offender, not just the first. */
static void every_unconfigured_engine_reported(void **state)
{
	static const char yaml[] = HEAD "scan:\n  - {path: /tmp, engines: [clamav]}\n"
				   "  - {path: /tmp/a, engines: [hashlist, clamav]}\n";
	struct gk_policy_errors errs;

	(void)state;
	assert_null(policy_parse("t.yaml", yaml, strlen(yaml), &errs));
	assert_int_equal(errs.count, 3);
	assert_string_equal(errs.msg[0], "t.yaml:6:28: scan entry 1: engine 'clamav' is not "
					 "configured under 'scanners'");
	assert_string_equal(errs.msg[1], "t.yaml:7:30: scan entry 2: engine 'hashlist' is not "
					 "configured under 'scanners'");
	assert_string_equal(errs.msg[2], "t.yaml:7:40: scan entry 2: engine 'clamav' is not "
					 "configured under 'scanners'");
}

static void rule_fields_by_scanner(void **state)
{
	static const char yaml[] = HEAD "rules:\n"
				   "  - {scanner: error, action: allow}\n"
				   "  - {glob: \"/tmp/*.bin\", action: scan}\n"
				   "  - {sha256: " H64_A ", action: deny}\n";
	struct gk_policy *p = policy_parse("r.yaml", yaml, strlen(yaml), NULL);

	(void)state;
	assert_non_null(p);
	assert_int_equal(p->n_rules, 3);
	assert_int_equal(p->rules[0].match, GK_MATCH_SCANNER);
	assert_null(p->rules[0].pattern);
	assert_int_equal(p->rules[0].line, 6);
	assert_false(p->rules[0].scan);
	assert_string_equal(p->rules[1].pattern, "/tmp/*.bin");
	assert_true(p->rules[1].scan);
	assert_int_equal(p->rules[1].scanner, GK_SCANNER_ANY);
	/* what the daemon's "any deny-by-hash rule?" check relies on */
	assert_int_equal(p->rules[2].match, GK_MATCH_SHA256);
	assert_int_equal(p->rules[2].action, GK_VERDICT_DENY);
	assert_false(p->rules[2].scan);
	assert_int_equal(p->rules[2].scanner, GK_SCANNER_ANY);
	policy_free(p);
}

/* The shipped default must parse and stay harmless: monitor, default allow,
 * every error and overload allowed; hash lists, and ClamAV where it exists.
 * Runs from the repository root (tests/run-all.sh cds there). */
static void load_packaged_default(void **state)
{
	static const char *const want_watch[] = {"/tmp", "/var/tmp", "/dev/shm", "/home",
						 "/usr/local"};
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_load("packaging/policy.yaml", &errs);

	(void)state;
	if (!p)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(p->mode, GK_MODE_MONITOR);
	assert_int_equal(p->default_verdict, GK_VERDICT_ALLOW);
	assert_int_equal(p->on_error, GK_VERDICT_ALLOW);
	assert_int_equal(p->overload, GK_VERDICT_ALLOW);
	assert_int_equal(p->n_watch, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(p->watch[i], want_watch[i]);
	assert_int_equal(p->scanners.n_hashlist_files, 1);
	assert_string_equal(p->scanners.hashlist_files[0], "/etc/gatekeeper/deny.sha256");
	assert_int_equal(p->scanners.clamav_enabled, GK_ENGINE_AUTO);
	assert_string_equal(p->scanners.clamav_database, "/var/lib/clamav");
	assert_int_equal(p->audit.log_allows, true);
	assert_int_equal(p->audit.retain_days, 30);
	assert_int_equal(p->audit.max_rows, 1000000);
	assert_int_equal(p->n_rules, 0);
	policy_free(p);
}

/* `overlayfs_cache` defaults to off. */
static void overlayfs_cache_values(void **state)
{
	(void)state;
	static const char *const yaml[] = { HEAD, HEAD "overlayfs_cache: off\n",
					    HEAD "overlayfs_cache: root_owned\n" };
	static const enum gk_overlayfs_cache want[] = { GK_OVERLAYFS_CACHE_OFF, GK_OVERLAYFS_CACHE_OFF,
							GK_OVERLAYFS_CACHE_ROOT_OWNED };
	for (size_t i = 0; i < N_OF(yaml); i++) {
		struct gk_policy *p = policy_parse("o.yaml", yaml[i], strlen(yaml[i]), NULL);
		assert_non_null(p);
		assert_int_equal(p->overlayfs_cache, want[i]);
		policy_free(p);
	}
}

/* ---- runner: one cmocka test per table row ---- */

int main(void)
{
	static const struct single_test singles[] = {
		{"clamav: auto with the default database", clamav_auto_default_database},
		{"scan: at most 1024 entries", scan_entry_limit},
		{"scan: every unconfigured engine reported", every_unconfigured_engine_reported},
		{"rules: fields of scanner and scan rules", rule_fields_by_scanner},
		{"load: packaging/policy.yaml", load_packaged_default},
		{"overlayfs_cache: off by default, root_owned", overlayfs_cache_values},
	};
	struct CMUnitTest tests[N_OF(bad_cases) + N_OF(good_cases) + N_OF(singles)];
	size_t n = 0;

	for (size_t i = 0; i < N_OF(bad_cases); i++)
		add_test(tests, &n, bad_cases[i].name, parse_bad, &bad_cases[i]);
	for (size_t i = 0; i < N_OF(good_cases); i++)
		add_test(tests, &n, good_cases[i].name, parse_good, &good_cases[i]);
	add_singles(tests, &n, singles, N_OF(singles));
	return run_table("policy_schema", tests, n);
}
