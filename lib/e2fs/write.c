/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The offline engine's side of libext2fs, on a filesystem opened with
 * tp_fs_open_rw(): block accounting, copies, and in-place edits of extent
 * trees (tp_fs_remap), each written in an order a kill cannot turn into
 * lost data (lib/compact/offline.c says which).
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>
#include <ext2fs/ext3_extents.h>

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "e2fs/e2fs.h"
#include "e2fs/e2fs-private.h"

/* ---- writing, offline ------------------------------------------------------------ */

void tp_fs_account(struct tp_fs *f, uint64_t blk, uint64_t len, int delta)
{
	ext2fs_block_alloc_stats_range(f->fs, blk, (blk_t)len, delta);
}

int tp_fs_find_free(struct tp_fs *f, uint64_t start, uint64_t end, uint64_t *ret)
{
	blk64_t out;

	start = MAX(start, f->info.first_data_block);
	end = MIN(end, f->info.blocks_count);
	if (start >= end ||
	    ext2fs_find_first_zero_block_bitmap2(f->fs->block_map, start, end - 1, &out))
		return -ENOSPC;
	*ret = out;
	return 0;
}

bool tp_fs_range_free(struct tp_fs *f, uint64_t blk, uint64_t len)
{
	if (blk < f->info.first_data_block || blk + len > f->info.blocks_count)
		return false;
	return ext2fs_test_block_bitmap_range2(f->fs->block_map, blk, (unsigned)len);
}

int tp_fs_write_metadata(struct tp_fs *f)
{
	errcode_t err;

	err = ext2fs_write_bitmaps(f->fs);
	if (!err)
		err = ext2fs_flush2(f->fs, 0); /* superblocks, descriptors, sync */
	return tp_e2fs_errcode(err);
}

int tp_fs_sync(struct tp_fs *f)
{
	return tp_e2fs_errcode(io_channel_flush(f->fs->io));
}

int tp_fs_read(struct tp_fs *f, uint64_t blk, uint64_t len, void *buf)
{
	return tp_e2fs_errcode(io_channel_read_blk64(f->fs->io, blk, (int)len, buf));
}

int tp_fs_write(struct tp_fs *f, uint64_t blk, uint64_t len, const void *buf)
{
	return tp_e2fs_errcode(io_channel_write_blk64(f->fs->io, blk, (int)len, buf));
}

void tp_fs_readahead(struct tp_fs *f, uint64_t blk, uint64_t len)
{
	(void)io_channel_cache_readahead(f->fs->io, blk, len); /* a hint */
}

void tp_fs_readahead_inode(struct tp_fs *f, uint32_t ino)
{
	ext2_filsys fs = f->fs;
	uint32_t per_group = EXT2_INODES_PER_GROUP(fs->super);
	uint64_t off;

	if (ino == 0 || ino > fs->super->s_inodes_count)
		return;
	off = (uint64_t)((ino - 1) % per_group) * EXT2_INODE_SIZE(fs->super);
	tp_fs_readahead(f, ext2fs_inode_table_loc(fs, (ino - 1) / per_group) +
			   off / fs->blocksize, 1);
}

bool tp_fs_inode_is(struct tp_fs *f, uint32_t ino, uint32_t generation)
{
	struct ext2_inode in;

	if (ext2fs_read_inode(f->fs, ino, &in))
		return false;
	return in.i_links_count > 0 && LINUX_S_ISREG(in.i_mode) &&
	       in.i_generation == generation && (in.i_flags & EXT4_EXTENTS_FL);
}

/* The allocator for extent-tree blocks: the caller's choice, marked used
 * and written to disk before the tree may point at it (a kill then leaves
 * a leaked block, never a block in use that the bitmap calls free). */
static errcode_t alloc_tree_block(ext2_filsys fs, blk64_t goal, blk64_t *ret)
{
	struct tp_fs *f = fs->priv_data; /* set by open_fs() */
	uint64_t blk;
	errcode_t err;

	if (!f || f->fs != fs || !f->pick || f->pick(f->pick_userdata, goal, &blk) < 0)
		return EXT2_ET_BLOCK_ALLOC_FAIL;
	ext2fs_block_alloc_stats2(fs, blk, +1);
	err = ext2fs_write_bitmaps(fs);
	if (!err)
		err = ext2fs_flush2(fs, 0);
	if (err)
		return err;
	*ret = blk;
	return 0;
}

void tp_fs_set_tree_allocator(struct tp_fs *f,
			      int (*pick)(void *userdata, uint64_t goal, uint64_t *ret),
			      void *userdata)
{
	f->pick = pick;
	f->pick_userdata = userdata;
	ext2fs_set_alloc_block_callback(f->fs, pick ? alloc_tree_block : NULL, NULL);
}

/* An on-disk extent, decoded and encoded (little-endian; the top bit of
 * the length marks an unwritten extent). */
struct tp_raw_extent tp_e2fs_decode_extent(const struct ext3_extent *x)
{
	uint32_t len = ext2fs_le16_to_cpu(x->ee_len);
	return (struct tp_raw_extent){
		.lblk = ext2fs_le32_to_cpu(x->ee_block),
		.pblk = ext2fs_le32_to_cpu(x->ee_start) |
			((uint64_t)ext2fs_le16_to_cpu(x->ee_start_hi) << 32),
		.len = len > EXT_INIT_MAX_LEN ? len - EXT_INIT_MAX_LEN : len,
		.uninit = len > EXT_INIT_MAX_LEN,
	};
}

struct ext3_extent tp_e2fs_encode_extent(struct tp_raw_extent e)
{
	return (struct ext3_extent){
		.ee_block = ext2fs_cpu_to_le32((uint32_t)e.lblk),
		.ee_len = ext2fs_cpu_to_le16((uint16_t)(e.len + (e.uninit ? EXT_INIT_MAX_LEN : 0))),
		.ee_start_hi = ext2fs_cpu_to_le16((uint16_t)(e.pblk >> 32)),
		.ee_start = ext2fs_cpu_to_le32((uint32_t)e.pblk),
	};
}

/*
 * Rewrite the entries of node hdr (in place, up to max entries): the
 * extent that holds [logical, +len) at old becomes up to three, the range
 * at new.  -ESTALE: no such extent; -ENOSPC: no room.
 */
int tp_e2fs_rewrite_node(struct ext3_extent_header *hdr, unsigned max,
			 uint64_t logical, uint64_t len, uint64_t old, uint64_t new)
{
	struct ext3_extent *ents = (struct ext3_extent *)(hdr + 1);
	unsigned n = ext2fs_le16_to_cpu(hdr->eh_entries), k;
	struct tp_raw_extent e, out[3];
	unsigned m = 0;

	for (k = 0; k < n; k++) {
		e = tp_e2fs_decode_extent(&ents[k]);
		if (e.lblk <= logical && logical < e.lblk + e.len)
			break;
	}
	if (k == n || logical + len > e.lblk + e.len ||
	    e.pblk + (logical - e.lblk) != old)
		return -ESTALE;
	if (logical > e.lblk)
		out[m++] = (struct tp_raw_extent){ e.lblk, e.pblk,
						   (uint32_t)(logical - e.lblk), e.uninit };
	out[m++] = (struct tp_raw_extent){ logical, new, (uint32_t)len, e.uninit };
	if (logical + len < e.lblk + e.len)
		out[m++] = (struct tp_raw_extent){ logical + len, old + len,
						   (uint32_t)(e.lblk + e.len - logical - len),
						   e.uninit };
	if (n - 1 + m > max)
		return -ENOSPC;
	memmove(&ents[k + m], &ents[k + 1], (n - k - 1) * sizeof(*ents));
	for (unsigned i = 0; i < m; i++)
		ents[k + i] = tp_e2fs_encode_extent(out[i]);
	hdr->eh_entries = ext2fs_cpu_to_le16((uint16_t)(n - 1 + m));
	return 0;
}

/*
 * The inode's root is full: move its extents, changed, to a new leaf
 * block, and make the root an index of it.  The leaf is written here, the
 * inode (*inp, taken) by tp_fs_remap_finish(), after the leaf and the
 * bitmap that marks its block used are on disk: one flush for every level
 * grown since the last.
 */
static int grow_root(struct tp_fs *f, uint32_t ino, struct ext2_inode_large **inp,
		     uint64_t logical, uint64_t len, uint64_t old, uint64_t new)
{
	struct ext2_inode_large *in = *inp;
	uint32_t bs = f->info.block_size;
	_cleanup_free_ char *buf = calloc(1, bs);
	struct ext3_extent_header *root = (struct ext3_extent_header *)in->i_block;
	struct ext3_extent_header *leaf = (struct ext3_extent_header *)buf;
	blk64_t blk;
	errcode_t err;
	int r;

	if (!buf)
		return -ENOMEM;
	unsigned n = ext2fs_le16_to_cpu(root->eh_entries);
	leaf->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
	leaf->eh_entries = root->eh_entries;
	leaf->eh_max = ext2fs_cpu_to_le16((uint16_t)((bs - sizeof(*leaf)) /
						     sizeof(struct ext3_extent)));
	memcpy(leaf + 1, root + 1, n * sizeof(struct ext3_extent));
	r = tp_e2fs_rewrite_node(leaf, ext2fs_le16_to_cpu(leaf->eh_max), logical, len,
				 old, new);
	if (r < 0)
		return r;
	if (TP_RESERVE(f->grown, f->cap_grown, f->n_grown + 1) < 0)
		return -ENOMEM;
	uint64_t pick;
	if (f->pick(f->pick_userdata, new, &pick) < 0)
		return -ENOSPC; /* nowhere to grow: the move is not made */
	blk = pick;
	/* Used in the bitmaps in memory from now on, whatever happens: a
	 * leaf written and never pointed at is a leaked block. */
	ext2fs_block_alloc_stats2(f->fs, blk, +1);
	err = ext2fs_extent_block_csum_set(f->fs, ino, leaf);
	if (!err)
		err = io_channel_write_blk64(f->fs->io, blk, 1, buf);
	if (err)
		return tp_e2fs_errcode(err);

	struct ext3_extent *first = (struct ext3_extent *)(leaf + 1);
	struct ext3_extent_idx *idx = (struct ext3_extent_idx *)(root + 1);
	memset(idx, 0, sizeof(in->i_block) - sizeof(*root));
	idx->ei_block = first->ee_block;
	idx->ei_leaf = ext2fs_cpu_to_le32((uint32_t)blk);
	idx->ei_leaf_hi = ext2fs_cpu_to_le16((uint16_t)(blk >> 32));
	root->eh_entries = ext2fs_cpu_to_le16(1);
	root->eh_depth = ext2fs_cpu_to_le16(1);
	err = ext2fs_iblk_add_blocks(f->fs, (struct ext2_inode *)in, 1);
	if (err)
		return tp_e2fs_errcode(err);
	f->grown[f->n_grown++] = (struct tp_grown){ ino, TAKE_PTR(*inp) };
	return 1;
}

static bool growing(const struct tp_fs *f, uint32_t ino)
{
	for (size_t i = 0; i < f->n_grown; i++)
		if (f->grown[i].ino == ino)
			return true;
	return false;
}

void tp_e2fs_drop_grown(struct tp_fs *f)
{
	for (size_t i = 0; i < f->n_grown; i++)
		free(f->grown[i].inode);
	f->n_grown = 0;
}

int tp_fs_remap_finish(struct tp_fs *f)
{
	errcode_t err;

	if (f->n_grown == 0)
		return 0;
	/* The leaves, and the bitmaps that mark their blocks used, on disk
	 * before any inode points at one. */
	err = ext2fs_write_bitmaps(f->fs);
	if (!err)
		err = ext2fs_flush2(f->fs, 0); /* superblocks, descriptors, sync */
	for (size_t i = 0; !err && i < f->n_grown; i++)
		err = ext2fs_write_inode_full(f->fs, f->grown[i].ino,
					      (struct ext2_inode *)f->grown[i].inode,
					      EXT2_INODE_SIZE(f->fs->super));
	tp_e2fs_drop_grown(f);
	return tp_e2fs_errcode(err);
}

int tp_fs_remap(struct tp_fs *f, uint32_t ino, uint64_t logical, uint64_t len,
		uint64_t old, uint64_t new)
{
	_cleanup_(ext2fs_extent_freep) ext2_extent_handle_t h = NULL;
	size_t isize = EXT2_INODE_SIZE(f->fs->super);
	_cleanup_free_ struct ext2_inode_large *in = calloc(1, MAX(isize, sizeof(*in)));
	_cleanup_free_ char *buf = NULL;
	struct ext2fs_extent e;
	struct ext2_extent_info info;
	errcode_t err;
	int r;

	if (!in)
		return -ENOMEM;
	if (growing(f, ino))
		return -EAGAIN; /* its tree is the one in memory until then */
	err = ext2fs_read_inode_full(f->fs, ino, (struct ext2_inode *)in, (int)isize);
	if (!err)
		err = ext2fs_extent_open2(f->fs, ino, (struct ext2_inode *)in, &h);
	if (err)
		return tp_e2fs_errcode(err);
	err = ext2fs_extent_goto(h, logical);
	if (err == EXT2_ET_EXTENT_NOT_FOUND)
		return -ESTALE;
	if (!err)
		err = ext2fs_extent_get_info(h, &info);
	if (err)
		return tp_e2fs_errcode(err);

	/*
	 * The node that holds the extent is rewritten whole and written once
	 * (the inode, or one leaf block): a kill can only find it before or
	 * after.  Never a split of a node below the inode: its halves and
	 * its parent are separate writes, and a kill between them would lose
	 * mappings.  A full inode may grow a level (grow_root()), adding a
	 * block to i_blocks: not on quota filesystems, whose usage would
	 * drift, nor without a tree allocator.
	 */
	if (info.max_depth == 0) {
		struct ext3_extent_header *root = (struct ext3_extent_header *)in->i_block;
		r = tp_e2fs_rewrite_node(root, ext2fs_le16_to_cpu(root->eh_max),
					 logical, len, old, new);
		if (r == -ENOSPC && f->pick && !f->info.quota) {
			/* tp_e2fs_rewrite_node() left the root as it was */
			return grow_root(f, ino, &in, logical, len, old, new);
		}
		if (r < 0)
			return r;
		err = ext2fs_write_inode_full(f->fs, ino, (struct ext2_inode *)in,
					      (int)isize);
		return tp_e2fs_errcode(err);
	}

	/* The leaf: its block is what the index above points at. */
	err = ext2fs_extent_get(h, EXT2_EXTENT_UP, &e);
	if (err)
		return tp_e2fs_errcode(err);
	buf = malloc(f->info.block_size);
	if (!buf)
		return -ENOMEM;
	err = io_channel_read_blk64(f->fs->io, e.e_pblk, 1, buf);
	if (err)
		return tp_e2fs_errcode(err);
	struct ext3_extent_header *leaf = (struct ext3_extent_header *)buf;
	if (ext2fs_le16_to_cpu(leaf->eh_magic) != EXT3_EXT_MAGIC ||
	    ext2fs_le16_to_cpu(leaf->eh_depth) != 0)
		return -ESTALE;
	r = tp_e2fs_rewrite_node(leaf, ext2fs_le16_to_cpu(leaf->eh_max), logical, len,
				 old, new);
	if (r < 0)
		return r;
	err = ext2fs_extent_block_csum_set(f->fs, ino, leaf);
	if (!err)
		err = io_channel_write_blk64(f->fs->io, e.e_pblk, 1, buf);
	return tp_e2fs_errcode(err);
}
