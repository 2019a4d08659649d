/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One runner per filesystem, as thinpack compact and trim see it: take the
 * filesystem's lock (lib/fslock.h) or say who holds it.  Without --wait the
 * second runner goes away at once with exit 16, which a timer unit lists
 * in SuccessExitStatus=: the filesystem is being compacted, which is what
 * the timer wanted.
 */

#include <errno.h>
#include <string.h>

#include "thinpack.h"

int parse_wait_option(const char *arg, double *ret)
{
	uint64_t s;

	if (!arg) {
		*ret = -1;
		return 0;
	}
	if (parse_duration_option("--wait", arg, &s) < 0)
		return -EINVAL;
	*ret = (double)s;
	return 0;
}

int target_lock(struct target *t, const char *what, double wait_s,
		const volatile sig_atomic_t *stop)
{
	struct tp_fslock_holder h = { 0 };
	const char *dir = tp_fslock_dir();
	char who[32 + TP_FSLOCK_WHAT_MAX];
	int r;

	r = tp_fslock_take(dir, t->info.uuid, what, wait_s, stop, &t->lock, &h);
	if (r == 0)
		return 0;
	if (r != -EWOULDBLOCK && r != -ECANCELED)
		return target_fail(t, TP_EXIT_OPERATIONAL,
				   "%s: cannot take the lock %s/%s.lock: %s", t->path,
				   dir, t->info.uuid, strerror(-r));
	if (h.pid > 0)
		snprintf(who, sizeof(who), "pid %d (%s)", (int)h.pid,
			 h.what[0] ? h.what : "?");
	else
		snprintf(who, sizeof(who), "another process");
	if (r == -ECANCELED)
		return target_fail(t, TP_EXIT_BUSY, "%s: interrupted while waiting "
				   "for the filesystem, held by %s: nothing done",
				   t->path, who);
	return target_fail(t, TP_EXIT_BUSY, "%s: the filesystem (UUID %s) is held by "
			   "%s: nothing done%s", t->path, t->info.uuid, who,
			   wait_s == 0 ? "; --wait waits for it" :
					 " (--wait ran out)");
}
