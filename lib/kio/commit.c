/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Commit the running journal transaction, and nothing more.
 *
 * ext4 lets blocks freed in a transaction be allocated again, and shows
 * them free in FS_IOC_GETFSMAP, only once that transaction commits.
 * syncfs() commits, but then also writes every dirty metadata buffer of
 * the device in place: committing every few hundred moves that way wrote
 * the same inode-table and bitmap blocks again and again (bench/compact:
 * 3.7 times each on average).  fsync() of an inode changed in the running
 * transaction commits that transaction and writes nothing in place, and a
 * new O_TMPFILE is such an inode (its creation is in the transaction).
 *
 * With fast commits, fsync() may log only that inode and leave the full
 * transaction, and the freed blocks with it, running: syncfs() there.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "kio/kio.h"

int tp_journal_commit(int mount_fd, bool fast_commit)
{
	_cleanup_close_ int fd = -1;

	if (!fast_commit) {
		fd = openat(mount_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fsync(fd) < 0 ? -errno : 0;
		/* no inode left, say: the heavier way still commits */
	}
	return syncfs(mount_fd) < 0 ? -errno : 0;
}
