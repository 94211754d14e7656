/* Unit tests of the daemon's building blocks: the control protocol, the log
 * line format, the latency histogram, the admin rule table, hashing, the
 * names of fds and of kernel-cached denials. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmpx.h>

#include <cmocka.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/proto.h"
#include "gatekeeper/systemd.h"
#include "gatekeeper/util.h"
#include "scanner/scanner.h"

/* Longer than two ticks of the coarse clock (HZ 100: 20 ms): a ctime
 * older than that has settled (file_id.settled). */
#define SETTLE_US 50000

static void test_proto_round_trip(void **state)
{
	(void)state;
	struct proto_buf b = { 0 };
	proto_num(&b, "ok", 1);
	proto_str(&b, "path", "/tmp/a b\nc\\d");
	proto_arr(&b, "watch", "/x");
	assert_false(b.failed);
	char *save = NULL, *line = strtok_r(b.data, "\n", &save);
	char type, *key, *value;
	assert_int_equal(proto_parse_line(line, &type, &key, &value), 0);
	assert_int_equal(type, 'n');
	assert_string_equal(key, "ok");
	line = strtok_r(NULL, "\n", &save);
	assert_int_equal(proto_parse_line(line, &type, &key, &value), 0);
	assert_string_equal(value, "/tmp/a b\nc\\d");
	line = strtok_r(NULL, "\n", &save);
	assert_int_equal(proto_parse_line(line, &type, &key, &value), 0);
	assert_int_equal(type, 'a');
	proto_free(&b);
}

static void test_proto_rejects_garbage(void **state)
{
	(void)state;
	char type, *key, *value;
	char bad1[] = "x key value", bad2[] = "s", bad3[] = "s  value", bad4[] = "snkey";
	assert_int_equal(proto_parse_line(bad1, &type, &key, &value), -1);
	assert_int_equal(proto_parse_line(bad2, &type, &key, &value), -1);
	assert_int_equal(proto_parse_line(bad3, &type, &key, &value), -1);
	assert_int_equal(proto_parse_line(bad4, &type, &key, &value), -1);
}

static void test_proto_error_replaces_reply(void **state)
{
	(void)state;
	struct proto_buf b = { 0 };
	proto_str(&b, "half", "done");
	proto_error(&b, EXIT_REFUSED, "no %s", "way");
	assert_non_null(strstr(b.data, "s error no way\n"));
	assert_null(strstr(b.data, "half"));
	assert_non_null(strstr(b.data, "n code 1\n"));
	proto_free(&b);
}

static void test_log_kv_quotes(void **state)
{
	(void)state;
	char buf[256] = "";
	size_t len = 0;
	log_kv(buf, sizeof(buf), &len, "path", "/plain");
	log_kv(buf, sizeof(buf), &len, "detail", "");
	log_kv(buf, sizeof(buf), &len, "exe", "/a b\"c\n");
	assert_string_equal(buf, "path=/plain detail=\"\" exe=\"/a b\\\"c\\x0a\"");
}

static void test_log_kv_truncates_safely(void **state)
{
	(void)state;
	char buf[16] = "";
	size_t len = 0;
	log_kv(buf, sizeof(buf), &len, "key", "a-rather-long-value");
	assert_true(strlen(buf) < sizeof(buf));
	assert_string_equal(buf, "key=\"a-rath...\"");   /* cut, said so, quote closed */
	char big[8192], line[8192];
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	len = 0;
	log_kv(line, sizeof(line), &len, "path", big);
	log_kv(line, sizeof(line), &len, "verdict", "deny");   /* the keys after it stay */
	assert_non_null(strstr(line, "...\" verdict=deny"));
	assert_null(strchr(line, '\n'));
}

static void test_log_kv_escapes_bytes(void **state)
{
	(void)state;
	char buf[256] = "";
	size_t len = 0;
	log_kv(buf, sizeof(buf), &len, "a", "/caf\xc3\xa9");           /* UTF-8 stays */
	log_kv(buf, sizeof(buf), &len, "b", "/x\xff\xc3(y");           /* not UTF-8 */
	log_kv(buf, sizeof(buf), &len, "c", "/\xc2\x85\xe2\x80\xa8\t"); /* NEL, LS, tab */
	log_kv(buf, sizeof(buf), &len, "d", "x=1");
	log_kv(buf, sizeof(buf), &len, "e", "\xed\xa0\x80");           /* a surrogate */
	assert_string_equal(buf, "a=/caf\xc3\xa9 b=\"/x\\xff\\xc3(y\" "
				 "c=\"/\\xc2\\x85\\xe2\\x80\\xa8\\x09\" d=\"x=1\" "
				 "e=\"\\xed\\xa0\\x80\"");
}

/* A mount point or a file name with quotes in it must not forge a field of
 * the line that names it, nor start a line of its own. */
static void test_log_format_escapes_values(void **state)
{
	(void)state;
	char line[256];
	log_format(line, sizeof(line), "filesystem_marked path=\"%s\" dev=%u:%u", "/m\" verdict=\"allow",
		   8u, 1u);
	assert_string_equal(line, "filesystem_marked path=\"/m\\\" verdict=\\\"allow\" dev=8:1");
	log_format(line, sizeof(line), "error=\"%s\" n=%zu t=%lld u=%llu l=%ld d=%d x=%02x %%",
		   "a\\b\nready mode=enforce", (size_t)7, -5LL, 6ULL, -4L, -3, 10u);
	assert_string_equal(line, "error=\"a\\\\b\\x0aready mode=enforce\" n=7 t=-5 u=6 l=-4 d=-3 x=0a %");
	log_format(line, sizeof(line), "w=%s", "caf\xc3\xa9\xff");
	assert_string_equal(line, "w=\"caf\xc3\xa9\\xff\"");
	char unterminated[3] = { 'a', '"', 'b' };   /* a precision bounds the read */
	log_format(line, sizeof(line), "p=%.2s c=%c j=%jd t=%td", unterminated, '"', (intmax_t)-9,
		   (ptrdiff_t)4);
	assert_string_equal(line, "p=\"a\\\"\" c=\"\\\"\" j=-9 t=4");
	char small[12];   /* cut, still terminated */
	log_format(small, sizeof(small), "p=\"%s\"", "\"\"\"\"\"\"\"\"");
	assert_int_equal(strlen(small), 11);
	/* a value the format leaves bare gets quotes when it holds a blank,
	 * an '=' or nothing; inside the format's own quotes it gets none */
	log_format(line, sizeof(line), "trust_started admindir=%s socket=%s mode=%s e=\"%s=%s\" x %s",
		   "/var/lib/dpkg verdict=allow", "", "enforce", "k", "v w", "a b");
	assert_string_equal(line, "trust_started admindir=\"/var/lib/dpkg verdict=allow\" socket=\"\" "
				  "mode=enforce e=\"k=v w\" x a b");
	log_format(small, sizeof(small), "p=%s", "a b c d e f g h");   /* cut: quote closed */
	assert_string_equal(small, "p=\"a b c d\"");
}

static void put_utmp(FILE *f, short type, int pid)
{
	struct utmpx u;
	memset(&u, 0, sizeof(u));
	u.ut_type = type;
	u.ut_pid = pid;
	assert_int_equal(fwrite(&u, sizeof(u), 1, f), 1);
}

/* The end of the boot as utmp records it: systemd's RUN_LVL record (the
 * new level in the low byte, the previous one above it). */
static void test_utmp_runlevel(void **state)
{
	(void)state;
	char path[] = "/tmp/gk-test-utmp-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	put_utmp(f, BOOT_TIME, 0);
	fflush(f);
	assert_int_equal(svc_utmp_runlevel(path), 0);          /* booting: no runlevel yet */
	put_utmp(f, RUN_LVL, '5' | ('N' << 8));
	fflush(f);
	assert_int_equal(svc_utmp_runlevel(path), '5');        /* graphical.target reached */
	put_utmp(f, RUN_LVL, '0' | ('5' << 8));
	fclose(f);
	assert_int_equal(svc_utmp_runlevel(path), 0);          /* shutting down */
	unlink(path);
	assert_int_equal(svc_utmp_runlevel(path), 0);          /* no utmp at all */
}

static void test_latency_percentiles(void **state)
{
	(void)state;
	static struct gk_stats s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(stats_latency_percentile(&s, 50), 0);
	for (int i = 0; i < 99; i++)
		stats_record_latency(&s, 100);
	stats_record_latency(&s, 100000);
	uint64_t p50 = stats_latency_percentile(&s, 50), p99 = stats_latency_percentile(&s, 99);
	uint64_t p100 = stats_latency_percentile(&s, 100);
	assert_true(p50 >= 100 && p50 <= 113);     /* within one sub-bucket (12.5%) */
	assert_true(p99 >= 100 && p99 <= 113);
	assert_true(p100 >= 100000 && p100 <= 112500);
	stats_record_latency(&s, UINT64_MAX);      /* must not overflow the table */
}

static void sha_of(unsigned char sha[GK_SHA256_LEN], int n)
{
	memset(sha, 0, GK_SHA256_LEN);
	memcpy(sha, &n, sizeof(n));
	sha[31] = (unsigned char)n;
}

static void test_admin_rules_table(void **state)
{
	(void)state;
	struct admin_rules *ar = admin_rules_new();
	unsigned char sha[GK_SHA256_LEN];
	assert_non_null(ar);
	for (int i = 0; i < 5000; i++) {       /* forces several grows */
		sha_of(sha, i);
		admin_rules_set(ar, sha, i % 2 ? GK_VERDICT_DENY : GK_VERDICT_ALLOW);
	}
	assert_int_equal(admin_rules_count(ar), 5000);
	assert_int_equal(admin_rules_denies(ar), 2500);
	for (int i = 0; i < 5000; i += 2) {
		sha_of(sha, i);
		admin_rules_set(ar, sha, GK_VERDICT_UNKNOWN);
	}
	assert_int_equal(admin_rules_count(ar), 2500);
	sha_of(sha, 3);
	assert_int_equal(admin_rules_get(ar, sha), GK_VERDICT_DENY);
	admin_rules_set(ar, sha, GK_VERDICT_ALLOW);       /* replace */
	assert_int_equal(admin_rules_get(ar, sha), GK_VERDICT_ALLOW);
	assert_int_equal(admin_rules_denies(ar), 2499);
	sha_of(sha, 4);
	assert_int_equal(admin_rules_get(ar, sha), GK_VERDICT_UNKNOWN);
	sha_of(sha, 99999);
	assert_int_equal(admin_rules_get(ar, sha), GK_VERDICT_UNKNOWN);
	admin_rules_free(ar);
}

/* The Makefile links this test with --wrap=calloc: a calloc of at least
 * this many bytes fails while it is set (0: none does). */
static size_t calloc_fails_from;
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
	if (calloc_fails_from && size && n >= calloc_fails_from / size)
		return NULL;
	return __real_calloc(n, size);
}

/* Callocs work again even after a failed assertion left the test early. */
static int calloc_works_again(void **state)
{
	(void)state;
	calloc_fails_from = 0;
	return 0;
}

/* A table that cannot grow refuses the rule and stays as it was; the
 * reserve, made before the store is written, says so first. */
static void test_admin_rules_out_of_memory(void **state)
{
	(void)state;
	struct admin_rules *ar = admin_rules_new();
	unsigned char sha[GK_SHA256_LEN];
	assert_non_null(ar);
	for (int i = 0; i < 768; i++) {        /* three quarters of the first 1024 slots */
		sha_of(sha, i);
		assert_int_equal(admin_rules_set(ar, sha, GK_VERDICT_DENY), 0);
	}
	calloc_fails_from = 64 * 1024;
	assert_int_equal(admin_rules_reserve(ar), -1);
	sha_of(sha, 768);
	assert_int_equal(admin_rules_set(ar, sha, GK_VERDICT_DENY), -1);
	assert_int_equal(admin_rules_get(ar, sha), GK_VERDICT_UNKNOWN);
	assert_int_equal(admin_rules_count(ar), 768);
	assert_int_equal(admin_rules_denies(ar), 768);
	sha_of(sha, 5);                         /* a change in place needs no room */
	assert_int_equal(admin_rules_set(ar, sha, GK_VERDICT_ALLOW), 0);
	assert_int_equal(admin_rules_denies(ar), 767);
	calloc_fails_from = 0;
	assert_int_equal(admin_rules_reserve(ar), 0);
	sha_of(sha, 768);
	assert_int_equal(admin_rules_set(ar, sha, GK_VERDICT_DENY), 0);
	assert_int_equal(admin_rules_count(ar), 769);
	admin_rules_free(ar);
}

static int temp_file(const char *content, size_t len)
{
	char path[] = "/tmp/gk-core-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	return fd;
}

static void test_sha256_known_vector(void **state)
{
	(void)state;
	unsigned char sha[GK_SHA256_LEN];
	char hex[GK_SHA256_HEX_LEN + 1];
	int fd = temp_file("abc", 3);
	assert_int_equal(scanner_sha256_fd(fd, sha, NULL), 0);
	gk_sha256_to_hex(sha, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	close(fd);
}

static void test_sha256_cancel(void **state)
{
	(void)state;
	unsigned char sha[GK_SHA256_LEN];
	atomic_bool cancel = true;
	int fd = temp_file("abc", 3);
	assert_int_equal(scanner_sha256_fd(fd, sha, &cancel), -1);
	close(fd);
}

static void test_identify_rehashes_changed_file(void **state)
{
	(void)state;
	unsigned char a[GK_SHA256_LEN], b[GK_SHA256_LEN];
	struct file_id id;
	struct hash_cache *hc = hash_cache_new();
	int fd = temp_file("first", 5);
	assert_non_null(hc);
	usleep(SETTLE_US);                                        /* settled: see below */
	assert_int_equal(identify_fd(hc, fd, &id, a), 0);
	assert_true(hash_cache_lookup(hc, &id, b));               /* cached */
	assert_int_equal(identify_fd(hc, fd, &id, b), 0);
	assert_memory_equal(a, b, GK_SHA256_LEN);
	assert_int_equal(pwrite(fd, "other", 5, 0), 5);           /* same size, new ctime */
	usleep(20000);
	/* Read while the ctime is still the clock's current tick, a digest is
	 * not kept: a same-size rewrite in that tick would keep the ctime, and
	 * the cache would hand out this content's digest for the next one. A
	 * round in which this thread lost the CPU for two ticks between write
	 * and identity proves nothing and is taken again. */
	bool seen_unsettled = false;
	for (int round = 0; round < 20 && !seen_unsettled; round++) {
		assert_int_equal(pwrite(fd, "OTHER", 5, 0), 5);
		assert_int_equal(identify_fd(hc, fd, &id, b), 0);
		assert_memory_not_equal(a, b, GK_SHA256_LEN);
		if (id.settled)
			continue;
		seen_unsettled = true;
		assert_false(hash_cache_lookup(hc, &id, a));
	}
	assert_true(seen_unsettled);
	usleep(SETTLE_US);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_true(id.settled);
	assert_int_equal(identify_fd(hc, fd, &id, a), 0);
	assert_memory_equal(a, b, GK_SHA256_LEN);
	assert_true(hash_cache_lookup(hc, &id, a));               /* kept once settled */
	hash_cache_forget(hc, fd, id.dev, id.ino);
	assert_false(hash_cache_lookup(hc, &id, a));
	close(fd);
	hash_cache_free(hc);
}

/* Nothing read of an overlayfs file is kept, unless the policy trusts what
 * only root may write there; elsewhere everything settled is. */
static void test_hash_cache_keeps_overlay_only_if_trusted(void **state)
{
	(void)state;
	struct hash_cache *hc = hash_cache_new();
	unsigned char sha[GK_SHA256_LEN];
	int fd = temp_file("content", 7);
	struct file_id id;
	assert_non_null(hc);
	static const struct {
		bool overlay, root_only, trust, keeps;
	} cases[] = {
		{ false, false, false, true }, { false, true, true, true },
		{ true, true, false, false }, { true, false, false, false },
		{ true, false, true, false }, { true, true, true, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hash_cache_trust_overlay_root(hc, cases[i].trust);
		id = (struct file_id){ .overlay = cases[i].overlay, .root_only = cases[i].root_only };
		assert_int_equal(hash_cache_keeps(hc, &id), cases[i].keeps);
	}
	/* what file_id_of_fd finds: root_only by owner and write bits */
	assert_int_equal(fchmod(fd, 0755), 0);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_int_equal(id.root_only, geteuid() == 0);
	assert_int_equal(fchmod(fd, 0775), 0);
	assert_int_equal(file_id_of_fd(fd, &id), 0);
	assert_false(id.root_only);
	/* an overlayfs identity is never found, even with a digest stored for
	 * the same file as a plain one */
	hash_cache_trust_overlay_root(hc, false);
	usleep(SETTLE_US);
	assert_int_equal(identify_fd(hc, fd, &id, sha), 0);
	assert_false(id.overlay);   /* the test's temporary files are not on overlayfs */
	assert_true(hash_cache_lookup(hc, &id, sha));
	id.overlay = true;
	assert_false(hash_cache_lookup(hc, &id, sha));
	close(fd);
	hash_cache_free(hc);
}

/* The /proc/self/fd directory gk_fd_path keeps open names the fd table of
 * the process that opened it: a forked child must not look its own fds up
 * in its parent's table. Fd 900 is open in the child only. */
static void test_fd_path_in_forked_child(void **state)
{
	(void)state;
	char path[4096];
	gk_fd_path(STDIN_FILENO, path, sizeof(path));   /* the parent's directory is open now */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, 900) != 900)
			_exit(2);
		gk_fd_path(900, path, sizeof(path));
		_exit(strcmp(path, "/dev/null") ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A trickle of work costs a handful of wake-ups, a stream is taken every
 * 10 ms, and a quiet second ends the lingering whatever the tick. */
static void test_linger_backs_off_and_ends(void **state)
{
	(void)state;
	struct gk_linger l = { 0 };
	int ticks[16], n = 0;
	/* not lingering, a quiet wait leaves it off; work found starts it */
	assert_false(gk_linger_after(&l, false, 0));
	bool on = gk_linger_after(&l, true, 0);
	assert_true(on);
	while (on && n < 16) {
		ticks[n] = gk_linger_tick_ms(&l);
		on = gk_linger_after(&l, false, ticks[n]);
		n++;
	}
	assert_false(on);
	assert_int_equal(n, 10);   /* 10 20 40 80 160 160 160 160 160 160: 1110 ms */
	assert_int_equal(ticks[0], GK_LINGER_FIRST_MS);
	assert_int_equal(ticks[1], 20);
	assert_int_equal(ticks[4], GK_LINGER_MAX_MS);
	assert_int_equal(ticks[9], GK_LINGER_MAX_MS);
	/* ended: the next lingering starts at 10 ms again */
	assert_int_equal(gk_linger_tick_ms(&l), GK_LINGER_FIRST_MS);
	/* work found resets the back-off */
	assert_true(gk_linger_after(&l, true, 0));
	assert_true(gk_linger_after(&l, false, gk_linger_tick_ms(&l)));
	assert_true(gk_linger_after(&l, false, gk_linger_tick_ms(&l)));
	assert_int_equal(gk_linger_tick_ms(&l), 40);
	assert_true(gk_linger_after(&l, true, 40));
	assert_int_equal(gk_linger_tick_ms(&l), GK_LINGER_FIRST_MS);
}

/* A replaced file holds the new text whole and leaves no .tmp behind; a
 * failed replace says why; reading stops at the buffer and at symlinks. */
static void test_replace_file_and_read_text(void **state)
{
	(void)state;
	char dir[] = "/tmp/gk-test-util-XXXXXX", path[64], tmp[80], link[64], missing[96], buf[8];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(link, sizeof(link), "%s/l", dir);
	snprintf(missing, sizeof(missing), "%s/no/f", dir);
	assert_int_equal(gk_replace_file(path, "abc", 3, false), 0);
	assert_int_equal(gk_read_text(path, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(gk_replace_file(path, "0123456789", 10, true), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(gk_read_text(path, buf, sizeof(buf)), 7);   /* size - 1 bytes */
	assert_string_equal(buf, "0123456");
	errno = 0;
	assert_int_equal(gk_replace_file(missing, "x", 1, false), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(gk_read_text(link, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "");
	unlink(link);
	unlink(path);
	rmdir(dir);
}

/* The name a kernel refusal is audited with: the latest path its inode was
 * denied under; none for an inode never denied, or pushed out. */
static void test_denied_names(void **state)
{
	(void)state;
	struct gk_denied *dn = denied_new();
	char name[64] = "unchanged";
	assert_non_null(dn);
	assert_false(denied_name(dn, 1, 2, name, sizeof(name), NULL, NULL));
	assert_string_equal(name, "unchanged");
	denied_remember(dn, 1, 2, "/t/bad", NULL);
	denied_remember(dn, 1, 3, "", NULL);   /* no name: nothing to keep */
	assert_true(denied_name(dn, 1, 2, name, sizeof(name), NULL, NULL));
	assert_string_equal(name, "/t/bad");
	assert_false(denied_name(dn, 2, 2, name, sizeof(name), NULL, NULL));   /* other device */
	assert_false(denied_name(dn, 1, 3, name, sizeof(name), NULL, NULL));
	denied_remember(dn, 1, 2, "/t/renamed", NULL);
	assert_true(denied_name(dn, 1, 2, name, sizeof(name), NULL, NULL));
	assert_string_equal(name, "/t/renamed");
	char small[4];
	assert_true(denied_name(dn, 1, 2, small, sizeof(small), NULL, NULL));
	assert_string_equal(small, "/t/");
	/* Bounded: thousands of denials later the first is forgotten, the
	 * last is known. */
	for (ino_t ino = 100; ino < 100 + 50000; ino++)
		denied_remember(dn, 1, ino, "/t/many", NULL);
	assert_false(denied_name(dn, 1, 2, name, sizeof(name), NULL, NULL));
	assert_true(denied_name(dn, 1, 100 + 49999, name, sizeof(name), NULL, NULL));
	assert_string_equal(name, "/t/many");
	/* The digest the file was denied for goes with its name. */
	unsigned char sha[GK_SHA256_LEN], got[GK_SHA256_LEN];
	bool have = true;
	memset(sha, 0xab, sizeof(sha));
	assert_true(denied_name(dn, 1, 100 + 49999, name, sizeof(name), got, &have));
	assert_false(have);
	denied_remember(dn, 1, 100 + 49999, "/t/many", sha);
	assert_true(denied_name(dn, 1, 100 + 49999, name, sizeof(name), got, &have));
	assert_true(have);
	assert_memory_equal(got, sha, sizeof(sha));
	denied_remember(dn, 1, 100 + 49999, "/t/many", NULL);   /* judged again, unhashed */
	assert_true(denied_name(dn, 1, 100 + 49999, name, sizeof(name), got, &have));
	assert_false(have);
	denied_free(dn);
	denied_free(NULL);
}

/* The watchdog pings only while the event path turns over: an idle path
 * is alive; one whose pending events see no answer for an interval is not;
 * nor is a reader that has not read for an interval while events wait. */
static void test_watchdog_sees_a_stuck_path(void **state)
{
	(void)state;
	struct gk_stats st;
	struct event_path_probe probe = { 0 };
	memset(&st, 0, sizeof(st));
	const int64_t second = 1000000;
	assert_true(alive_event_path_turns(&st, &probe, 10 * second, second));   /* idle */
	atomic_store(&st.events, 5);
	atomic_store(&st.pending, 1);   /* 4 answered, 1 waits */
	assert_true(alive_event_path_turns(&st, &probe, 11 * second, second));
	assert_true(alive_event_path_turns(&st, &probe, 11 * second + second / 2, second));
	assert_false(alive_event_path_turns(&st, &probe, 12 * second + 1, second));
	atomic_store(&st.events, 6);    /* one more answered: progress */
	assert_true(alive_event_path_turns(&st, &probe, 12 * second + 2, second));

	/* A remote event a server stalls is not the local path's: with the
	 * local one answered, the path is idle, however long it waits. */
	atomic_store(&st.events, 7);
	atomic_store(&st.remote_events, 1);
	atomic_store(&st.remote_pending, 1);   /* the one pending is remote */
	assert_true(alive_event_path_turns(&st, &probe, 13 * second, second));
	assert_true(alive_event_path_turns(&st, &probe, 20 * second, second));
	atomic_store(&st.events, 8);           /* a local one waits beside it */
	atomic_store(&st.pending, 2);
	assert_true(alive_event_path_turns(&st, &probe, 20 * second + second / 2, second));
	assert_false(alive_event_path_turns(&st, &probe, 21 * second + 1, second));

	assert_true(alive_reader_keeps_up(0, false, 100 * second, second));   /* idle reader */
	assert_true(alive_reader_keeps_up(99 * second + 1, true, 100 * second, second));
	assert_false(alive_reader_keeps_up(99 * second, true, 100 * second, second));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_round_trip),
		cmocka_unit_test(test_proto_rejects_garbage),
		cmocka_unit_test(test_proto_error_replaces_reply),
		cmocka_unit_test(test_log_kv_quotes),
		cmocka_unit_test(test_log_kv_truncates_safely),
		cmocka_unit_test(test_log_kv_escapes_bytes),
		cmocka_unit_test(test_log_format_escapes_values),
		cmocka_unit_test(test_utmp_runlevel),
		cmocka_unit_test(test_latency_percentiles),
		cmocka_unit_test(test_admin_rules_table),
		cmocka_unit_test_teardown(test_admin_rules_out_of_memory, calloc_works_again),
		cmocka_unit_test(test_sha256_known_vector),
		cmocka_unit_test(test_sha256_cancel),
		cmocka_unit_test(test_identify_rehashes_changed_file),
		cmocka_unit_test(test_hash_cache_keeps_overlay_only_if_trusted),
		cmocka_unit_test(test_fd_path_in_forked_child),
		cmocka_unit_test(test_replace_file_and_read_text),
		cmocka_unit_test(test_linger_backs_off_and_ends),
		cmocka_unit_test(test_watchdog_sees_a_stuck_path),
		cmocka_unit_test(test_denied_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
