/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The read side of libext2fs, as the scan needs it.  lib/e2fs.c is the only
 * file that includes <ext2fs/ext2fs.h>; it turns errcode_t into -errno and
 * keeps the raw code for tp_fs_last_error().
 */
#ifndef TP_E2FS_H
#define TP_E2FS_H

#include <stdbool.h>
#include <stdint.h>

#include "thinpack/thinpack.h"

/* A run of blocks [blk, blk + len).  Return < 0 to stop the walk. */
typedef int (*tp_run_fn)(uint64_t blk, uint64_t len, void *userdata);

/* Runs of blocks in use according to the block bitmaps, including blocks
 * below s_first_data_block (the boot block of 1 KiB-block filesystems). */
int tp_fs_for_each_used_run(struct tp_fs *fs, tp_run_fn fn, void *userdata);

/* Whether every block of [blk, blk + len) is in use in the block bitmap
 * (a range owned by an inode but free is a sign of a filesystem changing
 * under the scan, or a damaged one).  Needs tp_fs_for_each_used_run() first. */
bool tp_fs_range_in_use(struct tp_fs *fs, uint64_t blk, uint64_t len);

/* Runs of static metadata: superblocks and their backups, group
 * descriptors, reserved GDT blocks, bitmaps, inode tables, the MMP block. */
int tp_fs_for_each_metadata_run(struct tp_fs *fs, tp_run_fn fn, void *userdata);

struct tp_inode {
	uint32_t ino;
	uint32_t generation;
	uint16_t mode;
	uint16_t links;
	uint32_t flags;       /* i_flags */
	uint64_t size;
	int64_t mtime;
	int64_t ctime;
	uint64_t xattr_block; /* i_file_acl, 0 if none */
	bool has_blocks;      /* i_block holds a block map or an extent tree */
	bool extents;
	bool reserved;        /* reserved inode, or one the superblock names
			       * (journal, quota, orphan file) */
	const void *raw;      /* valid during the callback, for tp_fs_inode_map() */
};

typedef int (*tp_inode_fn)(struct tp_fs *fs, const struct tp_inode *inode,
			   void *userdata);

/* Every inode in use (set in the inode bitmap), in inode number order.
 * progress is called once per block group. */
int tp_fs_for_each_inode(struct tp_fs *fs, tp_inode_fn fn,
			 tp_progress_fn progress, void *userdata);

enum tp_map_kind {
	TP_MAP_DATA,      /* written data at logical..logical+len */
	TP_MAP_UNWRITTEN, /* allocated, unwritten (fallocated) */
	TP_MAP_TREE,      /* extent-tree or indirect block; logical is 0 */
};

typedef int (*tp_map_fn)(enum tp_map_kind kind, uint64_t logical,
			 uint64_t physical, uint64_t len, void *userdata);

/* The blocks an inode owns, other than its xattr block.  Call only from
 * inside a tp_fs_for_each_inode() callback. */
int tp_fs_inode_map(struct tp_fs *fs, const struct tp_inode *inode,
		    tp_map_fn fn, void *userdata);

#endif
