/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening files by inode number, and leases: how the mover touches a file
 * only when nobody else has it open, and lets go when somebody opens it. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/fs.h>

#include "kio/kio.h"

#ifndef FILEID_INO32_GEN
#define FILEID_INO32_GEN 1
#endif

int tp_open_by_inode(int mount_fd, uint32_t ino, uint32_t generation, int flags)
{
	union {
		struct file_handle h;
		char buf[sizeof(struct file_handle) + 8];
	} u;
	uint32_t fid[2] = { ino, generation };
	int fd;

	u.h.handle_bytes = sizeof(fid);
	u.h.handle_type = FILEID_INO32_GEN;
	memcpy(u.h.f_handle, fid, sizeof(fid));
	fd = open_by_handle_at(mount_fd, &u.h, flags | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int tp_lease_take(int fd)
{
	if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0)
		return -errno;
	return 0;
}

bool tp_lease_broken(int fd)
{
	/* During a break, F_GETLEASE tells the type the lease will drop to. */
	return fcntl(fd, F_GETLEASE) != F_WRLCK;
}

void tp_lease_release(int fd)
{
	(void)fcntl(fd, F_SETLEASE, F_UNLCK);
}

int tp_inode_flags(int fd, uint32_t *ret_flags)
{
	long flags = 0;

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return -errno;
	*ret_flags = (uint32_t)flags;
	return 0;
}
