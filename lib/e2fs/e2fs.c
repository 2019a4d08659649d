/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/e2fs/ is the only place that talks to libext2fs (e2fs-private.h
 * says which file does what).  tp_fs_open() opens the filesystem
 * read-only on the device: no journal replay, no writes, safe while it is
 * mounted (the block device's page cache holds what ext4 has written or is
 * about to).  tp_fs_open_rw() is the offline engine's: an unmounted
 * filesystem, opened exclusively, whose blocks it copies (tp_fs_read,
 * tp_fs_write) and whose extent trees it edits in place (tp_fs_remap).
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
#include "e2fs/e2fs.h"
#include "e2fs/e2fs-private.h"

static __thread errcode_t last_error;

int tp_e2fs_errcode(errcode_t err)
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
	tp_e2fs_drop_grown(f);
	free(f->grown);
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
		return tp_e2fs_errcode(err);
	}
	f->fs->priv_data = f; /* for the callbacks libext2fs makes */
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
			return tp_e2fs_errcode(err);
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
