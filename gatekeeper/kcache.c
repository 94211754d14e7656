/* The kernel-side verdict cache. fanotify mode: an allow becomes an
 * evictable ignore mark on the inode, which the kernel clears on
 * modification (FS_MODIFY) and may drop under memory pressure; either way
 * the next exec is a miss and is judged again. bpf mode adds the BPF LSM
 * inode-storage map, which also answers denials in the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf/gatekeeper.h"
#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/kcache.h"
#include "gatekeeper/kcache_bpf.h"
#include "gatekeeper/kcache_lease.h"

/* fanotify mode: at most this many cached allows, one leased descriptor
 * each (gatekeeperd(8), "Resources"). Beyond it the oldest is dropped and
 * its next exec is a miss, answered from the daemon's memory. */
#define LEASE_LIMIT 4096

struct kcache {
	pthread_rwlock_t group_lock;    /* readers add marks to group_fd; writers swap it */
	int group_fd;
	uint64_t mask;
	bool enabled;
	bool fan_off;                   /* policy fanotify_cache: off */
	bool probe_refusal_logged;      /* bpf_arm could not ask (atomic) */
	/* Set once (kcache_open, or kcache_adopt_bpf: written under group_lock,
	 * read through bpf_of by any thread) and kept until kcache_close. */
	struct kcache_bpf *bpf;
	struct kcache_leases *leases;   /* see kcache_lease.c: every mode (execs' leases) */
	char why[256];
	const char *why_now;            /* why, or later_why once adopted (atomic) */
	/* KCACHE_BPF_LATER: the loader thread writes loaded and later_why, then
	 * loaded_fd; the caller reads them only after the join (kcache_adopt_bpf). */
	pthread_t loader;
	bool loader_started, loading;   /* loading: atomic */
	int loaded_fd;
	struct kcache_bpf *loaded;
	char later_why[256];
	uint64_t ignore_marks, flushes;
	/* epoch: moves with every flush; a judgement begun before one records
	 * nothing. verdict_epoch (under group_lock): the programs' gk_epoch,
	 * which moves only when the map's verdicts must go stale too. */
	uint64_t epoch, verdict_epoch;
	void (*on_denial)(void *ctx, const struct kcache_denial *d);
	void *denial_ctx;
	bool (*may_pin)(void *ctx, dev_t dev);   /* under group_lock */
	void *pin_ctx;
};

static struct kcache_bpf *bpf_of(const struct kcache *kc)
{
	return __atomic_load_n(&kc->bpf, __ATOMIC_ACQUIRE);
}

/* Load and attach the programs; why gets attached, or the reason they
 * are not. */
static struct kcache_bpf *load_programs(char *why, size_t whylen, const char *attached)
{
	char reason[200];
	struct kcache_bpf *kb = kcache_bpf_open(reason, sizeof(reason));
	snprintf(why, whylen, "%s", kb ? attached : reason);
	if (!kb)
		malloc_trim(0);   /* the failed load parsed the kernel's BTF: give that memory back */
	return kb;
}

struct kcache *kcache_open(int group_fd, uint64_t mask, bool enabled, enum kcache_bpf_when when)
{
	struct kcache *kc = calloc(1, sizeof(*kc));
	if (!kc)
		return NULL;
	pthread_rwlock_init(&kc->group_lock, NULL);
	kc->group_fd = group_fd;
	kc->mask = mask;
	kc->enabled = enabled;
	kc->why_now = kc->why;
	kc->loaded_fd = -1;
	/* Without BPF only leases see a write through a shared mapping in time;
	 * in every mode an exec's judgement holds writers out with one. */
	kc->leases = kcache_leases_new(KCACHE_LEASE_SIGNAL, LEASE_LIMIT);
	if (kc->leases)
		kcache_leases_set_grace(kc->leases, kcache_lease_grace_us());
	if (!enabled) {
		snprintf(kc->why, sizeof(kc->why), "kernel caches switched off (--no-kernel-cache)");
		return kc;
	}
	if (when == KCACHE_BPF_NEVER) {
		snprintf(kc->why, sizeof(kc->why), "BPF not requested (--no-bpf)");
		return kc;
	}
	char why[200];
	if (when == KCACHE_BPF_LATER) {
		kc->loading = !kcache_bpf_impossible(why, sizeof(why));
		snprintf(kc->why, sizeof(kc->why), "%s",
			 kc->loading ? "BPF LSM programs loading after ready (--bpf-after-ready): "
				       "fanotify mode until they are attached" : why);
		return kc;
	}
	kc->bpf = load_programs(kc->why, sizeof(kc->why), "BPF LSM programs attached");
	return kc;
}

/* The load parses the kernel's BTF and runs the verifier over every
 * program: most of a start's CPU time where code runs once (under an
 * emulator, seconds). At nice 19 it takes only what the CPUs have to
 * spare, so a boot does not wait for it; it still gets a share on a busy
 * host. (At boot the daemon starts it only once the boot is over:
 * boot_wait.c.) */
static void *load_bpf(void *arg)
{
	struct kcache *kc = arg;
	pthread_setname_np(pthread_self(), "gk-bpf-load");
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	kc->loaded = load_programs(kc->later_why, sizeof(kc->later_why),
				   "BPF LSM programs attached (after ready)");
	uint64_t one = 1;
	ssize_t n = write(kc->loaded_fd, &one, sizeof(one));
	(void)n;   /* one write to a fresh eventfd cannot fail */
	return NULL;
}

int kcache_load_bpf_later(struct kcache *kc)
{
	if (!kcache_bpf_loading(kc) || kc->loader_started)
		return -1;
	kc->loaded_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int err = kc->loaded_fd < 0 ? errno : pthread_create(&kc->loader, NULL, load_bpf, kc);
	if (err) {
		snprintf(kc->later_why, sizeof(kc->later_why),
			 "cannot start the BPF load: %s", strerror(err));
		__atomic_store_n(&kc->why_now, kc->later_why, __ATOMIC_RELEASE);
		__atomic_store_n(&kc->loading, false, __ATOMIC_RELEASE);
		if (kc->loaded_fd >= 0)
			close(kc->loaded_fd);
		kc->loaded_fd = -1;
		return -1;
	}
	kc->loader_started = true;
	return kc->loaded_fd;
}

static void join_loader(struct kcache *kc)
{
	if (!kc->loader_started)
		return;
	pthread_join(kc->loader, NULL);
	kc->loader_started = false;
	close(kc->loaded_fd);
	kc->loaded_fd = -1;
}

bool kcache_adopt_bpf(struct kcache *kc)
{
	if (!kc->loader_started)
		return false;
	join_loader(kc);
	struct kcache_bpf *kb = kc->loaded;
	kc->loaded = NULL;
	pthread_rwlock_wrlock(&kc->group_lock);
	if (kb)
		__atomic_store_n(&kc->bpf, kb, __ATOMIC_RELEASE);
	__atomic_store_n(&kc->why_now, kc->later_why, __ATOMIC_RELEASE);
	__atomic_store_n(&kc->loading, false, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&kc->group_lock);
	if (!kb)
		return false;
	/* What fanotify mode cached has no entry in the map: its ignore marks
	 * would answer execs the programs never see, guarded by leases that
	 * bpf mode no longer takes. Drop both; they refill on the next miss. */
	kcache_forget_all(kc);
	return true;
}

void kcache_set_group(struct kcache *kc, int group_fd, uint64_t mask)
{
	pthread_rwlock_wrlock(&kc->group_lock);
	kc->group_fd = group_fd;
	kc->mask = mask;
	pthread_rwlock_unlock(&kc->group_lock);
}

void kcache_set_fanotify_cache(struct kcache *kc, bool leases)
{
	pthread_rwlock_wrlock(&kc->group_lock);
	kc->fan_off = !leases;
	pthread_rwlock_unlock(&kc->group_lock);
}

/* fanotify mode, enforce, policy fanotify_cache: off. */
static bool fan_cache_off(const struct kcache *kc)
{
	return kc->fan_off && !bpf_of(kc) && kc->mask == FAN_OPEN_EXEC_PERM;
}

int kcache_watch_first_exec(struct kcache *kc, int fd)
{
	int rc = -1;
	/* Not on a file a server serves: the mark is the local group's, and
	 * reading its event would open the file on the local reader (remote.c). */
	if (kcache_changes_elsewhere(fd))
		return -1;
	pthread_rwlock_rdlock(&kc->group_lock);
	/* Evictable like the ignore mark it shares: neither pins the inode. */
	if (kc->enabled && kc->group_fd >= 0 && kc->mask == FAN_OPEN_EXEC_PERM && !fan_cache_off(kc))
		rc = fanotify_mark(kc->group_fd, FAN_MARK_ADD | FAN_MARK_EVICTABLE, FAN_OPEN_EXEC, fd,
				   NULL);
	pthread_rwlock_unlock(&kc->group_lock);
	return rc;
}

void kcache_first_exec_seen(int group_fd, int fd)
{
	/* ENOENT: the mark is gone already (flush, eviction); nothing to undo. */
	(void)fanotify_mark(group_fd, FAN_MARK_REMOVE, FAN_OPEN_EXEC, fd, NULL);
}

void kcache_close(struct kcache *kc)
{
	if (!kc)
		return;
	join_loader(kc);
	kcache_bpf_close(kc->loaded);
	kcache_bpf_close(kc->bpf);
	kcache_leases_free(kc->leases);
	pthread_rwlock_destroy(&kc->group_lock);
	free(kc);
}

const char *kcache_mode(const struct kcache *kc)
{
	return !kc->enabled ? "off" : bpf_of(kc) ? "bpf" : "fanotify";
}

const char *kcache_why(const struct kcache *kc)
{
	return __atomic_load_n(&kc->why_now, __ATOMIC_ACQUIRE);
}

bool kcache_bpf_loading(const struct kcache *kc)
{
	return __atomic_load_n(&kc->loading, __ATOMIC_ACQUIRE);
}

/* fanotify mode, enforce, leases on: caller holds group_lock. */
static bool leases_in_use(const struct kcache *kc)
{
	return kc->group_fd >= 0 && !fan_cache_off(kc) && kc->leases && !bpf_of(kc) &&
	       kc->mask == FAN_OPEN_EXEC_PERM;
}


/* Where no lease is taken, only asked: bpf mode's pre-scan and workers
 * (its hooks see a shared mapping's writes only at its release, which may
 * come between the read and the record and leave nothing fresh to make
 * stale). Asked before taking any lock: the open may wait on another
 * program's open-permission listener. */
static uint64_t probe_arm(struct kcache *kc, int fd)
{
	int e = kcache_writer_probe(fd);
	if (e == EAGAIN)
		return KCACHE_ARM_WRITER;
	if (!e || !bpf_of(kc))
		return 0;   /* outside bpf mode nothing is cached on the probe's word */
	if (!__atomic_exchange_n(&kc->probe_refusal_logged, true, __ATOMIC_RELAXED)) {
		char path[4096];
		gk_fd_path(fd, path, sizeof(path));
		log_msg(GK_LOG_WARN, "warning=\"kernel cache: cannot tell whether %s is open for "
			"writing (read lease: %s): no allow read from it, or from files like it, is "
			"cached as an ignore mark (logged once)\"", path, strerror(e));
	}
	return KCACHE_ARM_REFUSED;
}

uint64_t kcache_arm(struct kcache *kc, int fd, bool exec)
{
	struct stat st;
	uint64_t ticket = 0;
	if ((!kc->enabled && !exec) || fstat(fd, &st) < 0 || kcache_changes_elsewhere(fd))
		return 0;
	pthread_rwlock_rdlock(&kc->group_lock);
	/* An exec's lease is held for its judgement alone: it may pin any
	 * filesystem that long, in any mode. */
	bool cache = kc->enabled && leases_in_use(kc) &&
		     (!kc->may_pin || kc->may_pin(kc->pin_ctx, st.st_dev));
	if (cache || (exec && kc->leases)) {
		int why;
		ticket = kcache_leases_arm(kc->leases, fd, st.st_dev, st.st_ino, kc->group_fd,
					   kc->mask, exec, &why);
		if (!ticket)
			ticket = why == EAGAIN ? KCACHE_ARM_WRITER : KCACHE_ARM_REFUSED;
	}
	pthread_rwlock_unlock(&kc->group_lock);
	/* No lease to hold (none there, out of descriptors): nothing is asked
	 * on the reading thread (probe_arm's open may wait), and bpf mode
	 * caches no allow that nothing guarded. */
	if (ticket == KCACHE_ARM_REFUSED && !cache && !(kc->enabled && bpf_of(kc)))
		ticket = 0;
	if (!ticket && !exec && kc->enabled && bpf_of(kc))
		ticket = probe_arm(kc, fd);
	return ticket;
}

bool kcache_exec_lease_lapsed(struct kcache *kc, int fd, uint64_t ticket)
{
	struct stat st;
	if (!kcache_ticket_taken(ticket) || !kc->leases || fstat(fd, &st) < 0)
		return false;
	int64_t now_us = gk_mono_us(), since_us;
	if (!kcache_leases_broken_since(kc->leases, st.st_dev, st.st_ino, ticket, &since_us))
		return false;
	/* Broken (rare): the sysctl as it is now, which the admin may change. */
	int64_t grace_us = kcache_lease_grace_us();
	kcache_leases_set_grace(kc->leases, grace_us);
	return now_us - since_us >= grace_us;
}

bool kcache_armed(struct kcache *kc, dev_t dev, ino_t ino, uint64_t ticket)
{
	return kcache_ticket_taken(ticket) && kc->leases &&
	       kcache_leases_stand(kc->leases, dev, ino, ticket);
}

void kcache_disarm(struct kcache *kc, int fd, uint64_t ticket, bool exec)
{
	struct stat st;
	if (!kcache_ticket_taken(ticket) || fstat(fd, &st) < 0)
		return;
	pthread_rwlock_rdlock(&kc->group_lock);
	if (kc->leases)   /* what it gives back carries no mark: the group may be gone */
		kcache_leases_disarm(kc->leases, st.st_dev, st.st_ino, ticket, kc->group_fd, kc->mask,
				     exec);
	pthread_rwlock_unlock(&kc->group_lock);
}

/* The ignore mark of an allow (caller holds group_lock): -1 not added. */
static int add_ignore_mark(struct kcache *kc, int fd, const struct stat *judged, uint64_t ticket,
			   bool with_bpf)
{
	bool (*may_pin)(void *, dev_t) = kc->may_pin;
	if (leases_in_use(kc))
		/* a lease holds the file open: only where that cannot block an unmount */
		return !may_pin || may_pin(kc->pin_ctx, judged->st_dev)
			       ? kcache_leases_hold(kc->leases, fd, judged, kc->group_fd, kc->mask, ticket)
			       : -1;
	if (ticket && !with_bpf)
		return -1;   /* armed (or refused) under a mode that is gone: its read is unguarded */
	if (!with_bpf && !kcache_file_as_judged(fd, judged))
		return -1;
	return fanotify_mark(kc->group_fd, FAN_MARK_ADD | FAN_MARK_IGNORE | FAN_MARK_EVICTABLE,
			     kc->mask, fd, NULL);
}

int kcache_record(struct kcache *kc, int fd, enum gk_verdict verdict, const struct stat *judged,
		  uint64_t ticket, uint64_t identified_ns, uint64_t epoch)
{
	if (!kc->enabled || kcache_changes_elsewhere(fd))
		return 1;
	int rc = 1;
	bool take_back = false;
	/* kcache_forget_all moves the epoch and drops what is cached while it
	 * holds this lock as writer: what is recorded here for a judgement of
	 * the current epoch came before that and goes with it; a judgement of
	 * an older epoch (its rules or signatures are gone) records nothing. */
	pthread_rwlock_rdlock(&kc->group_lock);
	struct kcache_bpf *kb = bpf_of(kc);
	if (epoch != kcache_epoch(kc))
		goto out;
	/* Stamped with the programs' epoch, as it was when the judgement began
	 * (no flush since): fresh to them only until a flush moves theirs. */
	/* An allow read while a writer had the file open is this exec's alone
	 * (kcache_arm): nothing of it in the map either, or that writer's
	 * release would find it fresh and flush every ignore mark. */
	if (verdict == GK_VERDICT_ALLOW && kcache_ticket_refused(ticket)) {
		rc = -1;
		goto out;
	}
	if (kb)
		rc = kcache_bpf_record_judged(kb, fd, verdict, judged, identified_ns,
					      kc->verdict_epoch) < 0 ? -1 : 0;
	/* fanotify mode caches no denial; an allow's mark and lease that the
	 * file may still carry (its content changed unseen) go. */
	if (verdict != GK_VERDICT_ALLOW) {
		take_back = !kb && kc->group_fd >= 0;
		goto out;
	}
	/* A write between the read and the map's entry moved the ctime, and
	 * the kernel's hooks see none after it: check before the ignore mark,
	 * which would answer for the new content, and take back a mark an
	 * earlier record left. (Leases check after taking the lease, which stops
	 * later writers; a write broke an earlier one, and took its mark.) */
	if (kb && !kcache_file_as_judged(fd, judged)) {
		take_back = true;
		rc = -1;
	/* Between two groups, or no cache wanted: the next exec is judged again. */
	} else if (kc->group_fd >= 0 && !fan_cache_off(kc)) {
		rc = add_ignore_mark(kc, fd, judged, ticket, kb != NULL);
		if (rc == 0)
			__atomic_add_fetch(&kc->ignore_marks, 1, __ATOMIC_RELAXED);
	}
out:
	pthread_rwlock_unlock(&kc->group_lock);
	if (take_back)
		kcache_unrecord(kc, fd);
	return rc;
}

int kcache_unrecord(struct kcache *kc, int fd)
{
	if (!kc->enabled)
		return 0;
	struct kcache_bpf *kb = bpf_of(kc);
	if (kb)
		kcache_bpf_record(kb, fd, GK_VERDICT_UNKNOWN);
	int rc = 0;
	pthread_rwlock_rdlock(&kc->group_lock);
	struct stat st;
	if (kc->group_fd >= 0 && kc->leases && fstat(fd, &st) == 0)
		kcache_leases_forget_inode(kc->leases, st.st_dev, st.st_ino, kc->group_fd, kc->mask);
	if (kc->group_fd >= 0 &&
	    fanotify_mark(kc->group_fd, FAN_MARK_REMOVE | FAN_MARK_IGNORE, kc->mask, fd, NULL) < 0 &&
	    errno != ENOENT)
		rc = -1;
	pthread_rwlock_unlock(&kc->group_lock);
	return rc;
}

uint64_t kcache_epoch(const struct kcache *kc)
{
	return __atomic_load_n(&kc->epoch, __ATOMIC_ACQUIRE);
}

/* Drop every ignore mark and lease; with verdicts, make the map's verdicts
 * stale too. */
static int flush(struct kcache *kc, bool verdicts)
{
	if (!kc->enabled) {
		__atomic_add_fetch(&kc->epoch, 1, __ATOMIC_ACQ_REL);
		return 0;
	}
	__atomic_add_fetch(&kc->flushes, 1, __ATOMIC_RELAXED);
	int rc = 0;
	/* As writer: no kcache_record runs between the epoch's move and the
	 * flush (see there). */
	pthread_rwlock_wrlock(&kc->group_lock);
	__atomic_add_fetch(&kc->epoch, 1, __ATOMIC_ACQ_REL);
	/* Without a mark-type flag, FLUSH drops inode marks (our ignore marks)
	 * and keeps the filesystem marks. */
	if (kc->group_fd >= 0 && fanotify_mark(kc->group_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL) < 0)
		rc = -1;
	if (kc->leases)
		kcache_leases_release_all(kc->leases, kc->group_fd, kc->mask);
	/* Only once the marks they guard are gone: the kernel's holds lapse
	 * (bpf mode), whatever other marks the file has. */
	if (rc == 0)
		kcache_bpf_marks_dropped(bpf_of(kc));
	if (verdicts)
		kcache_bpf_set_epoch(bpf_of(kc), ++kc->verdict_epoch);
	pthread_rwlock_unlock(&kc->group_lock);
	return rc;
}

int kcache_forget_all(struct kcache *kc)
{
	return flush(kc, true);
}

bool kcache_sees_writes(const struct kcache *kc)
{
	return !kc->enabled || bpf_of(kc) || (kc->leases && kc->mask == FAN_OPEN_EXEC_PERM);
}

bool kcache_allow_holds_file(struct kcache *kc)
{
	pthread_rwlock_rdlock(&kc->group_lock);
	bool holds = kc->enabled && !bpf_of(kc) && kc->leases && !kc->fan_off &&
		     kc->mask == FAN_OPEN_EXEC_PERM;
	pthread_rwlock_unlock(&kc->group_lock);
	return holds;
}

void kcache_lease_broken(struct kcache *kc, int fd)
{
	if (!kc->leases)
		return;
	pthread_rwlock_rdlock(&kc->group_lock);
	if (fd < 0)
		kcache_leases_broken_unknown(kc->leases, kc->group_fd, kc->mask);
	else
		kcache_leases_broken(kc->leases, fd, kc->group_fd, kc->mask);
	pthread_rwlock_unlock(&kc->group_lock);
}

void kcache_set_pin_filter(struct kcache *kc, bool (*may_pin)(void *ctx, dev_t dev), void *ctx)
{
	if (!kc)
		return;
	pthread_rwlock_wrlock(&kc->group_lock);
	kc->may_pin = may_pin;
	kc->pin_ctx = ctx;
	pthread_rwlock_unlock(&kc->group_lock);
}

bool kcache_set_fileless(struct kcache *kc, bool deny)
{
	struct kcache_bpf *kb = kc ? bpf_of(kc) : NULL;
	if (!kb)
		return false;
	kcache_bpf_set_fileless(kb, deny);
	return true;
}

bool kcache_set_write_guard(struct kcache *kc, bool on)
{
	struct kcache_bpf *kb = kc ? bpf_of(kc) : NULL;
	if (!kb)
		return false;
	kcache_bpf_set_write_guard(kb, on);
	return true;
}

bool kcache_set_unmarked(struct kcache *kc, bool deny)
{
	struct kcache_bpf *kb = kc ? bpf_of(kc) : NULL;
	return kb && kcache_bpf_set_unmarked(kb, deny);
}

int kcache_event_fd(const struct kcache *kc)
{
	struct kcache_bpf *kb = bpf_of(kc);
	return kb ? kcache_bpf_ringbuf_fd(kb) : -1;
}

static void on_bpf_event(void *ctx, const struct kcache_bpf_event *ev)
{
	struct kcache *kc = ctx;
	if (ev->kind == KCACHE_BPF_DENY && kc->on_denial) {
		struct kcache_denial d = { .pid = ev->pid, .dev = ev->dev, .ino = ev->ino,
					   .fileless = ev->route == GK_ROUTE_FILELESS,
					   .unmarked = ev->route == GK_ROUTE_UNMARKED,
					   .written = ev->route == GK_ROUTE_WRITTEN };
		memcpy(d.comm, ev->comm, sizeof(d.comm));
		kc->on_denial(kc->denial_ctx, &d);
	} else if (ev->kind == KCACHE_BPF_INVALIDATE && ev->had_allow && ev->via_mmap) {
		/* fanotify did not see this write: its ignore mark may still stand.
		 * We hold no path to the inode, so drop them all; they refill lazily.
		 * Only the marks: the hooks made this inode's verdict stale, and
		 * every other's still stands. Any user can raise this (a shared
		 * mapping of their own program), and the map's denials are what
		 * refuses a denied file's PROT_EXEC mappings (ld.so ./file), which
		 * fanotify never asks about: they must not go stale with it. */
		flush(kc, false);
	}
}

void kcache_drain(struct kcache *kc, void (*on_denial)(void *ctx, const struct kcache_denial *d),
		  void *ctx)
{
	struct kcache_bpf *kb = bpf_of(kc);
	if (!kb)
		return;
	kc->on_denial = on_denial;
	kc->denial_ctx = ctx;
	kcache_bpf_drain(kb, on_bpf_event, kc);
}

void kcache_get_stats(const struct kcache *kc, struct kcache_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->ignore_marks = __atomic_load_n(&kc->ignore_marks, __ATOMIC_RELAXED);
	out->flushes = __atomic_load_n(&kc->flushes, __ATOMIC_RELAXED);
	if (kc->leases)
		kcache_leases_counters(kc->leases, &out->leases_held, &out->lease_breaks, &out->leases_refused);
	struct kcache_bpf *kb = bpf_of(kc);
	if (kb) {
		struct kcache_bpf_counters c;
		kcache_bpf_counters(kb, &c);
		out->hits_measurable = true;
		out->kernel_allows = c.allows;
		out->kernel_denies = c.denies;
		out->invalidations = c.invalidations;
		out->hold_refusals = c.hold_refusals;
		out->ringbuf_drops = c.ringbuf_drops;
	}
}
