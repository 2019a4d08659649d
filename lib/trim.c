/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FITRIM: discard the free extents of a range.  The kernel clips only the
 * start: a free extent that starts inside the range is discarded to its
 * end, which is harmless (it is free). */

#include <errno.h>
#include <sys/ioctl.h>

#include <linux/fs.h>

#include "kio.h"

int tp_fitrim(int fd, uint64_t start, uint64_t len, uint64_t minlen,
	      uint64_t *ret_trimmed)
{
	struct fstrim_range range = { .start = start, .len = len, .minlen = minlen };

	if (ioctl(fd, FITRIM, &range) < 0)
		return -errno;
	*ret_trimmed = range.len;
	return 0;
}
