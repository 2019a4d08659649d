/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scan's side of libext2fs: runs of used blocks and of static metadata
 * from the bitmaps, the inode table walked group by group, and each
 * inode's blocks (extent tree or block map); and the names of inodes,
 * from the directories.  Read-only, safe on a mounted filesystem.
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

void tp_fs_drop_bitmaps(struct tp_fs *f)
{
	ext2_filsys fs = f->fs;

	if (fs->flags & EXT2_FLAG_RW)
		return; /* the offline engine's: they hold its allocations */
	if (fs->block_map) {
		ext2fs_free_block_bitmap(fs->block_map);
		fs->block_map = NULL;
	}
	if (fs->inode_map) {
		ext2fs_free_inode_bitmap(fs->inode_map);
		fs->inode_map = NULL;
	}
}

static void ext2fs_free_block_bitmapp(ext2fs_block_bitmap *map)
{
	if (*map)
		ext2fs_free_block_bitmap(*map);
}

/* Static metadata piece by piece, where the superblock puts it: what
 * ext2fs_reserve_super_and_bgd() marks for each group (superblock, the
 * old-style descriptors and the reserved GDT blocks after them, a meta_bg
 * descriptor), the bitmaps and the inode table, the resize inode's
 * double-indirect block, the MMP block.  One enumeration for the scan's
 * counts and explain's names. */
int tp_fs_for_each_metadata_piece(struct tp_fs *f, tp_meta_fn fn, void *userdata)
{
	ext2_filsys fs = f->fs;
	uint64_t count = f->info.blocks_count;
	blk64_t b;
	int r;

#define PIECE(kind, group, blk, len)                                            \
	do {                                                                    \
		r = fn(kind, group, blk, len, userdata);                        \
		if (r < 0)                                                      \
			return r;                                               \
	} while (0)

	if (f->info.first_data_block > 0)
		PIECE(TP_OWNER_BOOT_BLOCK, 0, 0, f->info.first_data_block);
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		blk64_t super_blk, old_desc_blk, new_desc_blk;
		blk_t used_blks;
		uint64_t old_desc_blocks, desc_blocks;

		ext2fs_super_and_bgd_loc2(fs, g, &super_blk, &old_desc_blk,
					  &new_desc_blk, &used_blks);
		if (ext2fs_has_feature_meta_bg(fs->super)) {
			old_desc_blocks = fs->super->s_first_meta_bg;
			desc_blocks = old_desc_blocks;
		} else {
			old_desc_blocks = fs->desc_blocks +
					  fs->super->s_reserved_gdt_blocks;
			desc_blocks = fs->desc_blocks;
		}
		if ((super_blk || g == 0) && super_blk < count)
			PIECE(TP_OWNER_SUPERBLOCK, g, super_blk, 1);
		if (g == 0 && fs->blocksize == 1024 && EXT2FS_CLUSTER_RATIO(fs) > 1)
			PIECE(TP_OWNER_BOOT_BLOCK, 0, 0, 1);
		if (old_desc_blk && old_desc_blk < count) {
			uint64_t n = MIN(old_desc_blocks, count - old_desc_blk);
			uint64_t d = MIN(desc_blocks, n);
			if (d)
				PIECE(TP_OWNER_GROUP_DESCRIPTORS, g, old_desc_blk, d);
			if (n > d)
				PIECE(TP_OWNER_RESERVED_GDT, g, old_desc_blk + d, n - d);
		}
		if (new_desc_blk && new_desc_blk < count)
			PIECE(TP_OWNER_GROUP_DESCRIPTORS, g, new_desc_blk, 1);
		b = ext2fs_block_bitmap_loc(fs, g);
		if (b && b < count)
			PIECE(TP_OWNER_BLOCK_BITMAP, g, b, 1);
		b = ext2fs_inode_bitmap_loc(fs, g);
		if (b && b < count)
			PIECE(TP_OWNER_INODE_BITMAP, g, b, 1);
		b = ext2fs_inode_table_loc(fs, g);
		if (b && b + fs->inode_blocks_per_group <= count)
			PIECE(TP_OWNER_INODE_TABLE, g, b, fs->inode_blocks_per_group);
	}
	/* The resize inode's blocks are the reserved GDT blocks above, but
	 * for its double-indirect block; tp_fs_for_each_inode() skips it. */
	if (ext2fs_has_feature_resize_inode(fs->super)) {
		struct ext2_inode resize;
		if (ext2fs_read_inode(fs, EXT2_RESIZE_INO, &resize) == 0) {
			b = resize.i_block[EXT2_DIND_BLOCK];
			if (b && b < count)
				PIECE(TP_OWNER_RESIZE_INODE, ext2fs_group_of_blk2(fs, b),
				      b, 1);
		}
	}
	if (ext2fs_has_feature_mmp(fs->super) && fs->super->s_mmp_block &&
	    fs->super->s_mmp_block < count)
		PIECE(TP_OWNER_MMP, ext2fs_group_of_blk2(fs, fs->super->s_mmp_block),
		      fs->super->s_mmp_block, 1);
#undef PIECE
	return 0;
}

static int mark_piece(enum tp_owner_kind kind, uint32_t group, uint64_t blk,
		      uint64_t len, void *userdata)
{
	ext2fs_block_bitmap meta = userdata;
	uint64_t start = ext2fs_get_block_bitmap_start2(meta);

	(void)kind;
	(void)group;
	/* The boot block of 1 KiB-block filesystems lies below the bitmap's
	 * start: tp_fs_for_each_metadata_run() gives it apart. */
	if (blk + len <= start)
		return 0;
	if (blk < start) {
		len -= start - blk;
		blk = start;
	}
	ext2fs_mark_block_bitmap_range2(meta, blk, (unsigned)len);
	return 0;
}

int tp_fs_for_each_metadata_run(struct tp_fs *f, tp_run_fn fn, void *userdata)
{
	ext2_filsys fs = f->fs;
	_cleanup_(ext2fs_free_block_bitmapp) ext2fs_block_bitmap meta = NULL;
	errcode_t err;
	int r;

	/* Block-granular even on bigalloc. */
	err = ext2fs_allocate_subcluster_bitmap(fs, "thinpack metadata", &meta);
	if (err)
		return tp_e2fs_errcode(err);
	/* The union of the pieces, each block once, in runs; the blocks
	 * below s_first_data_block lie below the bitmap's start. */
	if (f->info.first_data_block > 0) {
		r = fn(0, f->info.first_data_block, userdata);
		if (r < 0)
			return r;
	}
	r = tp_fs_for_each_metadata_piece(f, mark_piece, meta);
	if (r < 0)
		return r;
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

/* What an inode is, for explain: the inodes the superblock names by
 * their role, the others by their type. */
static enum tp_owner_kind inode_kind(ext2_filsys fs, ext2_ino_t ino,
				     const struct ext2_inode *in, bool reserved)
{
	const struct ext2_super_block *sb = fs->super;

	if (ino == sb->s_journal_inum)
		return TP_OWNER_JOURNAL;
	if (ino == sb->s_usr_quota_inum || ino == sb->s_grp_quota_inum ||
	    ino == sb->s_prj_quota_inum)
		return TP_OWNER_QUOTA;
	if (ino == sb->s_orphan_file_inum)
		return TP_OWNER_ORPHAN_FILE;
	if (LINUX_S_ISDIR(in->i_mode))
		return TP_OWNER_DIRECTORY; /* the root directory is reserved */
	if (reserved)
		return TP_OWNER_RESERVED_INODE;
	if (in->i_flags & EXT4_EA_INODE_FL)
		return TP_OWNER_XATTR_INODE;
	if (LINUX_S_ISREG(in->i_mode))
		return TP_OWNER_FILE;
	if (LINUX_S_ISLNK(in->i_mode))
		return TP_OWNER_SYMLINK;
	return TP_OWNER_SPECIAL;
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
		ti.kind = inode_kind(fs, ino, in, ti.reserved);
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

/* ---- names ----------------------------------------------------------------------- */

struct name_walk {
	ext2_filsys fs;
	const uint32_t *wanted; /* sorted, unique */
	size_t n_wanted, left;
	uint32_t *parent;       /* per wanted: the directory that names it */
	bool *skip;             /* per wanted: a directory, or not looked for */
	uint32_t *dirs;         /* every directory in use */
	size_t n_dirs, cap_dirs;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static ssize_t wanted_index(const struct name_walk *w, uint32_t ino)
{
	const uint32_t *p = bsearch(&ino, w->wanted, w->n_wanted, sizeof(ino), cmp_u32);
	return p ? p - w->wanted : -1;
}

static int collect_dir(struct tp_fs *f, const struct tp_inode *in, void *userdata)
{
	struct name_walk *w = userdata;

	(void)f;
	if (in->kind != TP_OWNER_DIRECTORY || in->links == 0)
		return 0;
	if (TP_RESERVE(w->dirs, w->cap_dirs, w->n_dirs + 1) < 0)
		return -ENOMEM;
	w->dirs[w->n_dirs++] = in->ino;
	return 0;
}

static int name_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *d,
		      int offset, int blocksize, char *buf, void *priv)
{
	struct name_walk *w = priv;
	ssize_t i;

	(void)offset;
	(void)blocksize;
	(void)buf;
	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE || !d->inode)
		return 0;
	i = wanted_index(w, d->inode);
	if (i < 0 || w->parent[i] || w->skip[i])
		return 0;
	w->parent[i] = dir;
	return --w->left == 0 ? DIRENT_ABORT : 0;
}

char **tp_paths_free(char **paths, size_t n)
{
	if (!paths)
		return NULL;
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return NULL;
}

/* ext2fs_get_pathname() into malloc()ed memory; NULL where it has no
 * name for it ("..." beyond 32 levels, "<ino>" for a directory gone). */
static int pathname(ext2_filsys fs, ext2_ino_t dir, ext2_ino_t ino, char **ret)
{
	char *name = NULL;
	errcode_t err = ext2fs_get_pathname(fs, dir, ino, &name);

	int r = 0;

	*ret = NULL;
	if (err == EXT2_ET_NO_MEMORY)
		return -ENOMEM;
	if (err || !name)
		return 0; /* changed under a live scan, or damaged: no name */
	if (name[0] == '/') {
		*ret = strdup(name);
		if (!*ret)
			r = -ENOMEM;
	}
	ext2fs_free_mem(&name);
	return r;
}

int tp_fs_inode_paths(struct tp_fs *f, const uint32_t *inodes, size_t n,
		      char ***ret)
{
	ext2_filsys fs = f->fs;
	_cleanup_free_ uint32_t *wanted = NULL, *parent = NULL;
	_cleanup_free_ bool *is_dir = NULL, *skip = NULL;
	struct name_walk w = { .fs = fs };
	char **paths = NULL;
	size_t m = 0;
	int r = 0;

	paths = calloc(MAX(n, 1), sizeof(*paths));
	wanted = malloc(MAX(n, 1) * sizeof(*wanted));
	if (!paths || !wanted) {
		free(paths);
		return -ENOMEM;
	}
	memcpy(wanted, inodes, n * sizeof(*wanted));
	qsort(wanted, n, sizeof(*wanted), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (wanted[i] && (m == 0 || wanted[i] != wanted[m - 1]))
			wanted[m++] = wanted[i];
	parent = calloc(MAX(m, 1), sizeof(*parent));
	is_dir = calloc(MAX(m, 1), sizeof(*is_dir));
	skip = calloc(MAX(m, 1), sizeof(*skip));
	if (!parent || !is_dir || !skip) {
		free(paths);
		return -ENOMEM;
	}
	w.wanted = wanted;
	w.n_wanted = m;
	w.parent = parent;
	w.skip = skip;

	/* A directory names itself through its ".." chain; anything else
	 * only the directory that holds its entry knows. */
	for (size_t i = 0; i < m; i++) {
		struct ext2_inode in;
		skip[i] = true;
		if (wanted[i] > fs->super->s_inodes_count ||
		    ext2fs_read_inode(fs, wanted[i], &in) != 0)
			continue;
		if (LINUX_S_ISDIR(in.i_mode) && in.i_links_count)
			is_dir[i] = true;
		else if (!LINUX_S_ISDIR(in.i_mode) && in.i_links_count) {
			skip[i] = false;
			w.left++;
		} /* else deleted: no entry names it */
	}
	if (w.left) {
		r = tp_fs_for_each_inode(f, collect_dir, &w, NULL, NULL, NULL);
		for (size_t d = 0; r >= 0 && d < w.n_dirs && w.left; d++)
			/* a directory that cannot be read (changing under a
			 * live scan, damaged) names nothing */
			(void)ext2fs_dir_iterate2(fs, w.dirs[d], 0, NULL, name_entry, &w);
		free(w.dirs);
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		ssize_t k = inodes[i] ? wanted_index(&w, inodes[i]) : -1;
		if (k < 0)
			continue;
		if (is_dir[k])
			r = pathname(fs, wanted[k], 0, &paths[i]);
		else if (parent[k])
			r = pathname(fs, parent[k], wanted[k], &paths[i]);
	}
	if (r < 0) {
		tp_paths_free(paths, n);
		return r;
	}
	*ret = paths;
	return 0;
}
