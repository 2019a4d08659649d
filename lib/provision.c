/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provision: which clusters the device below the filesystem has backed with
 * real space.  The block bitmap is not that map: a used block may never have
 * been written (inode tables left to lazy init), and a free one may sit in a
 * chunk the pool took back long ago.
 *
 * Sources, the best the stack offers:
 *   file  a loop device's backing file, or an image file given as such:
 *         the file's allocation by FIEMAP, at the backing filesystem's
 *         unit.  FIEMAP, not SEEK_DATA: an unwritten (fallocated or
 *         zeroed-out) extent holds space, yet SEEK_DATA calls it a hole.
 *   dm-thin  a dm thin device (an LVM thin LV), or a stack over one (a
 *         dm linear mapping, kpartx's; a loop device over it, its
 *         partitions): the pool's metadata (lib/pool.c), at the pool's
 *         data block; a block another thin device maps too (a snapshot)
 *         is shared.  A metadata snapshot found held already is not
 *         used: the map is unknown then, and its warning says why.
 *   none  anything else: every cluster unknown, and the report says so.
 * A cluster is provisioned when any byte of it is.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thinpack/thinpack.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "kio/kio.h"
#include "pool.h"

struct tp_provmap {
	enum tp_prov_source source;
	struct tp_geometry geo;
	uint8_t *state; /* enum tp_prov, one a whole cluster */
	uint8_t *wrote; /* a bit a cluster, tp_provmap_note_write(); lazily */
	struct tp_pool *pool; /* dm-thin: the pool, even when source is NONE */
	char *warning;
};

/* FIEMAP this many bytes of the file at a time, so that the extent list
 * of a terabyte file is never held whole. */
#define WINDOW (1ull << 30)
#define SECTOR 512u

struct tp_provmap *tp_provmap_free(struct tp_provmap *m)
{
	if (!m)
		return NULL;
	free(m->state);
	free(m->wrote);
	tp_pool_free(m->pool);
	free(m->warning);
	free(m);
	return NULL;
}

TP_DEFINE_CLEANUP(struct tp_provmap *, tp_provmap_free)

/* The file that backs the device's clusters, or NULL. */
static const char *backing_file(const struct tp_device *dev)
{
	if (dev->kind == TP_TARGET_IMAGE)
		return dev->device;
	/* A partition of a loop device sits in the same file: its clusters
	 * are aligned to the whole device, that is, to the file.  A loop
	 * device over a block device (a thin LV itself) has no file to ask:
	 * FIEMAP fails on a device node; the pool under it, if any, tells. */
	if (dev->loop && dev->loop_backing_file && dev->loop_backing_file[0] == '/') {
		struct stat st;

		if (stat(dev->loop_backing_file, &st) == 0 && S_ISBLK(st.st_mode))
			return NULL;
		return dev->loop_backing_file;
	}
	return NULL;
}

/* Mark the clusters that [start, start + len) bytes of the device touch
 * with state: SHARED wins over MAPPED, which wins over UNMAPPED. */
static void mark_state(struct tp_provmap *m, uint64_t start, uint64_t len,
		       enum tp_prov state)
{
	const struct tp_geometry *g = &m->geo;
	uint64_t first = g->first_cluster * g->granularity;
	uint64_t end = start + len;

	if (len == 0 || end <= first)
		return;
	start = MAX(start, first);
	for (uint64_t c = (start - first) / g->granularity;
	     c < g->clusters && first + c * g->granularity < end; c++)
		if (m->state[c] != TP_PROV_SHARED)
			m->state[c] = state;
}

static void mark_range(struct tp_provmap *m, uint64_t start, uint64_t len)
{
	mark_state(m, start, len, TP_PROV_MAPPED);
}

static void mark_pool_run(uint64_t block, uint64_t n, bool shared, void *userdata)
{
	struct tp_provmap *m = userdata;
	uint64_t bs = m->pool->block_size;

	mark_state(m, block * bs, n * bs, shared ? TP_PROV_SHARED : TP_PROV_MAPPED);
}

/* A disk (a linear mapping, a loop device) that starts off the pool's
 * blocks: the map is right, and the clusters follow the blocks, but the
 * kernel cuts a discard at the disk's own granularity boundaries
 * (bio_discard_limit(), block/blk-lib.c, which counts a partition's
 * start, not a mapping's), so the pool gets the block where the first
 * cut falls in two pieces, and keeps it: a run of n emptied clusters
 * gives n - 1 blocks back.  (tests/vm/lvm-thin-stacked.sh, Linux 6.1:
 * 266 clusters emptied, 186 blocks back.) */
static void skew_warning(struct tp_provmap *m, const struct tp_device *dev)
{
	const struct tp_pool *p = m->pool;
	uint64_t skew = p->disk_offset % p->block_size;

	if (!skew)
		return;
	if (asprintf(&m->warning, "%s starts %" PRIu64 " bytes into a %" PRIu64
		     "-byte block of thin pool %s (through thin device %s): the "
		     "kernel cuts discards at its own boundaries, and each "
		     "discarded range keeps the block the cut falls in, so an "
		     "emptied cluster alone returns nothing, a run of n returns "
		     "n - 1; align it to the pool's blocks", dev->device, skew,
		     p->block_size, p->name, p->thin_name) < 0)
		m->warning = NULL;
}

/* A dm thin device, or a stack over one: what its pool says.  The map
 * stays unknown (source NONE) when the metadata cannot be read, with the
 * pool's status kept and the reason in m->warning. */
static int read_pool(struct tp_provmap *m, const struct tp_device *dev)
{
	int r = tp_pool_read(dev, &m->pool);

	if (r == -ENODEV)
		return 0; /* not a thin device */
	if (r < 0) {
		if (asprintf(&m->warning, "cannot read the device-mapper table or "
			     "thin pool of %s: %s", dev->device, strerror(-r)) < 0)
			m->warning = NULL;
		return 0;
	}
	/* The pool's runs are in bytes of the thin device, the grid's
	 * clusters in bytes of the whole device: one, as tp_device_open()
	 * took the offset on the thin device.  Another offset (the stack
	 * changed since): the runs would land on the wrong clusters. */
	if (m->pool->offset != m->geo.offset) {
		if (asprintf(&m->warning, "%s: the filesystem starts at byte %" PRIu64
			     " of thin device %s, but its clusters were laid out "
			     "from byte %" PRIu64 " (the device stack changed?): "
			     "provisioning unknown", dev->device, m->pool->offset,
			     m->pool->thin_name, m->geo.offset) < 0)
			m->warning = NULL;
		return 0;
	}
	memset(m->state, TP_PROV_UNMAPPED, MAX(m->geo.clusters, 1));
	r = tp_pool_read_mappings(m->pool, mark_pool_run, m);
	if (r >= 0) {
		m->source = TP_PROV_SOURCE_DM_THIN;
		skew_warning(m, dev);
		return 0;
	}
	memset(m->state, TP_PROV_UNKNOWN, MAX(m->geo.clusters, 1));
	if (r == -EBUSY)
		r = asprintf(&m->warning, "thin pool %s: a metadata snapshot is held "
			     "already (left by a crash, or another tool's): not "
			     "used, so provisioning is unknown; if nothing uses it, "
			     "`dmsetup message %s 0 release_metadata_snap`",
			     m->pool->name, m->pool->name);
	else if (r == -ENOENT)
		r = asprintf(&m->warning, "thin pool %s: no thin_dump "
			     "(thin-provisioning-tools) to read its metadata: "
			     "provisioning unknown", m->pool->name);
	else
		r = asprintf(&m->warning, "thin pool %s: cannot read its metadata: "
			     "%s; provisioning unknown", m->pool->name, strerror(-r));
	if (r < 0)
		m->warning = NULL;
	return 0;
}

static int read_file(struct tp_provmap *m, int fd)
{
	const struct tp_geometry *g = &m->geo;
	uint64_t pos = g->first_cluster * g->granularity;
	uint64_t end = pos + g->clusters * g->granularity;

	memset(m->state, TP_PROV_UNMAPPED, g->clusters);
	while (pos < end) {
		struct tp_fe_list l = { 0 };
		uint64_t n = MIN(WINDOW, end - pos);
		/* No FIEMAP_FLAG_SYNC: a delayed allocation is listed too (it
		 * will hold space), and writing back a whole backing file
		 * would cost seconds before anything moves. */
		int r = tp_fiemap(fd, SECTOR, pos / SECTOR, n / SECTOR, false, &l);

		if (r < 0) {
			tp_fe_list_clear(&l);
			return r;
		}
		for (size_t i = 0; i < l.n; i++)
			mark_range(m, l.v[i].logical * SECTOR, l.v[i].len * SECTOR);
		tp_fe_list_clear(&l);
		pos += n;
	}
	return 0;
}

int tp_provmap_read(const struct tp_device *dev, const struct tp_geometry *geo,
		    struct tp_provmap **ret)
{
	_cleanup_(tp_provmap_freep) struct tp_provmap *m = NULL;
	const char *file = backing_file(dev);
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->geo = *geo;
	m->state = calloc(MAX(geo->clusters, 1), 1);
	if (!m->state)
		return -ENOMEM;
	if (file) {
		_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return -errno;
		r = read_file(m, fd);
		if (r == -EOPNOTSUPP) {
			/* a backing filesystem without FIEMAP: unknown */
			memset(m->state, TP_PROV_UNKNOWN, MAX(geo->clusters, 1));
		} else if (r < 0)
			return r;
		else
			m->source = TP_PROV_SOURCE_FILE;
	} else {
		r = read_pool(m, dev);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(m);
	return 0;
}

enum tp_prov_source tp_provmap_source(const struct tp_provmap *m)
{
	return m ? m->source : TP_PROV_SOURCE_NONE;
}

enum tp_prov tp_provmap_get(const struct tp_provmap *m, uint64_t cluster)
{
	if (!m || m->source == TP_PROV_SOURCE_NONE || cluster >= m->geo.clusters)
		return TP_PROV_UNKNOWN;
	return (enum tp_prov)m->state[cluster];
}

const char *tp_prov_source_to_string(enum tp_prov_source s)
{
	switch (s) {
	case TP_PROV_SOURCE_NONE:
		return "none";
	case TP_PROV_SOURCE_FILE:
		return "file";
	case TP_PROV_SOURCE_DM_THIN:
		return "dm-thin";
	}
	return "unknown";
}

void tp_provmap_note_write(struct tp_provmap *m, uint64_t blk, uint64_t n)
{
	const struct tp_geometry *g;

	if (!m || m->source == TP_PROV_SOURCE_NONE || n == 0)
		return;
	g = &m->geo;
	if (!m->wrote) {
		m->wrote = calloc((g->clusters + 7) / 8 + 1, 1);
		if (!m->wrote)
			return; /* the delta then counts it with the rest */
	}
	/* the whole clusters the range touches; the edges are none */
	uint64_t first = blk < g->first_block ? 0 : (blk - g->first_block) / g->cluster_blocks;
	uint64_t end = blk + n <= g->first_block ? 0 :
		       (blk + n - g->first_block + g->cluster_blocks - 1) / g->cluster_blocks;
	for (uint64_t c = first; c < MIN(end, g->clusters); c++)
		m->wrote[c / 8] |= (uint8_t)(1u << (c % 8));
}

static bool wrote(const struct tp_provmap *m, uint64_t c)
{
	return m->wrote && (m->wrote[c / 8] & (1u << (c % 8)));
}

int tp_provmap_delta(const struct tp_device *dev, const struct tp_provmap *before,
		     struct tp_prov_delta *ret)
{
	_cleanup_(tp_provmap_freep) struct tp_provmap *after = NULL;
	struct tp_prov_delta d = { 0 };
	int r;

	if (tp_provmap_source(before) == TP_PROV_SOURCE_NONE)
		return -ENODATA;
	r = tp_provmap_read(dev, &before->geo, &after);
	if (r < 0)
		return r;
	if (after->source == TP_PROV_SOURCE_NONE)
		return -ENODATA;
	for (uint64_t c = 0; c < before->geo.clusters; c++) {
		enum tp_prov a = before->state[c], b = after->state[c];
		bool anew = (a == TP_PROV_UNMAPPED &&
			     (b == TP_PROV_MAPPED || b == TP_PROV_SHARED)) ||
			    /* a write broke the sharing (or the snapshot is gone) */
			    (a == TP_PROV_SHARED && b == TP_PROV_MAPPED);

		if ((a == TP_PROV_MAPPED || a == TP_PROV_SHARED) && b == TP_PROV_UNMAPPED)
			d.released++;
		else if (anew) {
			d.provisioned++;
			if (wrote(before, c))
				d.provisioned_written++;
		}
	}
	*ret = d;
	return 0;
}

const struct tp_pool *tp_provmap_pool(const struct tp_provmap *m)
{
	return m ? m->pool : NULL;
}

const char *tp_provmap_warning(const struct tp_provmap *m)
{
	return m ? m->warning : NULL;
}
