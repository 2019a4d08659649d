/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FS_IOC_GETFSMAP: is a range free now?  ext4 reports free space as
 * FMR_OWN_FREE; everything else (file data included) as other owners. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include <linux/fsmap.h>

#include "basic/cleanup.h"
#include "kio/kio.h"

#define BATCH 64

/* The kernel's new_encode_dev(): what fmr_device holds. */
static uint32_t encode_dev(dev_t dev)
{
	unsigned maj = major(dev), min = minor(dev);
	return (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12);
}

/* Walk the records of [want, end) bytes; fn(start, len, owner_is_free). */
static int walk(int fd, dev_t dev, uint64_t want, uint64_t end,
		int (*fn)(uint64_t s, uint64_t e, bool is_free, void *ud), void *ud)
{
	_cleanup_free_ struct fsmap_head *h = NULL;

	h = calloc(1, fsmap_sizeof(BATCH));
	if (!h)
		return -ENOMEM;
	/* The low key's device must be set, or ext4 ignores the key. */
	h->fmh_keys[0].fmr_device = encode_dev(dev);
	h->fmh_keys[0].fmr_physical = want;
	h->fmh_keys[1].fmr_device = UINT32_MAX;
	h->fmh_keys[1].fmr_physical = end - 1;
	h->fmh_keys[1].fmr_owner = UINT64_MAX;
	h->fmh_keys[1].fmr_offset = UINT64_MAX;
	h->fmh_keys[1].fmr_flags = UINT32_MAX;
	h->fmh_count = BATCH;

	for (;;) {
		if (ioctl(fd, FS_IOC_GETFSMAP, h) < 0)
			return -errno;
		if (h->fmh_entries == 0)
			return 0;
		for (unsigned i = 0; i < h->fmh_entries; i++) {
			const struct fsmap *rec = &h->fmh_recs[i];
			uint64_t s = rec->fmr_physical, e = s + rec->fmr_length;
			if (e <= want)
				continue;
			if (s >= end)
				return 0;
			/* unclipped: callers clip */
			int r = fn(s, e, rec->fmr_owner == FMR_OWN_FREE, ud);
			if (r != 0)
				return r < 0 ? r : 0;
			want = e;
		}
		const struct fsmap *last = &h->fmh_recs[h->fmh_entries - 1];
		if (last->fmr_flags & FMR_OF_LAST)
			return 0;
		fsmap_advance(h);
	}
}

struct free_walk {
	uint32_t bs;
	uint64_t next;          /* is_free: first byte not yet seen free */
	uint64_t first_end;     /* is_free: end of the free extent at the start */
	uint64_t lo, hi;        /* the range asked for, bytes */
	bool ok;
	int (*fn)(uint64_t blk, uint64_t len, void *userdata);
	void *userdata;
};

static int is_free_rec(uint64_t s, uint64_t e, bool is_free, void *ud)
{
	struct free_walk *w = ud;

	if (!is_free || s > w->next) {
		w->ok = false;
		return 1; /* stop */
	}
	if (!w->first_end)
		w->first_end = e;
	w->next = e;
	return 0;
}

int tp_fsmap_free_extent(int fd, dev_t dev, uint32_t bs, uint64_t blk,
			 uint64_t len, bool *ret_free, uint64_t *ret_end)
{
	struct free_walk w = { .bs = bs, .next = blk * bs, .ok = true };
	uint64_t end = (blk + len) * bs;
	int r = walk(fd, dev, blk * bs, end, is_free_rec, &w);

	if (r < 0)
		return r;
	*ret_free = w.ok && w.next >= end;
	if (ret_end)
		*ret_end = w.first_end ? w.first_end / bs : blk;
	return 0;
}

int tp_fsmap_is_free(int fd, dev_t dev, uint32_t bs, uint64_t blk, uint64_t len,
		     bool *ret_free)
{
	return tp_fsmap_free_extent(fd, dev, bs, blk, len, ret_free, NULL);
}

static int free_rec(uint64_t s, uint64_t e, bool is_free, void *ud)
{
	struct free_walk *w = ud;

	if (!is_free)
		return 0;
	s = s < w->lo ? w->lo : s;
	e = e > w->hi ? w->hi : e;
	/* ext4 reports free space in whole blocks */
	return w->fn(s / w->bs, (e - s) / w->bs, w->userdata);
}

int tp_fsmap_for_each_free(int fd, dev_t dev, uint32_t bs, uint64_t blk,
			   uint64_t len,
			   int (*fn)(uint64_t blk, uint64_t len, void *userdata),
			   void *userdata)
{
	struct free_walk w = { .bs = bs, .fn = fn, .userdata = userdata,
			       .lo = blk * bs, .hi = (blk + len) * bs };

	return walk(fd, dev, blk * bs, (blk + len) * bs, free_rec, &w);
}
