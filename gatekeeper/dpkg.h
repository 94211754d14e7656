/* dpkg: read dpkg's database (the admin directory, /var/lib/dpkg): which
 * packages are installed and at which version (status), the paths each
 * lists (info/PKG[:ARCH].list), the MD5 it recorded for each file
 * (info/PKG[:ARCH].md5sums), and the diversions. This header is the reader's
 * only door; it parses, it does not decide. Every reader either fills its
 * output whole or fails with one line "FILE:LINE: what" and fills nothing. */
#ifndef GK_DPKG_H
#define GK_DPKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DPKG_MD5_LEN 16

struct dpkg_file {
	char *path;                       /* absolute, as the package lists it */
	unsigned char md5[DPKG_MD5_LEN];
	bool has_md5;                     /* md5sums has a line for it */
};

/* One info/STEM.list with its STEM.md5sums. STEM is "name" or, for
 * Multi-Arch: same packages, "name:arch". */
struct dpkg_package {
	char *stem;
	struct dpkg_file *files;          /* sorted by path; directories left out */
	size_t n_files;
	size_t n_without_md5;             /* files (not directories) md5sums does not cover */
};

/* A missing md5sums is not an error (some packages ship none): every file
 * then lacks a digest. */
int dpkg_read_package(const char *admindir, const char *stem, struct dpkg_package *out,
		      char *err, size_t errlen);
void dpkg_package_free(struct dpkg_package *p);

/* One stanza of the status file whose package has files on disk. */
struct dpkg_installed {
	char *name, *arch, *version;
	bool unpacking;   /* half-installed: an unpack or removal under way, or one that failed */
	/* Its Conffiles (md5sums leaves them out): each with the MD5 of the
	 * content dpkg installed, sorted by path. Left out: obsolete ones (no
	 * longer shipped) and new ones not installed yet ("newconffile"). */
	struct dpkg_file *conffiles;
	size_t n_conffiles;
};
struct dpkg_status {
	struct dpkg_installed *pkgs;      /* sorted by name, then arch */
	size_t n;
};
/* Reads status, then the journal dpkg keeps beside it (updates/NNNN, the
 * changes of a run not yet folded into status), the last stanza per package
 * winning. Keeps the packages whose files are on disk: installed, unpacked,
 * half-configured, triggers-awaited/-pending (a postinst runs its freshly
 * unpacked binary while half-configured), and half-installed (unpacking
 * set: dpkg is unpacking or removing it; its info/ files still describe
 * what it recorded last). Leaves out not-installed and config-files (what
 * `apt remove` leaves). */
int dpkg_read_status(const char *admindir, struct dpkg_status *out, char *err, size_t errlen);
/* The package an info stem names, or NULL if it has no files on disk. */
const struct dpkg_installed *dpkg_status_find(const struct dpkg_status *s, const char *stem);
/* Its version, or NULL. */
const char *dpkg_status_version(const struct dpkg_status *s, const char *stem);

/* The package dpkg is unpacking: its control area, extracted to tmp.ci/
 * before the package goes half-installed, names it (control) and holds the
 * digests of the version being unpacked (md5sums). dpkg renames those
 * files into place before it moves their list and digests into info/. */
struct dpkg_unpacking {
	char *name, *arch, *version;
	struct dpkg_package files;        /* every md5sums line; stem NULL */
};
/* 1: no control area (no unpack under way); -1: err, nothing filled. */
int dpkg_read_unpacking(const char *admindir, struct dpkg_unpacking *out, char *err,
			size_t errlen);
void dpkg_unpacking_free(struct dpkg_unpacking *u);
void dpkg_status_free(struct dpkg_status *s);

/* One diversion (dpkg-divert(1)): every package's `from` is installed as
 * `to`, except the diverting package's own (`by`; NULL for a --local
 * diversion, which applies to every package). */
struct dpkg_diversion {
	char *from, *to, *by;
};
struct dpkg_diversions {
	struct dpkg_diversion *d;
	size_t n;
};
/* A missing diversions file means none. */
int dpkg_read_diversions(const char *admindir, struct dpkg_diversions *out, char *err,
			 size_t errlen);
void dpkg_diversions_free(struct dpkg_diversions *d);

/* The package name of an info stem ("libc6:amd64" -> "libc6"), into out. */
void dpkg_stem_name(const char *stem, char *out, size_t size);

#endif
