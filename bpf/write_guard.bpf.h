/* Included by bpf/gatekeeper.bpf.c only (after count and emit): the
 * exec-write guard's switch, maps and checks. */
#ifndef GK_BPF_WRITE_GUARD_BPF_H
#define GK_BPF_WRITE_GUARD_BPF_H

/* The exec-write guard (gk_write_guard, enforce mode). The kernel refuses
 * writers to a program it executes (deny_write_access) only after the exec's
 * fanotify permission event is answered: a writer that opens, writes and
 * closes in between would run content nobody judged. So an exec's open
 * stamps the time in its task (gk_exec_opens); every content write stamps its
 * inode (gk_written; only inodes some exec opened carry one); and
 * bprm_check_security, which runs once writers are refused, fails the exec
 * with ETXTBSY, as if that writer still had it open, if its file was written
 * since its own open. The ELF interpreter gets no bprm_check: its PROT_EXEC
 * mapping, after its writers are refused too, is checked instead. The stamp
 * comes before any judgement of the open, from the map or from fanotify, so
 * it guards both. */
__u32 gk_write_guard = 0;

/* Several exec opens can precede one check: overlayfs opens the file beneath
 * (__FMODE_EXEC kept) right after the overlay's own. One slot per inode. */
#define GK_EXEC_OPENS 4
struct gk_exec_opens {
	__u64 inode[GK_EXEC_OPENS];     /* a struct inode the task opened to execute */
	__u64 open_ns[GK_EXEC_OPENS];   /* bpf_ktime_get_ns() at that open */
	__u32 next;                     /* the slot a new inode takes */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct gk_exec_opens);
} gk_exec_opens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);   /* bpf_ktime_get_ns() of the last content write */
} gk_written SEC(".maps");

/* Only where an exec made room for it: a write to any other file costs a
 * lookup and allocates nothing. */
static __always_inline void note_write(struct inode *inode)
{
	__u64 *written;

	if (!gk_write_guard)
		return;
	written = bpf_inode_storage_get(&gk_written, inode, 0, 0);
	if (written)
		*written = bpf_ktime_get_ns();
}

/* Room first, then the time: a write that missed the room came before it.
 * A create loses to another CPU's create of the same room: look again. */
static __always_inline void note_exec_open(struct inode *inode)
{
	struct gk_exec_opens *opens;
	__u64 *written, now;
	__u32 slot;

	if (!gk_write_guard)
		return;
	written = bpf_inode_storage_get(&gk_written, inode, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!written)
		written = bpf_inode_storage_get(&gk_written, inode, 0, 0);
	opens = bpf_task_storage_get(&gk_exec_opens, bpf_get_current_task_btf(), 0,
				     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!written || !opens)
		return;
	for (__u32 i = 0; i < GK_EXEC_OPENS; i++)
		if (opens->inode[i] == (__u64)inode)
			opens->inode[i] = 0;
	slot = opens->next & (GK_EXEC_OPENS - 1);
	opens->next = slot + 1;
	now = bpf_ktime_get_ns();
	opens->inode[slot] = (__u64)inode;
	opens->open_ns[slot] = now;
	/* Before 6.8 a shared-writable mapping's release stamps only after its
	 * writer is gone (file_free_security): a live one whose file counts as
	 * a writer (not a memfd's) counts as written now. */
	if (!gk_release_hooked && BPF_CORE_READ(inode, i_mapping, i_mmap_writable.counter) > 0 &&
	    BPF_CORE_READ(inode, i_writecount.counter) > 0)
		*written = now;
}

/* Was the file written since this task opened it to execute? Past the
 * kernel's refusal of its writers, that is the question; the slot is spent. */
static __always_inline bool written_since_exec_open(struct inode *inode)
{
	struct gk_exec_opens *opens;
	__u64 *written, open_ns = 0;
	bool opened = false;

	if (!gk_write_guard)
		return false;
	opens = bpf_task_storage_get(&gk_exec_opens, bpf_get_current_task_btf(), 0, 0);
	if (!opens)
		return false;
	for (__u32 i = 0; i < GK_EXEC_OPENS; i++) {
		if (opens->inode[i] != (__u64)inode)
			continue;
		opened = true;
		open_ns = opens->open_ns[i];
		opens->inode[i] = 0;
	}
	if (!opened)
		return false;
	written = bpf_inode_storage_get(&gk_written, inode, 0, 0);
	return written && *written >= open_ns;
}

static __always_inline int refuse_written(struct inode *inode)
{
	count(GK_CNT_DENY);
	emit(GK_EV_DENY, GK_ROUTE_WRITTEN, 0, inode);
	return -ETXTBSY;
}

#endif
