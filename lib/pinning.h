/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The inode attributes under which a file's data stays where it is: the
 * scan counts such files as pinned (TP_PIN_ATTRIBUTE), and the mover, which
 * looks again when it opens a file, skips one that has gained any of them
 * since the scan.
 */
#ifndef TP_PINNING_H
#define TP_PINNING_H

#include <ext2fs/ext2_fs.h> /* inode flag values only */

#define TP_PINNING_FLAGS                                                       \
	(EXT2_IMMUTABLE_FL | EXT2_APPEND_FL | EXT4_ENCRYPT_FL | EXT4_VERITY_FL | \
	 FS_DAX_FL | EXT3_JOURNAL_DATA_FL)

#endif
