/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FS_IOC_FIEMAP: where a file's blocks are, live. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/fiemap.h>
#include <linux/fs.h>

#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "kio/kio.h"

#define BATCH 128

void tp_fe_list_clear(struct tp_fe_list *l)
{
	free(l->v);
	*l = (struct tp_fe_list){ 0 };
}

static int push(struct tp_fe_list *l, const struct tp_fe *e)
{
	if (TP_RESERVE(l->v, l->cap, l->n + 1) < 0)
		return -ENOMEM;
	l->v[l->n++] = *e;
	return 0;
}

int tp_fiemap(int fd, uint32_t bs, uint64_t first, uint64_t count, bool flush,
	      struct tp_fe_list *list)
{
	_cleanup_free_ struct fiemap *fm = NULL;
	uint64_t pos = first * bs, end = (first + count) * bs;

	fm = calloc(1, sizeof(*fm) + BATCH * sizeof(struct fiemap_extent));
	if (!fm)
		return -ENOMEM;
	while (pos < end) {
		memset(fm, 0, sizeof(*fm));
		fm->fm_start = pos;
		fm->fm_length = end - pos;
		fm->fm_flags = flush ? FIEMAP_FLAG_SYNC : 0;
		fm->fm_extent_count = BATCH;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0)
			return -errno;
		if (fm->fm_mapped_extents == 0)
			break;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *x = &fm->fm_extents[i];
			struct tp_fe e = {
				.logical = x->fe_logical / bs,
				.physical = x->fe_physical / bs,
				.len = x->fe_length / bs,
			};
			if (x->fe_flags & FIEMAP_EXTENT_UNWRITTEN)
				e.flags |= TP_FE_UNWRITTEN;
			if (x->fe_flags & FIEMAP_EXTENT_LAST)
				e.flags |= TP_FE_LAST;
			if (x->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
					   FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_INLINE |
					   FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_TAIL))
				e.flags |= TP_FE_UNSETTLED;
			int r = push(list, &e);
			if (r < 0)
				return r;
			pos = x->fe_logical + x->fe_length;
			if (x->fe_flags & FIEMAP_EXTENT_LAST)
				return 0;
		}
	}
	return 0;
}

bool tp_fe_maps(const struct tp_fe_list *l, uint64_t logical, uint64_t physical,
		uint64_t len)
{
	uint64_t want = logical, end = logical + len;

	/* The extents are sorted by logical block: walk the range. */
	for (size_t i = 0; i < l->n && want < end; i++) {
		const struct tp_fe *e = &l->v[i];
		if (e->flags & TP_FE_UNSETTLED)
			continue;
		if (e->logical + e->len <= want || e->logical > want)
			continue;
		uint64_t off = want - e->logical;
		if (e->physical + off != physical + (want - logical))
			return false;
		want = MIN(end, e->logical + e->len);
	}
	return want == end;
}
