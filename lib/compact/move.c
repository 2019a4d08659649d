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
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "kio/kio.h"
#include "compact/mover.h"
#include "pinning.h"

/* MOVE_EXT this many blocks at a time, checking the leases between. */
#define CHUNK_BYTES (4u << 20)
/* Pieces, and blocks, placed through one donor at most. */
#define MAX_CHAIN 256
#define MAX_CHAIN_BLOCKS 32768

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

	/* O_NONBLOCK: an open that would break someone's lease fails at
	 * once (EWOULDBLOCK, "in use") instead of waiting out
	 * /proc/sys/fs/lease-break-time, 45 s, for a holder that may never
	 * let go -- any user can hold a read lease on a file they can read. */
	fd = tp_open_by_inode(mv->mount_fd, f->ino, f->generation,
			      O_RDWR | O_NOATIME | O_NONBLOCK);
	if (fd == -EPERM) /* O_NOATIME on a file we do not own */
		fd = tp_open_by_inode(mv->mount_fd, f->ino, f->generation,
				      O_RDWR | O_NONBLOCK);
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
	    st.st_mtim.tv_sec != f->mtime || (flags & (TP_PINNING_FLAGS | EXT4_INLINE_DATA_FL)) ||
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

static void pending_add(struct tp_mover *mv, uint64_t blk, uint64_t len)
{
	if (blk != UINT64_MAX)
		tp_blocks_add(&mv->pending, blk, len);
}

/* Freed by our donors, or by the placer's reservoir, since the last commit. */
static bool pending_overlaps(const struct tp_mover *mv, uint64_t blk, uint64_t len)
{
	return tp_blocks_overlap(&mv->pending, blk, len) ||
	       tp_blocks_overlap(&mv->placer.freed, blk, len);
}

/* What closing donor d frees, busy until the next commit: all it maps
 * (helpers wherever ext4 put them, the victim's old blocks, what is left
 * of the target), but the borrowed block, which goes back to its lender,
 * bringing back the helper block that was in its place. */
static void pending_add_donor(struct tp_mover *mv, const struct tp_donor *d,
			      uint64_t T, uint64_t placed, uint64_t total)
{
	struct tp_fe_list l = { 0 };
	struct stat st;

	if (fstat(d->fd, &st) < 0 ||
	    tp_fiemap(d->fd, mv->block_size, 0,
		      ((uint64_t)st.st_size + mv->block_size - 1) / mv->block_size,
		      false, &l) < 0) {
		/* not all of it, then: what is known */
		pending_add(mv, d->fence_physical, 1);
		pending_add(mv, T + placed, total - placed);
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct tp_fe *e = &l.v[i];
		uint64_t slot = d->borrow_slot;
		if (d->borrowed && e->logical <= slot && slot < e->logical + e->len) {
			pending_add(mv, e->physical, slot - e->logical);
			pending_add(mv, e->physical + (slot - e->logical) + 1,
				    e->logical + e->len - slot - 1);
		} else {
			pending_add(mv, e->physical, e->len);
		}
	}
	pending_add(mv, d->slot_physical, 1);
	tp_fe_list_clear(&l);
}

int tp_mover_commit(struct tp_mover *mv)
{
	int r;

	/* The reservoir's blocks, free in this commit. */
	tp_placer_flush(&mv->placer);
	r = tp_journal_commit(mv->mount_fd, mv->fast_commit);
	if (r >= 0)
		mv->pending.n = mv->placer.freed.n = 0;
	return r;
}

void tp_mover_done(struct tp_mover *mv)
{
	free(mv->pending.v);
	mv->pending = (struct tp_blocks_vec){ 0 };
}

/* Whether blocks [blk, blk + len) can be placed into now, as far as our
 * own frees go.  Blocks of our own donors freed since the last journal
 * commit (their helpers often land in small holes) are neither shown free
 * nor allocatable until it: with may_defer, say so; else commit once and
 * look again.  Whether anything else took part of the hole, the placer
 * asks right before it allocates (tp_place()): asking here too would
 * double the GETFSMAP calls, each of which costs in proportion to the
 * filesystem's block groups. */
static int target_free(struct tp_mover *mv, uint64_t blk, uint64_t len, bool *ret)
{
	int r;

	*ret = true;
	if (!pending_overlaps(mv, blk, len))
		return 0;
	r = tp_fsmap_is_free(mv->mount_fd, mv->dev, mv->block_size, blk, len, ret);
	if (r < 0 || *ret)
		return r;
	if (mv->may_defer) {
		/* rather than a commit now, one for all such victims later */
		mv->needs_commit = true;
		return 0;
	}
	r = tp_mover_commit(mv);
	if (r < 0)
		return r;
	mv->commits++;
	return tp_fsmap_is_free(mv->mount_fd, mv->dev, mv->block_size, blk, len, ret);
}

/* Move one piece into donor blocks [at, at + m->len), under the protocol.
 * lfd: the lender's fd (the piece's own file may be the lender). */
static int move_piece(struct tp_mover *mv, const struct tp_move *m,
		      const struct tp_donor *d, uint64_t at, int lfd,
		      uint32_t lender, enum tp_skip_reason *why)
{
	uint32_t bs = mv->block_size;
	int ffd = -1, r;
	bool ok = false;

	if (lfd >= 0 && m->file == lender)
		ffd = lfd;
	else {
		r = open_checked(mv, m->file, &ffd, why);
		if (r < 0)
			return r;
	}
	r = maps(mv, ffd, m->logical, m->source, m->len, &ok);
	if (r < 0 || !ok) {
		*why = r < 0 ? skip_for_errno(r) : TP_SKIP_CHANGED;
		r = r < 0 ? r : -ECANCELED;
		goto out;
	}

	/* In chunks, letting go as soon as someone opens the file; its
	 * cached pages go first, the piece is read ahead (tp_prefetch()). */
	tp_prefetch(ffd, m->logical * bs, m->len * bs);
	uint64_t chunk = MAX(CHUNK_BYTES / bs, 1u), done = 0;
	while (done < m->len) {
		uint64_t n = MIN(chunk, m->len - done), moved = 0;
		r = tp_move_ext(ffd, d->fd, m->logical + done, at + done, n, &moved);
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
	/* the whole file's cache: a large folio that reaches past the
	 * range would stay, and MOVE_EXT stumbles on it as on a cached page */
	tp_drop_cache(ffd, 0, 0);
	if (ffd != lfd)
		close_leased(&ffd);
	return r;
}

/* Moves k and k + 1 go through one donor: k + 1 starts where k ends and
 * its lender is the block k places last (or, without lenders, nothing). */
static bool chained(const struct tp_move *a, const struct tp_move *b)
{
	if (b->target != a->target + a->len || b->right || b->has_lender != a->has_lender)
		return false;
	return !b->has_lender || (b->lender == a->file &&
				  b->lender_logical == a->logical + a->len - 1);
}

size_t tp_mover_chain_length(const struct tp_move *moves, size_t n)
{
	uint64_t total = moves[0].len;
	size_t k = 1;

	while (k < n && k < MAX_CHAIN && chained(&moves[k - 1], &moves[k]) &&
	       total + moves[k].len <= MAX_CHAIN_BLOCKS) {
		total += moves[k].len;
		k++;
	}
	return k;
}

int tp_mover_move(struct tp_mover *mv, const struct tp_move *moves, size_t n,
		  size_t *ret_done, enum tp_skip_reason *why)
{
	const struct tp_move *first = &moves[0];
	uint64_t T = first->target, total = 0;
	struct tp_donor d = { .fd = -1 };
	int lfd = -1, r;
	size_t k = 0;
	bool ok;

	for (size_t i = 0; i < n; i++)
		total += moves[i].len;
	*ret_done = 0;
	mv->needs_commit = false;
	mv->placer.may_park = !mv->may_defer;

	/* The lender, beside the hole. */
	if (first->has_lender) {
		uint64_t beside = first->right ? T + total : T - 1;
		r = open_checked(mv, first->lender, &lfd, why);
		if (r < 0) {
			*why = *why == TP_SKIP_GONE || *why == TP_SKIP_IN_USE ||
					       *why == TP_SKIP_CHANGED ?
				       TP_SKIP_LENDER : *why;
			goto out;
		}
		r = maps(mv, lfd, first->lender_logical, beside, 1, &ok);
		if (r < 0 || !ok) {
			r = r < 0 ? r : -ECANCELED;
			*why = TP_SKIP_LENDER;
			goto out;
		}
		tp_prefetch(lfd, first->lender_logical * mv->block_size,
			    mv->block_size);
	}

	/* The target, not waiting for a commit of our own frees. */
	r = target_free(mv, T, total, &ok);
	if (r >= 0 && !ok) {
		r = -EBUSY;
		*why = TP_SKIP_HOLE_TAKEN;
		goto out;
	}
	if (r < 0) {
		*why = skip_for_errno(r);
		goto out;
	}

	struct tp_place_request q = {
		.target = T,
		.len = total,
		.lender_fd = lfd,
		.lender_logical = first->lender_logical,
		.right = first->right,
	};
	enum tp_place_outcome o;
	r = tp_place(&mv->placer, &q, &d, &o);
	if (r < 0) {
		*why = skip_for_errno(r);
		goto out;
	}
	switch (o) {
	case TP_PLACED:
		break;
	case TP_PLACE_HOLE_BUSY:
		/* A helper took part of the hole, and was freed with its
		 * donor: the hole is free again after a commit. */
		pending_add(mv, T, total);
		mv->needs_commit = true;
		*why = TP_SKIP_HOLE_TAKEN;
		r = -EBUSY;
		goto out;
	case TP_PLACE_HOLE_TAKEN:
		/* something else took part of the hole meanwhile */
		*why = TP_SKIP_HOLE_TAKEN;
		r = -EBUSY;
		goto out;
	case TP_PLACE_LENDER_MOVED:
		*why = TP_SKIP_LENDER;
		r = -ECANCELED;
		goto out;
	case TP_PLACE_MISSED:
	default:
		*why = TP_SKIP_MISSED;
		r = -EADDRNOTAVAIL;
		goto out;
	}

	/* The pieces, one after the other into the donor's range. */
	for (uint64_t at = d.start; k < n; at += moves[k].len, k++) {
		r = move_piece(mv, &moves[k], &d, at, lfd, first->lender, why);
		if (r < 0)
			break;
	}
	*ret_done = k;

out:
	if (d.fd >= 0) {
		uint64_t placed = 0;
		for (size_t i = 0; i < k; i++)
			placed += moves[i].len;
		/* (the reservoir records what it frees itself) */
		if (!d.reservoir)
			pending_add_donor(mv, &d, T, placed, total);
		if (tp_donor_release(&d) < 0)
			mv->placer.stats.unreturned++;
	}
	close_leased(&lfd);
	return k == n ? 0 : (r < 0 ? r : -EIO);
}
