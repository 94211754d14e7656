/* The hash-list engine: SHA-256 lists in text files, looked up by the
 * content's hash (OpenSSL EVP when the caller did not hash it already).
 * One set holds every list file, sorted for binary search. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy.h"   /* gk_hex_decode */
#include "scanner/engine.h"


struct hashlist_cfg {
	char **files;
	size_t n_files;
};

struct hash_entry {
	unsigned char sha[SCANNER_SHA256_LEN];
	size_t name;          /* offset in the name pool; also the order of definition */
};

struct hash_set {
	struct hash_entry *v;
	size_t n, cap;
	char *pool;
	size_t pool_len, pool_cap;
};

/* ---- parsing ---- */

/* 64 hex digits followed by the end or a blank. */
static bool parse_sha(const char *s, unsigned char out[SCANNER_SHA256_LEN])
{
	if (gk_hex_decode(s, 2 * SCANNER_SHA256_LEN, out, SCANNER_SHA256_LEN) != SCANNER_SHA256_LEN)
		return false;
	char end = s[2 * SCANNER_SHA256_LEN];
	return end == '\0' || end == ' ' || end == '\t';
}

static int pool_add(struct hash_set *set, const char *name, size_t len, size_t *off)
{
	if (set->pool_len + len + 1 > set->pool_cap) {
		size_t cap = set->pool_cap ? set->pool_cap * 2 : 4096;
		while (cap < set->pool_len + len + 1)
			cap *= 2;
		char *p = realloc(set->pool, cap);
		if (!p)
			return -1;
		set->pool = p;
		set->pool_cap = cap;
	}
	*off = set->pool_len;
	memcpy(set->pool + set->pool_len, name, len);
	set->pool[set->pool_len + len] = '\0';
	set->pool_len += len + 1;
	return 0;
}

static int entry_add(struct hash_set *set, const unsigned char sha[SCANNER_SHA256_LEN],
		     const char *name, size_t name_len)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 256;
		struct hash_entry *v = realloc(set->v, cap * sizeof(*v));
		if (!v)
			return -1;
		set->v = v;
		set->cap = cap;
	}
	struct hash_entry *e = &set->v[set->n];
	memcpy(e->sha, sha, SCANNER_SHA256_LEN);
	if (pool_add(set, name, name_len, &e->name) < 0)
		return -1;
	set->n++;
	return 0;
}

/* One line, already stripped of its line end. NULL when fine, else why not. */
static const char *parse_line(struct hash_set *set, char *line, size_t len,
			      const char *path, unsigned line_no, bool *oom)
{
	if (strlen(line) != len)
		return "a NUL byte in the line";
	char *p = line + strspn(line, " \t");
	if (*p == '\0' || *p == '#')
		return NULL;
	unsigned char sha[SCANNER_SHA256_LEN];
	if (!parse_sha(p, sha))
		return "expected a SHA-256 as 64 hex digits, then an optional name";
	char *name = p + 2 * SCANNER_SHA256_LEN;
	name += strspn(name, " \t");
	size_t name_len = strlen(name);
	while (name_len > 0 && (name[name_len - 1] == ' ' || name[name_len - 1] == '\t'))
		name[--name_len] = '\0';
	for (size_t i = 0; i < name_len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "a control character in the name";
	if (name_len >= SCANNER_DETAIL_MAX)
		return "the name is longer than 159 characters";
	char where[SCANNER_DETAIL_MAX];
	if (name_len == 0) {
		snprintf(where, sizeof(where), "%s:%u", path, line_no);
		name = where;
		name_len = strlen(where);
	}
	if (entry_add(set, sha, name, name_len) < 0)
		*oom = true;
	return NULL;
}

/* What a list file may be: a regular file, within the size cap. A FIFO or
 * a device would block the open or the read (a daemon applying a policy
 * holds its apply lock meanwhile), or never end. */
static FILE *open_list(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		scanner_line(err, errlen, "%s: cannot open hash list: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = S_ISDIR(st.st_mode) ? "a directory, not a regular file"
		      : S_ISFIFO(st.st_mode) ? "a FIFO, not a regular file"
		      : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device, not a regular file"
		      : "not a regular file";
	else if ((uint64_t)st.st_size > SCANNER_HASHLIST_MAX_BYTES)
		why = "larger than the " SCANNER_HASHLIST_MAX_TEXT " a hash list may hold";
	FILE *f = why ? NULL : fdopen(fd, "re");
	if (!f) {
		scanner_line(err, errlen, "%s: cannot open hash list: %s", path,
			     why ? why : strerror(errno));
		close(fd);
	}
	return f;
}

static int parse_file(struct hash_set *set, const char *path, char *err, size_t errlen)
{
	FILE *f = open_list(path, err, errlen);
	if (!f)
		return -1;
	int rc = -1;
	char *line = NULL;
	size_t cap = 0;
	unsigned line_no = 0;
	uint64_t bytes = 0;
	ssize_t n;
	bool oom = false;
	errno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		line_no++;
		/* the file may grow while it is read */
		if ((bytes += (uint64_t)n) > SCANNER_HASHLIST_MAX_BYTES) {
			scanner_line(err, errlen, "%s:%u: the hash list grew larger than the "
				     SCANNER_HASHLIST_MAX_TEXT " it may hold", path, line_no);
			goto cleanup;
		}
		size_t len = (size_t)n;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		const char *why = parse_line(set, line, len, path, line_no, &oom);
		if (why) {
			scanner_line(err, errlen, "%s:%u: %s", path, line_no, why);
			goto cleanup;
		}
		if (oom) {
			scanner_line(err, errlen, "%s:%u: out of memory", path, line_no);
			goto cleanup;
		}
	}
	if (ferror(f)) {
		scanner_line(err, errlen, "%s: cannot read hash list: %s", path,
			     strerror(errno ? errno : EIO));
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(line);
	fclose(f);
	return rc;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct hash_entry *x = a, *y = b;
	int c = memcmp(x->sha, y->sha, SCANNER_SHA256_LEN);
	if (c)
		return c;
	return x->name < y->name ? -1 : x->name > y->name;
}

static void set_free(struct hash_set *set)
{
	if (!set)
		return;
	free(set->v);
	free(set->pool);
	free(set);
}

/* Sort, and keep only the first definition of a hash listed twice. */
static void set_index(struct hash_set *set)
{
	if (set->n == 0)
		return;
	qsort(set->v, set->n, sizeof(*set->v), entry_cmp);
	size_t kept = 1;
	for (size_t i = 1; i < set->n; i++)
		if (memcmp(set->v[i].sha, set->v[kept - 1].sha, SCANNER_SHA256_LEN))
			set->v[kept++] = set->v[i];
	set->n = kept;
}

static void *hashlist_load(const void *cfgp, unsigned *n_sigs, char *err, size_t errlen)
{
	const struct hashlist_cfg *cfg = cfgp;
	struct hash_set *set = calloc(1, sizeof(*set));
	if (!set) {
		scanner_line(err, errlen, "hashlist: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_files; i++) {
		if (parse_file(set, cfg->files[i], err, errlen) < 0) {
			set_free(set);
			return NULL;
		}
	}
	set_index(set);
	*n_sigs = (unsigned)set->n;
	return set;
}

static void hashlist_unload(void *set)
{
	set_free(set);
}

/* ---- scanning ---- */

static void hashlist_scan(const void *cfg, void *setp, int fd, const unsigned char *sha256,
			  unsigned max_ms,
			  struct scan_result *out)
{
	(void)max_ms;
	(void)cfg;
	const struct hash_set *set = setp;
	unsigned char own[SCANNER_SHA256_LEN];
	if (!sha256) {
		if (scanner_sha256_fd(fd, own, NULL) < 0) {
			out->status = SCAN_ERROR;
			scanner_line(out->detail, sizeof(out->detail), "cannot hash the file: %s",
				     strerror(errno));
			return;
		}
		sha256 = own;
	}
	struct hash_entry key;
	memcpy(key.sha, sha256, SCANNER_SHA256_LEN);
	size_t lo = 0, hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(set->v[mid].sha, key.sha, SCANNER_SHA256_LEN);
		if (c == 0) {
			out->status = SCAN_INFECTED;
			snprintf(out->detail, sizeof(out->detail), "%s", set->pool + set->v[mid].name);
			return;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	out->status = SCAN_CLEAN;
}

/* ---- watching the list files ---- */

struct file_stamp {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

static void stamp_of(const char *path, struct file_stamp *st)
{
	struct stat sb;
	memset(st, 0, sizeof(*st));
	if (stat(path, &sb) < 0)
		return;
	st->exists = true;
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->size = sb.st_size;
	st->mtime = sb.st_mtim;
	st->ctime = sb.st_ctim;
}

static void *hashlist_watch_start(const void *cfgp)
{
	const struct hashlist_cfg *cfg = cfgp;
	struct file_stamp *stamps = calloc(cfg->n_files + 1, sizeof(*stamps));
	for (size_t i = 0; stamps && i < cfg->n_files; i++)
		stamp_of(cfg->files[i], &stamps[i]);
	return stamps;
}

static bool hashlist_watch_changed(const void *cfgp, void *watch)
{
	const struct hashlist_cfg *cfg = cfgp;
	const struct file_stamp *was = watch;
	for (size_t i = 0; i < cfg->n_files; i++) {
		struct file_stamp now;
		stamp_of(cfg->files[i], &now);
		if (now.exists != was[i].exists || now.dev != was[i].dev || now.ino != was[i].ino ||
		    now.size != was[i].size || now.mtime.tv_sec != was[i].mtime.tv_sec ||
		    now.mtime.tv_nsec != was[i].mtime.tv_nsec ||
		    now.ctime.tv_sec != was[i].ctime.tv_sec ||
		    now.ctime.tv_nsec != was[i].ctime.tv_nsec)
			return true;
	}
	return false;
}

static void hashlist_watch_free(void *watch)
{
	free(watch);
}

static void hashlist_cfg_free(void *cfgp)
{
	struct hashlist_cfg *cfg = cfgp;
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg);
}

static const struct engine_ops hashlist_ops = {
	.name = "hashlist",
	.load = hashlist_load,
	.scan = hashlist_scan,
	.unload = hashlist_unload,
	.watch_start = hashlist_watch_start,
	.watch_changed = hashlist_watch_changed,
	.watch_free = hashlist_watch_free,
	.cfg_free = hashlist_cfg_free,
};

int scanner_hashlist_check(const char *const *files, size_t n_files, char *err, size_t errlen)
{
	const struct hashlist_cfg cfg = { .files = (char **)files, .n_files = n_files };
	unsigned n_sigs;
	void *set = hashlist_load(&cfg, &n_sigs, err, errlen);
	if (!set)
		return -1;
	hashlist_unload(set);
	if (errlen)
		err[0] = '\0';
	return 0;
}

struct scanner *scanner_hashlist_open(const struct scanner_hashlist_config *in,
				      char *err, size_t errlen)
{
	if (!in || (in->n_files && !in->files)) {
		scanner_line(err, errlen, "hashlist: no configuration");
		return NULL;
	}
	struct hashlist_cfg *cfg = calloc(1, sizeof(*cfg));
	if (cfg)
		cfg->files = calloc(in->n_files + 1, sizeof(*cfg->files));
	for (size_t i = 0; cfg && cfg->files && i < in->n_files; i++) {
		if (!in->files[i] || !in->files[i][0]) {
			scanner_line(err, errlen, "hashlist: list file %zu has no name", i + 1);
			hashlist_cfg_free(cfg);
			return NULL;
		}
		if (!(cfg->files[i] = strdup(in->files[i])))
			break;
		cfg->n_files = i + 1;
	}
	if (!cfg || !cfg->files || cfg->n_files != in->n_files) {
		scanner_line(err, errlen, "hashlist: out of memory");
		hashlist_cfg_free(cfg);
		return NULL;
	}
	return scanner_start(&hashlist_ops, cfg, in->check_interval_ms, false, &in->on_swap, err,
			     errlen);
}
