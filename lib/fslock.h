/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One runner per filesystem: an exclusive flock(2) on
 * <dir>/<filesystem UUID>.lock, taken by thinpack compact, thinpack trim
 * and each pass of thinpackd.  Two runs on one filesystem fight over the
 * same holes and take five times as long as one; the lock makes the second
 * wait or go away.
 *
 * The file holds the holder's pid and what it is ("thinpack compact"), so
 * that the one that cannot have it can say who does.  It is emptied when
 * the lock is released and never removed: removing a lock file that
 * someone may be opening lets two runners lock two different files.
 */
#ifndef TP_FSLOCK_H
#define TP_FSLOCK_H

#include <signal.h>
#include <sys/types.h>

#define TP_FSLOCK_WHAT_MAX 64

struct tp_fslock;

struct tp_fslock_holder {
	pid_t pid;                     /* 0: unknown (not written yet) */
	char what[TP_FSLOCK_WHAT_MAX]; /* "thinpack compact"; "" if unknown */
};

/* The directory of the lock files: $THINPACK_LOCK_DIR when set (tests, and
 * hosts whose runners agree on another place), else
 * <runstatedir>/thinpack as configured (/run/thinpack). */
const char *tp_fslock_dir(void);

/* Take the lock of the filesystem uuid, in dir (created with its parents,
 * mode 0755, if it is missing), as what.  timeout_s: 0 tries once, < 0 waits for ever, else
 * waits that many seconds at most; a stop flag that becomes non-zero ends
 * the wait with -ECANCELED.  -EWOULDBLOCK when someone else holds it, with
 * who in *ret_holder (when not NULL); another negative errno when the file
 * cannot be opened or locked. */
int tp_fslock_take(const char *dir, const char *uuid, const char *what,
		   double timeout_s, const volatile sig_atomic_t *stop,
		   struct tp_fslock **ret_lock, struct tp_fslock_holder *ret_holder);

/* The path of the lock file. */
const char *tp_fslock_path(const struct tp_fslock *l);

/* Empty the file and let go.  Returns NULL. */
struct tp_fslock *tp_fslock_release(struct tp_fslock *l);

#endif
