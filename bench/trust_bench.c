/* trust_bench: the trust index's own costs, outside any daemon.
 *
 *   trust_bench gen ADMINDIR NPATHS   write a synthetic dpkg database
 *   trust_bench index ADMINDIR DB     open the index (cold when DB is new,
 *                                     warm otherwise); prints JSON
 *   trust_bench exec PATH...          posix_spawn+waitpid each PATH once;
 *                                     prints the microseconds, JSON list
 *
 * The synthetic database looks like Debian's: ~170 listed paths per
 * package (a quarter of them directories), an md5sums line per file, a
 * status stanza per package, a few Multi-Arch: same packages. */
#include <errno.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/trust.h"

#define PATHS_PER_PKG 176

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static FILE *open_in(const char *dir, const char *name, const char *mode)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, mode);
	if (!f) {
		fprintf(stderr, "trust_bench: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return f;
}

static void gen_package(const char *admin, unsigned p, FILE *status)
{
	char stem[64], name[80];
	bool multiarch = p % 10 == 0;
	FILE *list, *sums;

	snprintf(stem, sizeof(stem), multiarch ? "libsynth%u:amd64" : "synth%u", p);
	snprintf(name, sizeof(name), "info/%s.list", stem);
	list = open_in(admin, name, "w");
	snprintf(name, sizeof(name), "info/%s.md5sums", stem);
	sums = open_in(admin, name, "w");
	fprintf(list, "/.\n/usr\n/usr/share\n/usr/share/synth%u\n", p);
	for (unsigned i = 4; i < PATHS_PER_PKG; i++) {
		if (i % 4 == 0) {
			fprintf(list, "/usr/share/synth%u/d%u\n", p, i);
			continue;
		}
		fprintf(list, "/usr/share/synth%u/d%u/file%u\n", p, i - i % 4, i);
		fprintf(sums, "%08x%08x%08x%08x  usr/share/synth%u/d%u/file%u\n", p, i, p ^ i,
			p * i, p, i - i % 4, i);
	}
	fclose(list);
	fclose(sums);
	fprintf(status, "Package: %s%u\nStatus: install ok installed\nPriority: optional\n"
		"Architecture: amd64\n%sVersion: 1.%u-1\nDescription: synthetic\n continued\n\n",
		multiarch ? "libsynth" : "synth", p, multiarch ? "Multi-Arch: same\n" : "", p);
}

static int gen(const char *admin, unsigned long npaths)
{
	char info[4096];
	unsigned npkgs = (unsigned)((npaths + PATHS_PER_PKG - 1) / PATHS_PER_PKG);
	FILE *status;

	snprintf(info, sizeof(info), "%s/info", admin);
	if ((mkdir(admin, 0755) && errno != EEXIST) || (mkdir(info, 0755) && errno != EEXIST)) {
		perror("trust_bench: mkdir");
		return 1;
	}
	status = open_in(admin, "status", "w");
	for (unsigned p = 0; p < npkgs; p++)
		gen_package(admin, p, status);
	fclose(status);
	printf("{\"packages\": %u, \"listed_paths\": %lu}\n", npkgs,
	       (unsigned long)npkgs * (PATHS_PER_PKG - 1));
	return 0;
}

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static int index_db(const char *admin, const char *db)
{
	char yaml[8192], err[512];
	struct gk_policy_errors errs;
	struct gk_policy *p;
	struct trust *t;
	double t0;
	long rss0 = rss_kb();

	snprintf(yaml, sizeof(yaml), "mode: monitor\nwatch: [/tmp]\ndefault: allow\n"
		 "trust: [{dpkg: {admindir: %s}}]\n", admin);
	p = policy_parse("bench", yaml, strlen(yaml), &errs);
	if (!p) {
		fprintf(stderr, "trust_bench: %s\n", errs.msg[0]);
		return 1;
	}
	t0 = now_ms();
	struct gk_db *store = db_open(db, err, sizeof(err));
	t = store ? trust_open(p, store, err, sizeof(err)) : NULL;
	if (!t) {
		fprintf(stderr, "trust_bench: %s\n", err);
		return 1;
	}
	printf("{\"open_ms\": %.1f, \"rss_delta_kb\": %ld}\n", now_ms() - t0, rss_kb() - rss0);
	trust_close(t);
	db_close(store);
	policy_free(p);
	return 0;
}

extern char **environ;

static int exec_each(int n, char **paths)
{
	printf("[");
	for (int i = 0; i < n; i++) {
		char *argv[] = {paths[i], NULL};
		double t0 = now_ms();
		pid_t pid;
		int status = -1;

		if (posix_spawn(&pid, paths[i], NULL, NULL, argv, environ) != 0 ||
		    waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "trust_bench: %s did not run (status %d)\n", paths[i], status);
			return 1;
		}
		printf("%s%.0f", i ? ", " : "", (now_ms() - t0) * 1000);
	}
	printf("]\n");
	return 0;
}

int main(int argc, char **argv)
{
	log_init(true);
	if (argc == 4 && !strcmp(argv[1], "gen"))
		return gen(argv[2], strtoul(argv[3], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "index"))
		return index_db(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "exec"))
		return exec_each(argc - 2, argv + 2);
	fprintf(stderr, "usage: trust_bench gen ADMINDIR NPATHS | index ADMINDIR DB | exec PATH...\n");
	return 2;
}
