/* Unit tests for gatekeeper/mounts.c: which mounts of a mountinfo table a
 * watch list covers, and which of them are skipped and why; the tracker as
 * an object of the daemon, stopped and started again in one process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/fileless.h"
#include "gatekeeper/mounts.h"
#include "gatekeeper/proto.h"
#include "policy/policy.h"

static const char mountinfo[] =
	"21 1 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
	"1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	"30 1 0:30 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw\n"
	"31 1 0:31 / /run/user/1000 rw,nosuid,nodev,relatime - tmpfs tmpfs rw,mode=700\n"
	"32 1 0:32 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw\n"
	"33 1 8:17 / /media/u/USB\\040STICK rw,nosuid,nodev - vfat /dev/sdb1 rw\n"
	"34 1 0:34 / /opt/xy rw - tmpfs tmpfs rw\n"
	"35 1 0:35 / /opt/x/sub rw,noexecx - fuse.sshfs u@h: rw\n"
	"36 1 0:36 / /sys/kernel/tracing rw - tracefs tracefs rw\n"
	"37 1 0:37 / /opt/x rw,nosuid - tmpfs tmpfs rw\n";

static void plan(const char *yaml, char *out, size_t size)
{
	struct gk_policy_errors errs;
	struct gk_policy *p = policy_parse("m.yaml", yaml, strlen(yaml), &errs);
	FILE *f = fmemopen((void *)mountinfo, sizeof(mountinfo) - 1, "r");

	assert_non_null(p);
	assert_non_null(f);
	assert_int_equal(mounts_plan(p, f, out, size), 0);
	fclose(f);
	policy_free(p);
}

/* watch: [/]: every mount; pseudo filesystems skipped, a noexec mount
 * marked (another mount of it may run programs), an escaped space in a
 * mount point read back. */
static void whole_host(void **state)
{
	char out[4096];

	(void)state;
	plan("mode: enforce\nwatch: [/]\ndefault: allow\n", out, sizeof(out));
	assert_non_null(strstr(out, "/ 8:1 ext4 mark\n"));
	assert_non_null(strstr(out, "/proc 0:20 proc skip: pseudo filesystem\n"));
	assert_non_null(strstr(out, "/sys 0:21 sysfs skip: pseudo filesystem\n"));
	assert_non_null(strstr(out, "/sys/kernel/tracing 0:36 tracefs skip: pseudo filesystem\n"));
	assert_non_null(strstr(out, "/dev/shm 0:30 tmpfs mark\n"));
	assert_non_null(strstr(out, "/run/user/1000 0:31 tmpfs mark\n"));
	assert_non_null(strstr(out, "/tmp 0:32 tmpfs mark\n"));
	assert_non_null(strstr(out, "/media/u/USB STICK 8:17 vfat mark\n"));
	assert_non_null(strstr(out, "/opt/x/sub 0:35 fuse.sshfs mark\n"));
}

/* A subtree watch: the mount holding the path (the latest mount on its
 * way: /opt/x, not /) and the mounts below it; /opt/xy is not below /opt/x. */
static void subtree(void **state)
{
	char out[4096];

	(void)state;
	plan("mode: enforce\nwatch: [/opt/x/bin]\ndefault: allow\n", out, sizeof(out));
	assert_string_equal(out, "/opt/x 0:37 tmpfs mark\n");
	plan("mode: enforce\nwatch: [/opt/x]\ndefault: allow\n", out, sizeof(out));
	assert_string_equal(out, "/opt/x/sub 0:35 fuse.sshfs mark\n/opt/x 0:37 tmpfs mark\n");
	plan("mode: enforce\nwatch: [/home/u]\ndefault: allow\n", out, sizeof(out));
	assert_string_equal(out, "/ 8:1 ext4 mark\n");
}

/* The number after "n mount_reconciles " in a status reply. */
static long reconciles(struct gk_daemon *d)
{
	struct proto_buf b = { 0 };
	mounts_report(d->mounts, &b);
	assert_false(b.failed);
	const char *at = b.data ? strstr(b.data, "n mount_reconciles ") : NULL;
	assert_non_null(at);
	long n = strtol(at + strlen("n mount_reconciles "), NULL, 10);
	proto_free(&b);
	return n;
}

/* Stop without start, start/stop/start, a wake after the restart reaches a
 * live tracker. Nothing is marked: the permission group is no fd (each
 * filesystem is listed as skipped), and where we may, the test runs in a
 * mount namespace of its own (the tracker's mount-event mark goes there). */
static void tracker_start_stop_start(void **state)
{
	struct gk_daemon *d = calloc(1, sizeof(*d));
	struct fan_group g = { .fd = -1, .mask = FAN_OPEN_EXEC_PERM };
	struct fan_group remote = { .fd = -1, .mask = FAN_OPEN_EXEC_PERM, .remote = true };
	struct gk_policy_errors errs;
	const char yaml[] = "mode: enforce\nwatch: [/]\ndefault: allow\n";
	char err[256];
	struct stat root;

	(void)state;
	if (unshare(CLONE_NEWNS) == 0)
		assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	assert_non_null(d);
	assert_int_equal(stat("/", &root), 0);
	d->group = &g;
	d->remote = &remote;
	d->policy = policy_parse("m.yaml", yaml, strlen(yaml), &errs);
	assert_non_null(d->policy);
	pthread_rwlock_init(&d->policy_lock, NULL);
	mounts_stop(d);            /* never started: nothing to do */
	mounts_free(d);
	mounts_groups_changed(d->mounts);
	assert_int_equal(reconciles(d), 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(mounts_start(d, -1, err, sizeof(err)), 0);
		assert_non_null(d->mounts);
		long first = reconciles(d);
		assert_true(first >= 1);
		assert_true(mounts_may_pin(d->mounts, root.st_dev));
		mounts_groups_changed(d->mounts);   /* wakes the tracker: it reconciles */
		for (int i = 0; i < 2000 && reconciles(d) == first; i++)
			usleep(5000);
		assert_true(reconciles(d) > first);
		mounts_stop(d);
		mounts_stop(d);            /* twice: still safe */
	}
	mounts_free(d);
	mounts_free(d);
	assert_null(d->mounts);
	policy_free(d->policy);
	pthread_rwlock_destroy(&d->policy_lock);
	free(d);
}

/* The fileless state is an object: made, reported, freed, made again;
 * NULL everywhere is harmless. Monitor mode switches nothing. */
static void fileless_object(void **state)
{
	struct gk_daemon *d = calloc(1, sizeof(*d));
	struct gk_policy_errors errs;
	const char yaml[] = "mode: monitor\nwatch: [/]\ndefault: allow\nfileless: deny\n";
	struct proto_buf b = { 0 };

	(void)state;
	assert_non_null(d);
	d->policy = policy_parse("m.yaml", yaml, strlen(yaml), &errs);
	assert_non_null(d->policy);
	pthread_rwlock_init(&d->policy_lock, NULL);
	fileless_apply(d);         /* no object: nothing */
	fileless_restore(NULL);
	fileless_free(NULL);
	fileless_report(NULL, &b);
	assert_non_null(strstr(b.data, "s fileless \n"));
	proto_free(&b);
	for (int round = 0; round < 2; round++) {
		struct proto_buf r = { 0 };
		assert_non_null(d->fileless = fileless_new());
		fileless_apply(d);
		fileless_report(d->fileless, &r);
		assert_non_null(strstr(r.data, "s fileless deny (monitor: nothing refused"));
		proto_free(&r);
		fileless_free(d->fileless);
		d->fileless = NULL;
	}
	policy_free(d->policy);
	pthread_rwlock_destroy(&d->policy_lock);
	free(d);
}

/* A directory laid out like /proc, with the user-namespace sysctls given
 * (NULL: the file is missing) and /proc/self/ns/user present or not. */
/* Where the kernel cache may answer: not where content changes elsewhere. */
static void fstypes(void **state)
{
	(void)state;
	const char *remote[] = { "fuse", "fuse.sshfs", "fuseblk", "nfs", "nfs4", "cifs", "9p",
				 "virtiofs", "ceph" };
	const char *local[] = { "ext4", "xfs", "btrfs", "tmpfs", "vfat", "overlay", "fusectl",
				"nfsd", "fusex" };
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		assert_true(kcache_fstype_uncached(remote[i]));
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		assert_false(kcache_fstype_uncached(local[i]));
	assert_true(mounts_fstype_pseudo("proc"));
	assert_true(mounts_fstype_pseudo("fusectl"));
	assert_false(mounts_fstype_pseudo("fuse"));
}

static void fake_proc(char *root, bool has_userns, const char *max, const char *clone)
{
	char path[512];
	strcpy(root, "/tmp/gk-test-proc.XXXXXX");
	assert_non_null(mkdtemp(root));
	const char *dirs[] = { "sys", "sys/user", "sys/kernel", "self", "self/ns" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	const char *files[][2] = { { "self/ns/user", has_userns ? "" : NULL },
				   { "sys/user/max_user_namespaces", max },
				   { "sys/kernel/unprivileged_userns_clone", clone } };
	for (size_t i = 0; i < 3; i++) {
		if (!files[i][1])
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, files[i][0]);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(files[i][1], f);
		fclose(f);
	}
}

static void rm_fake_proc(const char *root)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void user_mounts(void **state)
{
	(void)state;
	const struct {
		bool userns;
		const char *max, *clone;
		bool possible;
		const char *says;
	} cases[] = {
		{ false, NULL, NULL, false, "refused (this kernel has no user namespaces)" },
		{ true, "0\n", "1\n", false, "refused (user.max_user_namespaces=0)" },
		{ true, "15000\n", "0\n", false, "refused (kernel.unprivileged_userns_clone=0)" },
		{ true, "15000\n", "1\n", true, "sysctl kernel.unprivileged_userns_clone=0 closes it" },
		{ true, "15000\n", NULL, true, "sysctl user.max_user_namespaces=0 closes it" },
		{ true, "junk\n", NULL, true, "sysctl user.max_user_namespaces=0 closes it" },
		{ true, NULL, NULL, true, "possible: any user can mount" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char root[64], out[256];
		fake_proc(root, cases[i].userns, cases[i].max, cases[i].clone);
		bool possible = mounts_user_mounts(root, out, sizeof(out));
		rm_fake_proc(root);
		if (possible != cases[i].possible || !strstr(out, cases[i].says))
			fail_msg("case %zu: %s: want %s \"%s\"", i, out,
				 cases[i].possible ? "possible" : "refused", cases[i].says);
	}
}

/* A table of (dev, id) pairs, malloc'd as mounts_seen_update wants. */
static struct sb_mount *table(size_t n, const unsigned (*pairs)[2])
{
	struct sb_mount *t = calloc(n ? n : 1, sizeof(*t));
	assert_non_null(t);
	for (size_t i = 0; i < n; i++)
		t[i] = (struct sb_mount){ .dev = pairs[i][0], .id = pairs[i][1] };
	return t;
}

/* Devices gone between two reads: none of their mounts is left. A device
 * mounted again under a new mount ID counts as gone (it may carry other
 * content); one still shown by another of its mounts (a bind) does not. */
static void devices_gone(void **state)
{
	(void)state;
	struct mounts_seen s = { 0 };
	dev_t gone[8];
	const unsigned first[][2] = { { 1, 10 }, { 2, 20 }, { 2, 21 }, { 3, 30 }, { 4, 40 } };
	assert_int_equal(mounts_seen_update(&s, table(5, first), 5, gone, 8), 0);   /* nothing before */
	/* 1 unmounted; 2 lost one of its two mounts; 3 remounted as id 31; 5 new */
	const unsigned second[][2] = { { 2, 21 }, { 3, 31 }, { 4, 40 }, { 5, 50 } };
	size_t n = mounts_seen_update(&s, table(4, second), 4, gone, 8);
	assert_int_equal(n, 2);
	assert_true((gone[0] == 1 && gone[1] == 3) || (gone[0] == 3 && gone[1] == 1));
	/* no change, then everything gone; max_gone smaller than that */
	assert_int_equal(mounts_seen_update(&s, table(4, second), 4, gone, 8), 0);
	/* 4 unmounted, and its mount ID handed to another device's new mount */
	const unsigned third[][2] = { { 2, 21 }, { 3, 31 }, { 6, 40 }, { 5, 50 } };
	assert_int_equal(mounts_seen_update(&s, table(4, third), 4, gone, 8), 1);
	assert_int_equal(gone[0], 4);
	assert_int_equal(mounts_seen_update(&s, table(0, second), 0, gone, 2), 4);
	mounts_seen_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_host),
		cmocka_unit_test(user_mounts),
		cmocka_unit_test(subtree),
		cmocka_unit_test(tracker_start_stop_start),
		cmocka_unit_test(fileless_object),
		cmocka_unit_test(fstypes),
		cmocka_unit_test(devices_gone),
	};
	return cmocka_run_group_tests_name("mounts", tests, NULL, NULL);
}
