/* dpkg: the status file (which packages have files on disk, at which
 * version) and the diversions file. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/dpkg_internal.h"

enum state_files { FILES_NONE, FILES_ON_DISK, FILES_UNPACKING };

/* Status: "want flag state"; whether the package's files are on disk. */
static enum state_files state_files(const char *status)
{
	static const char *const ok[] = {"installed", "unpacked", "half-configured",
					 "triggers-awaited", "triggers-pending"};
	const char *state = strrchr(status, ' ');

	if (!state)
		return FILES_NONE;
	state++;
	if (strcmp(state, "half-installed") == 0)
		return FILES_UNPACKING;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (strcmp(state, ok[i]) == 0)
			return FILES_ON_DISK;
	}
	return FILES_NONE;
}

/* Every stanza read, status first, then each journal entry in order; the
 * last one for a package wins (as dpkg applies updates/ over status). */
struct entry {
	struct dpkg_installed p;
	enum state_files files;
	size_t seq;
};
struct entries {
	struct entry *e;
	size_t n, cap;
};

static int cmp_installed(const void *a, const void *b)
{
	const struct dpkg_installed *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->arch, y->arch);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = cmp_installed(&x->p, &y->p);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static void free_installed(struct dpkg_installed *p)
{
	free(p->name);
	free(p->arch);
	free(p->version);
	for (size_t i = 0; i < p->n_conffiles; i++)
		free(p->conffiles[i].path);
	free(p->conffiles);
}

void dpkg_status_free(struct dpkg_status *s)
{
	for (size_t i = 0; s && i < s->n; i++)
		free_installed(&s->pkgs[i]);
	if (s) {
		free(s->pkgs);
		s->pkgs = NULL;
		s->n = 0;
	}
}

struct stanza {
	const char *package, *status, *arch, *version;
	unsigned line;     /* where it started */
	bool in_conffiles; /* continuation lines belong to Conffiles */
	const char **conffiles;   /* its lines, in the file's buffer */
	size_t n_conffiles, cap_conffiles;
};

/* One Conffiles line, " PATH MD5 [obsolete] [remove-on-upgrade]", into f.
 * false: a line to leave out (obsolete, "newconffile", malformed). Read
 * from the right: a path may hold spaces. */
static bool conffile_line(const char *line, struct dpkg_file *f)
{
	char buf[4200], *sp;
	size_t len = (size_t)snprintf(buf, sizeof(buf), "%s", line);

	if (len >= sizeof(buf))
		return false;
	for (;;) {
		while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
			buf[--len] = '\0';
		if (!(sp = strrchr(buf, ' ')))
			return false;
		if (strcmp(sp + 1, "remove-on-upgrade") != 0)
			break;
		len = (size_t)(sp - buf);
		buf[len] = '\0';
	}
	if (strcmp(sp + 1, "obsolete") == 0 || !dpkg_parse_md5(sp + 1, f->md5))
		return false;
	*sp = '\0';
	const char *path = buf + strspn(buf, " \t");
	if (path[0] != '/' || !(f->path = strdup(path)))
		return false;
	f->has_md5 = true;
	return true;
}

/* The stanza's Conffiles into p. -1: out of memory. */
static int keep_conffiles(const struct stanza *st, struct dpkg_installed *p)
{
	if (!st->n_conffiles)
		return 0;
	if (!(p->conffiles = calloc(st->n_conffiles, sizeof(*p->conffiles))))
		return -1;
	for (size_t i = 0; i < st->n_conffiles; i++) {
		errno = 0;
		if (conffile_line(st->conffiles[i], &p->conffiles[p->n_conffiles]))
			p->n_conffiles++;
		else if (errno == ENOMEM)
			return -1;
	}
	if (p->n_conffiles > 1)
		qsort(p->conffiles, p->n_conffiles, sizeof(*p->conffiles), dpkg_cmp_file);
	return 0;
}

static void stanza_reset(struct stanza *st)
{
	free(st->conffiles);
	memset(st, 0, sizeof(*st));
}

/* Ends one stanza. -1: out of memory or a stanza without a Package field. */
static int end_stanza(struct stanza *st, struct entries *all, const char *file, char *err,
		      size_t errlen)
{
	struct entry *e;

	if (!st->package && !st->status && !st->version && !st->arch) {
		stanza_reset(st);
		return 0;
	}
	if (!st->package || !st->package[0]) {
		snprintf(err, errlen, "%s:%u: stanza without a Package field", file, st->line);
		stanza_reset(st);
		return -1;
	}
	if (all->n == all->cap) {
		struct entry *grown =
			realloc(all->e, (all->cap = all->cap ? 2 * all->cap : 256) * sizeof(*grown));

		if (!grown)
			goto oom;
		all->e = grown;
	}
	e = &all->e[all->n];
	e->p.name = strdup(st->package);
	e->p.arch = strdup(st->arch ? st->arch : "");
	e->p.version = strdup(st->version ? st->version : "");
	e->files = st->status ? state_files(st->status) : FILES_NONE;
	e->p.conffiles = NULL;
	e->p.n_conffiles = 0;
	e->seq = all->n++;
	if (!e->p.name || !e->p.arch || !e->p.version || keep_conffiles(st, &e->p) < 0)
		goto oom;
	stanza_reset(st);
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", file);
	stanza_reset(st);
	return -1;
}

/* A continuation line: kept when it is one of the Conffiles. -1: out of
 * memory. */
static int stanza_continues(struct stanza *st, const char *line, const char *file, char *err,
			    size_t errlen)
{
	if (!st->in_conffiles)
		return 0;
	if (st->n_conffiles == st->cap_conffiles) {
		size_t cap = st->cap_conffiles ? 2 * st->cap_conffiles : 16;
		const char **grown = realloc(st->conffiles, cap * sizeof(*grown));
		if (!grown) {
			snprintf(err, errlen, "%s: out of memory", file);
			return -1;
		}
		st->conffiles = grown;
		st->cap_conffiles = cap;
	}
	st->conffiles[st->n_conffiles++] = line;
	return 0;
}

/* "Field: value" into the stanza; continuation lines (leading blank) of
 * Conffiles are kept, other fields skipped. -1: a line that is no field. */
static int stanza_field(struct stanza *st, char *line, unsigned lineno, const char *file,
			char *err, size_t errlen)
{
	static const char *const names[] = {"Package", "Status", "Architecture", "Version"};
	const char **slots[] = {&st->package, &st->status, &st->arch, &st->version};
	char *colon = strchr(line, ':'), *value;

	if (line[0] == ' ' || line[0] == '\t')
		return stanza_continues(st, line, file, err, errlen);
	if (!colon || colon == line) {
		snprintf(err, errlen, "%s:%u: expected 'Field: value'", file, lineno);
		return -1;
	}
	*colon = '\0';
	for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
		;
	if (!st->line)
		st->line = lineno;
	st->in_conffiles = strcmp(line, "Conffiles") == 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(line, names[i]) == 0)
			*slots[i] = value;
	}
	return 0;
}

/* One file of stanzas into all. A missing file is fine when may_be_missing. */
static int read_stanzas(const char *file, bool may_be_missing, struct entries *all, char *err,
			size_t errlen)
{
	char *buf = NULL, *cursor, *line;
	struct stanza st = {0};
	size_t len = 0;
	unsigned lineno = 0;
	int rc = dpkg_slurp(file, &buf, &len, err, errlen);

	if (rc == 1 && may_be_missing)
		return 0;
	if (rc == 1)
		snprintf(err, errlen, "%s: no such file (not a dpkg admin directory?)", file);
	if (rc != 0)
		return -1;
	cursor = buf;
	while (rc == 0 && (line = dpkg_next_line(&cursor, buf + len))) {
		lineno++;
		if (line[0] == '\0')
			rc = end_stanza(&st, all, file, err, errlen);
		else
			rc = stanza_field(&st, line, lineno, file, err, errlen);
	}
	if (rc == 0)
		rc = end_stanza(&st, all, file, err, errlen);
	stanza_reset(&st);   /* a stanza a bad line cut short */
	free(buf);   /* the stanza's pointers die with it: all copied by now */
	return rc;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* updates/NNNN: the journal dpkg writes between rewrites of status. Its
 * entries are numbered; zero-padded, so name order is their order. */
static int read_journal(const char *admindir, struct entries *all, char *err, size_t errlen)
{
	char dir[4096], file[4400], **names = NULL;
	size_t n = 0;
	int rc = 0;
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/updates", admindir);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char **grown;

		if (strspn(de->d_name, "0123456789") != strlen(de->d_name) || !de->d_name[0])
			continue;
		grown = realloc(names, (n + 1) * sizeof(*names));
		if (!grown || !(grown[n] = strdup(de->d_name))) {
			names = grown ? grown : names;
			snprintf(err, errlen, "%s: out of memory", dir);
			rc = -1;
			break;
		}
		names = grown;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		if (rc == 0)
			rc = read_stanzas(file, true, all, err, errlen);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The last entry per package, with files on disk, into out. */
static int settle(struct entries *all, struct dpkg_status *out)
{
	if (all->n > 1)
		qsort(all->e, all->n, sizeof(*all->e), cmp_entry);
	out->pkgs = calloc(all->n ? all->n : 1, sizeof(*out->pkgs));
	if (!out->pkgs)
		return -1;
	for (size_t i = 0; i < all->n; i++) {
		bool last = i + 1 == all->n || cmp_installed(&all->e[i].p, &all->e[i + 1].p) != 0;

		if (last && all->e[i].files != FILES_NONE) {
			all->e[i].p.unpacking = all->e[i].files == FILES_UNPACKING;
			out->pkgs[out->n++] = all->e[i].p;
			continue;
		}
		free_installed(&all->e[i].p);
	}
	all->n = 0;
	return 0;
}

static void entries_free(struct entries *all)
{
	for (size_t i = 0; i < all->n; i++)
		free_installed(&all->e[i].p);
	free(all->e);
}

int dpkg_read_status(const char *admindir, struct dpkg_status *out, char *err, size_t errlen)
{
	char file[4096];
	struct entries all = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(file, sizeof(file), "%s/status", admindir);
	rc = read_stanzas(file, false, &all, err, errlen);
	if (rc == 0)
		rc = read_journal(admindir, &all, err, errlen);
	if (rc == 0 && settle(&all, out) != 0) {
		snprintf(err, errlen, "%s: out of memory", file);
		rc = -1;
	}
	entries_free(&all);
	return rc;
}

const struct dpkg_installed *dpkg_status_find(const struct dpkg_status *s, const char *stem)
{
	char name[256];
	const char *colon = strchr(stem, ':');
	struct dpkg_installed key = {.name = name, .arch = (char *)(colon ? colon + 1 : "")};

	dpkg_stem_name(stem, name, sizeof(name));
	if (colon)
		return s->n ? bsearch(&key, s->pkgs, s->n, sizeof(*s->pkgs), cmp_installed) : NULL;
	/* A stem without an arch names the one instance of a package that is
	 * not Multi-Arch: same, whatever its architecture. */
	for (size_t lo = 0, hi = s->n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->pkgs[mid].name, name);

		if (c == 0) {
			while (mid > 0 && strcmp(s->pkgs[mid - 1].name, name) == 0)
				mid--;
			return &s->pkgs[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *dpkg_status_version(const struct dpkg_status *s, const char *stem)
{
	const struct dpkg_installed *p = dpkg_status_find(s, stem);

	return p ? p->version : NULL;
}

void dpkg_unpacking_free(struct dpkg_unpacking *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->arch);
	free(u->version);
	dpkg_package_free(&u->files);
	memset(u, 0, sizeof(*u));
}

int dpkg_read_unpacking(const char *admindir, struct dpkg_unpacking *out, char *err,
			size_t errlen)
{
	char file[4096];
	struct entries all = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(file, sizeof(file), "%s/tmp.ci/control", admindir);
	rc = read_stanzas(file, true, &all, err, errlen);
	if (rc == 0 && all.n == 0)
		rc = 1;   /* no control file: nothing is being unpacked */
	if (rc == 0) {
		out->name = all.e[0].p.name;
		out->arch = all.e[0].p.arch;
		out->version = all.e[0].p.version;
		all.e[0].p = (struct dpkg_installed){0};
		snprintf(file, sizeof(file), "%s/tmp.ci/md5sums", admindir);
		rc = dpkg_read_md5sums(file, &out->files, err, errlen);
	}
	entries_free(&all);
	if (rc != 0)
		dpkg_unpacking_free(out);
	return rc;
}

void dpkg_diversions_free(struct dpkg_diversions *d)
{
	for (size_t i = 0; d && i < d->n; i++) {
		free(d->d[i].from);
		free(d->d[i].to);
		free(d->d[i].by);
	}
	if (d) {
		free(d->d);
		d->d = NULL;
		d->n = 0;
	}
}

/* Triples of lines: from, to, package (":" for a local diversion). */
int dpkg_read_diversions(const char *admindir, struct dpkg_diversions *out, char *err,
			 size_t errlen)
{
	char file[4096], *buf = NULL, *cursor, *lines[3];
	size_t len = 0;
	unsigned lineno = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(file, sizeof(file), "%s/diversions", admindir);
	rc = dpkg_slurp(file, &buf, &len, err, errlen);
	if (rc != 0)
		return rc == 1 ? 0 : -1;
	cursor = buf;
	for (;;) {
		size_t got = 0;

		while (got < 3 && (lines[got] = dpkg_next_line(&cursor, buf + len)))
			got++;
		lineno += (unsigned)got;
		if (got == 0)
			break;
		if (got < 3 || lines[0][0] != '/' || lines[1][0] != '/' || !lines[2][0]) {
			snprintf(err, errlen, "%s:%u: expected three lines per diversion "
				 "(from, to, package or ':')", file, lineno);
			goto fail;
		}
		struct dpkg_diversion *grown = realloc(out->d, (out->n + 1) * sizeof(*grown));

		if (!grown)
			goto oom;
		out->d = grown;
		grown[out->n] = (struct dpkg_diversion){
			.from = strdup(lines[0]), .to = strdup(lines[1]),
			.by = strcmp(lines[2], ":") ? strdup(lines[2]) : NULL};
		out->n++;
		if (!grown[out->n - 1].from || !grown[out->n - 1].to)
			goto oom;
	}
	free(buf);
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", file);
fail:
	free(buf);
	dpkg_diversions_free(out);
	return -1;
}
