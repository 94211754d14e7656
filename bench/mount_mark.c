/* mount_mark: time from a mount(2) to gatekeeperd's mark on it.
 *
 *   mount_mark DAEMON_PID DIR ROUNDS
 *
 * Each round mounts a fresh tmpfs on DIR/mN (DIR under the daemon's watch)
 * and polls the daemon's fanotify groups (/proc/PID/fdinfo: a filesystem
 * mark shows as "fanotify sdev:HEX") until every group that marks the
 * filesystem holding DIR marks the new one too, then unmounts it. Prints
 * one JSON object: the rounds and the median, p90 and max in microseconds. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define MAX_GROUPS 8

static int groups[MAX_GROUPS], n_groups;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* How many of the daemon's fanotify groups carry a mark on the superblock dev? */
static int groups_marking(int pid, dev_t dev)
{
	char want[64], path[64], line[512];
	int n = 0;
	snprintf(want, sizeof(want), "fanotify sdev:%x ",
		 (unsigned)((major(dev) << 20) | minor(dev)));
	for (int i = 0; i < n_groups; i++) {
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, groups[i]);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, want, strlen(want))) {
				n++;
				break;
			}
		fclose(f);
	}
	return n;
}

static int find_groups(int pid)
{
	char dir[64], link[128], target[128];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) && n_groups < MAX_GROUPS) {
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (!strcmp(target, "anon_inode:[fanotify]"))
			groups[n_groups++] = atoi(e->d_name);
	}
	closedir(d);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: mount_mark DAEMON_PID DIR ROUNDS\n");
		return 2;
	}
	int pid = atoi(argv[1]), rounds = atoi(argv[3]);
	struct stat st;
	if (rounds < 1 || find_groups(pid) < 0 || stat(argv[2], &st) < 0) {
		fprintf(stderr, "mount_mark: bad daemon pid or dir: %s\n", strerror(errno));
		return 1;
	}
	int want = groups_marking(pid, st.st_dev);   /* the groups that mark DIR's filesystem */
	if (want < 1) {
		fprintf(stderr, "mount_mark: no group of pid %d marks %s\n", pid, argv[2]);
		return 1;
	}
	double *us = calloc((size_t)rounds, sizeof(double));
	for (int r = 0; r < rounds; r++) {
		char mp[4096];
		snprintf(mp, sizeof(mp), "%s/m%d", argv[2], r);
		if (mkdir(mp, 0755) < 0 && errno != EEXIST)
			return 1;
		double t0 = now_us();
		if (mount("gk-bench-mark", mp, "tmpfs", 0, "size=1m") < 0 || stat(mp, &st) < 0) {
			fprintf(stderr, "mount_mark: mount %s: %s\n", mp, strerror(errno));
			return 1;
		}
		while (groups_marking(pid, st.st_dev) < want) {
			if (now_us() - t0 > 5e6) {
				fprintf(stderr, "mount_mark: %s not marked within 5 s\n", mp);
				umount(mp);
				return 1;
			}
			usleep(20);   /* leave the CPU to the daemon: this machine may have few */
		}
		us[r] = now_us() - t0;
		umount(mp);
		rmdir(mp);
		usleep(20000);
	}
	qsort(us, (size_t)rounds, sizeof(double), cmp);
	printf("{\"rounds\": %d, \"groups\": %d, \"median_us\": %.1f, \"p90_us\": %.1f, \"max_us\": %.1f}\n",
	       rounds, want, us[rounds / 2], us[(rounds * 9) / 10 < rounds ? (rounds * 9) / 10 : rounds - 1],
	       us[rounds - 1]);
	free(us);
	return 0;
}
