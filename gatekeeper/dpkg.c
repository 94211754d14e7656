/* dpkg: the readers behind dpkg.h. Files are read whole (the largest, the
 * status file, is a few MB) and parsed in place; nothing is kept from a
 * file that fails to parse. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/dpkg_internal.h"
#include "policy/policy.h"   /* gk_hex_decode */

#define DPKG_FILE_MAX (256u << 20)   /* far above any real status or list */

/* The whole file, NUL-terminated. 1: it does not exist; -1: error. */
int dpkg_slurp(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;
	char *buf = NULL;

	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > DPKG_FILE_MAX) {
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto fail;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;    /* shrank while read: parse what is there */
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	*out = buf;
	*len = got;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	free(buf);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Next line in place (newline replaced by NUL); NULL at the end. */
char *dpkg_next_line(char **cursor, char *end)
{
	char *line = *cursor, *nl;

	if (line >= end)
		return NULL;
	nl = memchr(line, '\n', (size_t)(end - line));
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = end;
	}
	return line;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dpkg_cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct dpkg_file *)a)->path, ((const struct dpkg_file *)b)->path);
}

bool dpkg_parse_md5(const char *hex, unsigned char md5[DPKG_MD5_LEN])
{
	return gk_hex_decode(hex, 2 * DPKG_MD5_LEN, md5, DPKG_MD5_LEN) == DPKG_MD5_LEN;
}

void dpkg_stem_name(const char *stem, char *out, size_t size)
{
	const char *colon = strchr(stem, ':');

	snprintf(out, size, "%.*s", colon ? (int)(colon - stem) : (int)strlen(stem), stem);
}

void dpkg_package_free(struct dpkg_package *p)
{
	for (size_t i = 0; p && i < p->n_files; i++)
		free(p->files[i].path);
	if (p) {
		free(p->files);
		free(p->stem);
		memset(p, 0, sizeof(*p));
	}
}

/* The .list's paths, sorted; "/." (the root every list starts with) is
 * dropped. The strings point into buf. */
static int list_paths(char *buf, size_t len, const char *file, char ***out, size_t *n,
		      char *err, size_t errlen)
{
	char *cursor = buf, *end = buf + len, *line, **paths = NULL;
	size_t count = 0, cap = 0;
	unsigned lineno = 0;

	while ((line = dpkg_next_line(&cursor, end))) {
		lineno++;
		if (strcmp(line, "/.") == 0)
			continue;
		if (line[0] != '/' || memchr(line, '\0', (size_t)(cursor - line) - 1) != NULL) {
			snprintf(err, errlen, "%s:%u: not an absolute path", file, lineno);
			free(paths);
			return -1;
		}
		if (count == cap) {
			char **grown = realloc(paths, (cap = cap ? 2 * cap : 256) * sizeof(*paths));

			if (!grown) {
				snprintf(err, errlen, "%s: out of memory", file);
				free(paths);
				return -1;
			}
			paths = grown;
		}
		paths[count++] = line;
	}
	if (count > 1)
		qsort(paths, count, sizeof(*paths), cmp_str);
	*out = paths;
	*n = count;
	return 0;
}

/* Keeps the listed paths that are not the parent directory of another. */
static int keep_files(char **paths, size_t n, struct dpkg_package *out, const char *file,
		      char *err, size_t errlen)
{
	char **dirs = malloc((n ? n : 1) * sizeof(*dirs));
	size_t n_dirs = 0;

	out->files = calloc(n ? n : 1, sizeof(*out->files));
	if (!dirs || !out->files)
		goto oom;
	/* Every listed directory with content is the dirname of a listed path:
	 * cut each path at its last '/' in a copy and look the dirs up. */
	for (size_t i = 0; i < n; i++) {
		char *slash = strrchr(paths[i], '/');

		if (slash == paths[i])
			continue;
		dirs[n_dirs] = strndup(paths[i], (size_t)(slash - paths[i]));
		if (!dirs[n_dirs])
			goto oom;
		n_dirs++;
	}
	if (n_dirs > 1)
		qsort(dirs, n_dirs, sizeof(*dirs), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(paths[i], paths[i - 1]) == 0)
			continue;
		if (n_dirs && bsearch(&paths[i], dirs, n_dirs, sizeof(*dirs), cmp_str))
			continue;
		out->files[out->n_files].path = strdup(paths[i]);
		if (!out->files[out->n_files].path)
			goto oom;
		out->n_files++;
	}
	for (size_t i = 0; i < n_dirs; i++)
		free(dirs[i]);
	free(dirs);
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", file);
	for (size_t i = 0; dirs && i < n_dirs; i++)
		free(dirs[i]);
	free(dirs);
	return -1;
}

/* One md5sums line, "<32 hex>  path/without/leading/slash", into md5 and
 * its absolute path; -1 (err filled) when it is no such line. */
static int md5sums_line(const char *line, unsigned lineno, const char *file,
			unsigned char md5[DPKG_MD5_LEN], char *path, size_t size, char *err,
			size_t errlen)
{
	if (strlen(line) < 35 || !dpkg_parse_md5(line, md5) || line[32] != ' ' ||
	    line[33] != ' ') {
		snprintf(err, errlen, "%s:%u: expected '<32 hex digits>  <path>'", file, lineno);
		return -1;
	}
	const char *rel = line + 34;
	if (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	snprintf(path, size, "%s%s", rel[0] == '/' ? "" : "/", rel);
	return 0;
}

/* The digests of the listed files. */
static int apply_md5sums(char *buf, size_t len, struct dpkg_package *p, const char *file,
			 char *err, size_t errlen)
{
	char *cursor = buf, *end = buf + len, *line;
	unsigned lineno = 0;
	char path[4096];

	while ((line = dpkg_next_line(&cursor, end))) {
		unsigned char md5[DPKG_MD5_LEN];
		struct dpkg_file key = {.path = path}, *f;

		lineno++;
		if (line[0] == '\0')
			continue;
		if (md5sums_line(line, lineno, file, md5, path, sizeof(path), err, errlen) < 0)
			return -1;
		f = p->n_files ? bsearch(&key, p->files, p->n_files, sizeof(*f), dpkg_cmp_file) : NULL;
		if (f) {
			memcpy(f->md5, md5, DPKG_MD5_LEN);
			f->has_md5 = true;
		}
	}
	return 0;
}

/* Every line of an md5sums file as a file with its digest, sorted by path,
 * each path once. A missing file gives none. */
int dpkg_read_md5sums(const char *file, struct dpkg_package *out, char *err, size_t errlen)
{
	char *buf = NULL, *cursor, *line;
	size_t len = 0, cap = 0;
	unsigned lineno = 0;
	int rc = dpkg_slurp(file, &buf, &len, err, errlen);

	memset(out, 0, sizeof(*out));
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	cursor = buf;
	while ((line = dpkg_next_line(&cursor, buf + len))) {
		char path[4096];
		struct dpkg_file *f;

		lineno++;
		if (line[0] == '\0')
			continue;
		if (out->n_files == cap) {
			f = realloc(out->files, (cap = cap ? 2 * cap : 64) * sizeof(*f));
			if (!f)
				goto oom;
			out->files = f;
		}
		f = &out->files[out->n_files];
		if (md5sums_line(line, lineno, file, f->md5, path, sizeof(path), err, errlen) < 0)
			goto fail;
		if (!(f->path = strdup(path)))
			goto oom;
		f->has_md5 = true;
		out->n_files++;
	}
	free(buf);
	if (out->n_files > 1)
		qsort(out->files, out->n_files, sizeof(*out->files), dpkg_cmp_file);
	size_t kept = 0;

	for (size_t i = 0; i < out->n_files; i++) {
		if (kept && strcmp(out->files[kept - 1].path, out->files[i].path) == 0) {
			free(out->files[kept - 1].path);
			kept--;
		}
		out->files[kept++] = out->files[i];
	}
	out->n_files = kept;
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", file);
fail:
	free(buf);
	dpkg_package_free(out);
	return -1;
}

int dpkg_read_package(const char *admindir, const char *stem, struct dpkg_package *out,
		      char *err, size_t errlen)
{
	char list[4096], sums[4096], *buf = NULL, *sbuf = NULL, **paths = NULL;
	size_t len = 0, slen = 0, n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(list, sizeof(list), "%s/info/%s.list", admindir, stem);
	snprintf(sums, sizeof(sums), "%s/info/%s.md5sums", admindir, stem);
	rc = dpkg_slurp(list, &buf, &len, err, errlen);
	if (rc == 1)
		snprintf(err, errlen, "%s: %s", list, strerror(ENOENT));
	if (rc != 0)
		return -1;
	rc = list_paths(buf, len, list, &paths, &n, err, errlen);
	if (rc == 0)
		rc = keep_files(paths, n, out, list, err, errlen);
	if (rc == 0 && (out->stem = strdup(stem)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", list);
		rc = -1;
	}
	if (rc == 0) {
		int s = dpkg_slurp(sums, &sbuf, &slen, err, errlen);

		rc = s < 0 ? -1 : s == 1 ? 0 : apply_md5sums(sbuf, slen, out, sums, err, errlen);
	}
	for (size_t i = 0; rc == 0 && i < out->n_files; i++)
		out->n_without_md5 += !out->files[i].has_md5;
	free(paths);
	free(buf);
	free(sbuf);
	if (rc != 0)
		dpkg_package_free(out);
	return rc;
}
