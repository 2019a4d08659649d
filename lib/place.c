/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * place: obtain donor blocks at a chosen physical position, so that
 * EXT4_IOC_MOVE_EXT can move a file's data exactly there.
 *
 * Backends:
 *   borrow      stock kernels (../shared/PLACEMENT.md).  ext4 honours an
 *               exact goal only for a request that merges with the file's
 *               own neighbouring extent.  So the donor borrows, with
 *               MOVE_EXT, the block next to the hole from the file that
 *               owns it (the lender), then allocates one block beside it
 *               (the goal is the hole) and takes the rest of the hole from
 *               the inode preallocation that allocation left; the borrowed
 *               block goes back when the data has moved.
 *   fallocate2  a kernel with the physical-goal fallocate of the RFC
 *               (opt-in, with its syscall number).
 * Every placement is verified with FIEMAP before any data moves; a miss
 * releases the donor's blocks and returns -EADDRNOTAVAIL.
 *
 * The donor is an O_TMPFILE: a crash leaves an orphan the kernel frees at
 * the next mount, and the lender's block sits, with its data, where the
 * donor's helper block was.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "kio.h"
#include "place.h"

/*
 * Donor layouts (logical blocks), with a fence of h blocks:
 *   merge-left   0: the borrowed block   [1, 1 + n): the range
 *                [1 + n, 1 + n + h): the fence
 *   merge-right  [0, n): the range   n: the borrowed block
 * Merge-right needs the range at 0 with nothing left of it, so that the
 * normalised request starts exactly at the range (see allocate()).
 *
 * The fence is fallocated a megabyte at a time, not a block: mballoc
 * serves a one-block request from the smallest free pieces, which may be
 * holes the plan fills, and a helper freed there stays busy until the
 * next journal commit, for which the victims that want the hole wait.  A
 * power-of-two request is served from an aligned free run of its size,
 * which holes in the clusters that stay rarely are (bench/compact: 38 to
 * 47 commits a run with single blocks, 8 to 10 with a megabyte).  The
 * borrow slot stays one block: the lender's block is copied into it, and
 * a megabyte run is most often an empty cluster, which a thin pool would
 * have to provision for that one block (bench/compact: some 140 clusters
 * a run to trim again).  One block goes to the smallest free pieces: the
 * slack, which the plan leaves out (plan.c).  Where no long run is left
 * (ENOSPC), the fence is a single block too.
 */
#define HELPER_BYTES (1u << 20)
/* More than 16 blocks keeps ext4 off the locality-group allocator. */
#define DONOR_MIN_BLOCKS 17

static uint64_t helper_blocks(uint32_t bs)
{
	return MAX(HELPER_BYTES / bs, 1u);
}

static int donor_open(int mount_fd, uint32_t bs, uint64_t n, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	uint64_t blocks = MAX(n + 1 + helper_blocks(bs), (uint64_t)DONOR_MIN_BLOCKS);

	fd = openat(mount_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(blocks * bs)) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int falloc(int fd, uint32_t bs, uint64_t blk, uint64_t n)
{
	if (n == 0)
		return 0;
	if (fallocate(fd, 0, (off_t)(blk * bs), (off_t)(n * bs)) < 0)
		return -errno;
	return 0;
}

static int punch(int fd, uint32_t bs, uint64_t blk, uint64_t n)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(blk * bs), (off_t)(n * bs)) < 0)
		return -errno;
	return 0;
}

/* Where donor block blk is, or -ENODATA if nowhere. */
static int donor_block(int fd, uint32_t bs, uint64_t blk, uint64_t *ret)
{
	struct tp_fe_list l = { 0 };
	int r = tp_fiemap(fd, bs, blk, 1, false, &l);

	if (r >= 0) {
		r = -ENODATA;
		for (size_t i = 0; i < l.n; i++)
			if (l.v[i].logical <= blk && blk < l.v[i].logical + l.v[i].len &&
			    !(l.v[i].flags & TP_FE_UNSETTLED)) {
				*ret = l.v[i].physical + (blk - l.v[i].logical);
				r = 0;
			}
	}
	tp_fe_list_clear(&l);
	return r;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Whether donor [start, start + n) is mapped, all of it outside physical
 * [T, T + len). */
static int mapped_outside(int fd, uint32_t bs, uint64_t start, uint64_t n,
			  uint64_t T, uint64_t len, bool *ret)
{
	struct tp_fe_list l = { 0 };
	uint64_t covered = 0;
	int r = tp_fiemap(fd, bs, start, n, false, &l);

	*ret = r >= 0;
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		const struct tp_fe *e = &l.v[i];
		uint64_t a = MAX(e->logical, start);
		uint64_t b = MIN(e->logical + e->len, start + n);
		if (a >= b)
			continue;
		covered += b - a;
		if ((e->flags & TP_FE_UNSETTLED) ||
		    overlaps(e->physical + (a - e->logical), b - a, T, len))
			*ret = false;
	}
	if (covered != n)
		*ret = false;
	tp_fe_list_clear(&l);
	return r;
}

/* The longest prefix of donor [start, start + n) that maps to
 * [target, target + n). */
static int placed_prefix(int fd, uint32_t bs, uint64_t start, uint64_t target,
			 uint64_t n, uint64_t *ret)
{
	struct tp_fe_list l = { 0 };
	uint64_t want = start, end = start + n;
	int r = tp_fiemap(fd, bs, start, n, true, &l);

	if (r < 0)
		goto out;
	for (size_t i = 0; i < l.n && want < end; i++) {
		const struct tp_fe *e = &l.v[i];
		if ((e->flags & TP_FE_UNSETTLED) || e->logical > want ||
		    e->logical + e->len <= want)
			continue;
		if (e->physical + (want - e->logical) != target + (want - start))
			break;
		want = MIN(end, e->logical + e->len);
	}
	*ret = want - start;
out:
	tp_fe_list_clear(&l);
	return r;
}

static void mark_dirty(struct tp_placer *p, uint64_t blk)
{
	if (TP_RESERVE(p->dirty, p->cap_dirty, p->n_dirty + 1) < 0)
		return; /* only a missed trim */
	p->dirty[p->n_dirty++] = blk;
}

void tp_placer_done(struct tp_placer *p)
{
	free(p->zero);
	p->zero = NULL;
	free(p->dirty);
	p->dirty = NULL;
	p->n_dirty = p->cap_dirty = 0;
}

/* ---- borrow ------------------------------------------------------------------ */

/* Return the borrowed block to its lender and close the donor. */
int tp_donor_release(struct tp_donor *d)
{
	int r = 0;

	if (d->fd < 0)
		return 0;
	if (d->borrowed) {
		uint64_t moved = 0;
		/* The borrow left the lender's page cached, and dirty. */
		tp_drop_cache(d->lender_fd, 0, 0);
		r = tp_move_ext(d->lender_fd, d->fd, d->lender_logical,
				d->borrow_slot, 1, &moved);
		if (r >= 0 && moved != 1)
			r = -EIO;
		d->borrowed = false;
	}
	d->fd = tp_safe_close(d->fd);
	return r;
}

/*
 * Write one zeroed block at logical blk, allocating it now.  O_DIRECT
 * allocates at write time, as buffered I/O does only at writeback: no
 * fdatasync, so no journal commit for each placement.
 */
static int write_block_direct(struct tp_placer *p, int fd, uint64_t blk)
{
	uint32_t bs = p->block_size;
	int flags = fcntl(fd, F_GETFL), r = 0;

	if (!p->zero) {
		if (posix_memalign(&p->zero, 4096, bs) != 0)
			return -ENOMEM;
		memset(p->zero, 0, bs);
	}
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) < 0) {
		/* no direct I/O here: buffered, and force the allocation */
		if (pwrite(fd, p->zero, bs, (off_t)(blk * bs)) != (ssize_t)bs)
			return errno ? -errno : -EIO;
		return fdatasync(fd) < 0 ? -errno : 0;
	}
	if (pwrite(fd, p->zero, bs, (off_t)(blk * bs)) != (ssize_t)bs)
		r = errno ? -errno : -EIO;
	(void)fcntl(fd, F_SETFL, flags);
	return r;
}

/* ext4 aligns a normalised window of 1 MiB or more to its size, and a
 * smaller one starts at block 0 and covers the whole (small) donor: a
 * window never ends inside the 1 MiB-aligned stretch it starts in. */
#define WINDOW_GRAIN (1u << 20)

/*
 * Allocate donor [start, start + n) at [target, target + n), given that
 * donor block start - 1 sits at target - 1 (merge-left, with a fence at
 * start + n), or donor block start + n at target + n with start == 0 and
 * nothing mapped left of it (merge-right).  One written block at start
 * makes a request whose normalised window reaches from start to the fence
 * or to the window's end: ext4 merges it with the neighbour, which sets
 * TRY_GOAL at target, and leaves the rest of the window as the inode's
 * preallocation, which fallocate then consumes -- no further than the
 * next WINDOW_GRAIN boundary, where the window may end: past it ext4
 * would allocate wherever it likes, maybe inside the hole but not in
 * order, and blocks punched out again stay busy until the next journal
 * commit, so that the next step could not have them.  Returns how many
 * leading blocks landed in place; what landed elsewhere is punched out.
 */
static int allocate(struct tp_placer *p, int fd, uint64_t start,
		    uint64_t target, uint64_t n, uint64_t *ret_placed)
{
	uint32_t bs = p->block_size;
	uint64_t grain = MAX(WINDOW_GRAIN / bs, 1u), placed = 0;
	uint64_t end = MIN(start + n, (start / grain + 1) * grain);
	int r;

	r = write_block_direct(p, fd, start);
	if (r < 0)
		return r;
	r = falloc(fd, bs, start + 1, end - start - 1);
	if (r < 0)
		return r;
	r = placed_prefix(fd, bs, start, target, n, &placed);
	if (r < 0)
		return r;
	if (placed == 0) {
		uint64_t where;
		if (donor_block(fd, bs, start, &where) >= 0)
			mark_dirty(p, where);
	}
	if (placed < n) {
		r = punch(fd, bs, start + placed, n - placed);
		if (r < 0)
			return r;
	}
	*ret_placed = placed;
	return 0;
}

/* A donor with its helpers (borrow slot; for merge-left, a fence) in place,
 * none of them inside the hole. */
static int donor_with_helpers(int mount_fd, uint32_t bs, uint64_t T, uint64_t n,
			      bool right, bool may_park, struct tp_donor *d)
{
	int parked[3] = { -1, -1, -1 }, r = 0;
	unsigned n_parked = 0;
	uint64_t h = helper_blocks(bs);

	d->start = right ? 0 : 1;
	d->len = n;
	d->borrow_slot = right ? n : 0;
	for (;;) {
		uint64_t slot_phys, fence_phys = UINT64_MAX;
		bool clear = true;

		r = donor_open(mount_fd, bs, n, &d->fd);
		if (r < 0)
			break;
		/* fallocated, not written: no preallocation lands in the hole */
		r = falloc(d->fd, bs, d->borrow_slot, 1);
		if (r >= 0 && !right)
			r = falloc(d->fd, bs, d->start + n, h);
		if (r == -ENOSPC && h > 1) {
			/* no long free run left: single blocks, wherever */
			d->fd = tp_safe_close(d->fd);
			h = 1;
			continue;
		}
		if (r >= 0)
			r = donor_block(d->fd, bs, d->borrow_slot, &slot_phys);
		if (r >= 0 && !right)
			r = donor_block(d->fd, bs, d->start + n, &fence_phys);
		if (r >= 0 && !right)
			r = mapped_outside(d->fd, bs, d->start + n, h, T, n, &clear);
		if (r < 0)
			break;
		if (clear && !overlaps(slot_phys, 1, T, n)) {
			d->slot_physical = slot_phys;
			d->fence_physical = fence_phys;
			break;
		}
		/* A helper took part of the hole (small holes attract small
		 * allocations).  Park this donor, holding those blocks, so
		 * the next one's helpers land elsewhere. */
		if (!may_park) {
			r = -EAGAIN;
			break;
		}
		if (n_parked == ELEMENTSOF(parked)) {
			r = -EADDRNOTAVAIL;
			break;
		}
		parked[n_parked++] = d->fd;
		d->fd = -1;
	}
	if (r < 0)
		d->fd = tp_safe_close(d->fd);
	/* Give the parked blocks back, and commit, so that the hole is free
	 * for allocation again: ext4 reuses freed blocks only after the
	 * transaction that freed them commits. */
	for (unsigned i = 0; i < n_parked; i++) {
		if (r >= 0) {
			int k = punch(parked[i], bs, 0, n + 1 + helper_blocks(bs));
			if (k >= 0 && fdatasync(parked[i]) < 0)
				k = -errno;
			if (k < 0)
				r = k;
		}
		tp_safe_close(parked[i]);
	}
	if (r < 0)
		d->fd = tp_safe_close(d->fd);
	return r;
}

static int borrow_place(struct tp_placer *p, const struct tp_place_request *q,
			struct tp_donor *ret)
{
	uint32_t bs = p->block_size;
	uint64_t n = q->len, T = q->target, phys;
	struct tp_donor d = { .fd = -1, .lender_fd = q->lender_fd,
			      .lender_logical = q->lender_logical,
			      .block_size = bs };
	int r;

	if (n == 0)
		return -EINVAL;
	r = donor_with_helpers(p->mount_fd, bs, T, n, q->right, p->may_park, &d);
	if (r < 0) {
		if (r == -EADDRNOTAVAIL) {
			p->stats.attempts++;
			p->stats.missed++;
		}
		return r;
	}

	/* Borrow: the lender's block beside the hole becomes the donor's. */
	uint64_t moved = 0;
	r = tp_move_ext(q->lender_fd, d.fd, q->lender_logical, d.borrow_slot, 1,
			&moved);
	if (moved == 1) {
		d.borrowed = true;
		mark_dirty(p, d.slot_physical);
	}
	if (r < 0)
		goto fail;
	r = donor_block(d.fd, bs, d.borrow_slot, &phys);
	if (r < 0)
		goto fail;
	if (phys != (q->right ? T + n : T - 1)) {
		r = -ESTALE; /* the lender's block is no longer beside the hole */
		goto fail;
	}

	uint64_t placed = 0;
	r = allocate(p, d.fd, d.start, T, n, &placed);
	if (r < 0)
		goto fail;
	/* A long hole takes a step for each window (allocate()): the
	 * donor's own placed prefix is the next merge-left neighbour. */
	while (placed > 0 && placed < n) {
		uint64_t more = 0;
		r = allocate(p, d.fd, d.start + placed, T + placed, n - placed,
			     &more);
		if (r < 0)
			goto fail;
		if (more == 0)
			break;
		placed += more;
	}
	p->stats.attempts++;
	if (placed < n) {
		p->stats.missed++;
		r = -EADDRNOTAVAIL;
		goto fail;
	}
	p->stats.exact++;
	*ret = d;
	return 0;

fail:
	{
		int k = tp_donor_release(&d);
		if (k < 0 && r != -EADDRNOTAVAIL)
			r = k;
		if (k < 0)
			p->stats.unreturned++;
	}
	return r;
}

/* ---- fallocate2 ----------------------------------------------------------------- */

static int fallocate2_place(struct tp_placer *p, const struct tp_place_request *q,
			    struct tp_donor *ret)
{
	uint32_t bs = p->block_size;
	struct tp_donor d = { .fd = -1 };
	uint64_t placed = 0;
	int r;

	r = donor_open(p->mount_fd, bs, q->len, &d.fd);
	if (r < 0)
		return r;
	d.start = 0;
	d.len = q->len;
	p->stats.attempts++;
	if (syscall(p->fallocate2_nr, d.fd, 0, 0LL,
		    (long long)(q->len * bs), (unsigned long long)(q->target * bs)) < 0) {
		r = -errno;
		goto fail;
	}
	r = placed_prefix(d.fd, bs, 0, q->target, q->len, &placed);
	if (r < 0)
		goto fail;
	if (placed < q->len) {
		r = -EADDRNOTAVAIL;
		goto fail;
	}
	p->stats.exact++;
	*ret = d;
	return 0;
fail:
	if (r == -EADDRNOTAVAIL)
		p->stats.missed++;
	tp_donor_release(&d);
	return r;
}

/* Whether the running kernel has a fallocate2 syscall, by its symbol:
 * calling an unknown syscall number to find out is not safe. */
static bool kernel_has_fallocate2(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/kallsyms", "re");
	char line[512];

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		const char *name = strrchr(line, ' ');
		if (!name)
			continue;
		name++;
		size_t len = strcspn(name, "\t\n");
		if ((len == 14 && strncmp(name, "sys_fallocate2", 14) == 0) ||
		    (len == 20 && strncmp(name, "__x64_sys_fallocate2", 20) == 0) ||
		    (len == 22 && strncmp(name, "__arm64_sys_fallocate2", 22) == 0))
			return true;
	}
	return false;
}

/* ---- the placer -------------------------------------------------------------------- */

int tp_placer_init(struct tp_placer *p, enum tp_placement kind, int mount_fd,
		   uint32_t block_size, long fallocate2_nr)
{
	*p = (struct tp_placer){
		.kind = kind,
		.mount_fd = mount_fd,
		.block_size = block_size,
		.fallocate2_nr = fallocate2_nr,
	};
	if (kind == TP_PLACEMENT_FALLOCATE2 && !kernel_has_fallocate2())
		return -ENOSYS;
	return 0;
}

bool tp_placer_needs_lender(const struct tp_placer *p)
{
	return p->kind == TP_PLACEMENT_BORROW;
}

int tp_place(struct tp_placer *p, const struct tp_place_request *q,
	     struct tp_donor *ret)
{
	switch (p->kind) {
	case TP_PLACEMENT_BORROW:
		return borrow_place(p, q, ret);
	case TP_PLACEMENT_FALLOCATE2:
		return fallocate2_place(p, q, ret);
	default:
		return -EOPNOTSUPP;
	}
}

const char *tp_placement_to_string(enum tp_placement k)
{
	switch (k) {
	case TP_PLACEMENT_BORROW:
		return "borrow";
	case TP_PLACEMENT_FALLOCATE2:
		return "fallocate2";
	case TP_PLACEMENT_OFFLINE:
		return "offline";
	}
	return "unknown";
}
