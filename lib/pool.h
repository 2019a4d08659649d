/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool: what provision.c asks of the dm-thin pool under a thin device
 * (lib/pool.c), and the metadata reader on its own for the unit tests.
 */
#ifndef TP_POOL_H
#define TP_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "thinpack/thinpack.h"

/*
 * The dm thin device under block device devno, and the byte of it where
 * devno's byte 0 sits: down through dm linear mappings (kpartx's, one
 * target each), partitions and loop devices over a block device, adding
 * up linear starts, partition starts and loop offsets.  devno may be the
 * thin device itself (offset 0).  ret_disk_offset (or NULL): the same for
 * the disk devno is a partition of, or devno itself when it is none.
 *   -ENODEV   the stack ends elsewhere: a disk, a loop device over a file,
 *             another target, a table of several targets
 *   -ELOOP    deeper than any real stack
 *   else      libdevmapper's or sysfs' error (-EACCES when not root)
 */
int tp_thin_under(dev_t devno, dev_t *ret_thin, uint64_t *ret_offset,
		  uint64_t *ret_disk_offset);

/* A run of the volume's virtual blocks (pool data blocks), n long from
 * block, all mapped, all shared with another device or none. */
typedef void (*tp_pool_run_fn)(uint64_t block, uint64_t n, bool shared,
			       void *userdata);

/*
 * Read which of the volume's blocks the pool maps, and which of those
 * another thin device maps too, from the pool's metadata: reserve a
 * metadata snapshot, read it with thin_dump (twice: the volume, then every
 * device), release the snapshot -- on every path.  Fills p->metadata_read,
 * mapped_blocks, shared_blocks and sharers; fn is called for every run.
 *   -EBUSY    a metadata snapshot was held already (p->held_root): stale,
 *             or someone else's; not used, not released
 *   -EROFS    the pool is read-only or failed: no snapshot can be taken
 *   -ENOENT   no thin_dump
 *   -EPROTO   thin_dump failed, or wrote what does not parse
 */
int tp_pool_read_mappings(struct tp_pool *p, tp_pool_run_fn fn, void *userdata);

/*
 * The reader itself: thin_dump's XML on fd.  Pass 1 (others false): the
 * mappings of device p->thin_id, whose data blocks are kept; pass 2
 * (others true): every other device, counted against them.  Between the
 * two and after, tp_thin_xml_* below.
 */
struct tp_thin_xml;
/* nr_blocks: the pool's data blocks, as its status says (0: unknown). */
int tp_thin_xml_new(uint64_t thin_id, uint64_t nr_blocks, struct tp_thin_xml **ret);
struct tp_thin_xml *tp_thin_xml_free(struct tp_thin_xml *x);
int tp_thin_xml_parse(struct tp_thin_xml *x, int fd, bool others);
/* The result into p (mapped_blocks, shared_blocks, sharers), and the runs
 * to fn. */
int tp_thin_xml_finish(struct tp_thin_xml *x, struct tp_pool *p,
		       tp_pool_run_fn fn, void *userdata);

#endif
