/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* EXT4_IOC_MOVE_EXT: the kernel swaps two files' blocks under both inode
 * locks, copying the original's data, and journals the swap. */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "kio/kio.h"

/* Not in the uapi headers of Debian 12. */
struct tp_move_extent {
	uint32_t reserved;
	uint32_t donor_fd;
	uint64_t orig_start;
	uint64_t donor_start;
	uint64_t len;
	uint64_t moved_len;
};
#define TP_EXT4_IOC_MOVE_EXT _IOWR('f', 15, struct tp_move_extent)

void tp_drop_cache(int fd, uint64_t off, uint64_t len)
{
	(void)sync_file_range(fd, (off_t)off, (off_t)len,
			      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				      SYNC_FILE_RANGE_WAIT_AFTER);
	(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

void tp_prefetch(int fd, uint64_t off, uint64_t len)
{
	tp_drop_cache(fd, 0, 0);
	(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

int tp_move_ext(int orig_fd, int donor_fd, uint64_t orig_start,
		uint64_t donor_start, uint64_t len, uint64_t *ret_moved)
{
	uint64_t moved = 0;
	int r = 0;

	while (moved < len) {
		struct tp_move_extent me = {
			.donor_fd = (uint32_t)donor_fd,
			.orig_start = orig_start + moved,
			.donor_start = donor_start + moved,
			.len = len - moved,
		};
		if (ioctl(orig_fd, TP_EXT4_IOC_MOVE_EXT, &me) < 0) {
			r = -errno;
			moved += me.moved_len;
			break;
		}
		if (me.moved_len == 0) {
			/* A hole in the donor moves nothing: never loop. */
			r = -ENODATA;
			break;
		}
		moved += me.moved_len;
	}
	*ret_moved = moved;
	return r;
}
