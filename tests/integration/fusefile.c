/* fusefile: a FUSE filesystem of one program, /prog, whose content is
 * whatever the file BACKING (outside it) holds at each read, with BACKING's
 * size and times (and /prog0 to /prog9, unlisted: the same, as files of
 * their own). As with a network filesystem whose file another machine
 * rewrites, the content changes with no write through the kernel that runs
 * its programs: no FS_MODIFY, no lease break, no BPF write hook.
 *
 *   GK_FUSEFILE_BACKING=BACKING [GK_FUSEFILE_HOLD=FILE] fusefile MOUNTPOINT [fuse options]
 *
 * It may be opened for writing; what is written is dropped. Its mode is
 * 0755, or GK_FUSEFILE_MODE (octal).
 * With GK_FUSEFILE_HOLD, a read waits while FILE exists: a server that
 * stops answering reads (lookups and opens still answer). With
 * GK_FUSEFILE_HOLD_OPEN, an open by one of gatekeeperd's threads (named
 * gk-..., or GK_FUSEFILE_HOLD_OPEN_BY...) waits while FILE exists: a server
 * that serves the exec its own open and stalls the one fanotify makes for
 * the daemon's reader. With GK_FUSEFILE_HOLD_FLUSH, the flush of a close
 * by one of gatekeeperd's threads waits while FILE exists: a server that
 * serves the judging and stalls the daemon's close after its answer. With
 * GK_FUSEFILE_HOLD_LOOKUP, a lookup of any other
 * name waits while FILE exists (then: no such file); with
 * GK_FUSEFILE_HOLD_LOOKUP_PROGS set too, so does one of /prog0 to /prog9
 * (then answered: a mount point there is walked past a stalled lookup). With GK_FUSEFILE_DIRECT_IO set, reads bypass the
 * page cache (each reader's read is a request of its own: several can
 * wait at once; such a file cannot be mapped, so its exec fails after
 * the permission event). With GK_FUSEFILE_BACKING9=FILE, /prog9 serves
 * FILE instead; with GK_FUSEFILE_HOLD_SPARES9 set, its reads and flushes
 * are never held (another server's file, as it were). Runs in
 * the foreground, multi-threaded with any hold, single-threaded otherwise,
 * until unmounted or killed. */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <fuse3/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *backing, *hold, *hold_open, *hold_open_by = "gk-", *hold_flush;
static bool direct_io;
static const char *hold_lookup;
static bool hold_lookup_progs;
static mode_t prog_mode = 0755;
static const char *backing9;
static bool hold_spares9;

/* What path serves: /prog9 may have content of its own. */
static const char *backing_of(const char *path)
{
	return backing9 && !strcmp(path, "/prog9") ? backing9 : backing;
}

/* /prog, and /prog0 to /prog9: the same content, files of their own. */
static bool is_prog(const char *path)
{
	return !strcmp(path, "/prog") ||
	       (!strncmp(path, "/prog", 5) && path[5] >= '0' && path[5] <= '9' && !path[6]);
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	while ((!is_prog(path) || (hold_lookup_progs && path[5])) && hold_lookup &&
	       access(hold_lookup, F_OK) == 0)
		usleep(10000);
	if (!is_prog(path))
		return -ENOENT;
	struct stat b;
	if (stat(backing_of(path), &b) < 0)
		return -errno;
	st->st_mode = S_IFREG | prog_mode;
	st->st_nlink = 1;
	st->st_ino = 2;
	st->st_size = b.st_size;
	st->st_atim = b.st_atim;
	st->st_mtim = b.st_mtim;
	st->st_ctim = b.st_ctim;
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/"))
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "prog", NULL, 0, 0);
	return 0;
}

/* The caller's thread is gatekeeperd's (its threads are named gk-...), or
 * the one GK_FUSEFILE_HOLD_OPEN_BY names. */
static bool by_the_daemon(void)
{
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)fuse_get_context()->pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ours = fgets(comm, sizeof(comm), f) && !strncmp(comm, hold_open_by, strlen(hold_open_by));
	fclose(f);
	return ours;
}

/* Opens for writing are let in (what they write goes nowhere): their close
 * is a close-write on a marked filesystem, which the pre-scan reads. */
static int fs_open(const char *path, struct fuse_file_info *fi)
{
	if (!is_prog(path))
		return -ENOENT;
	fi->keep_cache = 0;   /* each open reads what the server serves now */
	fi->direct_io = direct_io;
	while (hold_open && access(hold_open, F_OK) == 0 && by_the_daemon())
		usleep(10000);
	return 0;
}

/* Every close of a file opened here sends one (a server that has no flush
 * answers ENOSYS once, and the kernel sends none after). */
static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	(void)fi;
	while (hold_flush && !(hold_spares9 && !strcmp(path, "/prog9")) &&
	       access(hold_flush, F_OK) == 0 && by_the_daemon())
		usleep(10000);
	return 0;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)path;
	(void)buf;
	(void)off;
	(void)fi;
	return (int)size;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	while (hold && !(hold_spares9 && !strcmp(path, "/prog9")) && access(hold, F_OK) == 0)
		usleep(10000);
	int fd = open(backing_of(path), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, buf, size, off);
	int err = errno;
	close(fd);
	return n < 0 ? -err : (int)n;
}

static const struct fuse_operations ops = {
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
};

int main(int argc, char **argv)
{
	backing = getenv("GK_FUSEFILE_BACKING");
	if (!backing || argc < 2) {
		fprintf(stderr, "usage: GK_FUSEFILE_BACKING=FILE fusefile MOUNTPOINT [options]\n");
		return 2;
	}
	hold = getenv("GK_FUSEFILE_HOLD");
	hold_open = getenv("GK_FUSEFILE_HOLD_OPEN");
	hold_flush = getenv("GK_FUSEFILE_HOLD_FLUSH");
	direct_io = getenv("GK_FUSEFILE_DIRECT_IO") != NULL;
	hold_lookup = getenv("GK_FUSEFILE_HOLD_LOOKUP");
	hold_lookup_progs = getenv("GK_FUSEFILE_HOLD_LOOKUP_PROGS") != NULL;
	if (getenv("GK_FUSEFILE_HOLD_OPEN_BY"))
		hold_open_by = getenv("GK_FUSEFILE_HOLD_OPEN_BY");
	backing9 = getenv("GK_FUSEFILE_BACKING9");
	hold_spares9 = getenv("GK_FUSEFILE_HOLD_SPARES9") != NULL;
	if (getenv("GK_FUSEFILE_MODE"))
		prog_mode = (mode_t)strtoul(getenv("GK_FUSEFILE_MODE"), NULL, 8) & 07777;
	char *args[64] = { argv[0], "-f", "-s" };
	int n = hold || hold_open || hold_lookup || hold_flush ? 2 : 3;
	for (int i = 1; i < argc && n < 63; i++)
		args[n++] = argv[i];
	return fuse_main(n, args, &ops, NULL);
}
