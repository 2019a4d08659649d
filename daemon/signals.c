/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SIGTERM, SIGINT, SIGHUP: see signals.h. */

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "signals.h"
#include "journal.h"

int signals_setup(struct daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0)
		return -errno;
	/* Lease breaks are polled (F_GETLEASE), not signalled. */
	signal(SIGIO, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

void signals_read(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!d->stop)
				log_info("%s: stopping", si.ssi_signo == SIGTERM ?
							 "SIGTERM" : "SIGINT");
			d->stop = true;
			break;
		case SIGHUP:
			d->reload = true;
			break;
		}
	}
}
