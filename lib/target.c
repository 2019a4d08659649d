/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * target: whether a filesystem can be compacted, and if not, why -- the
 * one place that says so, for report, compact (online and offline), the
 * daemon and the engine itself.
 */

#include <stdbool.h>
#include <unistd.h>

#include "thinpack/thinpack.h"

enum tp_blocker tp_compaction_blocker(const struct tp_device *dev,
				      const struct tp_fs_info *info, unsigned checks)
{
	bool mounted = dev->kind == TP_TARGET_MOUNTED;

	if (checks & TP_CHECK_ONLINE) {
		if (!mounted || !dev->mountpoint)
			return TP_BLOCKER_NOT_MOUNTED;
		if (dev->read_only)
			return TP_BLOCKER_READ_ONLY;
	}
	if (info->bigalloc)
		return TP_BLOCKER_BIGALLOC;
	if (!info->extents)
		return TP_BLOCKER_NO_EXTENTS;
	if (mounted && dev->data_journal)
		return TP_BLOCKER_DATA_JOURNAL;
	/* ext4 hands a freed data block out again before the transaction
	 * that freed it commits when the inode is in writeback mode
	 * (mballoc.c, ext4_free_blocks()): the blocks a moved file leaves
	 * could be overwritten while the journal on disk still gives them
	 * to that file, and a power cut would leave it so. */
	if (mounted && dev->data_writeback)
		return TP_BLOCKER_DATA_WRITEBACK;
	if ((checks & TP_CHECK_DISCARD) && !dev->discard)
		return TP_BLOCKER_NO_DISCARD;
	if (checks & TP_CHECK_ONLINE) {
		/* MOVE_EXT wants the same offset within a page in both files. */
		long page = sysconf(_SC_PAGESIZE);
		if (page > 0 && info->block_size != (uint32_t)page)
			return TP_BLOCKER_BLOCK_SIZE;
	}
	return TP_BLOCKER_NONE;
}

const char *tp_blocker_to_string(enum tp_blocker b)
{
	switch (b) {
	case TP_BLOCKER_NONE:
		return NULL;
	case TP_BLOCKER_NOT_MOUNTED:
		return "not mounted: online compaction works on a mounted filesystem";
	case TP_BLOCKER_READ_ONLY:
		return "mounted read-only";
	case TP_BLOCKER_BIGALLOC:
		return "bigalloc filesystem: EXT4_IOC_MOVE_EXT refuses to move "
		       "data on bigalloc";
	case TP_BLOCKER_NO_EXTENTS:
		return "no extent feature: EXT4_IOC_MOVE_EXT moves only "
		       "extent-mapped files";
	case TP_BLOCKER_DATA_JOURNAL:
		return "mounted with data=journal: EXT4_IOC_MOVE_EXT refuses to "
		       "move data on it; unmount it and compact with --offline, "
		       "or remount it with data=ordered";
	case TP_BLOCKER_DATA_WRITEBACK:
		return "mounted with data=writeback: ext4 may reuse the blocks a "
		       "moved file leaves before the move is committed, so a "
		       "power cut could cost that file its data; remount it "
		       "with data=ordered, or unmount it and compact with "
		       "--offline";
	case TP_BLOCKER_NO_DISCARD:
		return "the device does not support discard: emptied clusters "
		       "could not be returned to it";
	case TP_BLOCKER_BLOCK_SIZE:
		return "the block size differs from the page size: online "
		       "compaction is not supported";
	case TP_BLOCKER_POOL_NEEDS_CHECK:
		return "the thin pool needs checking (needs_check): run "
		       "thin_check (lvconvert --repair) first";
	case TP_BLOCKER_POOL_READ_ONLY:
		return "the thin pool is read-only or failed";
	case TP_BLOCKER_POOL_OUT_OF_SPACE:
		return "the thin pool is out of data space";
	case TP_BLOCKER_POOL_MARGIN:
		return "the thin pool's free data space is below the margin "
		       "(--pool-margin, pool_margin)";
	}
	return "unknown";
}
