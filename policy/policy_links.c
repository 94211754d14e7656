/* policy: paths written through symbolic links, rewritten as the kernel
 * names them.
 *
 * The daemon learns an exec's path from the kernel, which names a file by
 * its path with no symbolic link in it. On a merged-/usr system /bin is a
 * link to usr/bin, so `watch: [/bin]` or `{path: /bin/nc, action: deny}`
 * as written would match nothing: the exec of /bin/nc is reported as
 * /usr/bin/nc. Each such path is therefore rewritten once, when the
 * policy is loaded, and a note says so.
 *
 * Only links owned by root are followed. A link its owner can repoint
 * would let that user move a watch or a rule wherever they like at the
 * next reload; such a path is left as written, with a note.
 *
 * A path that does not exist yet keeps its missing tail as written: only
 * the part that exists is resolved. A glob's literal leading directories
 * are resolved; its patterns are not. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/policy_internal.h"

enum link_check { LINKS_NONE, LINKS_ROOT, LINKS_FOREIGN };

/* Do the existing components of path go through a symbolic link, and are
 * all such links root's? *owner: the first foreign link's owner. */
static enum link_check links_on(const char *path, uid_t *owner)
{
	char prefix[PATH_MAX];
	enum link_check seen = LINKS_NONE;
	size_t len = strlen(path);

	if (len >= sizeof(prefix))
		return LINKS_NONE;
	for (size_t i = 1; i <= len; i++) {
		struct stat st;

		if (path[i] != '/' && path[i] != '\0')
			continue;
		memcpy(prefix, path, i);
		prefix[i] = '\0';
		if (lstat(prefix, &st) < 0)
			break;
		if (!S_ISLNK(st.st_mode))
			continue;
		if (st.st_uid != 0) {
			*owner = st.st_uid;
			return LINKS_FOREIGN;
		}
		seen = LINKS_ROOT;
	}
	return seen;
}

/* realpath(3) of the longest existing leading part of path, with the rest
 * appended as written. False when nothing could be resolved. */
static bool resolve_existing(const char *path, char *out, size_t size)
{
	char head[PATH_MAX], real[PATH_MAX];
	size_t cut = strlen(path);

	if (cut >= sizeof(head))
		return false;
	memcpy(head, path, cut + 1);
	for (;;) {
		if (realpath(head, real)) {
			const char *tail = path + cut;
			bool root = real[0] == '/' && real[1] == '\0';
			int n = snprintf(out, size, "%s%s", root && tail[0] ? "" : real, tail);

			return n > 0 && (size_t)n < size;
		}
		if (errno != ENOENT && errno != ENOTDIR)
			return false;
		while (cut > 0 && head[cut] != '/')
			cut--;
		if (cut == 0)
			return false;
		head[cut] = '\0';
	}
}

/* How many leading bytes of a glob are literal directories: up to the '/'
 * before the first component holding a pattern character. */
static size_t literal_prefix(const char *glob)
{
	size_t dir_end = 0;

	for (size_t i = 0; glob[i]; i++) {
		if (strchr("*?[\\", glob[i]))
			return dir_end;
		if (glob[i] == '/')
			dir_end = i;
	}
	return strlen(glob);
}

struct link_notes {
	const char *name;
	struct gk_policy_errors *notes;
	size_t changed;
};

static void note(struct link_notes *ln, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(struct link_notes *ln, unsigned line, const char *fmt, ...)
{
	char name[PATH_MAX + 16], text[sizeof(ln->notes->msg[0])];
	va_list ap;

	if (line)
		snprintf(name, sizeof(name), "%s:%u", ln->name, line);
	else
		snprintf(name, sizeof(name), "%s", ln->name);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	policy_error_plain(ln->notes, name, "%s", text);
}

/* Rewrite *path (what: "watch", "path rule", ...) as the kernel names it.
 * literal: how many leading bytes may be resolved (a glob's directories). */
static bool resolve_one(struct link_notes *ln, const char *what, unsigned line, char **path,
			size_t literal)
{
	char head[PATH_MAX], real[PATH_MAX], joined[PATH_MAX], q1[64], q2[64];
	uid_t owner = 0;

	if (literal == 0 || literal >= sizeof(head))
		return true;
	memcpy(head, *path, literal);
	head[literal] = '\0';
	enum link_check links = links_on(head, &owner);
	if (links == LINKS_NONE)
		return true;
	if (links == LINKS_FOREIGN) {
		note(ln, line, "%s '%s' goes through a symbolic link owned by uid %u: not "
		     "followed, so it matches no path the kernel reports", what,
		     policy_quote(q1, sizeof(q1), *path, strlen(*path)), (unsigned)owner);
		return true;
	}
	if (!resolve_existing(head, real, sizeof(real)) ||
	    snprintf(joined, sizeof(joined), "%s%s", real, *path + literal) >= (int)sizeof(joined) ||
	    !strcmp(joined, *path))
		return true;
	char *copy = strdup(joined);
	if (!copy) {
		policy_error_plain(ln->notes, ln->name, "out of memory");
		return false;
	}
	note(ln, line, "%s '%s' goes through a symbolic link: judged as '%s', the path the "
	     "kernel reports", what, policy_quote(q1, sizeof(q1), *path, strlen(*path)),
	     policy_quote(q2, sizeof(q2), copy, strlen(copy)));
	free(*path);
	*path = copy;
	ln->changed++;
	return true;
}

/* Two watch entries that now name the same subtree: keep the first. */
static void drop_duplicate_watches(struct gk_policy *p)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->n_watch; i++) {
		bool dup = false;

		for (size_t k = 0; k < kept && !dup; k++)
			dup = !strcmp(p->watch[k], p->watch[i]);
		if (dup)
			free(p->watch[i]);
		else
			p->watch[kept++] = p->watch[i];
	}
	p->n_watch = kept;
}

int policy_resolve_links(struct gk_policy *p, struct gk_policy_errors *notes)
{
	struct link_notes ln = { .name = p->name, .notes = notes };
	bool ok = true;

	memset(notes, 0, sizeof(*notes));
	for (size_t i = 0; i < p->n_watch && ok; i++)
		ok = resolve_one(&ln, "watch", 0, &p->watch[i], strlen(p->watch[i]));
	for (size_t i = 0; i < p->n_rules && ok; i++) {
		struct gk_rule *r = &p->rules[i];

		if (r->match == GK_MATCH_PATH)
			ok = resolve_one(&ln, "path rule", r->line, &r->pattern, strlen(r->pattern));
		else if (r->match == GK_MATCH_GLOB)
			ok = resolve_one(&ln, "glob rule", r->line, &r->pattern,
					 literal_prefix(r->pattern));
	}
	for (size_t i = 0; i < p->n_scan && ok; i++)
		ok = resolve_one(&ln, "scan path", p->scan[i].line, &p->scan[i].path,
				 strlen(p->scan[i].path));
	drop_duplicate_watches(p);
	return ok ? (int)ln.changed : -1;
}

int policy_check_watch(const struct gk_policy *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->n_watch; i++) {
		struct stat st;
		if (stat(p->watch[i], &st) < 0) {
			snprintf(err, errlen, "%s: watch %s: %s", p->name, p->watch[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}
