/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * move: the safety protocol around one move of one file's blocks.
 *
 *  1. Open the file by handle (inode + generation: no path walk, no
 *     inode-reuse mistakes; ESTALE = gone).
 *  2. Take a write lease: granted only when nobody else has the file open;
 *     a later open breaks it, and the move stops after its current
 *     MOVE_EXT call.
 *  3. Re-check size, ctime, flags against the scan, and FIEMAP against the
 *     plan.  The same for the lender whose block is borrowed.
 *  4. Check with GETFSMAP that the target is still free; place the donor
 *     (verified with FIEMAP); MOVE_EXT in chunks; FIEMAP must show the data
 *     at the target.
 *  5. Give the borrowed block back, close the donor (freeing the file's
 *     old blocks), drop what the move pulled into the page cache.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ext2fs/ext2_fs.h> /* inode flag values only */

#include "thinpack/thinpack.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "kio.h"
#include "mover.h"

/* MOVE_EXT this many blocks at a time, checking the leases between. */
#define CHUNK_BYTES (4u << 20)

#define PINNING_FLAGS                                                          \
	(EXT2_IMMUTABLE_FL | EXT2_APPEND_FL | EXT4_ENCRYPT_FL | EXT4_VERITY_FL | \
	 FS_DAX_FL | EXT3_JOURNAL_DATA_FL | EXT4_INLINE_DATA_FL)

const char *tp_skip_reason_to_string(enum tp_skip_reason r)
{
	static const char *const names[_TP_SKIP_MAX] = {
		[TP_SKIP_GONE] = "gone",
		[TP_SKIP_IN_USE] = "in_use",
		[TP_SKIP_CHANGED] = "changed",
		[TP_SKIP_INTERRUPTED] = "interrupted",
		[TP_SKIP_LENDER] = "lender",
		[TP_SKIP_HOLE_TAKEN] = "hole_taken",
		[TP_SKIP_MISSED] = "missed",
		[TP_SKIP_NO_ROOM] = "no_room",
		[TP_SKIP_BUSY] = "busy",
		[TP_SKIP_NO_SPACE] = "no_space",
		[TP_SKIP_UNSUPPORTED] = "unsupported",
		[TP_SKIP_IO_ERROR] = "io_error",
	};
	return (unsigned)r < _TP_SKIP_MAX ? names[r] : "unknown";
}

static enum tp_skip_reason skip_for_errno(int r)
{
	switch (r) {
	case -ESTALE:
	case -ENOENT:
		return TP_SKIP_GONE;
	case -EAGAIN:
		return TP_SKIP_IN_USE;
	case -EBUSY:
	case -ETXTBSY:
		return TP_SKIP_BUSY;
	case -ENOSPC:
	case -EDQUOT:
		return TP_SKIP_NO_SPACE;
	case -EOPNOTSUPP:
		return TP_SKIP_UNSUPPORTED;
	case -EINVAL:
	case -ENODATA:
	case -ELOOP:
		return TP_SKIP_CHANGED;
	default:
		return TP_SKIP_IO_ERROR;
	}
}

/* A file of the reverse map, open O_RDWR, leased, and as the scan saw it. */
static int open_checked(const struct tp_mover *mv, uint32_t file, int *ret_fd,
			enum tp_skip_reason *why)
{
	const struct tp_rfile *f = &mv->map->files[file];
	_cleanup_close_ int fd = -1;
	struct stat st;
	uint32_t flags;
	int r;

	fd = tp_open_by_inode(mv->mount_fd, f->ino, f->generation,
			      O_RDWR | O_NOATIME);
	if (fd == -EPERM) /* O_NOATIME on a file we do not own */
		fd = tp_open_by_inode(mv->mount_fd, f->ino, f->generation, O_RDWR);
	if (fd < 0) {
		*why = skip_for_errno(fd);
		return fd;
	}
	r = tp_lease_take(fd);
	if (r < 0) {
		*why = r == -EAGAIN || r == -EBUSY ? TP_SKIP_IN_USE :
						     skip_for_errno(r);
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto unlease;
	}
	r = tp_inode_flags(fd, &flags);
	if (r < 0)
		goto unlease;
	if (!S_ISREG(st.st_mode) || st.st_nlink == 0 ||
	    (uint64_t)st.st_size != f->size || st.st_ctim.tv_sec != f->ctime ||
	    st.st_mtim.tv_sec != f->mtime || (flags & PINNING_FLAGS) ||
	    !(flags & EXT4_EXTENTS_FL)) {
		r = -ECANCELED;
		*why = TP_SKIP_CHANGED;
		tp_lease_release(fd);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
unlease:
	tp_lease_release(fd);
	*why = skip_for_errno(r);
	return r;
}

static void close_leased(int *fd)
{
	if (*fd >= 0) {
		tp_lease_release(*fd);
		*fd = tp_safe_close(*fd);
	}
}

/* Whether fd's logical [logical, +len) is at physical [physical, +len). */
static int maps(const struct tp_mover *mv, int fd, uint64_t logical,
		uint64_t physical, uint64_t len, bool *ret)
{
	struct tp_fe_list l = { 0 };
	int r = tp_fiemap(fd, mv->block_size, logical, len, true, &l);

	if (r >= 0)
		*ret = tp_fe_maps(&l, logical, physical, len);
	tp_fe_list_clear(&l);
	return r;
}

int tp_mover_move(struct tp_mover *mv, const struct tp_move *m,
		  enum tp_skip_reason *why)
{
	int ffd = -1, lfd = -1, r;
	struct tp_donor d = { .fd = -1 };
	bool ok;

	/* The file, as the plan knows it. */
	r = open_checked(mv, m->file, &ffd, why);
	if (r < 0)
		return r;
	r = maps(mv, ffd, m->logical, m->source, m->len, &ok);
	if (r >= 0 && !ok) {
		r = -ECANCELED;
		*why = TP_SKIP_CHANGED;
		goto out;
	}
	if (r < 0) {
		*why = skip_for_errno(r);
		goto out;
	}

	/* The lender, beside the hole. */
	if (m->has_lender) {
		uint64_t beside = m->right ? m->target + m->len : m->target - 1;
		if (m->lender == m->file)
			lfd = ffd;
		else {
			r = open_checked(mv, m->lender, &lfd, why);
			if (r < 0) {
				*why = TP_SKIP_LENDER;
				goto out;
			}
		}
		r = maps(mv, lfd, m->lender_logical, beside, 1, &ok);
		if (r < 0 || !ok) {
			r = r < 0 ? r : -ECANCELED;
			*why = TP_SKIP_LENDER;
			goto out;
		}
	}

	/* The target, free now.  Blocks freed since the last journal commit
	 * (the helpers of earlier donors, often in small holes) are neither
	 * shown free nor allocatable until it: commit once and look again. */
	r = tp_fsmap_is_free(mv->mount_fd, mv->dev, mv->block_size, m->target,
			     m->len, &ok);
	if (r >= 0 && !ok && mv->uncommitted_frees) {
		if (syncfs(mv->mount_fd) < 0) {
			r = -errno;
			*why = skip_for_errno(r);
			goto out;
		}
		mv->uncommitted_frees = false;
		mv->commits++;
		r = tp_fsmap_is_free(mv->mount_fd, mv->dev, mv->block_size,
				     m->target, m->len, &ok);
	}
	if (r >= 0 && !ok) {
		r = -EADDRINUSE;
		*why = TP_SKIP_HOLE_TAKEN;
		goto out;
	}
	if (r < 0) {
		*why = skip_for_errno(r);
		goto out;
	}

	struct tp_place_request q = {
		.target = m->target,
		.len = m->len,
		.lender_fd = lfd,
		.lender_logical = m->lender_logical,
		.right = m->right,
	};
	r = tp_place(&mv->placer, &q, &d);
	if (r == -EADDRNOTAVAIL) {
		*why = TP_SKIP_MISSED;
		goto out;
	}
	if (r == -ESTALE) {
		*why = TP_SKIP_LENDER;
		goto out;
	}
	if (r < 0) {
		*why = skip_for_errno(r);
		goto out;
	}

	/* The data, in chunks, letting go as soon as someone opens it. */
	uint64_t chunk = MAX(CHUNK_BYTES / mv->block_size, 1u), done = 0;
	while (done < m->len) {
		uint64_t n = MIN(chunk, m->len - done), moved = 0;
		r = tp_move_ext(ffd, d.fd, m->logical + done, d.start + done, n,
				&moved);
		done += moved;
		if (r < 0) {
			*why = skip_for_errno(r);
			goto out;
		}
		if (done < m->len &&
		    (tp_lease_broken(ffd) || (lfd >= 0 && tp_lease_broken(lfd)))) {
			r = -EINTR;
			*why = TP_SKIP_INTERRUPTED;
			goto out;
		}
	}
	r = maps(mv, ffd, m->logical, m->target, m->len, &ok);
	if (r >= 0 && !ok)
		r = -EIO; /* moved, yet not where placed: should not happen */
	if (r < 0)
		*why = TP_SKIP_IO_ERROR;
	else
		mv->moved_blocks += m->len;

out:
	if (d.fd >= 0 && tp_donor_release(&d) < 0)
		mv->placer.stats.unreturned++;
	/* every placement, hit or miss, freed helper blocks */
	mv->uncommitted_frees = true;
	if (ffd >= 0)
		(void)posix_fadvise(ffd, (off_t)(m->logical * mv->block_size),
				    (off_t)(m->len * mv->block_size),
				    POSIX_FADV_DONTNEED);
	if (lfd >= 0 && lfd != ffd)
		close_leased(&lfd);
	close_leased(&ffd);
	return r;
}
