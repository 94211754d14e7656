/* Unit tests for trust while dpkg unpacks a package (half-installed): the
 * reader of dpkg's control area (tmp.ci/), and an upgrade's window, in
 * which the package's files are the old version's or the new one's and
 * info/ still records the old. Under `default: deny` a file of neither
 * would be refused, and during an upgrade of dash that is /bin/sh. */
#include <sys/stat.h>

#include "gatekeeper/dpkg.h"
#include "trust_test_util.h"

static void tmpci(const struct fx *fx, const char *control, const char *md5sums)
{
	mkdirs(fx, "admin/tmp.ci");
	put(fx, "admin/tmp.ci/control", control);
	if (md5sums)
		put(fx, "admin/tmp.ci/md5sums", md5sums);
}

static const char hello2_control[] =
	"Package: hello\nVersion: 2.0-1\nArchitecture: amd64\nMaintainer: t <t@example.org>\n"
	"Description: a\n continued: line\n";

static void control_area_read(void **state)
{
	struct fx *fx = *state;
	struct dpkg_unpacking u;
	char err[512], text[512], m1[33], m2[33];

	assert_int_equal(dpkg_read_unpacking(fx->admin, &u, err, sizeof(err)), 1);
	md5_hex("one\n", m1);
	md5_hex("two\n", m2);
	snprintf(text, sizeof(text), "%s  usr/bin/zz\n%s  ./bin/aa\n", m1, m2);
	tmpci(fx, hello2_control, text);
	assert_int_equal(dpkg_read_unpacking(fx->admin, &u, err, sizeof(err)), 0);
	assert_string_equal(u.name, "hello");
	assert_string_equal(u.arch, "amd64");
	assert_string_equal(u.version, "2.0-1");
	assert_int_equal(u.files.n_files, 2);
	assert_string_equal(u.files.files[0].path, "/bin/aa");
	assert_string_equal(u.files.files[1].path, "/usr/bin/zz");
	assert_true(u.files.files[1].has_md5);
	dpkg_unpacking_free(&u);

	/* A package without md5sums: named, no files. */
	snprintf(text, sizeof(text), "%s/tmp.ci/md5sums", fx->admin);
	unlink(text);
	assert_int_equal(dpkg_read_unpacking(fx->admin, &u, err, sizeof(err)), 0);
	assert_int_equal(u.files.n_files, 0);
	dpkg_unpacking_free(&u);

	/* Malformed: one line naming file and line, nothing filled. */
	put(fx, "admin/tmp.ci/md5sums", "0123  usr/bin/short\n");
	assert_int_equal(dpkg_read_unpacking(fx->admin, &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tmp.ci/md5sums:1: expected"));
	assert_null(u.name);
	put(fx, "admin/tmp.ci/control", "Version: 1\n");
	assert_int_equal(dpkg_read_unpacking(fx->admin, &u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tmp.ci/control:1: stanza without a Package field"));
}

/* dpkg begins to upgrade hello 1.0-1 to 2.0-1: control area, then the
 * journal says half-installed. */
static void begin_upgrade(const struct fx *fx)
{
	char text[512], m2[33], mh[33];

	md5_hex("hello v2\n", m2);
	md5_hex("helper v2\n", mh);
	snprintf(text, sizeof(text), "%s  bin/hello\n%s  usr/bin/hello-helper\n", m2, mh);
	tmpci(fx, hello2_control, text);
	put(fx, "admin/updates/0000", "Package: hello\nStatus: install reinstreq half-installed\n"
	    "Architecture: amd64\nVersion: 1.0-1\n");
}

static void upgrade_window(void **state)
{
	struct fx *fx = *state;
	char detail[200], text[512], m2[33], mh[33];
	struct trust *t;

	make_packages(fx);
	t = open_trust(fx);
	assert_int_equal(ask(t, fx, "usr/bin/hello", detail), GK_TRUST_MATCH);
	begin_upgrade(fx);
	assert_int_equal(trust_refresh(t), 0);
	/* The new preinst runs the old program: still the recorded one. */
	assert_int_equal(ask(t, fx, "usr/bin/hello", detail), GK_TRUST_MATCH);
	assert_string_equal(detail, "dpkg hello 1.0-1");
	/* The files renamed into place; the old postrm runs the new program. */
	put(fx, "root/usr/bin/hello", "hello v2\n");
	put(fx, "root/usr/bin/hello-helper", "helper v2\n");
	assert_int_equal(ask(t, fx, "usr/bin/hello", detail), GK_TRUST_MATCH);
	assert_string_equal(detail, "dpkg hello 2.0-1 (unpacking)");
	assert_int_equal(ask(t, fx, "usr/bin/hello-helper", NULL), GK_TRUST_MATCH);
	/* Neither version's content: refused as before. */
	put(fx, "root/usr/bin/hello", "hello v3\n");
	assert_int_equal(ask(t, fx, "usr/bin/hello", detail), GK_TRUST_DIFFERS);
	assert_string_equal(detail, "hello");
	put(fx, "root/usr/bin/hello", "hello v2\n");

	/* dpkg is done: info/ has the new list and digests, the control area
	 * is gone. Only the new version counts. */
	md5_hex("hello v2\n", m2);
	md5_hex("helper v2\n", mh);
	put(fx, "admin/info/hello.list",
	    "/.\n/bin\n/bin/hello\n/usr\n/usr/bin\n/usr/bin/nodigest\n/usr/bin/hello-helper\n");
	snprintf(text, sizeof(text), "%s  bin/hello\n%s  usr/bin/hello-helper\n", m2, mh);
	put(fx, "admin/info/hello.md5sums", text);
	put(fx, "admin/updates/0001", "Package: hello\nStatus: install ok unpacked\n"
	    "Architecture: amd64\nVersion: 2.0-1\n");
	assert_int_equal(system((snprintf(text, sizeof(text), "rm -r '%s/tmp.ci'", fx->admin), text)), 0);
	assert_int_equal(trust_refresh(t), 0);
	assert_int_equal(ask(t, fx, "usr/bin/hello", detail), GK_TRUST_MATCH);
	assert_string_equal(detail, "dpkg hello 2.0-1");
	put(fx, "root/usr/bin/hello", "hello v1\n");
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_DIFFERS);
	trust_close(t);
}

static void control_area_of_another_state(void **state)
{
	struct fx *fx = *state;
	struct trust *t;

	make_packages(fx);
	t = open_trust(fx);
	/* Left behind by a run that ended: hello is installed, not being
	 * unpacked, and the control area vouches for nothing. */
	begin_upgrade(fx);
	put(fx, "admin/updates/0000", "Package: hello\nStatus: install ok installed\n"
	    "Architecture: amd64\nVersion: 1.0-1\n");
	assert_int_equal(trust_refresh(t), 0);
	put(fx, "root/usr/bin/hello", "hello v2\n");
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_DIFFERS);
	/* Another package's control area while hello is half-installed. */
	tmpci(fx, "Package: other\nVersion: 1\nArchitecture: amd64\n", NULL);
	put(fx, "admin/updates/0000", "Package: hello\nStatus: install reinstreq half-installed\n"
	    "Architecture: amd64\nVersion: 1.0-1\n");
	assert_int_equal(trust_refresh(t), 0);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_DIFFERS);
	/* A failed unpack (half-installed, no control area): what info/
	 * records still counts. */
	put(fx, "root/usr/bin/hello", "hello v1\n");
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	trust_close(t);
}

static void malformed_control_area_keeps_rows(void **state)
{
	struct fx *fx = *state;
	struct trust *t;

	make_packages(fx);
	t = open_trust(fx);
	begin_upgrade(fx);
	assert_int_equal(trust_refresh(t), 0);
	put(fx, "root/usr/bin/hello", "hello v2\n");
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	/* Caught half-written: one error, what was read stays. */
	put(fx, "admin/tmp.ci/md5sums", "garbage\n");
	assert_int_equal(trust_refresh(t), 0);
	assert_int_equal(ask(t, fx, "usr/bin/hello", NULL), GK_TRUST_MATCH);
	trust_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(control_area_read, setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade_window, setup, teardown),
		cmocka_unit_test_setup_teardown(control_area_of_another_state, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_control_area_keeps_rows, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
