/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef TP_CLUSTERMAP_H
#define TP_CLUSTERMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "thinpack/thinpack.h"

/* A movable file that owns recorded extents, as the scan saw it: what the
 * mover checks before it touches the file (32 bytes). */
struct tp_rfile {
	uint32_t ino;
	uint32_t generation;
	uint64_t size;
	int64_t mtime, ctime;
};

/* Part of a movable file's data, near a partial cluster: 16 bytes, one
 * for every extent of nearly every file on an aged filesystem.  ext4's
 * extents hold 48-bit physical and 32-bit logical block numbers and at
 * most 32768 blocks; read them with tp_rext_physical() and the others. */
struct tp_rext {
	uint64_t packed;  /* physical << 16 | (len - 1) << 1 | unwritten */
	uint32_t logical;
	uint32_t file;    /* index into files */
};

#define TP_REXT_MAX_PHYSICAL ((UINT64_C(1) << 48) - 1)
#define TP_REXT_MAX_LEN UINT32_C(32768)

static inline struct tp_rext tp_rext_make(uint64_t physical, uint32_t logical,
					  uint32_t len, uint32_t file,
					  bool unwritten)
{
	return (struct tp_rext){
		.packed = physical << 16 | (uint64_t)(len - 1) << 1 | unwritten,
		.logical = logical,
		.file = file,
	};
}

static inline uint64_t tp_rext_physical(const struct tp_rext *e)
{
	return e->packed >> 16;
}

static inline uint32_t tp_rext_len(const struct tp_rext *e)
{
	return (uint32_t)((e->packed >> 1) & (TP_REXT_MAX_LEN - 1)) + 1;
}

static inline uint64_t tp_rext_end(const struct tp_rext *e)
{
	return tp_rext_physical(e) + tp_rext_len(e);
}

static inline bool tp_rext_unwritten(const struct tp_rext *e)
{
	return e->packed & 1;
}

/* A free run inside partial clusters. */
struct tp_hole {
	uint64_t start, len;
};

struct tp_clustermap {
	struct tp_geometry geo;
	uint32_t *used;    /* blocks used in the bitmap */
	uint32_t *owned;   /* blocks some inode or static metadata claims */
	uint32_t *movable; /* of those, data of movable files */
	uint16_t *reasons; /* 1 << enum tp_pin_reason of the pinned owners */
	struct tp_scan_stats stats;

	/* with tp_scan_options.reverse_map: */
	struct tp_rfile *files;
	size_t n_files, cap_files;
	struct tp_rext *exts;    /* sorted by physical after the scan */
	size_t n_exts, cap_exts;
	struct tp_hole *holes;   /* sorted by start */
	size_t n_holes, cap_holes;

	/* with tp_scan_options.explain: */
	uint64_t *explain;       /* the clusters, sorted, each once */
	size_t n_explain;
	struct tp_owner *owners; /* tp_clustermap_owners() */
	size_t n_owners, cap_owners;
};

/* The recorded extent holding physical block blk, or NULL. */
const struct tp_rext *tp_clustermap_owner(const struct tp_clustermap *m,
					  uint64_t blk);
/* Index of the first recorded extent that ends after blk. */
size_t tp_clustermap_first_ext(const struct tp_clustermap *m, uint64_t blk);

#endif
