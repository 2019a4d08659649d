/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the three files of lib/e2fs/ share, and nothing outside them sees:
 * the handle behind struct tp_fs and the errcode_t -> -errno mapping.
 *   e2fs.c   open, close, what the superblock says, libext2fs's errors
 *   read.c   block bitmaps, the inode scan, block maps (the scan's side)
 *   write.c  the offline engine's side: allocation, copies, extent edits
 */
#ifndef TP_E2FS_PRIVATE_H
#define TP_E2FS_PRIVATE_H

#include <stdint.h>

#include <ext2fs/ext2fs.h>

#include "thinpack/thinpack.h"

struct tp_fs {
	ext2_filsys fs;
	/* offline: who picks blocks for new extent-tree nodes */
	int (*pick)(void *userdata, uint64_t goal, uint64_t *ret);
	void *pick_userdata;
	struct tp_fs_info info;
	uint32_t special[8]; /* inode numbers the superblock names */
	unsigned n_special;
};

/* For _cleanup_(). */
static inline void ext2fs_extent_freep(ext2_extent_handle_t *h)
{
	if (*h)
		ext2fs_extent_free(*h);
}

/* errcode_t -> -errno; the raw code stays for tp_fs_last_error(). */
int tp_e2fs_errcode(errcode_t err);

#endif
