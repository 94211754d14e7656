/* Shared by the trust unit tests (test_trust.c, test_trust_unpack.c): a
 * fresh directory holding a test-made dpkg admin directory and a root (dpkg
 * --root) with the packaged files, a trust opened on them, and the lookup
 * of one file. */
#ifndef GK_TEST_TRUST_UTIL_H
#define GK_TEST_TRUST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/trust.h"
#include "policy/policy.h"

struct fx {
	char dir[64], admin[128], root[128], db[128];
	struct gk_db *checked;   /* the daemon's first connection, which checks the file */
};

static inline void put(const struct fx *fx, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
	f = fopen(path, "w");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static inline void md5_hex(const char *text, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	EVP_Digest(text, strlen(text), md, &len, EVP_md5(), NULL);
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static inline void mkdirs(const struct fx *fx, const char *rel)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", fx->dir, rel);
	assert_int_equal(system(cmd), 0);
}

static inline int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256];

	/* On disk: where /tmp is a tmpfs the digest store keeps nothing. */
	snprintf(fx->dir, sizeof(fx->dir), "/var/tmp/gk-trust-unit.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->admin, sizeof(fx->admin), "%s/admin", fx->dir);
	snprintf(fx->root, sizeof(fx->root), "%s/root", fx->dir);
	snprintf(fx->db, sizeof(fx->db), "%s/gk.db", fx->dir);
	mkdirs(fx, "admin/info");
	mkdirs(fx, "admin/updates");
	mkdirs(fx, "root/usr/bin");
	*state = fx;
	return (fx->checked = db_open(fx->db, err, sizeof(err))) ? 0 : -1;
}

static inline int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	db_close(fx->checked);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	free(fx);
	return system(cmd) != 0 ? -1 : 0;
}

static inline struct trust *open_trust(const struct fx *fx)
{
	char yaml[1024], err[512];
	struct gk_policy_errors errs;
	struct gk_policy *p;

	snprintf(yaml, sizeof(yaml), "mode: enforce\nwatch: [%s]\ndefault: deny\n"
		 "trust: [{dpkg: {root: %s, admindir: %s}}]\n", fx->root, fx->root, fx->admin);
	p = policy_parse("t.yaml", yaml, strlen(yaml), &errs);
	if (!p)
		fail_msg("%s", errs.msg[0]);
	struct trust *t = trust_open(p, fx->checked, err, sizeof(err));
	if (!t)
		fail_msg("trust_open: %s", err);
	policy_free(p);
	return t;
}

/* The lookup of one file under the root, by trust_identify or by another
 * lookup of the same shape (trust_identify_indexed). */
typedef int trust_lookup_fn(struct trust *t, struct hash_cache *hc, int fd, const char *path,
			    struct file_id *id, unsigned char sha[GK_SHA256_LEN],
			    struct trust_result *out, const atomic_bool *cancel, uint64_t guard);

static inline enum gk_trust_match ask_with(trust_lookup_fn *lookup, struct trust *t,
					   const struct fx *fx, const char *rel, char *detail)
{
	char path[512];
	struct file_id id;
	unsigned char sha[GK_SHA256_LEN];
	struct trust_result r;
	int fd;

	struct hash_cache *hc = hash_cache_new();

	snprintf(path, sizeof(path), "%s/%s", fx->root, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !hc)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(lookup(t, hc, fd, path, &id, sha, &r, NULL, 0), 0);
	close(fd);
	hash_cache_free(hc);
	if (detail)
		strcpy(detail, r.detail);
	return r.match;
}

static inline enum gk_trust_match ask(struct trust *t, const struct fx *fx, const char *rel,
				      char *detail)
{
	return ask_with(trust_identify, t, fx, rel, detail);
}

/* A packaged program, its merged-/usr alias, a diverted pair. */
static inline void make_packages(const struct fx *fx)
{
	char m1[33], m2[33], m3[33], text[2048];

	md5_hex("hello v1\n", m1);
	md5_hex("tool by diverter\n", m2);
	md5_hex("tool by owner\n", m3);
	assert_int_equal(symlink("usr/bin", (snprintf(text, sizeof(text), "%s/bin", fx->root), text)), 0);
	put(fx, "root/usr/bin/hello", "hello v1\n");
	put(fx, "root/usr/bin/tool", "tool by diverter\n");
	put(fx, "root/usr/bin/tool.real", "tool by owner\n");
	put(fx, "root/usr/bin/loose", "not packaged\n");
	put(fx, "root/usr/bin/nodigest", "no digest\n");
	put(fx, "admin/status",
	    "Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n"
	    "Package: diverter\nStatus: install ok installed\nArchitecture: all\nVersion: 2\n\n"
	    "Package: owner\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n"
	    "Version: 3\n");
	/* Debian 12 lists /bin/hello; the kernel reports /usr/bin/hello. */
	put(fx, "admin/info/hello.list", "/.\n/bin\n/bin/hello\n/usr\n/usr/bin\n/usr/bin/nodigest\n");
	snprintf(text, sizeof(text), "%s  bin/hello\n", m1);
	put(fx, "admin/info/hello.md5sums", text);
	put(fx, "admin/info/diverter.list", "/.\n/usr\n/usr/bin\n/usr/bin/tool\n");
	snprintf(text, sizeof(text), "%s  usr/bin/tool\n", m2);
	put(fx, "admin/info/diverter.md5sums", text);
	put(fx, "admin/info/owner:amd64.list", "/.\n/usr\n/usr/bin\n/usr/bin/tool\n");
	snprintf(text, sizeof(text), "%s  usr/bin/tool\n", m3);
	put(fx, "admin/info/owner:amd64.md5sums", text);
	put(fx, "admin/diversions", "/usr/bin/tool\n/usr/bin/tool.real\ndiverter\n");
}

#endif
