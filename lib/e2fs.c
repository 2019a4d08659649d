/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The only file that talks to libext2fs.  tp_fs_open() opens the filesystem
 * read-only on the device: no journal replay, no writes, safe while it is
 * mounted (the block device's page cache holds what ext4 has written or is
 * about to).  tp_fs_open_rw() is the offline engine's: an unmounted
 * filesystem, opened exclusively, whose blocks it copies (tp_fs_copy) and
 * whose extent trees it edits in place (tp_fs_remap).
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>
#include <ext2fs/ext3_extents.h>

#include "thinpack/thinpack.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "e2fs.h"

struct tp_fs {
	ext2_filsys fs;
	/* offline: who picks blocks for new extent-tree nodes */
	int (*pick)(void *userdata, uint64_t goal, uint64_t *ret);
	void *pick_userdata;
	struct tp_fs_info info;
	uint32_t special[8]; /* inode numbers the superblock names */
	unsigned n_special;
};

static __thread errcode_t last_error;

/* errcode_t -> -errno; the raw code stays for tp_fs_last_error(). */
static int map_errcode(errcode_t err)
{
	last_error = err;
	if (err == 0)
		return 0;
	if (err > 0 && err < 256)
		return -(int)err; /* com_err passes errno values through */
	switch (err) {
	case EXT2_ET_NO_MEMORY:
		return -ENOMEM;
	case EXT2_ET_BAD_MAGIC:
	case EXT2_ET_SB_CSUM_INVALID:
	case EXT2_ET_CORRUPT_SUPERBLOCK:
	case EXT2_ET_SHORT_READ:
		return -EMEDIUMTYPE;
	case EXT2_ET_CANCEL_REQUESTED:
		return -ECANCELED;
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
	case EXT2_ET_UNIMPLEMENTED:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

const char *tp_fs_last_error(void)
{
	static bool loaded;

	if (!last_error)
		return NULL;
	/* error_message() knows libext2fs's codes only once its table is
	 * loaded; without it, "Unknown code ext2 20". */
	if (!loaded) {
		initialize_ext2_error_table();
		loaded = true;
	}
	return error_message(last_error);
}

struct tp_fs *tp_fs_close(struct tp_fs *f)
{
	if (!f)
		return NULL;
	if (f->fs)
		ext2fs_close_free(&f->fs);
	free(f);
	return NULL;
}

TP_DEFINE_CLEANUP(struct tp_fs *, tp_fs_close)

static void format_uuid(const uint8_t u[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned j = 0;

	for (unsigned i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[j++] = '-';
		out[j++] = hex[u[i] >> 4];
		out[j++] = hex[u[i] & 15];
	}
	out[j] = '\0';
}

/* What the superblock says, and the inodes it names. */
static int fill_info(struct tp_fs *f)
{
	struct ext2_super_block *sb = f->fs->super;
	struct tp_fs_info *info = &f->info;
	info->block_size = f->fs->blocksize;
	info->blocks_count = ext2fs_blocks_count(sb);
	info->free_blocks = ext2fs_free_blocks_count(sb);
	info->first_data_block = sb->s_first_data_block;
	info->inodes_count = sb->s_inodes_count;
	info->free_inodes = sb->s_free_inodes_count;
	info->bigalloc = ext2fs_has_feature_bigalloc(sb);
	info->bigalloc_cluster_size = EXT2_CLUSTER_SIZE(sb);
	info->extents = ext2fs_has_feature_extents(sb);
	info->needs_recovery = ext2fs_has_feature_journal_needs_recovery(sb);
	info->quota = ext2fs_has_feature_quota(sb);
	info->fast_commit = ext2fs_has_feature_fast_commit(sb);
	format_uuid(sb->s_uuid, info->uuid);
	memcpy(info->label, sb->s_volume_name, sizeof(sb->s_volume_name));
	info->label[sizeof(sb->s_volume_name)] = '\0';

	const uint32_t named[] = { sb->s_journal_inum, sb->s_usr_quota_inum,
				   sb->s_grp_quota_inum, sb->s_prj_quota_inum,
				   sb->s_orphan_file_inum };
	f->n_special = 0;
	for (unsigned i = 0; i < ELEMENTSOF(named); i++)
		if (named[i])
			f->special[f->n_special++] = named[i];
	return 0;
}

/*
 * Open DEV with libext2fs FLAGS. A read-write open is refused with -EUCLEAN
 * when the filesystem is not clean (journal to replay, errors recorded),
 * and loads the allocation bitmaps it is going to change.
 */
static int open_fs(const struct tp_device *dev, int flags, struct tp_fs **ret)
{
	_cleanup_(tp_fs_closep) struct tp_fs *f = NULL;
	errcode_t err;
	int r;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	err = ext2fs_open2(dev->device, NULL, flags, 0, 0, unix_io_manager, &f->fs);
	if (err) {
		f->fs = NULL;
		return map_errcode(err);
	}
	if (flags & EXT2_FLAG_RW) {
		struct ext2_super_block *sb = f->fs->super;
		if (ext2fs_has_feature_journal_needs_recovery(sb) ||
		    (sb->s_state & EXT2_ERROR_FS) || !(sb->s_state & EXT2_VALID_FS))
			return -EUCLEAN;
	}
	r = fill_info(f);
	if (r < 0)
		return r;
	if (flags & EXT2_FLAG_RW) {
		err = ext2fs_read_bitmaps(f->fs);
		if (err)
			return map_errcode(err);
		/* With the superblock as read to compare with, libext2fs
		 * writes the primary one field by field, a write() each: a
		 * kill between two leaves fields that do not match its
		 * checksum (offline-crash caught one).  Without it, the
		 * superblock goes out whole, in one write. */
		ext2fs_free_mem(&f->fs->orig_super);
	}
	last_error = 0;
	*ret = TAKE_PTR(f);
	return 0;
}

int tp_fs_open(const struct tp_device *dev, struct tp_fs **ret)
{
	return open_fs(dev, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP |
			    EXT2_FLAG_IGNORE_CSUM_ERRORS, ret);
}

int tp_fs_open_rw(const struct tp_device *dev, struct tp_fs **ret)
{
	return open_fs(dev, EXT2_FLAG_RW | EXT2_FLAG_64BITS | EXT2_FLAG_EXCLUSIVE,
		       ret);
}

const struct tp_fs_info *tp_fs_get_info(const struct tp_fs *f)
{
	return &f->info;
}

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
			return map_errcode(err);
		err = ext2fs_find_first_zero_block_bitmap2(map, s, last, &z);
		if (err == ENOENT)
			z = last + 1;
		else if (err)
			return map_errcode(err);
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
			return map_errcode(err);
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
		return map_errcode(err);

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
			return map_errcode(err);
	}
	buf = calloc(1, MAX(inode_size, sizeof(*buf)));
	if (!buf)
		return -ENOMEM;
	err = ext2fs_open_inode_scan(fs, 0, &scan);
	if (err)
		return map_errcode(err);
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
			return map_errcode(err);
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

static void ext2fs_extent_freep(ext2_extent_handle_t *h)
{
	if (*h)
		ext2fs_extent_free(*h);
}

static int map_extents(struct tp_fs *f, const struct tp_inode *ti,
		       tp_map_fn fn, void *userdata)
{
	_cleanup_(ext2fs_extent_freep) ext2_extent_handle_t h = NULL;
	struct ext2fs_extent e;
	errcode_t err;

	err = ext2fs_extent_open2(f->fs, ti->ino, (struct ext2_inode *)ti->raw, &h);
	if (err)
		return map_errcode(err);

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
		return map_errcode(err);
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
		return map_errcode(err);
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
	return map_errcode(err);
}

int tp_fs_sync(struct tp_fs *f)
{
	return map_errcode(io_channel_flush(f->fs->io));
}

int tp_fs_copy(struct tp_fs *f, uint64_t src, uint64_t dst, uint64_t len)
{
	enum { CHUNK = 256 };
	_cleanup_free_ void *buf = NULL;
	errcode_t err;

	buf = malloc((size_t)CHUNK * f->info.block_size);
	if (!buf)
		return -ENOMEM;
	for (uint64_t done = 0; done < len;) {
		int n = (int)MIN((uint64_t)CHUNK, len - done);
		err = io_channel_read_blk64(f->fs->io, src + done, n, buf);
		if (!err)
			err = io_channel_write_blk64(f->fs->io, dst + done, n, buf);
		if (err)
			return map_errcode(err);
		done += (uint64_t)n;
	}
	return 0;
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
static struct tp_fs *alloc_owner; /* one filesystem at a time is compacted */

static errcode_t alloc_tree_block(ext2_filsys fs, blk64_t goal, blk64_t *ret)
{
	struct tp_fs *f = alloc_owner;
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
	alloc_owner = pick ? f : NULL;
	ext2fs_set_alloc_block_callback(f->fs, pick ? alloc_tree_block : NULL, NULL);
}

/* An on-disk extent, decoded and encoded (little-endian; the top bit of
 * the length marks an unwritten extent). */
struct raw_extent {
	uint64_t lblk, pblk;
	uint32_t len;
	bool uninit;
};

static struct raw_extent decode_extent(const struct ext3_extent *x)
{
	uint32_t len = ext2fs_le16_to_cpu(x->ee_len);
	return (struct raw_extent){
		.lblk = ext2fs_le32_to_cpu(x->ee_block),
		.pblk = ext2fs_le32_to_cpu(x->ee_start) |
			((uint64_t)ext2fs_le16_to_cpu(x->ee_start_hi) << 32),
		.len = len > EXT_INIT_MAX_LEN ? len - EXT_INIT_MAX_LEN : len,
		.uninit = len > EXT_INIT_MAX_LEN,
	};
}

static struct ext3_extent encode_extent(struct raw_extent e)
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
static int rewrite_node(struct ext3_extent_header *hdr, unsigned max,
			uint64_t logical, uint64_t len, uint64_t old, uint64_t new)
{
	struct ext3_extent *ents = (struct ext3_extent *)(hdr + 1);
	unsigned n = ext2fs_le16_to_cpu(hdr->eh_entries), k;
	struct raw_extent e, out[3];
	unsigned m = 0;

	for (k = 0; k < n; k++) {
		e = decode_extent(&ents[k]);
		if (e.lblk <= logical && logical < e.lblk + e.len)
			break;
	}
	if (k == n || logical + len > e.lblk + e.len ||
	    e.pblk + (logical - e.lblk) != old)
		return -ESTALE;
	if (logical > e.lblk)
		out[m++] = (struct raw_extent){ e.lblk, e.pblk,
						(uint32_t)(logical - e.lblk), e.uninit };
	out[m++] = (struct raw_extent){ logical, new, (uint32_t)len, e.uninit };
	if (logical + len < e.lblk + e.len)
		out[m++] = (struct raw_extent){ logical + len, old + len,
						(uint32_t)(e.lblk + e.len - logical - len),
						e.uninit };
	if (n - 1 + m > max)
		return -ENOSPC;
	memmove(&ents[k + m], &ents[k + 1], (n - k - 1) * sizeof(*ents));
	for (unsigned i = 0; i < m; i++)
		ents[k + i] = encode_extent(out[i]);
	hdr->eh_entries = ext2fs_cpu_to_le16((uint16_t)(n - 1 + m));
	return 0;
}

/*
 * The inode's root is full: move its extents, changed, to a new leaf
 * block, and make the root an index of it.  The leaf is written and synced
 * before the inode, in one write, points at it.
 */
static int grow_root(struct tp_fs *f, uint32_t ino, struct ext2_inode_large *in,
		     uint64_t logical, uint64_t len, uint64_t old, uint64_t new)
{
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
	r = rewrite_node(leaf, ext2fs_le16_to_cpu(leaf->eh_max), logical, len, old, new);
	if (r < 0)
		return r;
	err = alloc_tree_block(f->fs, new, &blk);
	if (err == EXT2_ET_BLOCK_ALLOC_FAIL)
		return -ENOSPC; /* nowhere to grow: the move is not made */
	if (!err)
		err = ext2fs_extent_block_csum_set(f->fs, ino, leaf);
	if (!err)
		err = io_channel_write_blk64(f->fs->io, blk, 1, buf);
	if (!err)
		err = io_channel_flush(f->fs->io);
	if (err)
		return map_errcode(err);

	struct ext3_extent *first = (struct ext3_extent *)(leaf + 1);
	struct ext3_extent_idx *idx = (struct ext3_extent_idx *)(root + 1);
	memset(idx, 0, sizeof(in->i_block) - sizeof(*root));
	idx->ei_block = first->ee_block;
	idx->ei_leaf = ext2fs_cpu_to_le32((uint32_t)blk);
	idx->ei_leaf_hi = ext2fs_cpu_to_le16((uint16_t)(blk >> 32));
	root->eh_entries = ext2fs_cpu_to_le16(1);
	root->eh_depth = ext2fs_cpu_to_le16(1);
	err = ext2fs_iblk_add_blocks(f->fs, (struct ext2_inode *)in, 1);
	if (!err)
		err = ext2fs_write_inode_full(f->fs, ino, (struct ext2_inode *)in,
					      EXT2_INODE_SIZE(f->fs->super));
	return map_errcode(err);
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
	err = ext2fs_read_inode_full(f->fs, ino, (struct ext2_inode *)in, (int)isize);
	if (!err)
		err = ext2fs_extent_open2(f->fs, ino, (struct ext2_inode *)in, &h);
	if (err)
		return map_errcode(err);
	err = ext2fs_extent_goto(h, logical);
	if (err == EXT2_ET_EXTENT_NOT_FOUND)
		return -ESTALE;
	if (!err)
		err = ext2fs_extent_get_info(h, &info);
	if (err)
		return map_errcode(err);

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
		r = rewrite_node(root, ext2fs_le16_to_cpu(root->eh_max), logical,
				 len, old, new);
		if (r == -ENOSPC && f->pick && !f->info.quota) {
			/* rewrite_node() left the root as it was */
			return grow_root(f, ino, in, logical, len, old, new);
		}
		if (r < 0)
			return r;
		err = ext2fs_write_inode_full(f->fs, ino, (struct ext2_inode *)in,
					      (int)isize);
		return map_errcode(err);
	}

	/* The leaf: its block is what the index above points at. */
	err = ext2fs_extent_get(h, EXT2_EXTENT_UP, &e);
	if (err)
		return map_errcode(err);
	buf = malloc(f->info.block_size);
	if (!buf)
		return -ENOMEM;
	err = io_channel_read_blk64(f->fs->io, e.e_pblk, 1, buf);
	if (err)
		return map_errcode(err);
	struct ext3_extent_header *leaf = (struct ext3_extent_header *)buf;
	if (ext2fs_le16_to_cpu(leaf->eh_magic) != EXT3_EXT_MAGIC ||
	    ext2fs_le16_to_cpu(leaf->eh_depth) != 0)
		return -ESTALE;
	r = rewrite_node(leaf, ext2fs_le16_to_cpu(leaf->eh_max), logical, len, old,
			 new);
	if (r < 0)
		return r;
	err = ext2fs_extent_block_csum_set(f->fs, ino, leaf);
	if (!err)
		err = io_channel_write_blk64(f->fs->io, e.e_pblk, 1, buf);
	return map_errcode(err);
}
