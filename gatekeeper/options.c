/* gatekeeperd's command line: options, --help, --version. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/proto.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gatekeeperd [OPTIONS]\n\n"
		"Decide, for every program about to run on the watched filesystems, whether\n"
		"it may run. See gatekeeperd(8); gatekeeper-ctl(8) talks to it.\n\noptions:\n"
		"  -p, --policy FILE      the policy (default %s)\n"
		"  -d, --db FILE          verdict store and audit log (default %s)\n"
		"  -s, --socket PATH      control socket (default %s)\n"
		"  -f, --foreground       stay in the foreground, log to stderr (systemd: yes)\n"
		"      --no-kernel-cache  ask the daemon on every exec (no BPF map, no ignore marks)\n"
		"      --no-bpf           never try BPF LSM: fanotify mode even where bpf is possible\n"
		"      --bpf-after-ready  ready in fanotify mode; load the BPF LSM programs after,\n"
		"                         at nice 19, then switch to bpf mode (the unit: boot)\n"
		"  -w, --workers N        threads that judge exec events (1-64, default 4)\n"
		"      --scan-workers N   threads that pre-scan newly written files (1-64, default 2)\n"
		"      --max-pending N    permission events judged or queued at once (1-65536,\n"
		"                         default 4096); past it the policy's overload verdict\n"
		"      --subuid FILE      whose subordinate user ids are, for the workers' turns\n"
		"                         between users (default /etc/subuid)\n"
		"      --scanner PATH     the scanner process's program (default: gatekeeper-scand\n"
		"                         beside gatekeeperd, else ../libexec/gatekeeper/)\n"
		"      --scanner-user NAME  the unprivileged user scans run as (default\n"
		"                         gatekeeper-scan, else nobody; never root)\n"
		"  -h, --help             print this help and exit\n"
		"  -V, --version          print the version and exit\n\n"
		"signals: SIGHUP re-reads the policy and reloads signatures; SIGTERM stops\n"
		"cleanly (queued events answered, audit log flushed).\n"
		"exit status: 0 stopped cleanly, 1 runtime error, 2 invalid policy or usage\n\n"
		"EXAMPLES:\n"
		"  gatekeeperd --foreground                      # as the systemd unit runs it\n"
		"  gatekeeperd -f -p ./policy.yaml --db /tmp/gk.db --socket /tmp/gk.sock\n"
		"  gatekeeperd -f --no-bpf                       # force fanotify mode\n"
		"  gatekeeper-ctl policy check /etc/gatekeeper/policy.yaml && systemctl reload gatekeeperd\n",
		GK_DEFAULT_POLICY, GK_DEFAULT_DB, GK_DEFAULT_SOCKET);
}

int gk_options_parse(int argc, char **argv, struct gk_options *o)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' }, { "db", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' }, { "foreground", no_argument, NULL, 'f' },
		{ "no-kernel-cache", no_argument, NULL, 'K' }, { "no-bpf", no_argument, NULL, 'B' },
		{ "bpf-after-ready", no_argument, NULL, 'L' },
		{ "workers", required_argument, NULL, 'w' }, { "scan-workers", required_argument, NULL, 'S' },
		{ "max-pending", required_argument, NULL, 'P' }, { "subuid", required_argument, NULL, 'I' },
		{ "scanner", required_argument, NULL, 'C' }, { "scanner-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
		{ 0 } };
	*o = (struct gk_options){ .policy_path = GK_DEFAULT_POLICY, .db_path = GK_DEFAULT_DB,
				  .socket_path = GK_DEFAULT_SOCKET, .kernel_cache = true,
				  .try_bpf = true, .workers = 4, .scan_workers = 2,
				  .max_pending = 4096, .subuid_path = "/etc/subuid" };
	int c;
	while ((c = getopt_long(argc, argv, "p:d:s:fw:hV", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'p': o->policy_path = optarg; break;
		case 'd': o->db_path = optarg; break;
		case 's': o->socket_path = optarg; break;
		case 'f': o->foreground = true; break;
		case 'K': o->kernel_cache = false; break;
		case 'B': o->try_bpf = false; break;
		case 'L': o->bpf_after_ready = true; break;
		case 'C': o->scanner_path = optarg; break;
		case 'U': o->scanner_user = optarg; break;
		case 'I': o->subuid_path = optarg; break;
		case 'w':
		case 'S': {
			errno = 0;
			unsigned long n = strtoul(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 64) {
				fprintf(stderr, "gatekeeperd: --%s: '%s' is not a number from 1 to 64\n",
					c == 'w' ? "workers" : "scan-workers", optarg);
				return -1;
			}
			*(c == 'w' ? &o->workers : &o->scan_workers) = (unsigned)n;
			break;
		}
		case 'P': {
			errno = 0;
			unsigned long n = strtoul(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 65536) {
				fprintf(stderr, "gatekeeperd: --max-pending: '%s' is not a number from 1 to 65536\n",
					optarg);
				return -1;
			}
			o->max_pending = (unsigned)n;
			break;
		}
		case 'h': usage(stdout); exit(0);
		case 'V': printf("gatekeeperd %s\n", GK_VERSION); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "gatekeeperd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}
