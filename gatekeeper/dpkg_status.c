/* dpkg: the status file (which packages have files on disk, at which
 * version) and the diversions file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper/dpkg_internal.h"

/* Status: "want flag state"; the states whose files are all on disk. */
static bool state_has_files(const char *status)
{
	static const char *const ok[] = {"installed", "unpacked", "half-configured",
					 "triggers-awaited", "triggers-pending"};
	const char *state = strrchr(status, ' ');

	if (!state)
		return false;
	state++;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (strcmp(state, ok[i]) == 0)
			return true;
	}
	return false;
}

static int cmp_installed(const void *a, const void *b)
{
	const struct dpkg_installed *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->arch, y->arch);
}

void dpkg_status_free(struct dpkg_status *s)
{
	for (size_t i = 0; s && i < s->n; i++) {
		free(s->pkgs[i].name);
		free(s->pkgs[i].arch);
		free(s->pkgs[i].version);
	}
	if (s) {
		free(s->pkgs);
		s->pkgs = NULL;
		s->n = 0;
	}
}

struct stanza {
	const char *package, *status, *arch, *version;
	unsigned line;     /* where it started */
};

/* Ends one stanza: keeps it when its files are on disk. -1: out of memory
 * or a stanza without a Package field. */
static int end_stanza(struct stanza *st, struct dpkg_status *out, size_t *cap, const char *file,
		      char *err, size_t errlen)
{
	struct dpkg_installed *p;

	if (!st->package && !st->status && !st->version && !st->arch)
		return 0;
	if (!st->package || !st->package[0]) {
		snprintf(err, errlen, "%s:%u: stanza without a Package field", file, st->line);
		return -1;
	}
	if (!st->status || !state_has_files(st->status))
		goto done;
	if (out->n == *cap) {
		struct dpkg_installed *grown =
			realloc(out->pkgs, (*cap = *cap ? 2 * *cap : 256) * sizeof(*grown));

		if (!grown)
			goto oom;
		out->pkgs = grown;
	}
	p = &out->pkgs[out->n];
	p->name = strdup(st->package);
	p->arch = strdup(st->arch ? st->arch : "");
	p->version = strdup(st->version ? st->version : "");
	out->n++;
	if (!p->name || !p->arch || !p->version)
		goto oom;
done:
	memset(st, 0, sizeof(*st));
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", file);
	return -1;
}

/* "Field: value" into the stanza; continuation lines (leading blank) and
 * other fields are skipped. -1: a line that is no field. */
static int stanza_field(struct stanza *st, char *line, unsigned lineno, const char *file,
			char *err, size_t errlen)
{
	static const char *const names[] = {"Package", "Status", "Architecture", "Version"};
	const char **slots[] = {&st->package, &st->status, &st->arch, &st->version};
	char *colon = strchr(line, ':'), *value;

	if (line[0] == ' ' || line[0] == '\t')
		return 0;
	if (!colon || colon == line) {
		snprintf(err, errlen, "%s:%u: expected 'Field: value'", file, lineno);
		return -1;
	}
	*colon = '\0';
	for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
		;
	if (!st->line)
		st->line = lineno;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(line, names[i]) == 0)
			*slots[i] = value;
	}
	return 0;
}

int dpkg_read_status(const char *admindir, struct dpkg_status *out, char *err, size_t errlen)
{
	char file[4096], *buf = NULL, *cursor, *line;
	struct stanza st = {0};
	size_t len = 0, cap = 0;
	unsigned lineno = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(file, sizeof(file), "%s/status", admindir);
	rc = dpkg_slurp(file, &buf, &len, err, errlen);
	if (rc == 1)
		snprintf(err, errlen, "%s: no such file (not a dpkg admin directory?)", file);
	if (rc != 0)
		return -1;
	cursor = buf;
	while (rc == 0 && (line = dpkg_next_line(&cursor, buf + len))) {
		lineno++;
		if (line[0] == '\0')
			rc = end_stanza(&st, out, &cap, file, err, errlen);
		else
			rc = stanza_field(&st, line, lineno, file, err, errlen);
	}
	if (rc == 0)
		rc = end_stanza(&st, out, &cap, file, err, errlen);
	free(buf);   /* the stanza's pointers die with it: all copied by now */
	if (rc != 0) {
		dpkg_status_free(out);
		return -1;
	}
	qsort(out->pkgs, out->n, sizeof(*out->pkgs), cmp_installed);
	return 0;
}

const char *dpkg_status_version(const struct dpkg_status *s, const char *stem)
{
	char name[256];
	const char *colon = strchr(stem, ':');
	struct dpkg_installed key = {.name = name, .arch = (char *)(colon ? colon + 1 : "")};
	const struct dpkg_installed *hit;

	dpkg_stem_name(stem, name, sizeof(name));
	if (colon) {
		hit = bsearch(&key, s->pkgs, s->n, sizeof(*hit), cmp_installed);
		return hit ? hit->version : NULL;
	}
	/* A stem without an arch names the one instance of a package that is
	 * not Multi-Arch: same, whatever its architecture. */
	for (size_t lo = 0, hi = s->n; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->pkgs[mid].name, name);

		if (c == 0) {
			while (mid > 0 && strcmp(s->pkgs[mid - 1].name, name) == 0)
				mid--;
			return s->pkgs[mid].version;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
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
