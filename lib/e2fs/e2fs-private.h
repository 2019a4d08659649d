/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the three files of lib/e2fs/ share, and nothing outside them sees
 * (but the unit tests): the handle behind struct tp_fs, the errcode_t ->
 * -errno mapping, and write.c's edit of an extent-tree node.
 *   e2fs.c   open, close, what the superblock says, libext2fs's errors
 *   read.c   block bitmaps, the inode scan, block maps (the scan's side),
 *            names of inodes (explain, the dry run)
 *   write.c  the offline engine's side: allocation, copies, extent edits
 */
#ifndef TP_E2FS_PRIVATE_H
#define TP_E2FS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ext2fs/ext2fs.h>
#include <ext2fs/ext3_extents.h>

#include "thinpack/thinpack.h"

/* An inode whose root grew a level (write.c): its new root, written by
 * tp_fs_remap_finish(). */
struct tp_grown {
	uint32_t ino;
	struct ext2_inode_large *inode;
};

struct tp_fs {
	ext2_filsys fs;
	/* offline: who picks blocks for new extent-tree nodes */
	int (*pick)(void *userdata, uint64_t goal, uint64_t *ret);
	void *pick_userdata;
	struct tp_grown *grown; /* levels grown, inodes not written yet */
	size_t n_grown, cap_grown;
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

/* Forget the levels grown and not written (their leaves leak). */
void tp_e2fs_drop_grown(struct tp_fs *f);

/* errcode_t -> -errno; the raw code stays for tp_fs_last_error(). */
int tp_e2fs_errcode(errcode_t err);

/*
 * write.c's in-place edit of one extent-tree node (tp_fs_remap()); here
 * for tests/unit/test-extent.c.
 */
struct tp_raw_extent {
	uint64_t lblk, pblk;
	uint32_t len;
	bool uninit;
};
struct tp_raw_extent tp_e2fs_decode_extent(const struct ext3_extent *x);
struct ext3_extent tp_e2fs_encode_extent(struct tp_raw_extent e);
int tp_e2fs_rewrite_node(struct ext3_extent_header *hdr, unsigned max,
			 uint64_t logical, uint64_t len, uint64_t old, uint64_t new);

#endif
