/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * move-ext-fault.so: preloaded into thinpack or thinpackd (LD_PRELOAD),
 * EXT4_IOC_MOVE_EXT fails with the errno TP_MOVE_EXT_ERRNO names (EIO or
 * EOPNOTSUPP) once TP_MOVE_EXT_AFTER calls (0 if unset) have gone through.
 * EIO is a device that returns read errors; EOPNOTSUPP a mount whose kernel
 * refuses the ioctl for every file (the buffered_iomap option queued for a
 * coming kernel).  The only way to provoke either on demand, on any
 * kernel, without device-mapper.  Every other ioctl goes to the C library.
 * For tests/root/compact-eio.sh and compact-refused.sh.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

struct move_extent { /* struct move_extent of the kernel's uapi */
	uint32_t reserved, donor_fd;
	uint64_t orig_start, donor_start, len, moved_len;
};
#define MOVE_EXT _IOWR('f', 15, struct move_extent)

static int fault(void)
{
	const char *e = getenv("TP_MOVE_EXT_ERRNO");

	if (e && strcmp(e, "EIO") == 0)
		return EIO;
	if (e && strcmp(e, "EOPNOTSUPP") == 0)
		return EOPNOTSUPP;
	return 0;
}

int ioctl(int fd, unsigned long request, ...)
{
	static int (*real)(int, unsigned long, ...);
	static long calls;
	const char *after = getenv("TP_MOVE_EXT_AFTER");
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == MOVE_EXT && fault() && ++calls > (after ? atol(after) : 0)) {
		errno = fault();
		return -1;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "ioctl");
	return real(fd, request, arg);
}
