/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libext2fs as the scan and the offline engine need it.  lib/e2fs/ is the
 * only place that includes <ext2fs/ext2fs.h>; it turns errcode_t into -errno and
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

/* Free the block and inode bitmaps the scan read (a bit per block and
 * per inode: 1.25 MiB at 32 GiB) once it is done with them; the next walk
 * over used runs or inodes reads them again.  Not for tp_fs_open_rw(),
 * whose bitmaps hold the offline engine's allocations. */
void tp_fs_drop_bitmaps(struct tp_fs *fs);

/* Runs of static metadata: superblocks and their backups, group
 * descriptors, reserved GDT blocks, bitmaps, inode tables, the MMP block. */
int tp_fs_for_each_metadata_run(struct tp_fs *fs, tp_run_fn fn, void *userdata);

/* The same static metadata piece by piece, each with what it is (kind
 * TP_OWNER_BOOT_BLOCK to TP_OWNER_MMP) and the block group it belongs to:
 * the runs above are their union. */
typedef int (*tp_meta_fn)(enum tp_owner_kind kind, uint32_t group, uint64_t blk,
			  uint64_t len, void *userdata);
int tp_fs_for_each_metadata_piece(struct tp_fs *fs, tp_meta_fn fn, void *userdata);

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
	enum tp_owner_kind kind; /* what it is: TP_OWNER_JOURNAL...
				  * TP_OWNER_XATTR_INODE */
	const void *raw;      /* valid during the callback, for tp_fs_inode_map() */
};

typedef int (*tp_inode_fn)(struct tp_fs *fs, const struct tp_inode *inode,
			   void *userdata);

/* Every inode in use (set in the inode bitmap), in inode number order,
 * to fn with userdata.  After each block group: progress with
 * progress_userdata; and -ECANCELED if *stop is set. */
int tp_fs_for_each_inode(struct tp_fs *fs, tp_inode_fn fn, void *userdata,
			 tp_progress_fn progress, void *progress_userdata,
			 const volatile sig_atomic_t *stop);

enum tp_map_kind {
	TP_MAP_DATA,      /* written data at logical..logical+len */
	TP_MAP_UNWRITTEN, /* allocated, unwritten (fallocated) */
	TP_MAP_TREE,      /* extent-tree or indirect block; logical is 0 */
};

typedef int (*tp_map_fn)(enum tp_map_kind kind, uint64_t logical,
			 uint64_t physical, uint64_t len, void *userdata);

/* ---- writing, offline only (tp_fs_open_rw) ---- */

/* Mark [blk, blk + len) used (+1) or free (-1) in the bitmaps and the free
 * counts, in memory; tp_fs_write_metadata() writes them. */
void tp_fs_account(struct tp_fs *fs, uint64_t blk, uint64_t len, int delta);
/* The first free block in [start, end), or -ENOSPC. */
int tp_fs_find_free(struct tp_fs *fs, uint64_t start, uint64_t end, uint64_t *ret);
/* Whether [blk, blk + len) is all free in the bitmap. */
bool tp_fs_range_free(struct tp_fs *fs, uint64_t blk, uint64_t len);
/* Write bitmaps, group descriptors and superblocks, and every block
 * written so far, and wait for the device. */
int tp_fs_write_metadata(struct tp_fs *fs);
/* Write every block written so far, and wait for the device. */
int tp_fs_sync(struct tp_fs *fs);
/* Read or write [blk, blk + len) from or to buf, through libext2fs's
 * cache (coherent with its metadata writes): the pieces of the offline
 * engine's batched copies. */
int tp_fs_read(struct tp_fs *fs, uint64_t blk, uint64_t len, void *buf);
int tp_fs_write(struct tp_fs *fs, uint64_t blk, uint64_t len, const void *buf);
/* Hints: start reading [blk, blk + len), or the inode table block of
 * ino, into the page cache without waiting (POSIX_FADV_WILLNEED), so that
 * a batch's reads are in flight together rather than one after another. */
void tp_fs_readahead(struct tp_fs *fs, uint64_t blk, uint64_t len);
void tp_fs_readahead_inode(struct tp_fs *fs, uint32_t ino);
/* Make inode ino map logical [logical, logical + len), now at physical
 * old, to physical new, changing one extent-tree node only (or the inode):
 * 0, or 1 when the inode's root grew a level for it (a new leaf, written;
 * the inode is written by tp_fs_remap_finish(), and the move is made only
 * then); -EAGAIN when ino grew a level since the last
 * tp_fs_remap_finish() (call again after it); -ENOSPC when the node has no
 * room for the split, -ESTALE when the mapping is not what the caller
 * says. */
int tp_fs_remap(struct tp_fs *fs, uint32_t ino, uint64_t logical, uint64_t len,
		uint64_t old, uint64_t new);
/* The levels grown since the last call: the bitmaps (their leaves' blocks
 * used) and superblocks on disk with the leaves, in one flush, then the
 * inodes written (not synced).  0 or -errno; either way none is pending
 * after it. */
int tp_fs_remap_finish(struct tp_fs *fs);
/* Who picks the blocks of new extent-tree nodes (a full inode growing a
 * level in tp_fs_remap()): pick() chooses near goal; the block is marked
 * used at once, and on disk before the tree points at it.  NULL: no
 * growth. */
void tp_fs_set_tree_allocator(struct tp_fs *fs,
			      int (*pick)(void *userdata, uint64_t goal, uint64_t *ret),
			      void *userdata);
/* Whether ino is still the file of that generation, a regular file. */
bool tp_fs_inode_is(struct tp_fs *fs, uint32_t ino, uint32_t generation);

/* The blocks an inode owns, other than its xattr block.  Call only from
 * inside a tp_fs_for_each_inode() callback. */
int tp_fs_inode_map(struct tp_fs *fs, const struct tp_inode *inode,
		    tp_map_fn fn, void *userdata);

#endif
