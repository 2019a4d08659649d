/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scope-bound resource release, in the style of systemd's fd-util.h and
 * alloc-util.h: every resource a function owns is declared with a
 * _cleanup_*_ attribute, and ownership leaves the scope only through
 * TAKE_PTR()/TAKE_FD().
 */
#ifndef TP_BASIC_CLEANUP_H
#define TP_BASIC_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void tp_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(tp_freep)

static inline int tp_safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		(void)close(fd);
		errno = saved;
	}
	return -1;
}

static inline void tp_closep(int *fd)
{
	tp_safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(tp_closep)

static inline void tp_fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(tp_fclosep)

static inline void tp_closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(tp_closedirp)

/* Declare a cleanup function for a type whose destructor returns NULL. */
#define TP_DEFINE_CLEANUP(type, func)                                          \
	static inline void func##p(type *p)                                    \
	{                                                                      \
		if (*p)                                                        \
			(void)func(*p);                                        \
	}

#define TAKE_PTR(p)                                                            \
	({                                                                     \
		__typeof__(p) _tp_ptr_ = (p);                                  \
		(p) = NULL;                                                    \
		_tp_ptr_;                                                      \
	})

#define TAKE_FD(fd)                                                            \
	({                                                                     \
		int _tp_fd_ = (fd);                                            \
		(fd) = -1;                                                     \
		_tp_fd_;                                                       \
	})

#endif
