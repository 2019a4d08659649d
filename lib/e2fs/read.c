/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scan's side of libext2fs: runs of used blocks and of static metadata
 * from the bitmaps, the inode table walked group by group, and each
 * inode's blocks (extent tree or block map).  Read-only, safe on a mounted
 * filesystem.
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>
#include <ext2fs/ext3_extents.h>

#include "thinpack/thinpack.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "e2fs/e2fs.h"
#include "e2fs/e2fs-private.h"

/* ---- block bitmaps ----------------------------------------------------------- */

static int for_each_set_run(ext2fs_block_bitmap map, uint64_t first,
			    uint64_t last, tp_run_fn fn, void *userdata)
{
	uint64_t b = first;

	while (b <= last) {
		blk64_t s, z;
		errcode_t err;
		int r;

		err = ext2fs_find_first_set_block_bitmap2(map, b, last, &s);
		if (err == ENOENT)
			break;
		if (err)
			return tp_e2fs_errcode(err);
		err = ext2fs_find_first_zero_block_bitmap2(map, s, last, &z);
		if (err == ENOENT)
			z = last + 1;
		else if (err)
			return tp_e2fs_errcode(err);
		r = fn(s, z - s, userdata);
		if (r < 0)
			return r;
		b = z;
	}
	return 0;
}

int tp_fs_for_each_used_run(struct tp_fs *f, tp_run_fn fn, void *userdata)
{
	ext2_filsys fs = f->fs;
	errcode_t err;
	int r;

	if (!fs->block_map) {
		err = ext2fs_read_block_bitmap(fs);
		if (err)
			return tp_e2fs_errcode(err);
	}
	if (f->info.first_data_block > 0) {
		r = fn(0, f->info.first_data_block, userdata);
		if (r < 0)
			return r;
	}
	if (f->info.blocks_count <= f->info.first_data_block)
		return 0;
	return for_each_set_run(fs->block_map, f->info.first_data_block,
				f->info.blocks_count - 1, fn, userdata);
}

bool tp_fs_range_in_use(struct tp_fs *f, uint64_t blk, uint64_t len)
{
	uint64_t first = f->info.first_data_block, end = blk + len;
	blk64_t out;

	if (len == 0)
		return true;
	if (end > f->info.blocks_count || end < blk || !f->fs->block_map)
		return false;
	if (end <= first)
		return true; /* below the bitmaps: always in use */
	blk = blk < first ? first : blk;
	return ext2fs_find_first_zero_block_bitmap2(f->fs->block_map, blk,
						    end - 1, &out) == ENOENT;
}

static void ext2fs_free_block_bitmapp(ext2fs_block_bitmap *map)
{
	if (*map)
		ext2fs_free_block_bitmap(*map);
}

int tp_fs_for_each_metadata_run(struct tp_fs *f, tp_run_fn fn, void *userdata)
{
	ext2_filsys fs = f->fs;
	_cleanup_(ext2fs_free_block_bitmapp) ext2fs_block_bitmap meta = NULL;
	errcode_t err;

	/* Block-granular even on bigalloc. */
	err = ext2fs_allocate_subcluster_bitmap(fs, "thinpack metadata", &meta);
	if (err)
		return tp_e2fs_errcode(err);

	blk64_t b;
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {

		ext2fs_reserve_super_and_bgd(fs, g, meta);
		b = ext2fs_block_bitmap_loc(fs, g);
		if (b && b < f->info.blocks_count)
			ext2fs_mark_block_bitmap2(meta, b);
		b = ext2fs_inode_bitmap_loc(fs, g);
		if (b && b < f->info.blocks_count)
			ext2fs_mark_block_bitmap2(meta, b);
		b = ext2fs_inode_table_loc(fs, g);
		if (b && b + fs->inode_blocks_per_group <= f->info.blocks_count)
			ext2fs_mark_block_bitmap_range2(meta, b,
							fs->inode_blocks_per_group);
	}
	/* The resize inode's blocks are the reserved GDT blocks marked above,
	 * but for its double-indirect block; tp_fs_for_each_inode() skips it. */
	if (ext2fs_has_feature_resize_inode(fs->super)) {
		struct ext2_inode resize;
		if (ext2fs_read_inode(fs, EXT2_RESIZE_INO, &resize) == 0) {
			b = resize.i_block[EXT2_DIND_BLOCK];
			if (b && b < f->info.blocks_count)
				ext2fs_mark_block_bitmap2(meta, b);
		}
	}
	if (ext2fs_has_feature_mmp(fs->super) && fs->super->s_mmp_block &&
	    fs->super->s_mmp_block < f->info.blocks_count)
		ext2fs_mark_block_bitmap2(meta, fs->super->s_mmp_block);

	if (f->info.first_data_block > 0) {
		int r = fn(0, f->info.first_data_block, userdata);
		if (r < 0)
			return r;
	}
	if (f->info.blocks_count <= f->info.first_data_block)
		return 0;
	return for_each_set_run(meta, f->info.first_data_block,
				f->info.blocks_count - 1, fn, userdata);
}

/* ---- inodes -------------------------------------------------------------------- */

static int64_t inode_time(uint32_t lo, const struct ext2_inode_large *large,
			  size_t extra_offset, size_t inode_size)
{
	int64_t t = (int32_t)lo;

	/* The extra field holds nanoseconds << 2 | epoch bits. */
	if (inode_size > EXT2_GOOD_OLD_INODE_SIZE &&
	    extra_offset + sizeof(uint32_t) <=
		    EXT2_GOOD_OLD_INODE_SIZE + (size_t)large->i_extra_isize) {
		uint32_t extra;
		memcpy(&extra, (const char *)large + extra_offset, sizeof(extra));
		t += (int64_t)(extra & EXT4_EPOCH_MASK) << 32;
	}
	return t;
}

struct group_progress {
	tp_progress_fn progress;
	void *userdata;
	uint64_t groups;
	const volatile sig_atomic_t *stop;
};

static errcode_t group_done(ext2_filsys fs, ext2_inode_scan scan, dgrp_t group,
			    void *priv)
{
	struct group_progress *gp = priv;

	if (gp->progress)
		gp->progress("scan", (uint64_t)group + 1, gp->groups, gp->userdata);
	if (gp->stop && *gp->stop)
		return EXT2_ET_CANCEL_REQUESTED;
	return 0;
}

static void ext2fs_close_inode_scanp(ext2_inode_scan *scan)
{
	if (*scan)
		ext2fs_close_inode_scan(*scan);
}

int tp_fs_for_each_inode(struct tp_fs *f, tp_inode_fn fn, void *userdata,
			 tp_progress_fn progress, void *progress_userdata,
			 const volatile sig_atomic_t *stop)
{
	ext2_filsys fs = f->fs;
	_cleanup_(ext2fs_close_inode_scanp) ext2_inode_scan scan = NULL;
	_cleanup_free_ struct ext2_inode_large *buf = NULL;
	size_t inode_size = EXT2_INODE_SIZE(fs->super);
	ext2_ino_t first_ino = EXT2_FIRST_INO(fs->super);
	struct group_progress gp = { progress, progress_userdata,
				     fs->group_desc_count, stop };
	errcode_t err;

	if (!fs->inode_map) {
		err = ext2fs_read_inode_bitmap(fs);
		if (err)
			return tp_e2fs_errcode(err);
	}
	buf = calloc(1, MAX(inode_size, sizeof(*buf)));
	if (!buf)
		return -ENOMEM;
	err = ext2fs_open_inode_scan(fs, 0, &scan);
	if (err)
		return tp_e2fs_errcode(err);
	ext2fs_inode_scan_flags(scan, EXT2_SF_SKIP_MISSING_ITABLE, 0);
	ext2fs_set_inode_callback(scan, group_done, &gp);

	for (;;) {
		ext2_ino_t ino;
		struct tp_inode ti;
		int r;

		err = ext2fs_get_next_inode_full(scan, &ino,
						 (struct ext2_inode *)buf,
						 (int)inode_size);
		if (err == EXT2_ET_BAD_BLOCK_IN_INODE_TABLE)
			continue;
		if (err)
			return tp_e2fs_errcode(err);
		if (ino == 0)
			break;
		if (!ext2fs_test_inode_bitmap2(fs->inode_map, ino))
			continue;
		if (ino == EXT2_RESIZE_INO)
			continue; /* its blocks are static metadata */

		struct ext2_inode *in = (struct ext2_inode *)buf;
		memset(&ti, 0, sizeof(ti));
		ti.ino = ino;
		ti.generation = in->i_generation;
		ti.mode = in->i_mode;
		ti.links = in->i_links_count;
		ti.flags = in->i_flags;
		ti.size = EXT2_I_SIZE(in);
		ti.mtime = inode_time(in->i_mtime, buf,
				      offsetof(struct ext2_inode_large, i_mtime_extra),
				      inode_size);
		ti.ctime = inode_time(in->i_ctime, buf,
				      offsetof(struct ext2_inode_large, i_ctime_extra),
				      inode_size);
		ti.xattr_block = ext2fs_file_acl_block(fs, in);
		ti.extents = in->i_flags & EXT4_EXTENTS_FL;
		ti.has_blocks = !(in->i_flags & EXT4_INLINE_DATA_FL) &&
				ext2fs_inode_has_valid_blocks2(fs, in);
		ti.reserved = ino < first_ino;
		for (unsigned i = 0; i < f->n_special; i++)
			if (f->special[i] == ino)
				ti.reserved = true;
		ti.raw = buf;

		r = fn(f, &ti, userdata);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- block maps ------------------------------------------------------------------ */

static int map_extents(struct tp_fs *f, const struct tp_inode *ti,
		       tp_map_fn fn, void *userdata)
{
	_cleanup_(ext2fs_extent_freep) ext2_extent_handle_t h = NULL;
	struct ext2fs_extent e;
	errcode_t err;

	err = ext2fs_extent_open2(f->fs, ti->ino, (struct ext2_inode *)ti->raw, &h);
	if (err)
		return tp_e2fs_errcode(err);

	for (err = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &e); !err;
	     err = ext2fs_extent_get(h, EXT2_EXTENT_NEXT, &e)) {
		int r;

		if (!(e.e_flags & EXT2_EXTENT_FLAGS_LEAF)) {
			/* An index entry: e_pblk is the child node's block.
			 * Count it on the way down only. */
			if (e.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT)
				continue;
			r = fn(TP_MAP_TREE, 0, e.e_pblk, 1, userdata);
		} else if (e.e_len == 0)
			continue;
		else
			r = fn(e.e_flags & EXT2_EXTENT_FLAGS_UNINIT ?
				       TP_MAP_UNWRITTEN : TP_MAP_DATA,
			       e.e_lblk, e.e_pblk, e.e_len, userdata);
		if (r < 0)
			return r;
	}
	if (err != EXT2_ET_EXTENT_NO_NEXT)
		return tp_e2fs_errcode(err);
	return 0;
}

struct blockmap_walk {
	tp_map_fn fn;
	void *userdata;
	enum tp_map_kind kind;
	uint64_t logical, physical, len; /* the run being built */
	int error;
};

static int blockmap_flush(struct blockmap_walk *w)
{
	int r = 0;

	if (w->len)
		r = w->fn(w->kind, w->logical, w->physical, w->len, w->userdata);
	w->len = 0;
	return r;
}

static int blockmap_block(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
			  blk64_t ref_blk, int ref_offset, void *priv)
{
	struct blockmap_walk *w = priv;
	enum tp_map_kind kind = blockcnt < 0 ? TP_MAP_TREE : TP_MAP_DATA;
	uint64_t logical = blockcnt < 0 ? 0 : (uint64_t)blockcnt;

	if (w->len && kind == w->kind && *blocknr == w->physical + w->len &&
	    (kind == TP_MAP_TREE || logical == w->logical + w->len)) {
		w->len++;
		return 0;
	}
	w->error = blockmap_flush(w);
	if (w->error < 0)
		return BLOCK_ABORT;
	w->kind = kind;
	w->logical = logical;
	w->physical = *blocknr;
	w->len = 1;
	return 0;
}

static int map_blockmap(struct tp_fs *f, const struct tp_inode *ti,
			tp_map_fn fn, void *userdata)
{
	struct blockmap_walk w = { .fn = fn, .userdata = userdata };
	errcode_t err;

	err = ext2fs_block_iterate3(f->fs, ti->ino, BLOCK_FLAG_READ_ONLY, NULL,
				    blockmap_block, &w);
	if (w.error < 0)
		return w.error;
	if (err)
		return tp_e2fs_errcode(err);
	return blockmap_flush(&w);
}

int tp_fs_inode_map(struct tp_fs *f, const struct tp_inode *ti, tp_map_fn fn,
		    void *userdata)
{
	if (!ti->has_blocks)
		return 0;
	if (ti->extents)
		return map_extents(f, ti, fn, userdata);
	return map_blockmap(f, ti, fn, userdata);
}
