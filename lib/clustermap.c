/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-cluster occupancy model: for every whole cluster of the device
 * that lies inside the filesystem, how many blocks are used, how many of
 * those are movable, and why the others are pinned.
 *
 * Memory: 14 bytes per cluster (1 TiB at 1 MiB granularity: 14 MiB).
 * The reverse map adds 16 bytes per extent and 32 per file near a partial
 * cluster (on an aged filesystem: nearly all), until tp_plan_shrink_map()
 * keeps those of the victims and the lenders only.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "thinpack/thinpack.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "clustermap.h"

int tp_geometry_init(struct tp_geometry *g, uint32_t block_size,
		     uint64_t blocks_count, uint64_t offset,
		     uint64_t granularity)
{
	struct tp_geometry n = { 0 };

	if (!tp_is_power_of_2(block_size))
		return -EINVAL;
	/* Not always a power of two: LVM makes thin pools of any multiple
	 * of 64 KiB (192 KiB chunks, say). */
	if (granularity < block_size || granularity % block_size)
		return -EINVAL;
	if (offset % block_size)
		return -EXDEV;
	if (granularity / block_size > (UINT64_C(1) << 31))
		return -E2BIG;

	n.block_size = block_size;
	n.blocks_count = blocks_count;
	n.offset = offset;
	n.granularity = granularity;
	n.cluster_blocks = (uint32_t)(granularity / block_size);

	/* Device block of fs block b is off + b; its cluster (off + b) / C. */
	uint64_t off = offset / block_size;
	uint64_t C = n.cluster_blocks;
	uint64_t first = tp_div_round_up(off, C);   /* first whole cluster */
	uint64_t end = (off + blocks_count) / C;     /* past the last whole one */
	uint64_t touched_first = off / C;
	uint64_t touched_end = tp_div_round_up(off + blocks_count, C);

	n.first_cluster = first;
	n.first_block = first * C - off;
	n.clusters = end > first ? end - first : 0;
	n.edge_clusters = blocks_count ?
				  (touched_end - touched_first) - n.clusters : 0;
	if (n.clusters == 0)
		n.first_block = blocks_count;

	*g = n;
	return 0;
}

struct tp_clustermap *tp_clustermap_free(struct tp_clustermap *m)
{
	if (!m)
		return NULL;
	free(m->used);
	free(m->owned);
	free(m->movable);
	free(m->reasons);
	free(m->files);
	free(m->exts);
	free(m->holes);
	free(m->explain);
	free(m->owners);
	free(m);
	return NULL;
}

TP_DEFINE_CLEANUP(struct tp_clustermap *, tp_clustermap_free)

int tp_clustermap_new(const struct tp_geometry *geo, struct tp_clustermap **ret)
{
	_cleanup_(tp_clustermap_freep) struct tp_clustermap *m = NULL;
	size_t n = geo->clusters ? (size_t)geo->clusters : 1;

	if (geo->clusters > SIZE_MAX / sizeof(uint32_t))
		return -E2BIG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->geo = *geo;
	m->used = calloc(n, sizeof(*m->used));
	m->owned = calloc(n, sizeof(*m->owned));
	m->movable = calloc(n, sizeof(*m->movable));
	m->reasons = calloc(n, sizeof(*m->reasons));
	if (!m->used || !m->owned || !m->movable || !m->reasons)
		return -ENOMEM;
	*ret = TAKE_PTR(m);
	return 0;
}

const struct tp_geometry *tp_clustermap_geometry(const struct tp_clustermap *m)
{
	return &m->geo;
}

const struct tp_scan_stats *tp_clustermap_stats(const struct tp_clustermap *m)
{
	return &m->stats;
}

enum add_kind { ADD_USED, ADD_MOVABLE, ADD_PINNED, ADD_FLAG };

/* Add [blk, blk + len) to every whole cluster it overlaps; blocks in edge
 * clusters and beyond the filesystem are not counted. */
static void add_range(struct tp_clustermap *m, uint64_t blk, uint64_t len,
		      enum add_kind kind, enum tp_pin_reason why)
{
	const struct tp_geometry *g = &m->geo;
	uint64_t b = MAX(blk, g->first_block);
	uint64_t e = MIN(blk + len, tp_cluster_to_blk(g, g->clusters));

	while (b < e) {
		uint64_t c = (b - g->first_block) / g->cluster_blocks;
		uint32_t n = (uint32_t)(MIN(e, tp_cluster_to_blk(g, c + 1)) - b);

		switch (kind) {
		case ADD_USED:
			m->used[c] += n;
			break;
		case ADD_MOVABLE:
			m->owned[c] += n;
			m->movable[c] += n;
			break;
		case ADD_PINNED:
			m->owned[c] += n;
			m->reasons[c] |= (uint16_t)(1u << why);
			break;
		case ADD_FLAG:
			m->reasons[c] |= (uint16_t)(1u << why);
			break;
		}
		b += n;
	}
}

void tp_clustermap_add_used(struct tp_clustermap *m, uint64_t blk, uint64_t len)
{
	add_range(m, blk, len, ADD_USED, 0);
}

void tp_clustermap_add_owned(struct tp_clustermap *m, uint64_t blk,
			     uint64_t len, bool movable, enum tp_pin_reason why)
{
	add_range(m, blk, len, movable ? ADD_MOVABLE : ADD_PINNED, why);
}

void tp_clustermap_flag(struct tp_clustermap *m, uint64_t blk, uint64_t len,
			enum tp_pin_reason why)
{
	add_range(m, blk, len, ADD_FLAG, why);
}

void tp_clustermap_get(const struct tp_clustermap *m, uint64_t i,
		       struct tp_cluster *ret)
{
	struct tp_cluster c = {
		.used = m->used[i],
		.movable = MIN(m->movable[i], m->used[i]),
		.reasons = m->reasons[i],
	};

	/* Fewer owners than used blocks: preallocations, or blocks that
	 * changed hands during the scan.  More: a block owned twice, which
	 * only a filesystem changing under the scan (or a corrupt one) shows.
	 * (Owned but free is flagged by the scan itself.)  Either way the
	 * cluster is not eligible: tp_cluster_eligible() wants no reason. */
	if (m->owned[i] != m->used[i])
		c.reasons |= 1u << TP_PIN_UNOWNED;
	*ret = c;
}

size_t tp_clustermap_first_ext(const struct tp_clustermap *m, uint64_t blk)
{
	size_t lo = 0, hi = m->n_exts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tp_rext_end(&m->exts[mid]) <= blk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct tp_rext *tp_clustermap_owner(const struct tp_clustermap *m,
					  uint64_t blk)
{
	size_t i = tp_clustermap_first_ext(m, blk);

	if (i < m->n_exts && tp_rext_physical(&m->exts[i]) <= blk)
		return &m->exts[i];
	return NULL;
}

const char *tp_pin_reason_to_string(enum tp_pin_reason r)
{
	static const char *const names[_TP_PIN_MAX] = {
		[TP_PIN_METADATA] = "metadata",
		[TP_PIN_DIRECTORY] = "directory",
		[TP_PIN_EXTENT_TREE] = "extent_tree",
		[TP_PIN_XATTR] = "xattr",
		[TP_PIN_RECENT] = "recent",
		[TP_PIN_ATTRIBUTE] = "attribute",
		[TP_PIN_BLOCK_MAPPED] = "block_mapped",
		[TP_PIN_IN_USE] = "in_use",
		[TP_PIN_BEYOND_EOF] = "beyond_eof",
		[TP_PIN_OTHER] = "other",
		[TP_PIN_UNOWNED] = "unowned",
	};
	return (unsigned)r < _TP_PIN_MAX ? names[r] : "unknown";
}

const struct tp_owner *tp_clustermap_owners(const struct tp_clustermap *m,
					    size_t *ret_n)
{
	*ret_n = m->n_owners;
	return m->owners;
}

const char *tp_owner_kind_to_string(enum tp_owner_kind k)
{
	static const char *const names[_TP_OWNER_MAX] = {
		[TP_OWNER_BOOT_BLOCK] = "boot_block",
		[TP_OWNER_SUPERBLOCK] = "superblock",
		[TP_OWNER_GROUP_DESCRIPTORS] = "group_descriptors",
		[TP_OWNER_RESERVED_GDT] = "reserved_gdt",
		[TP_OWNER_BLOCK_BITMAP] = "block_bitmap",
		[TP_OWNER_INODE_BITMAP] = "inode_bitmap",
		[TP_OWNER_INODE_TABLE] = "inode_table",
		[TP_OWNER_RESIZE_INODE] = "resize_inode",
		[TP_OWNER_MMP] = "mmp",
		[TP_OWNER_JOURNAL] = "journal",
		[TP_OWNER_QUOTA] = "quota",
		[TP_OWNER_ORPHAN_FILE] = "orphan_file",
		[TP_OWNER_RESERVED_INODE] = "reserved_inode",
		[TP_OWNER_FILE] = "file",
		[TP_OWNER_DIRECTORY] = "directory",
		[TP_OWNER_SYMLINK] = "symlink",
		[TP_OWNER_SPECIAL] = "special",
		[TP_OWNER_XATTR_INODE] = "xattr_inode",
		[TP_OWNER_EXTENT_TREE] = "extent_tree",
		[TP_OWNER_XATTR_BLOCK] = "xattr_block",
		[TP_OWNER_NONE] = "unowned",
		[TP_OWNER_FREE] = "owned_but_free",
		[TP_OWNER_TWICE] = "owned_twice",
	};
	return (unsigned)k < _TP_OWNER_MAX ? names[k] : "unknown";
}

const char *tp_verdict_to_string(enum tp_verdict v)
{
	switch (v) {
	case TP_VERDICT_MOVABLE:
		return "movable";
	case TP_VERDICT_EMPTY:
		return "empty";
	case TP_VERDICT_PINNED:
		return "pinned";
	case TP_VERDICT_UNBACKED:
		return "unbacked";
	case TP_VERDICT_SHARED:
		return "shared";
	}
	return "unknown";
}
