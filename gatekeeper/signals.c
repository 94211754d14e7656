/* The daemon's signals, taken by the main loop from a signalfd, and what
 * each one asks for.
 *
 * A stop or a reload is an operator's request: a signal some process sent
 * (kill, tgkill, sigqueue; systemctl stop and reload use kill), or SIGINT
 * from the terminal (the kernel sends the interrupt key's as SI_KERNEL).
 * The kernel itself also sends any signal a descriptor's owner chose with
 * F_SETSIG when I/O is possible or a lease breaks (si_code POLL_*): such a
 * SIGTERM is no request and must not end enforcement with exit 0, which
 * Restart=on-failure would take for a wanted stop. It is logged once and
 * ignored. The lease signal itself comes that way, with the lease's fd. */
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>

#include "gatekeeper/gatekeeperd.h"

/* Before any thread exists, so that every thread inherits the mask. The
 * main loop takes the daemon's signals from a signalfd; the reader's kick
 * is blocked everywhere but in the reader (reader.c). */
int gk_signal_fd(void)
{
	sigset_t set, kick;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM), sigaddset(&set, SIGINT), sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, KCACHE_LEASE_SIGNAL), sigaddset(&set, SIGIO);
	kick = set;
	sigaddset(&kick, READER_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static bool sent_by_a_process(const struct signalfd_siginfo *si)
{
	int code = si->ssi_code;
	return code == SI_USER || code == SI_TKILL || code == SI_QUEUE ||
	       (si->ssi_signo == SIGINT && code == SI_KERNEL);
}

enum gk_signal_action gk_signal_action(const struct signalfd_siginfo *si)
{
	static bool said;   /* the main loop's thread only */
	int signo = (int)si->ssi_signo;
	if (signo == KCACHE_LEASE_SIGNAL)
		/* a lease break names its fd; one sent by a process does not */
		return si->ssi_code >= POLL_IN && si->ssi_code <= POLL_HUP ? GK_SIGNAL_LEASE_BROKEN : GK_SIGNAL_LEASES_CHECK;
	if (signo == SIGIO)
		/* the kernel's queue of them overflowed, or a break of the digest
		 * store's brief lease (digests.c), which names no signal */
		return GK_SIGNAL_LEASES_CHECK;
	if (signo != SIGTERM && signo != SIGINT && signo != SIGHUP)
		return GK_SIGNAL_NONE;           /* SIGPIPE: EPIPE says it */
	if (sent_by_a_process(si))
		return signo == SIGHUP ? GK_SIGNAL_RELOAD : GK_SIGNAL_STOP;
	if (!said) {
		const char *name = sigabbrev_np(signo);
		log_msg(GK_LOG_WARN, "signal_ignored signal=SIG%s code=%d fd=%d why=\"not sent by a "
			"process: the kernel signals a descriptor's I/O or lease break this way "
			"(F_SETSIG); logged once\"", name ? name : "?", (int)si->ssi_code,
			(int)si->ssi_fd);
		said = true;
	}
	return GK_SIGNAL_NONE;
}
