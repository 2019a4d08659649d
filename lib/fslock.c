/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-filesystem lock (fslock.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fslock.h"
#include "basic/cleanup.h"
#include "basic/clock.h"

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

/* How often a waiter tries again: flock(2) has no timeout, and a blocking
 * flock() would not see the stop flag. */
#define POLL_NS 100000000L

struct tp_fslock {
	int fd;
	char *path;
	bool written; /* the holder lines are ours to empty */
};

const char *tp_fslock_dir(void)
{
	const char *e = getenv("THINPACK_LOCK_DIR");

	return e && *e ? e : RUNSTATEDIR "/thinpack";
}

/* The UUID becomes a file name: nothing but hex digits and dashes. */
static bool uuid_valid(const char *uuid)
{
	return *uuid && strspn(uuid, "0123456789abcdefABCDEF-") == strlen(uuid);
}

/* mkdir -p: <runstatedir> itself may be missing where it is not /run
 * (a build configured with the default prefix). */
static int mkdir_p(const char *dir)
{
	_cleanup_free_ char *p = strdup(dir);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		char c = *s;
		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (!c)
			return 0;
	}
}

/* "PID\nWHAT\n", as write_holder() leaves it; a holder that has not
 * written yet reads as unknown. */
static void read_holder(int fd, struct tp_fslock_holder *ret)
{
	char buf[32 + TP_FSLOCK_WHAT_MAX] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	int pid = 0;

	*ret = (struct tp_fslock_holder){ 0 };
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "%d\n%63[^\n]", &pid, ret->what) < 1 || pid <= 0) {
		*ret = (struct tp_fslock_holder){ 0 };
		return;
	}
	ret->pid = pid;
}

static int write_holder(int fd, const char *what)
{
	char buf[32 + TP_FSLOCK_WHAT_MAX];
	int n = snprintf(buf, sizeof(buf), "%d\n%.*s\n", (int)getpid(),
			 TP_FSLOCK_WHAT_MAX - 1, what);

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

/* Open (creating) the file; read-only where it cannot be written (a
 * holder that cannot say who it is still excludes the others). */
static int open_lock(const char *path, bool *ret_writable)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		      0644);

	*ret_writable = fd >= 0;
	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* Locked what path names now, and not a file removed since we opened it
 * (then whoever opens path next would lock another file). */
static bool still_named(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int tp_fslock_take(const char *dir, const char *uuid, const char *what,
		   double timeout_s, const volatile sig_atomic_t *stop,
		   struct tp_fslock **ret_lock, struct tp_fslock_holder *ret_holder)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	double deadline = tp_monotonic() + timeout_s;
	bool writable = false;
	int r;

	if (!uuid_valid(uuid))
		return -EINVAL;
	r = mkdir_p(dir);
	if (r < 0)
		return r;
	if (asprintf(&path, "%s/%s.lock", dir, uuid) < 0)
		return -ENOMEM;

	for (;;) {
		if (fd < 0) {
			fd = open_lock(path, &writable);
			if (fd < 0)
				return fd;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (still_named(fd, path))
				break;
			fd = tp_safe_close(fd);
			continue;
		}
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (timeout_s == 0 || (timeout_s > 0 && tp_monotonic() >= deadline) ||
		    (stop && *stop)) {
			if (ret_holder)
				read_holder(fd, ret_holder);
			return stop && *stop ? -ECANCELED : -EWOULDBLOCK;
		}
		nanosleep(&(struct timespec){ .tv_nsec = POLL_NS }, NULL);
	}

	struct tp_fslock *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (writable) {
		r = write_holder(fd, what);
		l->written = r >= 0;
	}
	l->fd = TAKE_FD(fd);
	l->path = TAKE_PTR(path);
	*ret_lock = l;
	return 0;
}

const char *tp_fslock_path(const struct tp_fslock *l)
{
	return l->path;
}

struct tp_fslock *tp_fslock_release(struct tp_fslock *l)
{
	if (!l)
		return NULL;
	/* Emptied before the lock goes, so that nobody reads a stale holder
	 * from a file that is free. */
	if (l->written)
		(void)ftruncate(l->fd, 0);
	tp_safe_close(l->fd);
	free(l->path);
	free(l);
	return NULL;
}
