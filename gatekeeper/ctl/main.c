/* gatekeeper-ctl: control a running gatekeeperd. See gatekeeper-ctl(8).
 * The verbs live one per file; this one reads the global options and
 * dispatches from the table below, which is also the --help text. */
#include <getopt.h>
#include <string.h>

#include "gatekeeper/ctl/ctl.h"

struct verb {
	const char *name;
	int (*run)(const struct ctl *c, int argc, char **argv);
	const char *synopsis, *help;
};

static const struct verb verbs[] = {
	{ "status", verb_simple, "status", "mode, kernel mode, watched filesystems, counters, latency" },
	{ "query", verb_simple, "query PATH", "the verdict for PATH and why (it need not have run)" },
	{ "allow", verb_simple, "allow PATH", "admin rule: always allow this content (by SHA-256)" },
	{ "deny", verb_simple, "deny PATH", "admin rule: always deny this content (by SHA-256)" },
	{ "forget", verb_simple, "forget PATH", "drop the admin rule for this content" },
	{ "policy", verb_policy, "policy check FILE", "validate a policy file here, without the daemon" },
	{ "policy", verb_policy, "policy apply FILE", "make FILE the running policy (all or nothing)" },
	{ "policy", verb_policy, "policy show", "print the running policy (stdout: the YAML exactly)" },
	{ "policy", verb_policy, "policy suggest [OPTIONS]", "the policy plus allow rules for monitor mode's would-denies" },
	{ "log", verb_log, "log [OPTIONS]", "the audit log, newest last" },
	{ "top", verb_top, "top [OPTIONS]", "live decisions by program and directory (keys sort, q quits)" },
	{ "metrics", verb_metrics, "metrics", "counters and latency histogram, Prometheus text format" },
};

/* The options of the verbs that have some, one line each. */
static const char *const verb_options[][2] = {
	{ "policy suggest --since TIME", "only would-denies since TIME" },
	{ "policy suggest --by sha256|path", "one rule per content (default) or per path" },
	{ "log --since TIME", "from TIME: ISO 8601 UTC, @EPOCH, now, 10m, 2h ago, 7d" },
	{ "log --until TIME", "up to TIME" },
	{ "log --verdict allow|deny|would-deny", "only decisions with that outcome" },
	{ "log --path GLOB", "only paths matching GLOB ('*' also matches '/')" },
	{ "log --json", "one JSON object per decision" },
	{ "log -f, --follow", "then follow live (without --since: from the last 10)" },
	{ "top -d, --delay SECONDS", "refresh every SECONDS (default 1)" },
	{ "top -b, --batch", "plain snapshots, no terminal control (for scripts)" },
	{ "top -n, --iterations N", "stop after N snapshots" },
	{ "top --sort COLUMN", "execs, kernel, daemon, deny, would-deny, p99, scan or name" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: gatekeeper-ctl [OPTIONS] COMMAND [ARGS]\n\noptions:\n"
		"  -s, --socket PATH   the daemon's control socket (default %s)\n"
		"  -j, --json          print replies as JSON objects\n"
		"  -h, --help          print this help and exit\n"
		"  -V, --version       print the version and exit\n\ncommands:\n",
		GK_DEFAULT_SOCKET);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %-26s %s\n", verbs[i].synopsis, verbs[i].help);
	fputs("\ncommand options:\n", out);
	for (size_t i = 0; i < sizeof(verb_options) / sizeof(verb_options[0]); i++)
		fprintf(out, "  %-38s %s\n", verb_options[i][0], verb_options[i][1]);
	fputs("\nexit status: 0 ok, 1 refused or not found, 2 usage or invalid input,\n"
	      "3 gatekeeperd unreachable\n\n"
	      "EXAMPLES:\n"
	      "  gatekeeper-ctl status                    # is it running, in which mode\n"
	      "  gatekeeper-ctl query /usr/bin/curl       # would it run, and why\n"
	      "  gatekeeper-ctl deny ./dropper            # deny this content everywhere\n"
	      "  gatekeeper-ctl policy check new.yaml && gatekeeper-ctl policy apply new.yaml\n"
	      "  gatekeeper-ctl --json status | jq .denies\n"
	      "  gatekeeper-ctl log --since '1h ago' --verdict deny   # what was denied\n"
	      "  gatekeeper-ctl log -f --path '/home/*'              # watch decisions live\n"
	      "  gatekeeper-ctl top -d 2 --sort deny                 # who is being denied now\n"
	      "  gatekeeper-ctl top -b -n 3 > snapshots.txt          # three plain snapshots\n"
	      "  gatekeeper-ctl metrics | promtool check metrics\n"
	      "  gatekeeper-ctl policy suggest --since 7d > p.yaml && gatekeeper-ctl policy check p.yaml\n", out);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { 0 } };
	struct ctl c = { .socket_path = GK_DEFAULT_SOCKET };
	int opt;
	while ((opt = getopt_long(argc, argv, "+s:jhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': c.socket_path = optarg; break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("gatekeeper-ctl %s\n", GK_VERSION); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[0], verbs[i].name)) {
			/* verbs parse their own options from argv[0] on */
			optind = 0;
			return verbs[i].run(&c, argc, argv);
		}
	fprintf(stderr, "gatekeeper-ctl: unknown command '%s' (gatekeeper-ctl --help lists them)\n", argv[0]);
	return EXIT_USAGE;
}
