/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FITRIM: discard the free extents of a range.  The kernel clips only the
 * start: a free extent that starts inside the range is discarded to its
 * end, which is harmless (it is free). */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include <linux/falloc.h>
#include <linux/fs.h>

#include "kio/kio.h"

int tp_fitrim(int fd, uint64_t start, uint64_t len, uint64_t minlen,
	      uint64_t *ret_trimmed)
{
	struct fstrim_range range = { .start = start, .len = len, .minlen = minlen };

	if (ioctl(fd, FITRIM, &range) < 0)
		return -errno;
	*ret_trimmed = range.len;
	return 0;
}

int tp_release_range(int fd, bool blockdev, uint64_t off, uint64_t len)
{
	if (blockdev) {
		uint64_t range[2] = { off, len };
		if (ioctl(fd, BLKDISCARD, range) < 0)
			return -errno;
		return 0;
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) < 0)
		return -errno;
	return 0;
}
