// SPDX-License-Identifier: GPL-2.0
/* gatekeeper's kernel fast path (BPF LSM). Verdicts sit in inode storage,
 * written by gatekeeperd; these hooks answer exec and PROT_EXEC mappings from
 * them, and make them stale on every route that can change a file.
 * Default-allow: an inode without a fresh verdict is never denied here, so
 * loading these programs cannot lock a host out. The programs belong to the
 * process that loaded them and vanish with it. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/gatekeeper.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1
#define ETXTBSY 26

#define GK_FMODE_WRITE 0x2
#define GK_FMODE_EXEC 0x20
#define GK_O_FMODE_EXEC 0x20     /* __FMODE_EXEC in f_flags (open_exec) */
#define GK_MAY_WRITE 0x2
#define GK_MAY_APPEND 0x8
#define GK_PROT_WRITE 0x2
#define GK_PROT_EXEC 0x4
#define GK_MAP_TYPE 0x0f
#define GK_MAP_SHARED 0x01
#define GK_MAP_SHARED_VALIDATE 0x03
#define GK_VM_SHARED 0x8
#define GK_FS_OPEN_EXEC_PERM 0x00040000
#define GK_S_IFMT 00170000
#define GK_S_IFREG 0100000
#define GK_S_IFDIR 0040000
#define GK_MAX_MARKS 16

/* Bumped by userspace (through the skeleton's .bss) to make every stored
 * verdict stale at once, e.g. on a rule change. */
__u64 gk_epoch = 0;

/* Moved by userspace once it has dropped all its ignore marks: the holds
 * set before then guarded marks that are gone. */
__u64 gk_hold_gen = 0;

/* Set by userspace when gk_file_release is attached: gk_file_free then has
 * nothing to do (the release came first and did it). */
__u32 gk_release_hooked = 0;

/* Set by userspace under `fileless: deny` in enforce mode: refuse the exec
 * of a file that no name links to (a memfd, an O_TMPFILE file, a deleted
 * file), which fanotify cannot see (the memfd superblock takes no mark).
 * Only the exec: PROT_EXEC mappings of a memfd stay allowed (JIT runtimes
 * double-map memfds), and so does everything while this is 0. */
__u32 gk_fileless_deny = 0;

/* Set by userspace under `unmarked_filesystems: deny` (enforce, watch: [/]):
 * refuse to run a named regular file from a filesystem whose superblock no
 * group watches for exec permission. The daemon marks every filesystem of
 * its mount namespace; what is left is another namespace's (a container's,
 * a user's own tmpfs) or one mounted a moment ago. Fileless files (no name)
 * are `gk_fileless_deny`'s. */
__u32 gk_unmarked_deny = 0;

/* The superblock of the daemon's root directory: userspace sets
 * gk_anchor_request and the daemon (gk_daemon_tgid) opens "/". While the
 * daemon runs in enforce its permission group marks that filesystem; when
 * the group is gone (the daemon stopped or died, before its programs are
 * detached) the anchor shows it and unmarked_filesystems refuses nothing:
 * no mark anywhere is then no reason to refuse. */
__u32 gk_daemon_tgid = 0;
__u32 gk_anchor_request = 0;
__u64 gk_anchor_sb = 0;

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct gk_inode_verdict);
} gk_verdicts SEC(".maps");

/* Open files that carry (or carried) a shared writable mapping, by struct
 * file address: writes through such a mapping raise no hook, so only their
 * release ends what they may have changed. A plain writer's writes are
 * caught as they happen (file_permission), so its release changes nothing. */
#define GK_SHARED_WRITERS_MAX 65536
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GK_SHARED_WRITERS_MAX);
	__type(key, __u64);
	__type(value, __u8);
} gk_shared_writers SEC(".maps");

/* Set when gk_shared_writers was full: from then on every writer's release
 * is treated as if it had been mapped (never allow on a guess). */
__u64 gk_shared_writers_lost = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GK_RINGBUF_BYTES);
} gk_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GK_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} gk_counters SEC(".maps");

/* inode ctime before 6.6 and between 6.6 and 6.11 (CO-RE flavours). */
struct inode___pre66 {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));
struct inode___pre611 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

static __always_inline void count(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&gk_counters, &slot);

	if (c)
		*c += 1;
}

static __always_inline void emit(__u32 kind, __u32 route, __u32 flags, struct inode *inode)
{
	struct gk_event *ev = bpf_ringbuf_reserve(&gk_events, sizeof(*ev), 0);

	if (!ev) {
		count(GK_CNT_RINGBUF_DROP);
		return;
	}
	ev->kind = kind;
	ev->route = route;
	ev->flags = flags;
	ev->pid = bpf_get_current_pid_tgid() >> 32;
	ev->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ev->ino = BPF_CORE_READ(inode, i_ino);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bpf_ringbuf_submit(ev, 0);
}

#define GK_CTIME_NSEC_MASK 0x7fffffffU

static __always_inline void inode_ctime(struct inode *inode, __s64 *sec, __u32 *nsec)
{
	if (bpf_core_field_exists(inode->i_ctime_sec)) {
		*sec = BPF_CORE_READ(inode, i_ctime_sec);
		/* Linux 6.13 and later keep a flag in the top bit (I_CTIME_QUERIED,
		 * multigrain timestamps: set once anyone read the ctime, fstat
		 * included); the nanoseconds are below it, as statx reports them. */
		*nsec = BPF_CORE_READ(inode, i_ctime_nsec) & GK_CTIME_NSEC_MASK;
	} else if (bpf_core_field_exists(((struct inode___pre611 *)inode)->__i_ctime)) {
		struct inode___pre611 *old = (void *)inode;

		*sec = BPF_CORE_READ(old, __i_ctime.tv_sec);
		*nsec = BPF_CORE_READ(old, __i_ctime.tv_nsec);
	} else {
		struct inode___pre66 *old = (void *)inode;

		*sec = BPF_CORE_READ(old, i_ctime.tv_sec);
		*nsec = BPF_CORE_READ(old, i_ctime.tv_nsec);
	}
}

static __always_inline bool is_fresh(struct gk_inode_verdict *v, struct inode *inode)
{
	__s64 sec;
	__u32 nsec;

	if (!v->verdict || v->stale || v->epoch != gk_epoch)
		return false;
	if (!(v->attrs_valid & GK_KV_CHECK_ATTRS))
		return true;
	inode_ctime(inode, &sec, &nsec);
	return sec == v->ctime_sec && nsec == v->ctime_nsec &&
	       (__u64)BPF_CORE_READ(inode, i_size) == v->size;
}

/* Does any fsnotify mark on the inode ignore FAN_OPEN_EXEC_PERM? Such a mark
 * lets an exec through fanotify unjudged. More marks than we walk: assume yes. */
static __always_inline bool has_exec_ignore_mark(struct inode *inode)
{
	struct fsnotify_mark_connector *conn = BPF_CORE_READ(inode, i_fsnotify_marks);
	struct hlist_node *node;
	__u32 off = bpf_core_field_offset(struct fsnotify_mark, obj_list);

	if (!conn)
		return false;
	node = BPF_CORE_READ(conn, list.first);
	for (int i = 0; i < GK_MAX_MARKS; i++) {
		struct fsnotify_mark *mark;

		if (!node)
			return false;
		mark = (void *)((char *)node - off);
		if (BPF_CORE_READ(mark, ignore_mask) & GK_FS_OPEN_EXEC_PERM)
			return true;
		node = BPF_CORE_READ(node, next);
	}
	return true;
}

#include "bpf/write_guard.bpf.h"

/* Make the inode's verdict stale. A route that writes the content (wrote)
 * also sets a hold on an allow, or where an exec ignore mark stands: a
 * write(2) raises FS_MODIFY, which drops the mark and so the hold, but an AIO
 * write (and splice(2) before Linux 6.5) raises none, and the mark would let
 * the new content through fanotify unjudged; so would a mark the daemon adds
 * just after such a write, from its read before it. Routes fanotify cannot
 * see at all (hidden: shared mappings) hold even without an entry, and the
 * daemon drops every mark at once for them. */
static __always_inline void invalidate(struct inode *inode, __u32 route, bool hidden, bool wrote)
{
	struct gk_inode_verdict *v = bpf_inode_storage_get(&gk_verdicts, inode, 0, 0);
	bool was_fresh, hold;
	__u32 flags = 0;

	if (wrote)
		note_write(inode);
	if (!v && !hidden)
		return;
	if (hidden)
		hold = has_exec_ignore_mark(inode);
	else
		hold = wrote && (v->verdict == GK_KV_ALLOW || has_exec_ignore_mark(inode));
	if (!v && hold)
		v = bpf_inode_storage_get(&gk_verdicts, inode, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!v)
		return;
	was_fresh = is_fresh(v, inode);
	if (v->verdict == GK_KV_ALLOW || hold)
		flags |= GK_EVF_HAD_ALLOW;
	if (hidden)
		flags |= GK_EVF_VIA_MMAP;
	if (!v->stale)
		v->stale = 1;
	if (hold) {
		v->hold_gen = gk_hold_gen;
		v->hold_ns = bpf_ktime_get_ns();
		v->hold = 1;
		flags |= GK_EVF_HOLD;
	}
	if (was_fresh)
		count(GK_CNT_INVALIDATE);
	if (was_fresh || (hold && hidden))
		emit(GK_EV_INVALIDATE, route, flags, inode);
}

/* A pending hold refuses the exec while its ignore mark is still present. */
static __always_inline bool hold_refuses(struct gk_inode_verdict *v, struct inode *inode)
{
	if (!v->hold)
		return false;
	if (v->hold_gen == gk_hold_gen && has_exec_ignore_mark(inode))
		return true;
	v->hold = 0;
	return false;
}

static __always_inline int deny(struct inode *inode, __u32 route)
{
	count(GK_CNT_DENY);
	emit(GK_EV_DENY, route, 0, inode);
	return -EPERM;
}

static __always_inline bool exec_perm_marked(struct super_block *sb)
{
	return BPF_CORE_READ(sb, s_fsnotify_mask) & GK_FS_OPEN_EXEC_PERM;
}

static __always_inline bool on_unmarked_fs(struct inode *inode)
{
	struct super_block *anchor = (struct super_block *)gk_anchor_sb;

	if (!gk_unmarked_deny || !anchor || !exec_perm_marked(anchor))
		return false;
	return (BPF_CORE_READ(inode, i_mode) & GK_S_IFMT) == GK_S_IFREG &&
	       BPF_CORE_READ(inode, i_nlink) > 0 && !exec_perm_marked(BPF_CORE_READ(inode, i_sb));
}

/* Only the root directory of a filesystem: another of the daemon's threads
 * may open some directory (/proc/self/fd, its store's) at the same time. */
static __always_inline void note_anchor(struct inode *inode)
{
	struct super_block *sb;

	if (!gk_anchor_request || (bpf_get_current_pid_tgid() >> 32) != gk_daemon_tgid ||
	    (BPF_CORE_READ(inode, i_mode) & GK_S_IFMT) != GK_S_IFDIR)
		return;
	sb = BPF_CORE_READ(inode, i_sb);
	if (BPF_CORE_READ(sb, s_root, d_inode) == inode)
		gk_anchor_sb = (__u64)sb;
}

static __always_inline int check_exec_open(struct inode *inode)
{
	struct gk_inode_verdict *v;

	if (gk_fileless_deny && BPF_CORE_READ(inode, i_nlink) == 0)
		return deny(inode, GK_ROUTE_FILELESS);
	if (on_unmarked_fs(inode))
		return deny(inode, GK_ROUTE_UNMARKED);
	v = bpf_inode_storage_get(&gk_verdicts, inode, 0, 0);
	if (!v)
		return 0;
	if (hold_refuses(v, inode)) {
		count(GK_CNT_HOLD_REFUSED);
		emit(GK_EV_INVALIDATE, GK_ROUTE_HOLD_REFUSED,
		     GK_EVF_HAD_ALLOW | GK_EVF_VIA_MMAP | GK_EVF_HOLD, inode);
		return -ETXTBSY;
	}
	if (!is_fresh(v, inode))
		return 0;
	if (v->verdict == GK_KV_DENY)
		return deny(inode, GK_ROUTE_EXEC);
	count(GK_CNT_ALLOW);
	return 0;
}

static __always_inline int check_exec_map(struct inode *inode)
{
	struct gk_inode_verdict *v = bpf_inode_storage_get(&gk_verdicts, inode, 0, 0);

	if (v && v->verdict == GK_KV_DENY && is_fresh(v, inode))
		return deny(inode, GK_ROUTE_MMAP_EXEC);
	if (on_unmarked_fs(inode))
		return deny(inode, GK_ROUTE_UNMARKED);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(gk_file_open, struct file *file, int ret)
{
	struct inode *inode = file->f_inode;
	unsigned int f_flags = file->f_flags;
	unsigned int f_mode = file->f_mode;

	if (ret || !inode)
		return ret;
	if ((f_flags & GK_O_FMODE_EXEC) || (f_mode & GK_FMODE_EXEC)) {
		note_exec_open(inode);
		return check_exec_open(inode);
	}
	note_anchor(inode);
	if (f_mode & GK_FMODE_WRITE)
		invalidate(inode, GK_ROUTE_OPEN_WRITE, false, false);
	return 0;
}

SEC("lsm/file_permission")
int BPF_PROG(gk_file_permission, struct file *file, int mask, int ret)
{
	struct inode *inode;

	if (ret || !(mask & (GK_MAY_WRITE | GK_MAY_APPEND)))
		return ret;
	inode = file->f_inode;
	/* A dedupe (FIDEDUPERANGE) asks for MAY_WRITE through a read-only
	 * descriptor too, and changes no content: no hold for it. */
	if (inode)
		invalidate(inode, GK_ROUTE_WRITE, false, file->f_mode & GK_FMODE_WRITE);
	return 0;
}

SEC("lsm/path_truncate")
int BPF_PROG(gk_path_truncate, const struct path *path, int ret)
{
	struct inode *inode;

	if (ret)
		return ret;
	inode = path->dentry->d_inode;
	if (inode)
		invalidate(inode, GK_ROUTE_TRUNCATE, false, true);
	return 0;
}

/* ftruncate(2) since 6.2; userspace disables it where the hook is missing. */
SEC("lsm/file_truncate")
int BPF_PROG(gk_file_truncate, struct file *file, int ret)
{
	struct inode *inode;

	if (ret)
		return ret;
	inode = file->f_inode;
	if (inode)
		invalidate(inode, GK_ROUTE_TRUNCATE, false, true);
	return 0;
}

static void note_shared_writer(struct file *file)
{
	__u64 key = (__u64)file;
	__u8 one = 1;

	if (bpf_map_update_elem(&gk_shared_writers, &key, &one, BPF_ANY))
		__sync_fetch_and_add(&gk_shared_writers_lost, 1);
}

SEC("lsm/mmap_file")
int BPF_PROG(gk_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	struct inode *inode;
	unsigned long type = flags & GK_MAP_TYPE;
	unsigned int f_mode;

	if (ret || !file)
		return ret;
	inode = file->f_inode;
	if (!inode)
		return 0;
	f_mode = file->f_mode;
	/* A shared mapping of a writable file can be written (mprotect,
	 * /proc/pid/mem) without a write(2): no FS_MODIFY ever follows. Of a
	 * file not open for writing it never can: the kernel refuses PROT_WRITE
	 * (EACCES, but after this hook) and makes the rest private, so any
	 * reader's attempt must count for nothing. */
	if ((type == GK_MAP_SHARED || type == GK_MAP_SHARED_VALIDATE) && (f_mode & GK_FMODE_WRITE)) {
		invalidate(inode, GK_ROUTE_MMAP_SHARED, true, true);
		note_shared_writer(file);
	}
	if (!(prot & GK_PROT_EXEC))
		return 0;
	/* the ELF interpreter's mapping (load_elf_interp): a file opened to
	 * execute; no other mapping may spend or meet an exec's slot */
	if (((file->f_flags & GK_O_FMODE_EXEC) || (f_mode & GK_FMODE_EXEC)) &&
	    written_since_exec_open(inode))
		return refuse_written(inode);
	return check_exec_map(inode);
}

SEC("lsm/file_mprotect")
int BPF_PROG(gk_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	struct file *file;
	struct inode *inode;

	if (ret)
		return ret;
	file = vma->vm_file;
	if (!file)
		return 0;
	inode = file->f_inode;
	if (!inode)
		return 0;
	if ((vma->vm_flags & GK_VM_SHARED) && (prot & GK_PROT_WRITE)) {
		invalidate(inode, GK_ROUTE_MMAP_SHARED, true, true);
		note_shared_writer(file);
	}
	if (prot & GK_PROT_EXEC)
		return check_exec_map(inode);
	return 0;
}

/* Runs after the kernel refused writers to the exec's file: from here on
 * its content is what runs. A script's interpreter comes here in turn. */
SEC("lsm/bprm_check_security")
int BPF_PROG(gk_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct inode *inode;

	if (ret || !bprm->file)
		return ret;
	inode = bprm->file->f_inode;
	if (inode && written_since_exec_open(inode))
		return refuse_written(inode);
	return 0;
}

/* A file mapped shared-writable before the verdict was recorded may have
 * changed the content through that mapping since: its release ends that.
 * Other writers' releases change nothing (their writes were seen), and must
 * not: a pre-scan verdict recorded while the writer's close was still
 * unwinding would go stale, or be held, for no write at all. */
static __always_inline void writer_released(struct file *file)
{
	struct inode *inode = file->f_inode;
	struct gk_inode_verdict *v;
	__u64 key = (__u64)file;

	if (!inode || !(file->f_mode & GK_FMODE_WRITE))
		return;
	if (bpf_map_lookup_elem(&gk_shared_writers, &key))
		bpf_map_delete_elem(&gk_shared_writers, &key);
	else if (!gk_shared_writers_lost)
		return;
	note_write(inode);
	v = bpf_inode_storage_get(&gk_verdicts, inode, 0, 0);
	if (v && is_fresh(v, inode))
		invalidate(inode, GK_ROUTE_WRITER_CLOSE, true, true);
}

/* Linux 6.8 and later: the release comes before the writer's access is put
 * back (put_file_access), so no exec finds the file free of writers before
 * the verdict is stale; file_free_security comes after it. Userspace leaves
 * this out where the hook is missing. */
SEC("lsm/file_release")
void BPF_PROG(gk_file_release, struct file *file)
{
	writer_released(file);
}

/* Before 6.8 the only hook. From then on the release did it: once
 * gk_shared_writers was full, a second look would make stale, for no write,
 * a verdict recorded since the release (the pre-scan's of this close). */
SEC("lsm/file_free_security")
void BPF_PROG(gk_file_free, struct file *file)
{
	if (!gk_release_hooked)
		writer_released(file);
}
