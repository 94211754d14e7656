/* Reading the mount table, and which mounts a watch list covers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "gatekeeper/mounts.h"
#include "gatekeeper/mounts_table.h"

/* Not noexec: that is one mount's flag, and the mark covers the whole
 * filesystem, which another mount (a bind mount, another namespace's, or
 * this one after `mount -o remount,exec`, which raises no mount event)
 * may let run programs. A filesystem no mount lets run raises no exec
 * event, so its mark costs nothing there. */
const char *mounts_skip_reason(const struct mnt *m)
{
	return mounts_fstype_pseudo(m->fstype) ? "pseudo filesystem" : NULL;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *out = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

void mounts_free_table(struct mnt *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].path);
	free(m);
}

/* The mount table of our namespace, in mount order. */
static void parse_mountinfo(FILE *f, struct mnt **out, size_t *n_out)
{
	struct mnt *m = NULL;
	size_t n = 0, cap = 0, linecap = 0;
	char *line = NULL;
	while (getline(&line, &linecap, f) > 0) {
		unsigned id, maj, min;
		char mp[4096], fstype[64];
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%u %*u %u:%u %*s %4095s", &id, &maj, &min, mp) != 4 ||
		    sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct mnt *grown = realloc(m, cap * sizeof(*m));
			if (!grown)
				break;
			m = grown;
		}
		unescape(mp);
		m[n] = (struct mnt){ .path = strdup(mp), .id = id, .dev = makedev(maj, min) };
		snprintf(m[n].fstype, sizeof(m[n].fstype), "%s", fstype);
		if (m[n].path)
			n++;
	}
	free(line);
	*out = m;
	*n_out = n;
}

int mounts_read_table(struct mnt **out, size_t *n_out)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	parse_mountinfo(f, out, n_out);
	fclose(f);
	return 0;
}

bool mounts_path_below(const char *path, const char *dir)
{
	size_t len = strlen(dir);
	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, len) && (path[len] == '/' || path[len] == '\0');
}

/* Is mount i the one that holds a watched path (the last mount, in mount
 * order, whose mount point is a prefix of the path: mounts stack in that
 * order)? */
bool mounts_holds_watch(const struct gk_policy *p, const struct mnt *m, size_t n, size_t i)
{
	for (size_t w = 0; w < p->n_watch; w++) {
		size_t holder = n;
		for (size_t k = 0; k < n; k++)
			if (mounts_path_below(p->watch[w], m[k].path))
				holder = k;
		if (holder == i)
			return true;
	}
	return false;
}

const char *mounts_fstype_of(const char *path, const struct mnt *m, size_t n)
{
	const char *fstype = "";
	for (size_t k = 0; k < n; k++)
		if (mounts_path_below(path, m[k].path))
			fstype = m[k].fstype;
	return fstype;
}

/* Does the watch list cover mount i: it holds a watched path, or its mount
 * point lies under one? */
bool mounts_covered(const struct gk_policy *p, const struct mnt *m, size_t n, size_t i)
{
	for (size_t w = 0; w < p->n_watch; w++)
		if (mounts_path_below(m[i].path, p->watch[w]))
			return true;
	return mounts_holds_watch(p, m, n, i);
}

int mounts_plan(const struct gk_policy *p, FILE *mountinfo, char *out, size_t size)
{
	struct mnt *m;
	size_t n, len = 0;
	parse_mountinfo(mountinfo, &m, &n);
	out[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		if (!mounts_covered(p, m, n, i))
			continue;
		const char *why = mounts_skip_reason(&m[i]);
		int w = snprintf(out + len, size - len, "%s %u:%u %s %s%s\n", m[i].path, major(m[i].dev),
				 minor(m[i].dev), m[i].fstype, why ? "skip: " : "mark", why ? why : "");
		len += w > 0 ? (size_t)w : 0;
	}
	mounts_free_table(m, n);
	return len < size ? 0 : -1;
}

