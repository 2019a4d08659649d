/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef TP_OFFLINE_H
#define TP_OFFLINE_H

#include "thinpack/thinpack.h"

/* tp_compact() with placement TP_PLACEMENT_OFFLINE: fs opened with
 * tp_fs_open_rw() (or tp_fs_open() for a dry run). */
int tp_compact_offline(const struct tp_device *dev, struct tp_fs *fs,
		       const struct tp_geometry *geo,
		       const struct tp_provmap *prov,
		       const struct tp_compact_options *o,
		       struct tp_compact_result *ret);

#endif
