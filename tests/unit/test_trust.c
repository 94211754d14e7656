/* Unit tests for the dpkg reader (gatekeeper/dpkg.h), the trust index in
 * the store and its lookups (gatekeeper/trust.h), and the digest store
 * (gatekeeper/digests.h). Everything lives in a fresh directory: a test-made
 * dpkg admin directory and a root (dpkg --root) holding the packaged files.
 * The digest store's own tests are in test_digests.c. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "gatekeeper/dpkg.h"
#include "gatekeeper/trust.h"
#include "settle_util.h"
#include "trust_test_util.h"

static const char status_text[] =
	"Package: plain\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n"
	"Description: a\n continued line: with colon\n\n"
	"Package: libm\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n"
	"Version: 2.0\n\n"
	"Package: libm\nStatus: install ok unpacked\nArchitecture: i386\nMulti-Arch: same\n"
	"Version: 2.1\n\n"
	"Package: removed\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 3\n\n"
	"Package: broken\nStatus: install reinstreq half-installed\nArchitecture: all\n"
	"Version: 4\n";

static void status_multiarch_and_states(void **state)
{
	struct fx *fx = *state;
	struct dpkg_status st;
	char err[256];

	put(fx, "admin/status", status_text);
	assert_int_equal(dpkg_read_status(fx->admin, &st, err, sizeof(err)), 0);
	assert_int_equal(st.n, 4);
	assert_string_equal(dpkg_status_version(&st, "plain"), "1.0");
	assert_false(dpkg_status_find(&st, "plain")->unpacking);
	assert_string_equal(dpkg_status_version(&st, "libm:amd64"), "2.0");
	assert_string_equal(dpkg_status_version(&st, "libm:i386"), "2.1");
	assert_null(dpkg_status_version(&st, "libm:arm64"));
	assert_null(dpkg_status_version(&st, "removed"));   /* apt remove leaves config-files */
	/* half-installed: its info/ files still say what it recorded */
	assert_string_equal(dpkg_status_version(&st, "broken"), "4");
	assert_true(dpkg_status_find(&st, "broken")->unpacking);
	dpkg_status_free(&st);

	/* The journal of a run in progress wins over status. */
	put(fx, "admin/updates/0000", "Package: plain\nStatus: install ok half-configured\n"
	    "Architecture: amd64\nVersion: 1.1\n");
	put(fx, "admin/updates/0001", "Package: libm\nStatus: deinstall ok config-files\n"
	    "Architecture: i386\nVersion: 2.1\n\nPackage: fresh\nStatus: install ok unpacked\n"
	    "Architecture: all\nVersion: 9\n");
	assert_int_equal(dpkg_read_status(fx->admin, &st, err, sizeof(err)), 0);
	assert_string_equal(dpkg_status_version(&st, "plain"), "1.1");
	assert_null(dpkg_status_version(&st, "libm:i386"));
	assert_string_equal(dpkg_status_version(&st, "fresh"), "9");
	dpkg_status_free(&st);
}

/* Conffiles: each kept with its MD5; obsolete ones, new ones not yet
 * installed and malformed lines are left out; a path may hold spaces. */
static void status_conffiles(void **state)
{
	struct fx *fx = *state;
	struct dpkg_status st;
	char err[256], text[1024], a[33], b[33], c[33];

	md5_hex("a\n", a);
	md5_hex("b\n", b);
	md5_hex("c\n", c);
	snprintf(text, sizeof(text),
		 "Package: cron\nStatus: install ok installed\nConffiles:\n"
		 " /etc/cron.daily/zz %s\n /etc/old %s obsolete\n /etc/new newconffile\n"
		 " /etc/with space %s remove-on-upgrade\n /etc/short 1234\n no-slash %s\n"
		 "Architecture: amd64\nVersion: 3\n\nPackage: plain\nStatus: install ok installed\n"
		 "Architecture: all\nVersion: 1\n", c, a, b, a);
	put(fx, "admin/status", text);
	assert_int_equal(dpkg_read_status(fx->admin, &st, err, sizeof(err)), 0);
	const struct dpkg_installed *p = dpkg_status_find(&st, "cron");
	assert_non_null(p);
	assert_string_equal(p->version, "3");   /* a field after Conffiles still counts */
	assert_int_equal(p->n_conffiles, 2);
	assert_string_equal(p->conffiles[0].path, "/etc/cron.daily/zz");
	assert_string_equal(p->conffiles[1].path, "/etc/with space");
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", p->conffiles[1].md5[i]);
	assert_string_equal(hex, b);
	assert_int_equal(dpkg_status_find(&st, "plain")->n_conffiles, 0);
	dpkg_status_free(&st);
}

/* An executable conffile (run-parts' /etc/kernel/postinst.d, cron.daily)
 * is trusted while it holds what dpkg installed; the configure that
 * installs a new version changes only the status file. */
static void conffiles_trusted(void **state)
{
	struct fx *fx = *state;
	char m1[33], m2[33], text[512];

	make_packages(fx);
	mkdirs(fx, "root/etc/cron.daily");
	md5_hex("job v1\n", m1);
	md5_hex("job v2\n", m2);
	put(fx, "root/etc/cron.daily/job", "job v1\n");
	put(fx, "admin/info/cronjob.list", "/.\n/etc\n/etc/cron.daily\n/etc/cron.daily/job\n");
	put(fx, "admin/info/cronjob.md5sums", "");
	snprintf(text, sizeof(text), "Package: cronjob\nStatus: install ok installed\n"
		 "Architecture: all\nVersion: 1\nConffiles:\n /etc/cron.daily/job %s\n", m1);
	put(fx, "admin/updates/0001", text);
	struct trust *t = open_trust(fx);
	char detail[200];
	assert_int_equal(ask(t, fx, "etc/cron.daily/job", detail), GK_TRUST_MATCH);
	assert_string_equal(detail, "dpkg cronjob 1");
	put(fx, "root/etc/cron.daily/job", "job v2\n");   /* edited, or replaced */
	assert_int_equal(ask(t, fx, "etc/cron.daily/job", NULL), GK_TRUST_DIFFERS);
	snprintf(text, sizeof(text), "Package: cronjob\nStatus: install ok installed\n"
		 "Architecture: all\nVersion: 1\nConffiles:\n /etc/cron.daily/job %s\n", m2);
	put(fx, "admin/updates/0002", text);
	assert_int_equal(ask(t, fx, "etc/cron.daily/job", NULL), GK_TRUST_MATCH);
	put(fx, "admin/updates/0003", "Package: cronjob\nStatus: deinstall ok config-files\n"
	    "Architecture: all\nVersion: 1\n");
	assert_int_equal(ask(t, fx, "etc/cron.daily/job", NULL), GK_TRUST_NOT_PACKAGED);
	trust_close(t);
}

static void status_malformed(void **state)
{
	struct fx *fx = *state;
	struct dpkg_status st = {.n = 77};
	char err[256], want[256];

	put(fx, "admin/status", "Package: a\nStatus: install ok installed\nno colon here\n");
	assert_int_equal(dpkg_read_status(fx->admin, &st, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/status:3: expected 'Field: value'", fx->admin);
	assert_string_equal(err, want);
	assert_int_equal(st.n, 0);
	put(fx, "admin/status", "Version: 1\nStatus: install ok installed\n");
	assert_int_equal(dpkg_read_status(fx->admin, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "status:1: stanza without a Package field"));
}

static void package_files_dirs_and_digests(void **state)
{
	struct fx *fx = *state;
	struct dpkg_package p;
	char err[256];

	put(fx, "admin/info/libm:amd64.list", "/.\n/usr\n/usr/lib\n/usr/lib/libm.so.6\n"
	    "/usr/lib/empty-dir\n/usr/lib/link.so\n/usr/lib-other\n/usr/lib-other/x\n");
	put(fx, "admin/info/libm:amd64.md5sums",
	    "0123456789abcdef0123456789abcdef  usr/lib/libm.so.6\n"
	    "ffffffffffffffffffffffffffffffff  usr/lib-other/x\n"
	    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee  usr/not/listed\n");
	assert_int_equal(dpkg_read_package(fx->admin, "libm:amd64", &p, err, sizeof(err)), 0);
	assert_string_equal(p.stem, "libm:amd64");
	/* /usr, /usr/lib and /usr/lib-other are directories; an empty listed
	 * directory cannot be told from a file and counts as one without a digest. */
	assert_int_equal(p.n_files, 4);
	assert_string_equal(p.files[0].path, "/usr/lib-other/x");
	assert_true(p.files[0].has_md5);
	assert_int_equal(p.files[0].md5[0], 0xff);
	assert_string_equal(p.files[1].path, "/usr/lib/empty-dir");
	assert_false(p.files[1].has_md5);
	assert_string_equal(p.files[3].path, "/usr/lib/link.so");
	assert_string_equal(p.files[2].path, "/usr/lib/libm.so.6");
	assert_true(p.files[2].has_md5);
	assert_int_equal(p.files[2].md5[15], 0xef);
	assert_int_equal(p.n_without_md5, 2);
	dpkg_package_free(&p);

	/* No md5sums at all: every file lacks a digest. */
	put(fx, "admin/info/nosums.list", "/.\n/usr\n/usr/bin\n/usr/bin/tool\n");
	assert_int_equal(dpkg_read_package(fx->admin, "nosums", &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_files, 1);
	assert_int_equal(p.n_without_md5, 1);
	dpkg_package_free(&p);
}

static void package_malformed(void **state)
{
	struct fx *fx = *state;
	struct dpkg_package p;
	char err[256], want[256];

	put(fx, "admin/info/bad.list", "/.\nusr/bin/x\n");
	assert_int_equal(dpkg_read_package(fx->admin, "bad", &p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/info/bad.list:2: not an absolute path", fx->admin);
	assert_string_equal(err, want);
	assert_int_equal(p.n_files, 0);
	assert_null(p.files);

	put(fx, "admin/info/bad2.list", "/.\n/usr/bin/x\n");
	put(fx, "admin/info/bad2.md5sums", "0123456789abcdef0123456789abcdef  usr/bin/x\nxyz  usr\n");
	assert_int_equal(dpkg_read_package(fx->admin, "bad2", &p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/info/bad2.md5sums:2: expected '<32 hex digits>  <path>'",
		 fx->admin);
	assert_string_equal(err, want);
	assert_int_equal(p.n_files, 0);

	assert_int_equal(dpkg_read_package(fx->admin, "missing", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing.list: No such file or directory"));
}

static void diversions(void **state)
{
	struct fx *fx = *state;
	struct dpkg_diversions d;
	char err[256];

	assert_int_equal(dpkg_read_diversions(fx->admin, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 0);   /* no file: none */
	put(fx, "admin/diversions", "/usr/bin/tool\n/usr/bin/tool.real\ndiverter\n"
	    "/usr/bin/mine\n/usr/bin/mine.orig\n:\n");
	assert_int_equal(dpkg_read_diversions(fx->admin, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.d[0].by, "diverter");
	assert_string_equal(d.d[1].to, "/usr/bin/mine.orig");
	assert_null(d.d[1].by);   /* --local */
	dpkg_diversions_free(&d);
	put(fx, "admin/diversions", "/usr/bin/tool\n/usr/bin/tool.real\n");
	assert_int_equal(dpkg_read_diversions(fx->admin, &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "diversions:2: expected three lines per diversion"));
	assert_int_equal(d.n, 0);
}

/* ---- the index and its lookups ---- */

static void lookups(void **state)
{
	struct fx *fx = *state;
	char detail[200];
	struct trust *t;

	make_packages(fx);
	t = open_trust(fx);
	assert_int_equal(ask(t, fx, "usr/bin/hello", detail), GK_TRUST_MATCH);
	assert_string_equal(detail, "dpkg hello 1.0-1");
	/* Diversion: the diverting package's copy stays at the path, everyone
	 * else's goes to the diverted-to name. */
	assert_int_equal(ask(t, fx, "usr/bin/tool", detail), GK_TRUST_MATCH);
	assert_string_equal(detail, "dpkg diverter 2");
	assert_int_equal(ask(t, fx, "usr/bin/tool.real", detail), GK_TRUST_MATCH);
	assert_string_equal(detail, "dpkg owner 3");
	put(fx, "root/usr/bin/tool", "tool by owner\n");   /* owner's content at the diverted path */
	assert_int_equal(ask(t, fx, "usr/bin/tool", detail), GK_TRUST_DIFFERS);
	assert_string_equal(detail, "diverter");
	assert_int_equal(ask(t, fx, "usr/bin/loose", detail), GK_TRUST_NOT_PACKAGED);
	assert_int_equal(ask(t, fx, "usr/bin/nodigest", detail), GK_TRUST_NO_DIGEST);
	assert_string_equal(detail, "hello");
	put(fx, "root/usr/bin/hello", "hello v1 patched\n");
	assert_int_equal(ask(t, fx, "usr/bin/hello", detail), GK_TRUST_DIFFERS);
	assert_string_equal(detail, "hello");
	trust_close(t);
}

struct listed {
	char paths[8][512];
	int n;
};

static int collect_path(void *ctx, const char *path)
{
	struct listed *l = ctx;

	if (l->n == 8)
		return 7;
	snprintf(l->paths[l->n++], sizeof(l->paths[0]), "%s", path);
	return 0;
}

/* What the prejudge walk is given: each path with an MD5 once (tool is
 * listed by two packages), under the root; no directory, none without MD5. */
static void paths_with_digests(void **state)
{
	struct fx *fx = *state;
	struct listed l = { .n = 0 };
	char want[512];
	struct trust *t;

	make_packages(fx);
	t = open_trust(fx);
	assert_int_equal(trust_foreach_path(t, collect_path, &l), 0);
	assert_int_equal(l.n, 2);
	snprintf(want, sizeof(want), "%s/bin/hello", fx->root);
	assert_true(!strcmp(l.paths[0], want) || !strcmp(l.paths[1], want));
	snprintf(want, sizeof(want), "%s/usr/bin/tool", fx->root);
	assert_true(!strcmp(l.paths[0], want) || !strcmp(l.paths[1], want));
	/* fn's non-zero return stops the walk and is what the walk returns */
	l.n = 8;
	assert_int_equal(trust_foreach_path(t, collect_path, &l), 7);
	assert_false(trust_changes_pending(t));
	assert_false(trust_changes_pending(NULL));
	trust_close(t);
}

static void merged_usr_both_ways(void **state)
{
	struct fx *fx = *state;
	char m[33], text[256];
	struct trust *t;

	make_packages(fx);
	/* A package that lists the /usr name, looked up through the alias. */
	md5_hex("usr tool\n", m);
	put(fx, "root/usr/bin/usrtool", "usr tool\n");
	put(fx, "admin/info/hello.list", "/.\n/bin\n/bin/hello\n/usr\n/usr/bin\n/usr/bin/usrtool\n");
	snprintf(text, sizeof(text), "%s  bin/hello\n%s  usr/bin/usrtool\n", m, m);
	put(fx, "admin/info/hello.md5sums", text);
	put(fx, "root/usr/bin/hello", "usr tool\n");
	t = open_trust(fx);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);   /* listed /bin */
	assert_int_equal(ask(t, fx, "bin/usrtool", NULL), GK_TRUST_MATCH);     /* listed /usr/bin */
	trust_close(t);
	/* Without the alias symlink, /bin is a directory of its own. */
	snprintf(text, sizeof(text), "%s/bin", fx->root);
	assert_int_equal(unlink(text), 0);
	t = open_trust(fx);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_NOT_PACKAGED);
	trust_close(t);
}

static void upgrade_remove_and_malformed(void **state)
{
	struct fx *fx = *state;
	char m[33], text[512];
	struct trust *t;

	make_packages(fx);
	t = open_trust(fx);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	/* Upgrade: new content, new md5sums, new version. */
	md5_hex("hello v2\n", m);
	put(fx, "root/usr/bin/hello", "hello v2\n");
	snprintf(text, sizeof(text), "%s  bin/hello\n", m);
	put(fx, "admin/info/hello.md5sums", text);
	put(fx, "admin/updates/0000", "Package: hello\nStatus: install ok half-configured\n"
	    "Architecture: amd64\nVersion: 1.1-1\n");
	char detail[200];
	/* No explicit refresh: the lookup applies what inotify saw. */
	assert_int_equal(ask(t, fx, "usr/bin/hello", detail), GK_TRUST_MATCH);
	assert_string_equal(detail, "dpkg hello 1.1-1");
	/* A malformed list: one error, the package keeps its rows. */
	put(fx, "admin/info/hello.list", "/.\nbin/hello-without-slash\n");
	assert_int_equal(trust_refresh(t), 0);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	/* A malformed status: the refresh fails, nothing changes. */
	put(fx, "admin/status", "garbage\n");
	assert_int_equal(trust_refresh(t), -1);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	/* Remove: the status says config-files, the list is gone. */
	put(fx, "admin/status", "Package: hello\nStatus: deinstall ok config-files\n"
	    "Architecture: amd64\nVersion: 1.1-1\n");
	snprintf(text, sizeof(text), "%s/updates/0000", fx->admin);
	unlink(text);
	snprintf(text, sizeof(text), "%s/info/hello.list", fx->admin);
	unlink(text);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_NOT_PACKAGED);
	trust_close(t);
}

/* dpkg installs package fresh: its program, list, md5sums, status. */
static void install_fresh(const struct fx *fx)
{
	char m[33], text[512];

	md5_hex("fresh\n", m);
	put(fx, "root/usr/bin/fresh", "fresh\n");
	put(fx, "admin/info/fresh.list", "/.\n/usr\n/usr/bin\n/usr/bin/fresh\n");
	snprintf(text, sizeof(text), "%s  usr/bin/fresh\n", m);
	put(fx, "admin/info/fresh.md5sums", text);
	put(fx, "admin/updates/0001", "Package: fresh\nStatus: install ok installed\n"
	    "Architecture: amd64\nVersion: 1\n");
}

/* A number trust_report gives, or -1. */
static long reported(struct trust *t, const char *key)
{
	struct proto_buf b = { 0 };
	char field[64];
	long n = -1;
	trust_report(t, &b);
	snprintf(field, sizeof(field), "n %s ", key);
	const char *at = b.data ? strstr(b.data, field) : NULL;
	if (at)
		n = strtol(at + strlen(field), NULL, 10);
	proto_free(&b);
	return n;
}

static long refresh_errors(struct trust *t)
{
	return reported(t, "trust_refresh_errors");
}

/* dpkg rewrites its status file many times in one apt run, most of them
 * changing no package's files: such a refresh changes nothing trusted,
 * so it flushes no verdict the kernel caches. A real change does. */
static void unchanged_refresh_changes_nothing(void **state)
{
	struct fx *fx = *state;
	char path[512];

	make_packages(fx);
	struct trust *t = open_trust(fx);
	long before = reported(t, "trust_refreshes_changed");
	assert_true(before >= 0);
	snprintf(path, sizeof(path), "%s/status", fx->admin);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(utimes(path, NULL), 0);
		assert_int_equal(trust_refresh(t), 0);
		assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	}
	assert_int_equal(reported(t, "trust_refreshes_changed"), before);
	install_fresh(fx);
	assert_int_equal(trust_refresh(t), 0);
	assert_int_equal(reported(t, "trust_refreshes_changed"), before + 1);
	trust_close(t);
}

/* The prejudge walk's lookup takes the index as it is: it applies no
 * pending dpkg change (so it never refreshes, nor waits on the lock a
 * refresh holds); the next lookup of an exec applies it. */
static void indexed_lookup_applies_nothing(void **state)
{
	struct fx *fx = *state;

	make_packages(fx);
	struct trust *t = open_trust(fx);
	long before = reported(t, "trust_sync_refreshes");
	install_fresh(fx);
	(void)ask_with(trust_identify_indexed, t, fx, "usr/bin/fresh", NULL);
	assert_int_equal(reported(t, "trust_sync_refreshes"), before);
	assert_int_equal(ask(t, fx, "usr/bin/fresh", NULL), GK_TRUST_MATCH);
	trust_close(t);
}

/* A refresh that fails (another connection holds the store's write lock
 * past the busy timeout while dpkg installs a package) is tried again by
 * the follower, with nothing more from dpkg to wake it. */
static void failed_refresh_is_retried(void **state)
{
	struct fx *fx = *state;
	sqlite3 *other;

	make_packages(fx);
	struct trust *t = open_trust(fx);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	assert_int_equal(sqlite3_open(fx->db, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	install_fresh(fx);
	for (int i = 0; i < 100 && refresh_errors(t) < 1; i++)
		usleep(100 * 1000);   /* the follower's refresh waits out the busy timeout */
	assert_true(refresh_errors(t) >= 1);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	enum gk_trust_match seen = GK_TRUST_NOT_PACKAGED;
	for (int i = 0; i < 50 && seen != GK_TRUST_MATCH; i++) {
		usleep(100 * 1000);
		seen = ask(t, fx, "usr/bin/fresh", NULL);
	}
	assert_int_equal(seen, GK_TRUST_MATCH);
	trust_close(t);
}

static void index_kept_in_store(void **state)
{
	struct fx *fx = *state;
	char text[512];
	struct trust *t;

	make_packages(fx);
	t = open_trust(fx);
	trust_close(t);
	/* Unchanged database: the next start reads no list. Make the list
	 * unreadable without touching the directory's fingerprint. */
	snprintf(text, sizeof(text), "%s/info/hello.list", fx->admin);
	assert_int_equal(chmod(text, 0), 0);
	t = open_trust(fx);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	trust_close(t);
}

/* Only root's /usr/bin/dpkg counts as dpkg writing a file: another exe, a
 * process of another user, or no trust source at all do not. */
static void written_by_dpkg(void **state)
{
	struct fx *fx = *state;
	struct trust *t;

	make_packages(fx);
	t = open_trust(fx);
	assert_false(trust_written_by_dpkg(NULL, getpid(), "/usr/bin/dpkg"));
	assert_false(trust_written_by_dpkg(t, getpid(), "/usr/bin/dpkg-deb"));
	assert_false(trust_written_by_dpkg(t, getpid(), "/tmp/usr/bin/dpkg"));
	assert_false(trust_written_by_dpkg(t, getpid(), NULL));
	assert_false(trust_written_by_dpkg(t, 0, "/usr/bin/dpkg"));
	if (geteuid() == 0) {
		int go[2];
		assert_int_equal(pipe(go), 0);
		pid_t kid = fork();
		assert_true(kid >= 0);
		if (kid == 0) {   /* another user's process: waits until we looked */
			char c;
			if (setresuid(65534, 65534, 65534) != 0)
				_exit(1);
			close(go[1]);
			_exit(read(go[0], &c, 1) < 0);
		}
		close(go[0]);
		for (int i = 0; i < 1000; i++) {   /* until its setresuid took */
			struct stat st;
			char proc[32];
			snprintf(proc, sizeof(proc), "/proc/%d", (int)kid);
			if (stat(proc, &st) == 0 && st.st_uid == 65534)
				break;
			usleep(1000);
		}
		assert_false(trust_written_by_dpkg(t, kid, "/usr/bin/dpkg"));
		assert_true(trust_written_by_dpkg(t, getpid(), "/usr/bin/dpkg"));
		close(go[1]);
		waitpid(kid, NULL, 0);
	}
	trust_close(t);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(status_multiarch_and_states, setup, teardown),
		cmocka_unit_test_setup_teardown(status_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(status_conffiles, setup, teardown),
		cmocka_unit_test_setup_teardown(conffiles_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(package_files_dirs_and_digests, setup, teardown),
		cmocka_unit_test_setup_teardown(package_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(diversions, setup, teardown),
		cmocka_unit_test_setup_teardown(lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(paths_with_digests, setup, teardown),
		cmocka_unit_test_setup_teardown(merged_usr_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade_remove_and_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(index_kept_in_store, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_refresh_is_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(unchanged_refresh_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(indexed_lookup_applies_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(written_by_dpkg, setup, teardown),
	};

	log_init(true);
	return cmocka_run_group_tests_name("trust", tests, NULL, NULL);
}
