/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef TP_CLUSTERMAP_H
#define TP_CLUSTERMAP_H

#include <stdint.h>

#include "thinpack/thinpack.h"

struct tp_clustermap {
	struct tp_geometry geo;
	uint32_t *used;    /* blocks used in the bitmap */
	uint32_t *owned;   /* blocks some inode or static metadata claims */
	uint32_t *movable; /* of those, data of movable files */
	uint16_t *reasons; /* 1 << enum tp_pin_reason of the pinned owners */
	struct tp_scan_stats stats;
};

#endif
