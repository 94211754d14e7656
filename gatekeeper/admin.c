/* Admin rules in memory, so the miss path never waits on SQLite. The db
 * table is the truth; this mirror is loaded at start and kept in step by the
 * control thread, which writes the db first. After every change the rules
 * also go to a small backup file beside the store (written whole, then
 * renamed over the old one), from which they are restored if the store is
 * found damaged at start. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/util.h"

struct admin_entry {
	unsigned char sha[GK_SHA256_LEN];
	enum gk_verdict verdict;         /* UNKNOWN: empty or deleted */
	bool used;                       /* ever used (probe chains stay intact) */
};

struct admin_rules {
	pthread_rwlock_t lock;
	struct admin_entry *slots;
	size_t cap, count, denies, used;
	pthread_mutex_t backup_lock;     /* one backup writer at a time */
	char *backup_path;               /* NULL: none kept */
};

struct admin_rules *admin_rules_new(void)
{
	struct admin_rules *ar = calloc(1, sizeof(*ar));
	if (!ar)
		return NULL;
	ar->cap = 1024;
	ar->slots = calloc(ar->cap, sizeof(*ar->slots));
	if (!ar->slots) {
		free(ar);
		return NULL;
	}
	pthread_rwlock_init(&ar->lock, NULL);
	pthread_mutex_init(&ar->backup_lock, NULL);
	return ar;
}

void admin_rules_free(struct admin_rules *ar)
{
	if (!ar)
		return;
	pthread_rwlock_destroy(&ar->lock);
	pthread_mutex_destroy(&ar->backup_lock);
	free(ar->backup_path);
	free(ar->slots);
	free(ar);
}

static size_t probe_start(const struct admin_rules *ar, const unsigned char *sha)
{
	uint64_t h;
	memcpy(&h, sha, sizeof(h));     /* a SHA-256 is already uniformly spread */
	return (size_t)(h % ar->cap);
}

static struct admin_entry *find(struct admin_rules *ar, const unsigned char *sha, bool for_insert)
{
	struct admin_entry *free_slot = NULL;
	for (size_t i = probe_start(ar, sha), n = 0; n < ar->cap; n++, i = (i + 1) % ar->cap) {
		struct admin_entry *e = &ar->slots[i];
		if (!e->used)
			return for_insert ? (free_slot ? free_slot : e) : NULL;
		if (e->verdict != GK_VERDICT_UNKNOWN && !memcmp(e->sha, sha, GK_SHA256_LEN))
			return e;
		if (e->verdict == GK_VERDICT_UNKNOWN && !free_slot)
			free_slot = e;
	}
	return for_insert ? free_slot : NULL;
}

static int grow(struct admin_rules *ar)
{
	struct admin_entry *old = ar->slots;
	size_t old_cap = ar->cap;
	struct admin_entry *slots = calloc(old_cap * 2, sizeof(*slots));
	if (!slots)
		return -1;
	ar->slots = slots;
	ar->cap = old_cap * 2;
	ar->used = ar->count;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].verdict == GK_VERDICT_UNKNOWN)
			continue;
		struct admin_entry *e = find(ar, old[i].sha, true);
		*e = old[i];
	}
	free(old);
	return 0;
}

enum gk_verdict admin_rules_get(struct admin_rules *ar, const unsigned char sha[GK_SHA256_LEN])
{
	pthread_rwlock_rdlock(&ar->lock);
	struct admin_entry *e = find(ar, sha, false);
	enum gk_verdict v = e ? e->verdict : GK_VERDICT_UNKNOWN;
	pthread_rwlock_unlock(&ar->lock);
	return v;
}

/* Room for one more rule at the table's load limit. */
static bool full(const struct admin_rules *ar)
{
	return (ar->used + 1) * 4 > ar->cap * 3;
}

int admin_rules_reserve(struct admin_rules *ar)
{
	pthread_rwlock_wrlock(&ar->lock);
	int rc = full(ar) ? grow(ar) : 0;
	pthread_rwlock_unlock(&ar->lock);
	return rc;
}

/* -1: out of memory, nothing changed. */
static int mirror_set(struct admin_rules *ar, const unsigned char sha[GK_SHA256_LEN],
		      enum gk_verdict v)
{
	pthread_rwlock_wrlock(&ar->lock);
	struct admin_entry *e = find(ar, sha, false);
	if (e) {
		ar->denies -= e->verdict == GK_VERDICT_DENY;
		if (v == GK_VERDICT_UNKNOWN)
			ar->count--;
		e->verdict = v;
		ar->denies += v == GK_VERDICT_DENY;
	} else if (v != GK_VERDICT_UNKNOWN) {
		if (full(ar) && grow(ar) < 0) {
			pthread_rwlock_unlock(&ar->lock);
			return -1;
		}
		e = find(ar, sha, true);
		ar->used += !e->used;
		memcpy(e->sha, sha, GK_SHA256_LEN);
		e->verdict = v;
		e->used = true;
		ar->count++;
		ar->denies += v == GK_VERDICT_DENY;
	}
	pthread_rwlock_unlock(&ar->lock);
	return 0;
}

/* The backup's first line: also what tells a backup of ours at start. */
static const char backup_header[] =
	"# gatekeeper admin rules: rewritten after every change, restored if the "
	"verdict store is found damaged\n";

/* The backup's content for the rules as they are now (malloc'd). */
static char *backup_render(struct admin_rules *ar, size_t *len)
{
	char *buf = NULL, hex[GK_SHA256_HEX_LEN + 1];
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	fputs(backup_header, f);
	pthread_rwlock_rdlock(&ar->lock);
	for (size_t i = 0; i < ar->cap; i++) {
		if (ar->slots[i].verdict == GK_VERDICT_UNKNOWN)
			continue;
		gk_sha256_to_hex(ar->slots[i].sha, hex);
		fprintf(f, "%s %s\n", hex, gk_verdict_name(ar->slots[i].verdict));
	}
	pthread_rwlock_unlock(&ar->lock);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool backup_holds(const char *path, const char *want, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char *have = malloc(len + 1);
	bool same = have && fread(have, 1, len + 1, f) == len && memcmp(have, want, len) == 0;
	free(have);
	fclose(f);
	return same;
}

/* The backup: "SHA256HEX allow|deny" lines, written to a temporary file,
 * synced, then renamed over the old one, so a crash leaves the old or the
 * new list, never half of one. A backup that already holds them is left
 * alone: every start would otherwise sync a file, at boot, for nothing.
 * Written outside the rules' lock: the miss path never waits for it. */
static int backup_write(struct admin_rules *ar)
{
	if (!ar->backup_path)
		return 0;
	pthread_mutex_lock(&ar->backup_lock);
	size_t len = 0;
	char *buf = backup_render(ar, &len);
	if (buf && backup_holds(ar->backup_path, buf, len)) {
		pthread_mutex_unlock(&ar->backup_lock);
		free(buf);
		return 0;
	}
	int rc = buf ? gk_replace_file(ar->backup_path, buf, len, true) : -1;
	if (rc != 0)
		log_msg(GK_LOG_ERR, "error=\"admin rules backup not written\" path=\"%s\" reason=\"%s\"",
			ar->backup_path, buf ? strerror(errno) : "out of memory");
	pthread_mutex_unlock(&ar->backup_lock);
	free(buf);
	return rc;
}

int admin_rules_set(struct admin_rules *ar, const unsigned char sha[GK_SHA256_LEN],
		    enum gk_verdict v)
{
	if (mirror_set(ar, sha, v) < 0)
		return -1;
	backup_write(ar);
	return 0;
}

struct rules_load {
	struct admin_rules *ar;
	bool out_of_memory;
};

/* A rule the store holds and the table cannot: the start fails (the exec
 * path reads only the table, and would not apply it). */
static int load_one(void *ctx, const unsigned char sha[GK_SHA256_LEN], enum gk_verdict v)
{
	struct rules_load *load = ctx;
	load->out_of_memory = mirror_set(load->ar, sha, v) < 0;
	return load->out_of_memory ? -1 : 0;
}

/* -1 and err (the store's words, or "PATH: admin rules: out of memory")
 * when a rule could not be loaded. */
static int admin_rules_load(struct admin_rules *ar, struct gk_db *db, const char *path,
			    char *err, size_t errlen)
{
	struct rules_load load = { .ar = ar };
	if (db_admin_foreach(db, load_one, &load) == 0)
		return 0;
	if (load.out_of_memory)
		snprintf(err, errlen, "%s: admin rules: out of memory", path);
	else
		snprintf(err, errlen, "%s", db_errmsg(db));
	return -1;
}

size_t admin_rules_count(struct admin_rules *ar)
{
	pthread_rwlock_rdlock(&ar->lock);
	size_t n = ar->count;
	pthread_rwlock_unlock(&ar->lock);
	return n;
}

size_t admin_rules_denies(struct admin_rules *ar)
{
	pthread_rwlock_rdlock(&ar->lock);
	size_t n = ar->denies;
	pthread_rwlock_unlock(&ar->lock);
	return n;
}

/* Restore the backup into a fresh store (and the mirror). Returns the rules
 * restored, -1 on a store error; lines that do not parse are skipped and
 * counted in *bad. */
static long restore_backup(struct admin_rules *ar, struct gk_db *db, size_t *bad)
{
	FILE *f = fopen(ar->backup_path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	char line[256], hex[80], word[16];
	unsigned char sha[GK_SHA256_LEN];
	long n = 0;
	if (db_begin(db) < 0) {
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		enum gk_verdict v = GK_VERDICT_UNKNOWN;
		if (sscanf(line, "%79s %15s", hex, word) == 2)
			v = !strcmp(word, "allow") ? GK_VERDICT_ALLOW :
			    !strcmp(word, "deny") ? GK_VERDICT_DENY : GK_VERDICT_UNKNOWN;
		if (v == GK_VERDICT_UNKNOWN || gk_sha256_from_hex(hex, sha) < 0) {
			(*bad)++;
			continue;
		}
		if (db_admin_set(db, sha, v, "(restored from the admin rules backup)") < 0) {
			db_rollback(db);
			fclose(f);
			return -1;
		}
		if (mirror_set(ar, sha, v) < 0) {
			db_rollback(db);
			fclose(f);
			errno = ENOMEM;
			return -1;
		}
		n++;
	}
	fclose(f);
	return db_commit(db) < 0 ? -1 : n;
}

/* Was path.admin-rules written by a daemon of ours: a regular file of
 * this user that starts with the backup's first line? Then path was its
 * store, whatever its header says now. */
static bool backup_is_ours(const char *path)
{
	char name[4200], head[sizeof(backup_header)];
	struct stat st;
	snprintf(name, sizeof(name), "%s.admin-rules", path);
	int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	size_t want = sizeof(backup_header) - 1;
	bool ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    read(fd, head, want) == (ssize_t)want && !memcmp(head, backup_header, want);
	close(fd);
	return ours;
}

/* db_check's verdict on the store at path: 1 damaged and ours (move it
 * aside), 0 leave it to db_open, -1 refused with err set. A file that is
 * damaged or no database, and that neither its header nor our backup beside
 * it says is ours, is left as it is: --db may name any file. */
static int store_damaged(struct gk_daemon *d, char *why, size_t whylen, char *err, size_t errlen)
{
	const char *path = d->opt.db_path;
	int check = db_check(path, why, whylen);
	d->store_closed_cleanly = check == 2;
	for (char *c = why; *c; c++)   /* quick_check reports one problem per line */
		if (*c == '\n' || *c == '"')
			*c = *c == '\n' ? ' ' : '\'';
	if (check == 3 && !backup_is_ours(path)) {
		snprintf(err, errlen, "%s; not a gatekeeper store (no application_id \"GKDB\" in its "
			 "header, no admin rules backup of ours beside it); refusing to touch it", why);
		return -1;
	}
	return check == 1 || check == 3;
}

/* Open the store for the daemon (d->db) and load the admin rules
 * (d->admin). A store of ours found damaged is moved aside untouched and
 * replaced by a fresh one holding the rules of the backup: one log line
 * says so. */
int admin_store_open(struct gk_daemon *d, char *err, size_t errlen)
{
	char why[512] = "", moved[4200] = "";
	const char *path = d->opt.db_path;
	int check = store_damaged(d, why, sizeof(why), err, errlen);
	bool damaged = check == 1;
	if (check < 0 || (damaged && db_move_aside(path, moved, sizeof(moved), err, errlen) < 0))
		return -1;
	if (!(d->db = db_open(path, err, errlen)))
		return -1;
	d->start_at.store_opened = gk_mono_us();
	if (!(d->admin = admin_rules_new()) ||
	    asprintf(&d->admin->backup_path, "%s.admin-rules", path) < 0) {
		if (d->admin)
			d->admin->backup_path = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!damaged) {
		if (admin_rules_load(d->admin, d->db, path, err, errlen) < 0)
			return -1;
		backup_write(d->admin);   /* in step with the store from the start */
		return 0;
	}
	size_t bad = 0;
	long n = restore_backup(d->admin, d->db, &bad);
	if (n < 0) {
		snprintf(err, errlen, "%s: restoring admin rules from %s: %s", path,
			 d->admin->backup_path, errno ? strerror(errno) : db_errmsg(d->db));
		return -1;
	}
	log_msg(GK_LOG_ERR,
		"store_recovered reason=\"%s\" moved_to=\"%s\" admin_rules_restored=%ld "
		"backup_lines_skipped=%zu backup=\"%s\"",
		why, moved, n, bad, d->admin->backup_path);
	return 0;
}
