/* subuid(5), read for whose a uid is (subids.h). The file is
 * root's, but read with care all the same: a malformed line is skipped,
 * never taken for a range, and the table is bounded. Names are looked up
 * in /etc/passwd itself, not through NSS: no module may load, nor any
 * socket open, inside the daemon. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/subids.h"

#define SUBIDS_MAX (1u << 20)             /* ranges kept; more are skipped */
#define SUBIDS_FILE_MAX (64u << 20)       /* bytes read of the file */
#define SUBIDS_LINE_MAX 4096

struct subid_range {
	uint32_t first, last;
	uid_t owner;
};

struct subids {
	struct subid_range *r;
	size_t n, cap;
};

/* /etc/passwd's names, sorted, for the lines that name a user. */
struct user_names {
	struct user_name { char *name; uid_t uid; } *u;
	size_t n;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct user_name *)a)->name, ((const struct user_name *)b)->name);
}

static void names_free(struct user_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->u[i].name);
	free(names->u);
	*names = (struct user_names){ 0 };
}

/* Read once per subids_read (not per line), bounded like the ranges;
 * none if unreadable: each named range is then an owner of its own. */
static void names_read(struct user_names *names)
{
	FILE *f = fopen("/etc/passwd", "re");
	if (!f)
		return;
	struct passwd pw, *got;
	char buf[4096];
	size_t cap = 0;
	int rc, c;
	while (names->n < SUBIDS_MAX && (rc = fgetpwent_r(f, &pw, buf, sizeof(buf), &got)) != ENOENT) {
		if (rc) {   /* a line too long for buf (left unread): skipped */
			while (rc == ERANGE && (c = getc(f)) != EOF && c != '\n')
				;
			if (rc != ERANGE || c == EOF)
				break;
			continue;
		}
		if (names->n == cap) {
			size_t grown_cap = cap ? cap * 2 : 64;
			struct user_name *grown = realloc(names->u, grown_cap * sizeof(*grown));
			if (!grown)
				break;
			names->u = grown;
			cap = grown_cap;
		}
		if (!(names->u[names->n].name = strdup(pw.pw_name)))
			break;
		names->u[names->n++].uid = pw.pw_uid;
	}
	fclose(f);
	if (names->n)
		qsort(names->u, names->n, sizeof(*names->u), by_name);
}

/* The uid of a line's name: a number is one; false if none. */
static bool uid_of(const struct user_names *names, char *name, uid_t *uid)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(name, &end, 10);
	if (isdigit((unsigned char)name[0]) && !*end && !errno && n < UINT32_MAX) {
		*uid = (uid_t)n;
		return true;
	}
	struct user_name key = { .name = name };
	const struct user_name *hit = names->n ? bsearch(&key, names->u, names->n,
							 sizeof(*names->u), by_name) : NULL;
	if (hit)
		*uid = hit->uid;
	return hit != NULL;
}

/* "name:first:count", first and count decimal, the range within the ids
 * a uid_t can name (not (uid_t)-1). */
static bool parse_line(const struct user_names *names, char *line, struct subid_range *out)
{
	char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return false;
	char *end;
	errno = 0;
	unsigned long long first = strtoull(colon + 1, &end, 10);
	if (errno || !isdigit((unsigned char)colon[1]) || *end != ':')
		return false;
	const char *count_at = end + 1;
	unsigned long long count = strtoull(count_at, &end, 10);
	if (errno || !isdigit((unsigned char)*count_at) || *end)
		return false;
	if (count == 0 || first > UINT32_MAX - 1 || count > UINT32_MAX - first)
		return false;
	*colon = 0;
	uid_t owner;
	if (!uid_of(names, line, &owner) || owner == 0)
		owner = (uid_t)first;
	*out = (struct subid_range){ (uint32_t)first, (uint32_t)(first + count - 1), owner };
	return true;
}

static int by_first(const void *a, const void *b)
{
	const struct subid_range *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static bool add_range(struct subids *s, struct subid_range r)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct subid_range *grown = realloc(s->r, cap * sizeof(*grown));
		if (!grown)
			return false;
		s->r = grown;
		s->cap = cap;
	}
	s->r[s->n++] = r;
	return true;
}

/* Sorted, and those that overlap or nest made one (the first's): each id
 * then lies in one range at most, which a binary search finds. */
static void sort_and_merge(struct subids *s, const char *path)
{
	if (!s->n)
		return;
	qsort(s->r, s->n, sizeof(*s->r), by_first);
	size_t kept = 0;
	for (size_t i = 1; i < s->n; i++) {
		if (s->r[i].first <= s->r[kept].last) {
			if (s->r[i].owner != s->r[kept].owner)
				log_msg(GK_LOG_WARN, "warning=\"%s: the range from %u overlaps the one "
					"from %u of another user: both count as the latter's\"", path,
					(unsigned)s->r[i].first, (unsigned)s->r[kept].first);
			if (s->r[i].last > s->r[kept].last)
				s->r[kept].last = s->r[i].last;
		} else {
			s->r[++kept] = s->r[i];
		}
	}
	s->n = kept + 1;
}

static void skip_warning(const char *path, unsigned long lineno, unsigned long *skipped,
			 const char *why)
{
	if ((*skipped)++ < 5)
		log_msg(GK_LOG_WARN, "warning=\"%s:%lu: %s: line skipped\"", path, lineno, why);
}

/* The ranges of f's lines; false when memory ran out. */
static bool read_lines(struct subids *s, FILE *f, const char *path,
		       const struct user_names *names)
{
	char *line = NULL;
	size_t size = 0;
	unsigned long lineno = 0, skipped = 0;
	ssize_t len;
	bool ok = true;
	while (ok && (len = getline(&line, &size, f)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		struct subid_range r;
		if (!len || line[0] == '#')
			continue;
		if ((size_t)len != strlen(line))
			skip_warning(path, lineno, &skipped, "holds a NUL byte");
		else if (len > SUBIDS_LINE_MAX)
			skip_warning(path, lineno, &skipped, "longer than 4096 bytes");
		else if (s->n >= SUBIDS_MAX)
			skip_warning(path, lineno, &skipped, "too many ranges");
		else if (!parse_line(names, line, &r))
			skip_warning(path, lineno, &skipped, "not name:first:count");
		else
			ok = add_range(s, r);
	}
	if (ok && ferror(f))
		log_msg(GK_LOG_WARN, "warning=\"%s: read failed after line %lu: the rest is not "
			"known\"", path, lineno);
	free(line);
	return ok;
}

struct subids *subids_read(const char *path)
{
	struct subids *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	/* Not blocking on a FIFO: only a regular file is read. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	struct stat st;
	if (fd >= 0 && !f)
		close(fd);
	if (!f) {
		if (errno != ENOENT)
			log_msg(GK_LOG_WARN, "warning=\"%s: cannot read: %s: each subordinate id "
				"counts as a user of its own\"", path, strerror(errno));
		return s;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)SUBIDS_FILE_MAX) {
		log_msg(GK_LOG_WARN, "warning=\"%s: not a regular file of at most 64 MiB: not read; "
			"each subordinate id counts as a user of its own\"", path);
		fclose(f);
		return s;
	}
	struct user_names names = { 0 };
	names_read(&names);
	bool ok = read_lines(s, f, path, &names);
	names_free(&names);
	fclose(f);
	if (!ok) {
		subids_free(s);
		return NULL;
	}
	sort_and_merge(s, path);
	return s;
}

uid_t subids_owner(const struct subids *s, uid_t uid)
{
	if (!s || !s->n)
		return uid;
	/* The last range that begins at or below uid. */
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->r[mid].first <= uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && uid <= s->r[lo - 1].last)
		return s->r[lo - 1].owner;
	return uid;
}

size_t subids_count(const struct subids *s)
{
	return s ? s->n : 0;
}

void subids_free(struct subids *s)
{
	if (!s)
		return;
	free(s->r);
	free(s);
}
