/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel interfaces of online compaction, one file each:
 *   fiemap.c    FS_IOC_FIEMAP     where a file's blocks are
 *   fsmap.c     FS_IOC_GETFSMAP   whether blocks are free, live
 *   move-ext.c  EXT4_IOC_MOVE_EXT swap blocks between two files
 *   trim.c      FITRIM            discard free ranges
 *   handle.c    open_by_handle_at, leases, inode flags
 *   commit.c    fsync of an O_TMPFILE: a journal commit
 * All in filesystem blocks unless named _bytes; all return >= 0 or -errno.
 */
#ifndef TP_KIO_H
#define TP_KIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- fiemap.c ---- */

enum {
	TP_FE_UNWRITTEN = 1 << 0,
	TP_FE_LAST = 1 << 1,
	TP_FE_UNSETTLED = 1 << 2, /* delalloc, unknown, inline, encoded... */
};

struct tp_fe {
	uint64_t logical, physical, len; /* blocks */
	uint32_t flags;
};

struct tp_fe_list {
	struct tp_fe *v;
	size_t n, cap;
};

/* The extents of fd overlapping logical blocks [first, first + count),
 * appended to list (not clipped).  flush: FIEMAP_FLAG_SYNC. */
int tp_fiemap(int fd, uint32_t block_size, uint64_t first, uint64_t count,
	      bool flush, struct tp_fe_list *list);
void tp_fe_list_clear(struct tp_fe_list *list);
/* Whether logical [logical, logical + len) of list maps, in written or
 * unwritten extents, exactly to physical [physical, physical + len). */
bool tp_fe_maps(const struct tp_fe_list *list, uint64_t logical,
		uint64_t physical, uint64_t len);

/* ---- fsmap.c ---- */

/* Call fn for each free extent overlapping blocks [blk, blk + len),
 * clipped to it, in order.  fn returns < 0 to stop. */
int tp_fsmap_for_each_free(int fd, dev_t dev, uint32_t block_size,
			   uint64_t blk, uint64_t len,
			   int (*fn)(uint64_t blk, uint64_t len, void *userdata),
			   void *userdata);

/* Whether blocks [blk, blk + len) are all free, by the kernel's live view
 * (freed blocks show after their journal commit).  One GETFSMAP call
 * (more only for a range of many extents), whose cost grows with the
 * filesystem's block groups: ext4 lists its fixed metadata anew for each. */
int tp_fsmap_is_free(int fd, dev_t dev, uint32_t block_size, uint64_t blk,
		     uint64_t len, bool *ret_free);
/* The same, and *ret_end (may be NULL): the end of the free extent, as
 * ext4 keeps it (within a block group), that holds block blk; blk itself
 * if blk is not free. */
int tp_fsmap_free_extent(int fd, dev_t dev, uint32_t block_size, uint64_t blk,
			 uint64_t len, bool *ret_free, uint64_t *ret_end);

/* ---- move-ext.c ---- */

/* Write back and drop the page cache of [off, off + len) bytes of fd.
 * MOVE_EXT cannot release a page that is cached dirty, under writeback or
 * with busy buffers: it forces a journal commit and retries, for every
 * such page (measured: 31 commits for 32 cached blocks, none for
 * uncached ones).  Call before each MOVE_EXT. */
void tp_drop_cache(int fd, uint64_t off, uint64_t len);
/* The whole file's cache dropped (tp_drop_cache()), then [off, off + len)
 * bytes read ahead, clean, in one request (POSIX_FADV_WILLNEED), so that
 * MOVE_EXT finds the pages it copies up to date.  Without it, kernels up
 * to 6.18 read them one page at a time, each read waited for: most of the
 * time a move took (measured on 6.18: an aged 32 GiB filesystem compacted
 * in 40 s instead of 55, 2 GiB in 2.5-3.3 s instead of 4.0-5.3).  The
 * forced read-ahead makes pages of the smallest size the file allows, not
 * the large folios of the sequential read-ahead, which MOVE_EXT would
 * stumble on. */
void tp_prefetch(int fd, uint64_t off, uint64_t len);

/* EXT4_IOC_MOVE_EXT in a loop until len blocks moved or an error: swaps
 * orig's [orig_start, +len) with donor's [donor_start, +len), copying
 * orig's data.  *ret_moved holds what moved even on error. */
int tp_move_ext(int orig_fd, int donor_fd, uint64_t orig_start,
		uint64_t donor_start, uint64_t len, uint64_t *ret_moved);

/* ---- trim.c ---- */

/* FITRIM [start, start + len) bytes, extents of at least minlen bytes.
 * *ret_trimmed: bytes the kernel says it discarded. */
int tp_fitrim(int fd, uint64_t start, uint64_t len, uint64_t minlen,
	      uint64_t *ret_trimmed);

/* Give [off, off + len) bytes of a device or image file back: BLKDISCARD
 * on a block device, a punched hole in a regular file. */
int tp_release_range(int fd, bool blockdev, uint64_t off, uint64_t len);

/* ---- handle.c ---- */

/* open_by_handle_at with a FILEID_INO32_GEN handle: no path walk, and a
 * stale generation gives -ESTALE rather than another file. */
int tp_open_by_inode(int mount_fd, uint32_t ino, uint32_t generation, int flags);
/* A write lease on an O_RDWR fd: granted only to the only opener.
 * -EAGAIN: somebody else has the file open. */
int tp_lease_take(int fd);
/* Whether another open is waiting for the lease to go. */
bool tp_lease_broken(int fd);
void tp_lease_release(int fd);
/* The signal a lease break sends; callers ignore it (tp_lease_broken()
 * polls instead). */
#define TP_LEASE_SIGNAL SIGIO
/* FS_IOC_GETFLAGS */
int tp_inode_flags(int fd, uint32_t *ret_flags);

/* ---- commit.c ---- */

/* Commit the running journal transaction of the filesystem of mount_fd,
 * so that the blocks it freed can be allocated and show free, without
 * writing metadata in place as syncfs() does.  fast_commit: the
 * filesystem has the fast_commit feature (syncfs() is used then). */
int tp_journal_commit(int mount_fd, bool fast_commit);

#endif
