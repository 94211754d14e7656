/* kcache_bpf: the BPF LSM backend of kcache. Loads bpf/gatekeeper.bpf.c
 * through its skeleton; the programs are owned by this process and detach
 * when it exits (nothing is pinned). Verdicts go into inode storage keyed by
 * a fanotify event fd; the kernel answers execs from them. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/btf.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpf/gatekeeper.h"
#include "gatekeeper.skel.h"
#include "gatekeeper/kcache_bpf.h"

#define LSM_LIST "/sys/kernel/security/lsm"
#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"

struct kcache_bpf {
	struct gatekeeper_bpf *skel;
	struct ring_buffer *rb;
	int verdicts_fd;
	uint64_t drops_seen;
	/* set only while kcache_bpf_drain runs */
	void (*fn)(void *ctx, const struct kcache_bpf_event *ev);
	void *ctx;
};

/* libbpf's own chatter would spam stderr on every host without BPF LSM;
 * keep only its last warning for the one-line reason. GK_BPF_VERBOSE=1 in
 * the environment passes everything (the verifier log) to stderr. Global:
 * libbpf_set_print takes a bare function, with no context pointer. */
static char libbpf_last[160];

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	static int verbose = -1;   /* global too, for the same reason: GK_BPF_VERBOSE, read once */

	if (verbose < 0)
		verbose = getenv("GK_BPF_VERBOSE") != NULL;
	if (verbose)
		return vfprintf(stderr, fmt, args);
	if (level == LIBBPF_WARN) {
		vsnprintf(libbpf_last, sizeof(libbpf_last), fmt, args);
		libbpf_last[strcspn(libbpf_last, "\n")] = '\0';
	}
	return 0;
}

/* The active LSM list, or a note that it cannot be read. */
static void read_lsm_list(char *out, size_t outlen)
{
	FILE *f = fopen(LSM_LIST, "re");

	if (!f) {
		snprintf(out, outlen, "(%s unreadable: %s)", LSM_LIST, strerror(errno));
		return;
	}
	if (!fgets(out, (int)outlen, f))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

static bool lsm_list_has_bpf(const char *list)
{
	char copy[256];

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (strcmp(tok, "bpf") == 0)
			return true;
	return false;
}

/* sysfs binary attributes hand out a page per read */
static bool pread_all(int fd, char *buf, size_t len, off_t off)
{
	for (size_t done = 0; done < len;) {
		ssize_t r = pread(fd, buf + done, len - done, off + (off_t)done);
		if (r <= 0 && !(r < 0 && errno == EINTR))
			return false;
		done += r > 0 ? (size_t)r : 0;
	}
	return true;
}

/* Whether the kernel's BTF has each string of names: has[i] 1, 0, or -1
 * when it cannot tell. Parsing the whole BTF (btf__load_vmlinux_btf, ~100k
 * types) only to look names up, and then again in the skeleton's load, made
 * the start's BPF phase parse it twice; under emulation (the system test's
 * TCG guests, at boot) one parse is a tenth of the start. A name is in the
 * string section iff a type, member or function is called that. */
static void vmlinux_btf_has_strings(const char *const *names, int *has, size_t n_names)
{
	struct btf_header h;
	char *strs = NULL, needle[128];
	int fd = open(VMLINUX_BTF, O_RDONLY | O_CLOEXEC);

	for (size_t i = 0; i < n_names; i++)
		has[i] = -1;
	if (fd < 0 || !pread_all(fd, (char *)&h, sizeof(h), 0) || h.magic != BTF_MAGIC ||
	    h.hdr_len < sizeof(h) || h.str_len > (64u << 20))
		goto cleanup;
	if (!(strs = malloc(h.str_len)) || !pread_all(fd, strs, h.str_len, (off_t)h.hdr_len + h.str_off))
		goto cleanup;
	/* every string is NUL-terminated, and the section starts with "" */
	for (size_t i = 0; i < n_names; i++) {
		size_t n = strlen(names[i]);
		if (n + 2 > sizeof(needle))
			continue;
		needle[0] = '\0';
		memcpy(needle + 1, names[i], n + 1);
		has[i] = memmem(strs, h.str_len, needle, n + 2) != NULL;
	}
cleanup:
	free(strs);
	if (fd >= 0)
		close(fd);
}

/* lsm/file_truncate exists since 6.2; older kernels cover ftruncate through
 * path_truncate. lsm/file_release exists since 6.8; older kernels have
 * file_free_security alone. Their programs are simply not loaded there. */
static void drop_missing_hooks(struct gatekeeper_bpf *skel)
{
	static const char *const hooks[] = { "bpf_lsm_file_truncate", "bpf_lsm_file_release" };
	struct bpf_program *const progs[] = { skel->progs.gk_file_truncate,
					      skel->progs.gk_file_release };
	int has[2];
	vmlinux_btf_has_strings(hooks, has, 2);
	for (size_t i = 0; i < 2; i++) {
		if (has[i] < 0) {   /* an unexpected layout: ask libbpf */
			struct btf *vmlinux = btf__load_vmlinux_btf();
			has[i] = vmlinux && btf__find_by_name_kind(vmlinux, hooks[i], BTF_KIND_FUNC) > 0;
			btf__free(vmlinux);
		}
		if (!has[i])
			bpf_program__set_autoload(progs[i], false);
	}
}

static void explain_failure(const char *step, int err, char *why, size_t whylen)
{
	char lsm[256];

	read_lsm_list(lsm, sizeof(lsm));
	if (err == EPERM && lsm_list_has_bpf(lsm))
		snprintf(why, whylen, "BPF LSM %s refused by the kernel (EPERM) although bpf is in %s (%s)",
			 step, LSM_LIST, lsm);
	else if (err == EPERM)
		snprintf(why, whylen, "BPF LSM %s refused by the kernel (EPERM): BPF LSM unavailable here; "
			 "active LSMs: %s", step, lsm);
	else
		snprintf(why, whylen, "BPF LSM %s failed: %s%s%s; active LSMs: %s", step, strerror(err),
			 libbpf_last[0] ? ": " : "", libbpf_last, lsm);
}

/* Whether the kernel refuses every BPF LSM program with EPERM (no CAP_BPF,
 * lockdown, or a kernel that forbids them, as some hosts do): a two-
 * instruction program with an attach id no hook has is refused by the
 * verifier (EINVAL) where LSM programs may load, and with EPERM before any
 * verification where they may not. The skeleton's load would learn the same
 * only after parsing the kernel's BTF and the objects: 30 ms of a 50 ms
 * start on such a host. Any other answer goes on to the real load. */
static bool lsm_progs_refused(void)
{
	const struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_LSM_MAC,
		    .attach_btf_id = 1);
	int fd = bpf_prog_load(BPF_PROG_TYPE_LSM, NULL, "GPL", ret0, 2, &opts);
	int saved = errno;
	if (fd >= 0)
		close(fd);
	return fd < 0 && saved == EPERM;
}

static int on_record(void *ctx, void *data, size_t size);

bool kcache_bpf_impossible(char *why, size_t whylen)
{
	char lsm[256];
	/* Attached programs are inert if bpf is not an active LSM: when the
	 * list says so, skip the load (it parses the kernel's BTF: tens of ms
	 * of start-up and megabytes for nothing). */
	read_lsm_list(lsm, sizeof(lsm));
	if (lsm[0] != '(' && !lsm_list_has_bpf(lsm)) {
		snprintf(why, whylen, "bpf is not in the active LSM list (%s: %s); boot with lsm=%s,bpf",
			 LSM_LIST, lsm, lsm);
		return true;
	}
	if (lsm_progs_refused()) {
		explain_failure("load", EPERM, why, whylen);
		return true;
	}
	return false;
}

struct kcache_bpf *kcache_bpf_open(char *why, size_t whylen)
{
	struct kcache_bpf *kb = calloc(1, sizeof(*kb));
	libbpf_print_fn_t old_print = libbpf_set_print(libbpf_quiet);
	const char *step = "open";
	int err = 0;

	libbpf_last[0] = '\0';
	if (!kb) {
		err = ENOMEM;
		goto cleanup;
	}
	if (kcache_bpf_impossible(why, whylen)) {
		err = -1;
		goto cleanup;
	}
	kb->skel = gatekeeper_bpf__open();
	if (!kb->skel) {
		err = errno;
		goto cleanup;
	}
	drop_missing_hooks(kb->skel);
	step = "load";
	err = -gatekeeper_bpf__load(kb->skel);
	if (err)
		goto cleanup;
	step = "attach";
	err = -gatekeeper_bpf__attach(kb->skel);
	if (err)
		goto cleanup;
	kb->skel->bss->gk_release_hooked = bpf_program__autoload(kb->skel->progs.gk_file_release);
	step = "ring buffer setup";
	kb->rb = ring_buffer__new(bpf_map__fd(kb->skel->maps.gk_events), on_record, kb, NULL);
	if (!kb->rb) {
		err = errno;
		goto cleanup;
	}
	kb->verdicts_fd = bpf_map__fd(kb->skel->maps.gk_verdicts);
cleanup:
	libbpf_set_print(old_print);
	if (err) {
		if (err > 0)
			explain_failure(step, err, why, whylen);
		kcache_bpf_close(kb);
		return NULL;
	}
	return kb;
}

void kcache_bpf_close(struct kcache_bpf *kb)
{
	if (!kb)
		return;
	ring_buffer__free(kb->rb);
	gatekeeper_bpf__destroy(kb->skel);
	free(kb);
}

int kcache_bpf_record_judged(struct kcache_bpf *kb, int fd, enum gk_verdict verdict,
			     const struct stat *judged, uint64_t identified_ns, uint64_t epoch)
{
	struct gk_inode_verdict value = { 0 }, old;
	struct stat now;

	if (kb && verdict == GK_VERDICT_UNKNOWN)
		return kcache_bpf_forget(kb, fd);
	if (!kb || (verdict != GK_VERDICT_ALLOW && verdict != GK_VERDICT_DENY)) {
		errno = EINVAL;
		return -1;
	}
	if (!judged) {
		if (fstat(fd, &now) != 0)
			return -1;
		judged = &now;
	}
	value.verdict = verdict == GK_VERDICT_ALLOW ? GK_KV_ALLOW : GK_KV_DENY;
	value.epoch = epoch;
	value.ctime_sec = judged->st_ctim.tv_sec;
	value.ctime_nsec = (__u32)judged->st_ctim.tv_nsec;
	value.size = (__u64)judged->st_size;
	value.attrs_valid = GK_KV_CHECK_ATTRS;
	if (identified_ns && bpf_map_lookup_elem(kb->verdicts_fd, &fd, &old) == 0 && old.hold &&
	    old.hold_ns >= identified_ns) {
		value.hold = 1;
		value.hold_gen = old.hold_gen;
		value.hold_ns = old.hold_ns;
	}
	return bpf_map_update_elem(kb->verdicts_fd, &fd, &value, BPF_ANY) == 0 ? 0 : -1;
}

int kcache_bpf_record(struct kcache_bpf *kb, int fd, enum gk_verdict verdict)
{
	uint64_t now = kb ? __atomic_load_n(&kb->skel->bss->gk_epoch, __ATOMIC_SEQ_CST) : 0;
	return kcache_bpf_record_judged(kb, fd, verdict, NULL, 0, now);
}

/* A pending hold survives: it guards an ignore mark that may still stand
 * (the caller may drop the mark only after this), and releases itself. */
int kcache_bpf_forget(struct kcache_bpf *kb, int fd)
{
	struct gk_inode_verdict value;

	if (!kb) {
		errno = EINVAL;
		return -1;
	}
	if (bpf_map_lookup_elem(kb->verdicts_fd, &fd, &value) != 0)
		return errno == ENOENT ? 0 : -1;
	if (value.hold) {
		value.verdict = 0;
		value.stale = 1;
		return bpf_map_update_elem(kb->verdicts_fd, &fd, &value, BPF_EXIST) == 0 ? 0 : -1;
	}
	if (bpf_map_delete_elem(kb->verdicts_fd, &fd) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

void kcache_bpf_set_fileless(struct kcache_bpf *kb, bool deny)
{
	if (kb)
		__atomic_store_n(&kb->skel->bss->gk_fileless_deny, deny ? 1u : 0u, __ATOMIC_SEQ_CST);
}

void kcache_bpf_set_write_guard(struct kcache_bpf *kb, bool on)
{
	if (kb)
		__atomic_store_n(&kb->skel->bss->gk_write_guard, on ? 1u : 0u, __ATOMIC_SEQ_CST);
}

/* The anchor: this process opens "/" while the programs watch for it. */
static bool take_anchor(struct kcache_bpf *kb)
{
	struct gatekeeper_bpf__bss *bss = kb->skel->bss;

	if (__atomic_load_n(&bss->gk_anchor_sb, __ATOMIC_SEQ_CST))
		return true;
	__atomic_store_n(&bss->gk_daemon_tgid, (__u32)getpid(), __ATOMIC_SEQ_CST);
	__atomic_store_n(&bss->gk_anchor_request, 1u, __ATOMIC_SEQ_CST);
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	__atomic_store_n(&bss->gk_anchor_request, 0u, __ATOMIC_SEQ_CST);
	if (fd >= 0)
		close(fd);
	return __atomic_load_n(&bss->gk_anchor_sb, __ATOMIC_SEQ_CST) != 0;
}

bool kcache_bpf_set_unmarked(struct kcache_bpf *kb, bool deny)
{
	if (!kb || (deny && !take_anchor(kb)))
		return false;
	__atomic_store_n(&kb->skel->bss->gk_unmarked_deny, deny ? 1u : 0u, __ATOMIC_SEQ_CST);
	return true;
}

void kcache_bpf_bump_epoch(struct kcache_bpf *kb)
{
	if (kb)
		__atomic_fetch_add(&kb->skel->bss->gk_epoch, 1, __ATOMIC_SEQ_CST);
}

void kcache_bpf_marks_dropped(struct kcache_bpf *kb)
{
	if (kb)
		__atomic_fetch_add(&kb->skel->bss->gk_hold_gen, 1, __ATOMIC_SEQ_CST);
}

void kcache_bpf_set_epoch(struct kcache_bpf *kb, uint64_t epoch)
{
	if (!kb)
		return;
	__u64 old = __atomic_load_n(&kb->skel->bss->gk_epoch, __ATOMIC_SEQ_CST);
	while (old < epoch && !__atomic_compare_exchange_n(&kb->skel->bss->gk_epoch, &old, epoch,
							   false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

int kcache_bpf_ringbuf_fd(struct kcache_bpf *kb)
{
	return kb ? ring_buffer__epoll_fd(kb->rb) : -1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct kcache_bpf *kb = ctx;
	const struct gk_event *rec = data;
	struct kcache_bpf_event ev = { 0 };

	if (size < sizeof(*rec) || !kb->fn)
		return 0;
	ev.kind = rec->kind == GK_EV_DENY ? KCACHE_BPF_DENY : KCACHE_BPF_INVALIDATE;
	ev.route = rec->route;
	ev.pid = rec->pid;
	ev.dev = makedev((unsigned)(rec->dev >> 20), (unsigned)(rec->dev & 0xfffff));
	ev.ino = rec->ino;
	memcpy(ev.comm, rec->comm, sizeof(ev.comm));
	ev.comm[sizeof(ev.comm) - 1] = '\0';
	ev.had_allow = rec->flags & GK_EVF_HAD_ALLOW;
	ev.via_mmap = rec->flags & GK_EVF_VIA_MMAP;
	ev.hold = rec->flags & GK_EVF_HOLD;
	kb->fn(kb->ctx, &ev);
	return 0;
}

static uint64_t counter_sum(struct kcache_bpf *kb, enum gk_counter slot)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t sum = 0, *per_cpu;
	__u32 key = slot;

	if (ncpu <= 0 || ncpu > 4096)
		return 0;
	per_cpu = calloc((size_t)ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return 0;
	if (bpf_map_lookup_elem(bpf_map__fd(kb->skel->maps.gk_counters), &key, per_cpu) == 0)
		for (int i = 0; i < ncpu; i++)
			sum += per_cpu[i];
	free(per_cpu);
	return sum;
}

void kcache_bpf_drain(struct kcache_bpf *kb, void (*fn)(void *ctx, const struct kcache_bpf_event *ev),
		      void *ctx)
{
	uint64_t drops;

	if (!kb)
		return;
	kb->fn = fn;
	kb->ctx = ctx;
	ring_buffer__consume(kb->rb);
	/* Lost records may have named inodes whose ignore marks must go: tell
	 * the caller as one invalidation of unknown inodes, so it drops them all. */
	drops = counter_sum(kb, GK_CNT_RINGBUF_DROP);
	if (drops != kb->drops_seen && fn) {
		struct kcache_bpf_event lost = { .kind = KCACHE_BPF_INVALIDATE, .had_allow = true,
						 .via_mmap = true, .hold = true, .lost = true };
		kb->drops_seen = drops;
		fn(ctx, &lost);
	}
	kb->fn = NULL;
	kb->ctx = NULL;
}

void kcache_bpf_counters(struct kcache_bpf *kb, struct kcache_bpf_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (!kb)
		return;
	out->allows = counter_sum(kb, GK_CNT_ALLOW);
	out->denies = counter_sum(kb, GK_CNT_DENY);
	out->invalidations = counter_sum(kb, GK_CNT_INVALIDATE);
	out->hold_refusals = counter_sum(kb, GK_CNT_HOLD_REFUSED);
	out->ringbuf_drops = counter_sum(kb, GK_CNT_RINGBUF_DROP);
}
