/* Decisions as structured journal entries, so that
 * `journalctl -u gatekeeperd GK_VERDICT=deny` finds them. The journal is used
 * only when our stderr is the journal's stream (JOURNAL_STREAM names its
 * device and inode, see sd_journal_send(3)): elsewhere the plain line stays. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include "gatekeeper/gatekeeperd.h"
#include "gatekeeper/systemd.h"

/* Global: whether stderr is the journal is a fact of the process, learnt
 * once (pthread_once) and read by every logging thread. */
static bool active;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void detect(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
		active = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool journal_active(void)
{
	pthread_once(&once, detect);
	return active;
}

bool journal_decision(const char *kind, const struct db_audit *a, const char *sha_hex,
		      bool warn, const char *message)
{
	if (!journal_active())
		return false;
	int rc = sd_journal_send("MESSAGE=%s", message, "PRIORITY=%d", warn ? LOG_WARNING : LOG_INFO,
				 "SYSLOG_IDENTIFIER=gatekeeperd", "GK_KIND=%s", kind,
				 "GK_VERDICT=%s", gk_verdict_name(a->verdict),
				 "GK_SOURCE=%s", gk_source_name(a->source), "GK_PATH=%s", a->path ? a->path : "",
				 "GK_SHA256=%s", sha_hex && sha_hex[0] ? sha_hex : "-", "GK_PID=%d", (int)a->pid,
				 "GK_EXE=%s", a->exe ? a->exe : "", "GK_LATENCY_US=%u", a->latency_us,
				 "GK_MODE=%s", gk_mode_name(a->mode), "GK_WOULD_DENY=%d", a->would_deny ? 1 : 0,
				 "GK_DETAIL=%s", a->detail ? a->detail : "", NULL);
	/* The journal refused: the line still goes out on stderr. */
	return rc >= 0;
}
