/* Unit tests for gatekeeper/mounts.c: which mounts of a mountinfo table a
 * watch list covers, and which of them are skipped and why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gatekeeper/mounts.h"
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

/* watch: [/]: every mount; pseudo filesystems and noexec mounts skipped,
 * an escaped space in a mount point read back, "noexecx" is not noexec. */
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
	assert_non_null(strstr(out, "/tmp 0:32 tmpfs skip: mounted noexec\n"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_host),
		cmocka_unit_test(subtree),
	};
	return cmocka_run_group_tests_name("mounts", tests, NULL, NULL);
}
