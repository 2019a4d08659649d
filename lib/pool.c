/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool: the dm-thin pool under a thin device -- which pool, its status, and
 * which of the volume's blocks it maps and shares with other thin devices
 * (snapshots).
 *
 * Tables and status come from libdevmapper (the thin and thin-pool targets'
 * status through its own parsers, dm_get_status_thin*()); only the first
 * words of a table line (pool device, thin id; metadata and data devices,
 * block size) are read here.  The mappings come from the pool's metadata,
 * read through a metadata snapshot (reserve_metadata_snap, released on
 * every path) with thin-provisioning-tools' thin_dump, whose XML is read
 * with libexpat, streaming: thin_dump is the one reader of that format the
 * kernel's authors keep, a pool's dump can be large (a line per mapping),
 * and expat keeps none of it in memory.  Only what is needed is kept: a
 * bitmap of the volume's data blocks and of those shared, and its mappings
 * as runs; with thin_dump 1.x, which writes what devices share once, as
 * named subtrees (<def>) the devices refer to (<ref>), those as runs too,
 * until the devices are read.
 *
 * Supported: a filesystem on a dm thin device (an LVM thin LV is one), or
 * on a stack over one: dm linear mappings, one target each (kpartx's
 * partitions of a thin LV), partitions, loop devices whose backing file
 * is a block device (`losetup -P /dev/loopN /dev/mapper/vg-thin`), any
 * depth.  tp_thin_under() walks it down, tables by libdevmapper, the
 * rest by sysfs, and adds up where the filesystem starts on the thin
 * device: tp_device_open() takes that for the offset, so clusters are
 * aligned to the thin device's chunks even when a linear start is not,
 * and the pool's mappings, in the thin device's bytes, mark them as
 * they are.  Anything else under the stack (a disk, a file, another
 * target, a table of several targets): -ENODEV, and the map stays
 * unknown.
 *
 * About 1,000 lines, one file: three readers (device-mapper, the metadata
 * snapshot's life, thin_dump's XML) fill one struct tp_pool and share its
 * private bitmaps; split, each would have to export them.  libdevmapper
 * parses no thin or linear table, hence the two words read here.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <expat.h>
#include <libdevmapper.h>

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "pool.h"

extern char **environ;

#define SECTOR 512u

/* ---- libdevmapper ------------------------------------------------------ */

/* libdevmapper logs to stderr by default; nothing in the library prints. */
_printf_(5, 6) static void dm_quiet_log(int level, const char *file, int line,
					int dm_errno_or_class, const char *f, ...)
{
	(void)level;
	(void)file;
	(void)line;
	(void)dm_errno_or_class;
	(void)f;
}

static void dm_quiet(void)
{
	dm_log_with_errno_init(dm_quiet_log);
}

static inline void dm_task_destroyp(struct dm_task **t)
{
	if (*t)
		dm_task_destroy(*t);
}

static inline void dm_pool_destroyp(struct dm_pool **m)
{
	if (*m)
		dm_pool_destroy(*m);
}

static int dm_error(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* The one target of device devno (by number) or name: its name, type and
 * parameters, for task DM_DEVICE_TABLE or DM_DEVICE_STATUS.  -ENODEV: no
 * such device, or not exactly one target. */
static int dm_query(int task, dev_t devno, const char *name, char **ret_name,
		    char **ret_type, char **ret_params)
{
	_cleanup_(dm_task_destroyp) struct dm_task *dmt = NULL;
	struct dm_info info;
	uint64_t start, length;
	char *type = NULL, *params = NULL;
	void *next;

	dmt = dm_task_create(task);
	if (!dmt)
		return -ENOMEM;
	if (name) {
		if (!dm_task_set_name(dmt, name))
			return -EINVAL;
	} else if (!dm_task_set_major(dmt, (int)major(devno)) ||
		   !dm_task_set_minor(dmt, (int)minor(devno)))
		return -EINVAL;
	errno = 0;
	if (!dm_task_run(dmt))
		return dm_error();
	if (!dm_task_get_info(dmt, &info) || !info.exists)
		return -ENODEV;
	next = dm_get_next_target(dmt, NULL, &start, &length, &type, &params);
	if (next || !type || !params)
		return -ENODEV;
	if (ret_name) {
		const char *n = dm_task_get_name(dmt);
		*ret_name = strdup(n ? n : "");
		if (!*ret_name)
			return -ENOMEM;
	}
	*ret_type = strdup(type);
	*ret_params = strdup(params);
	if (!*ret_type || !*ret_params) {
		free(*ret_type);
		free(*ret_params);
		if (ret_name)
			free(*ret_name);
		return -ENOMEM;
	}
	return 0;
}

static int pool_message(const struct tp_pool *p, const char *msg)
{
	_cleanup_(dm_task_destroyp) struct dm_task *dmt = NULL;

	dmt = dm_task_create(DM_DEVICE_TARGET_MSG);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, p->name) || !dm_task_set_sector(dmt, 0) ||
	    !dm_task_set_message(dmt, msg))
		return -EINVAL;
	errno = 0;
	if (!dm_task_run(dmt))
		return dm_error();
	return 0;
}

/* ---- down the stack to the thin device ------------------------------------ */

/* No real stack is this deep; a loop device over itself (or a cycle of
 * them) would be. */
#define MAX_DEPTH 16

/* Attribute attr of block device devno in sysfs, trailing blanks cut. */
static int sysfs_read(dev_t devno, const char *attr, char *buf, size_t size)
{
	char path[96];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", major(devno),
		 minor(devno), attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

static int sysfs_u64(dev_t devno, const char *attr, uint64_t *ret)
{
	char buf[32], *end;
	unsigned long long v;
	int r = sysfs_read(devno, attr, buf, sizeof(buf));

	if (r < 0)
		return r;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* offset += n, or -EOVERFLOW. */
static int add_offset(uint64_t *offset, uint64_t n)
{
	if (n > UINT64_MAX - *offset)
		return -EOVERFLOW;
	*offset += n;
	return 0;
}

int tp_thin_under(dev_t devno, dev_t *ret_thin, uint64_t *ret_offset,
		  uint64_t *ret_disk_offset)
{
	uint64_t offset = 0, part = 0, v;
	char buf[PATH_MAX];
	int r;

	dm_quiet();
	for (unsigned depth = 0; depth < MAX_DEPTH; depth++) {
		unsigned maj, min;

		if (dm_is_dm_major(major(devno))) {
			_cleanup_free_ char *type = NULL, *params = NULL;
			unsigned long long start;

			r = dm_query(DM_DEVICE_TABLE, devno, NULL, NULL, &type, &params);
			if (r < 0)
				return r;
			if (strcmp(type, "thin") == 0) {
				*ret_thin = devno;
				*ret_offset = offset;
				if (ret_disk_offset)
					*ret_disk_offset = offset - part;
				return 0;
			}
			/* linear: <device> <start sector> */
			if (strcmp(type, "linear") != 0)
				return -ENODEV;
			if (sscanf(params, "%u:%u %llu", &maj, &min, &start) != 3 ||
			    start > UINT64_MAX / SECTOR)
				return -EPROTO;
			r = add_offset(&offset, start * SECTOR);
			if (r < 0)
				return r;
			devno = makedev(maj, min);
		} else if (sysfs_read(devno, "partition", buf, sizeof(buf)) >= 0) {
			/* a partition (of a loop device: dm devices have
			 * none), on its whole disk, the directory above */
			r = sysfs_u64(devno, "start", &v);
			if (r < 0)
				return r;
			if (v > UINT64_MAX / SECTOR)
				return -EOVERFLOW;
			r = add_offset(&offset, v * SECTOR);
			if (r < 0)
				return r;
			if (depth == 0)
				part = v * SECTOR;
			r = sysfs_read(devno, "../dev", buf, sizeof(buf));
			if (r < 0)
				return r;
			if (sscanf(buf, "%u:%u", &maj, &min) != 2)
				return -EPROTO;
			devno = makedev(maj, min);
		} else if (sysfs_read(devno, "loop/backing_file", buf, sizeof(buf)) >= 0) {
			/* a loop device over a block device: the path the
			 * kernel keeps of the file it opened */
			struct stat st;

			if (stat(buf, &st) < 0 || !S_ISBLK(st.st_mode))
				return -ENODEV; /* a file, or gone */
			if (sysfs_u64(devno, "loop/offset", &v) >= 0) {
				r = add_offset(&offset, v);
				if (r < 0)
					return r;
			}
			devno = st.st_rdev;
		} else
			return -ENODEV;
	}
	return -ELOOP;
}

/* ---- the pool ---------------------------------------------------------- */

struct tp_pool *tp_pool_free(struct tp_pool *p)
{
	if (!p)
		return NULL;
	free(p->name);
	free(p->thin_name);
	for (size_t i = 0; i < p->n_sharers; i++)
		free(p->sharers[i].name);
	free(p->sharers);
	free(p);
	return NULL;
}

TP_DEFINE_CLEANUP(struct tp_pool *, tp_pool_free)

static int read_pool_status(struct tp_pool *p)
{
	_cleanup_(dm_pool_destroyp) struct dm_pool *mem = NULL;
	_cleanup_free_ char *type = NULL, *params = NULL;
	struct dm_status_thin_pool *st;
	int r;

	r = dm_query(DM_DEVICE_STATUS, 0, p->name, NULL, &type, &params);
	if (r < 0)
		return r;
	if (strcmp(type, "thin-pool") != 0)
		return -ENODEV;
	mem = dm_pool_create("thinpack", 1024);
	if (!mem)
		return -ENOMEM;
	if (!dm_get_status_thin_pool(mem, params, &st))
		return -EPROTO;
	p->used_blocks = st->used_data_blocks;
	p->total_blocks = st->total_data_blocks;
	p->used_metadata_blocks = st->used_metadata_blocks;
	p->total_metadata_blocks = st->total_metadata_blocks;
	p->out_of_data_space = st->out_of_data_space;
	p->read_only = st->read_only || st->fail || st->error;
	p->needs_check = st->needs_check;
	p->discard_passdown = st->discards == DM_THIN_DISCARDS_PASSDOWN;
	p->discard_ignored = st->discards == DM_THIN_DISCARDS_IGNORE;
	/* <transaction> <meta used/total> <data used/total> <held root>:
	 * libdevmapper (1.02.185) leaves held_metadata_root 0 whatever the
	 * status says, so that word is read here; "-" when none */
	char held[32] = "";
	p->held_root = st->held_metadata_root != 0 ||
		       (sscanf(params, "%*s %*s %*s %31s", held) == 1 &&
			strcmp(held, "-") != 0);
	return 0;
}

int tp_pool_read(const struct tp_device *dev, struct tp_pool **ret)
{
	_cleanup_(tp_pool_freep) struct tp_pool *p = NULL;
	_cleanup_(dm_pool_destroyp) struct dm_pool *mem = NULL;
	_cleanup_free_ char *type = NULL, *params = NULL;
	_cleanup_free_ char *ptype = NULL, *pparams = NULL;
	_cleanup_free_ char *stype = NULL, *sparams = NULL;
	struct dm_status_thin *ts;
	unsigned pmaj, pmin, mmaj, mmin, dmaj, dmin;
	unsigned long long id, bs;
	dev_t thin;
	int r;

	if (dev->kind == TP_TARGET_IMAGE || dev->devno == 0)
		return -ENODEV;
	dm_quiet();
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = tp_thin_under(dev->devno, &thin, &p->offset, &p->disk_offset);
	if (r < 0)
		return r;
	r = dm_query(DM_DEVICE_TABLE, thin, NULL, &p->thin_name, &type, &params);
	if (r < 0)
		return r;
	/* thin: <pool dev> <dev id> [<external origin dev>] */
	if (strcmp(type, "thin") != 0)
		return -ENODEV;
	if (sscanf(params, "%u:%u %llu", &pmaj, &pmin, &id) != 3)
		return -EPROTO;
	p->devno = makedev(pmaj, pmin);
	p->thin_id = id;

	r = dm_query(DM_DEVICE_STATUS, thin, NULL, NULL, &stype, &sparams);
	if (r < 0)
		return r;
	mem = dm_pool_create("thinpack", 1024);
	if (!mem)
		return -ENOMEM;
	if (strcmp(stype, "thin") == 0 && dm_get_status_thin(mem, sparams, &ts))
		p->thin_mapped_bytes = ts->mapped_sectors * SECTOR;

	/* thin-pool: <metadata dev> <data dev> <block size> <low water> ... */
	r = dm_query(DM_DEVICE_TABLE, p->devno, NULL, &p->name, &ptype, &pparams);
	if (r < 0)
		return r;
	if (strcmp(ptype, "thin-pool") != 0)
		return -ENODEV;
	if (sscanf(pparams, "%u:%u %u:%u %llu", &mmaj, &mmin, &dmaj, &dmin, &bs) != 5 ||
	    bs == 0)
		return -EPROTO;
	p->metadata_devno = makedev(mmaj, mmin);
	p->data_devno = makedev(dmaj, dmin);
	p->block_size = bs * SECTOR;
	r = read_pool_status(p);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

unsigned tp_pool_free_percent(const struct tp_pool *p)
{
	if (!p || p->total_blocks == 0 || p->used_blocks >= p->total_blocks)
		return 0;
	return (unsigned)((p->total_blocks - p->used_blocks) * 100 / p->total_blocks);
}

enum tp_blocker tp_pool_blocker(const struct tp_pool *p, unsigned margin)
{
	if (!p)
		return TP_BLOCKER_NONE;
	if (p->needs_check)
		return TP_BLOCKER_POOL_NEEDS_CHECK;
	if (p->read_only)
		return TP_BLOCKER_POOL_READ_ONLY;
	if (p->out_of_data_space)
		return TP_BLOCKER_POOL_OUT_OF_SPACE;
	if (p->total_blocks &&
	    (p->total_blocks - MIN(p->used_blocks, p->total_blocks)) * 100 <
		    p->total_blocks * (uint64_t)margin)
		return TP_BLOCKER_POOL_MARGIN;
	return TP_BLOCKER_NONE;
}

char *tp_pool_blocker_message(const struct tp_pool *p, unsigned margin,
			      enum tp_blocker b)
{
	char *s;

	if (asprintf(&s, "%s (pool %s: %u %% free, %" PRIu64 " of %" PRIu64
		     " data blocks used, margin %u %%)", tp_blocker_to_string(b),
		     p->name, tp_pool_free_percent(p), p->used_blocks,
		     p->total_blocks, margin) < 0)
		return NULL;
	return s;
}

/* ---- thin_dump's XML ------------------------------------------------------ */

struct run {
	uint64_t origin, data, len;
};

/* A shared subtree by name (thin_dump 1.x: <def name="N"> at the top,
 * <ref name="N"/> in each device that holds it): its mappings, kept until
 * the devices that refer to it are read. */
struct def {
	char *name;
	struct run *runs;
	size_t n_runs, cap_runs;
};

struct tp_thin_xml {
	uint64_t thin_id;
	bool others;        /* pass 2 */
	bool seen_ours;
	bool in_device, is_ours;
	uint64_t nr_blocks; /* bits in the bitmaps: the pool's data blocks */
	bool have_superblock;
	uint64_t *ours, *shared; /* bitmaps of data blocks */
	struct run *runs;
	size_t n_runs, cap_runs;
	struct tp_pool_sharer *sharers;
	size_t n_sharers, cap_sharers;
	struct def *defs;
	size_t n_defs, cap_defs;
	struct def *in_def; /* inside <def>: its mappings go there */
	bool defs_sorted;   /* by name, for the refs: no more defs */
	int error;
	XML_Parser parser;
};

static inline bool bit_test(const uint64_t *bm, uint64_t b)
{
	return bm[b / 64] >> (b % 64) & 1;
}

static inline void bit_set(uint64_t *bm, uint64_t b)
{
	bm[b / 64] |= 1ull << (b % 64);
}

int tp_thin_xml_new(uint64_t thin_id, uint64_t nr_blocks, struct tp_thin_xml **ret)
{
	struct tp_thin_xml *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->thin_id = thin_id;
	x->nr_blocks = nr_blocks;
	*ret = x;
	return 0;
}

/* No pool has more data blocks than this (2^48 blocks of 64 KiB: 16 EiB):
 * beyond, the input is wrong, and the bitmaps would not fit anyway. */
#define MAX_DATA_BLOCKS (UINT64_C(1) << 48)

/* Make the bitmaps hold n bits at least. */
static int grow(struct tp_thin_xml *x, uint64_t n)
{
	size_t old = x->ours ? (size_t)(x->nr_blocks / 64 + 1) : 0;
	size_t words = (size_t)(n / 64 + 1);
	uint64_t *a, *b;

	if (n > MAX_DATA_BLOCKS)
		return -EPROTO;
	if (x->ours && words <= old) {
		x->nr_blocks = MAX(x->nr_blocks, n);
		return 0;
	}
	a = realloc(x->ours, words * sizeof(*a));
	if (!a)
		return -ENOMEM;
	x->ours = a;
	b = realloc(x->shared, words * sizeof(*b));
	if (!b)
		return -ENOMEM;
	x->shared = b;
	memset(a + old, 0, (words - old) * sizeof(*a));
	memset(b + old, 0, (words - old) * sizeof(*b));
	x->nr_blocks = n;
	return 0;
}

static void defs_clear(struct tp_thin_xml *x)
{
	for (size_t i = 0; i < x->n_defs; i++) {
		free(x->defs[i].name);
		free(x->defs[i].runs);
	}
	free(x->defs);
	x->defs = NULL;
	x->n_defs = x->cap_defs = 0;
	x->in_def = NULL;
	x->defs_sorted = false;
}

struct tp_thin_xml *tp_thin_xml_free(struct tp_thin_xml *x)
{
	if (!x)
		return NULL;
	defs_clear(x);
	free(x->ours);
	free(x->shared);
	free(x->runs);
	for (size_t i = 0; i < x->n_sharers; i++)
		free(x->sharers[i].name);
	free(x->sharers);
	free(x);
	return NULL;
}

TP_DEFINE_CLEANUP(struct tp_thin_xml *, tp_thin_xml_free)

static void xml_fail(struct tp_thin_xml *x, int error)
{
	if (!x->error)
		x->error = error;
	XML_StopParser(x->parser, XML_FALSE);
}

/* The value of attribute key as a number; false when absent or not one. */
static bool attr_u64(const XML_Char **atts, const char *key, uint64_t *ret)
{
	for (size_t i = 0; atts[i]; i += 2)
		if (strcmp(atts[i], key) == 0) {
			const char *v = atts[i + 1];
			char *end;
			unsigned long long u;

			if (!v || *v < '0' || *v > '9')
				return false;
			errno = 0;
			u = strtoull(v, &end, 10);
			if (errno || *end)
				return false;
			*ret = u;
			return true;
		}
	return false;
}

/* The value of attribute key, or NULL. */
static const char *attr_str(const XML_Char **atts, const char *key)
{
	for (size_t i = 0; atts[i]; i += 2)
		if (strcmp(atts[i], key) == 0)
			return atts[i + 1];
	return NULL;
}

static int cmp_def(const void *a, const void *b)
{
	return strcmp(((const struct def *)a)->name, ((const struct def *)b)->name);
}

/* The def named name.  thin_dump writes every def before the devices: the
 * first lookup sorts them (a pool with many snapshots has many), and a
 * name defined twice is an error. */
static const struct def *find_def(struct tp_thin_xml *x, const char *name)
{
	struct def key = { .name = (char *)name };

	if (!x->defs_sorted) {
		if (x->n_defs)
			qsort(x->defs, x->n_defs, sizeof(*x->defs), cmp_def);
		for (size_t i = 1; i < x->n_defs; i++)
			if (cmp_def(&x->defs[i - 1], &x->defs[i]) == 0)
				return NULL;
		x->defs_sorted = true;
	}
	return x->n_defs ? bsearch(&key, x->defs, x->n_defs, sizeof(*x->defs), cmp_def) :
			   NULL;
}

/* Append a run to v, merged with the last one when it continues it. */
static int runs_add(struct run **v, size_t *n, size_t *cap, uint64_t origin,
		    uint64_t data, uint64_t len)
{
	struct run *last = *n ? &(*v)[*n - 1] : NULL;

	if (last && last->origin + last->len == origin && last->data + last->len == data) {
		last->len += len;
		return 0;
	}
	if (tp_reserve(v, cap, *n + 1, sizeof(**v)) < 0)
		return -ENOMEM;
	(*v)[(*n)++] = (struct run){ origin, data, len };
	return 0;
}

static void mapping(struct tp_thin_xml *x, uint64_t origin, uint64_t data,
		    uint64_t len)
{
	int r;

	if (x->in_def && !x->in_device && x->have_superblock && len > 0 &&
	    origin <= UINT64_MAX - len) {
		r = runs_add(&x->in_def->runs, &x->in_def->n_runs, &x->in_def->cap_runs,
			     origin, data, len);
		if (r < 0)
			xml_fail(x, r);
		return;
	}
	if (!x->in_device || !x->have_superblock || len == 0 ||
	    data > MAX_DATA_BLOCKS || len > MAX_DATA_BLOCKS - data ||
	    origin > UINT64_MAX - len) {
		xml_fail(x, -EPROTO);
		return;
	}
	/* The superblock's nr_data_blocks is not always the pool's (a
	 * metadata snapshot's copy may say 0): the bitmaps grow. */
	if (data + len > x->nr_blocks && (r = grow(x, data + len)) < 0) {
		xml_fail(x, r);
		return;
	}
	if (!x->others) {
		if (!x->is_ours)
			return; /* pass 1 wants the volume only */
		for (uint64_t b = data; b < data + len; b++)
			bit_set(x->ours, b);
		r = runs_add(&x->runs, &x->n_runs, &x->cap_runs, origin, data, len);
		if (r < 0)
			xml_fail(x, r);
		return;
	}
	if (x->is_ours)
		return; /* pass 2 counts the others against it */
	struct tp_pool_sharer *s = &x->sharers[x->n_sharers - 1];
	for (uint64_t b = data; b < data + len; b++)
		if (bit_test(x->ours, b)) {
			bit_set(x->shared, b);
			s->blocks++;
		}
}

static void XMLCALL on_start(void *userdata, const XML_Char *name,
			     const XML_Char **atts)
{
	struct tp_thin_xml *x = userdata;
	uint64_t a, b, n;

	if (x->error)
		return;
	if (strcmp(name, "superblock") == 0) {
		if (!attr_u64(atts, "nr_data_blocks", &n)) {
			xml_fail(x, -EPROTO);
			return;
		}
		int r = grow(x, MAX(n, x->nr_blocks));
		if (r < 0) {
			xml_fail(x, r);
			return;
		}
		x->have_superblock = true;
	} else if (strcmp(name, "device") == 0) {
		if (!attr_u64(atts, "dev_id", &a)) {
			xml_fail(x, -EPROTO);
			return;
		}
		x->in_device = true;
		x->is_ours = a == x->thin_id;
		if (x->is_ours && !x->others)
			x->seen_ours = true;
		if (x->others && !x->is_ours) {
			if (x->n_sharers == x->cap_sharers) {
				size_t cap = x->cap_sharers ? x->cap_sharers * 2 : 8;
				struct tp_pool_sharer *v =
					realloc(x->sharers, cap * sizeof(*v));
				if (!v) {
					xml_fail(x, -ENOMEM);
					return;
				}
				x->sharers = v;
				x->cap_sharers = cap;
			}
			x->sharers[x->n_sharers++] = (struct tp_pool_sharer){ .dev_id = a };
		}
	} else if (strcmp(name, "single_mapping") == 0) {
		if (!attr_u64(atts, "origin_block", &a) ||
		    !attr_u64(atts, "data_block", &b)) {
			xml_fail(x, -EPROTO);
			return;
		}
		mapping(x, a, b, 1);
	} else if (strcmp(name, "range_mapping") == 0) {
		if (!attr_u64(atts, "origin_begin", &a) ||
		    !attr_u64(atts, "data_begin", &b) || !attr_u64(atts, "length", &n)) {
			xml_fail(x, -EPROTO);
			return;
		}
		mapping(x, a, b, n);
	} else if (strcmp(name, "def") == 0) {
		const char *dn = attr_str(atts, "name");
		if (!dn || x->in_def || x->in_device || !x->have_superblock ||
		    x->defs_sorted) {
			xml_fail(x, -EPROTO);
			return;
		}
		if (TP_RESERVE(x->defs, x->cap_defs, x->n_defs + 1) < 0) {
			xml_fail(x, -ENOMEM);
			return;
		}
		struct def *d = &x->defs[x->n_defs];
		*d = (struct def){ .name = strdup(dn) };
		if (!d->name) {
			xml_fail(x, -ENOMEM);
			return;
		}
		x->n_defs++;
		x->in_def = d;
	} else if (strcmp(name, "ref") == 0) {
		/* the device holds the named subtree's mappings */
		const char *rn = attr_str(atts, "name");
		const struct def *d = rn ? find_def(x, rn) : NULL;
		if (!d || !x->in_device) {
			xml_fail(x, -EPROTO);
			return;
		}
		for (size_t i = 0; i < d->n_runs && !x->error; i++)
			mapping(x, d->runs[i].origin, d->runs[i].data, d->runs[i].len);
	}
}

static void XMLCALL on_end(void *userdata, const XML_Char *name)
{
	struct tp_thin_xml *x = userdata;

	if (strcmp(name, "device") == 0)
		x->in_device = false;
	else if (strcmp(name, "def") == 0)
		x->in_def = NULL;
}

static inline void xml_parser_freep(XML_Parser *p)
{
	if (*p)
		XML_ParserFree(*p);
}

int tp_thin_xml_parse(struct tp_thin_xml *x, int fd, bool others)
{
	_cleanup_(xml_parser_freep) XML_Parser parser = NULL;

	if (others && !x->seen_ours)
		return -EINVAL;
	parser = XML_ParserCreate(NULL);
	if (!parser)
		return -ENOMEM;
	x->parser = parser;
	x->others = others;
	x->in_device = false;
	x->error = 0;
	defs_clear(x); /* each pass reads them anew */
	XML_SetUserData(parser, x);
	XML_SetElementHandler(parser, on_start, on_end);
	for (;;) {
		void *buf = XML_GetBuffer(parser, 1 << 16);
		ssize_t n;

		if (!buf)
			return -ENOMEM;
		n = read(fd, buf, 1 << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (XML_ParseBuffer(parser, (int)n, n == 0) != XML_STATUS_OK)
			return x->error ? x->error : -EPROTO;
		if (n == 0)
			break;
	}
	x->parser = NULL;
	if (x->error)
		return x->error;
	if (!x->have_superblock || (!others && !x->seen_ours))
		return -EPROTO; /* no such device in the pool */
	return 0;
}

static uint64_t popcount(const uint64_t *bm, uint64_t bits)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < bits / 64 + 1; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}

int tp_thin_xml_finish(struct tp_thin_xml *x, struct tp_pool *p,
		       tp_pool_run_fn fn, void *userdata)
{
	size_t k = 0;

	if (!x->have_superblock)
		return -EPROTO;
	p->mapped_blocks = popcount(x->ours, x->nr_blocks);
	p->shared_blocks = popcount(x->shared, x->nr_blocks);
	/* the devices that share any, most first */
	for (size_t i = 0; i < x->n_sharers; i++)
		if (x->sharers[i].blocks)
			x->sharers[k++] = x->sharers[i];
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && x->sharers[j].blocks > x->sharers[j - 1].blocks; j--) {
			struct tp_pool_sharer t = x->sharers[j];
			x->sharers[j] = x->sharers[j - 1];
			x->sharers[j - 1] = t;
		}
	for (size_t i = 0; i < p->n_sharers; i++)
		free(p->sharers[i].name);
	free(p->sharers);
	p->sharers = k ? x->sharers : NULL;
	p->n_sharers = k;
	if (!k)
		free(x->sharers);
	x->sharers = NULL;
	x->n_sharers = x->cap_sharers = 0;
	p->metadata_read = true;

	for (size_t i = 0; fn && i < x->n_runs; i++) {
		const struct run *r = &x->runs[i];
		uint64_t start = 0;
		bool s = bit_test(x->shared, r->data);

		for (uint64_t j = 1; j <= r->len; j++) {
			bool t = j < r->len && bit_test(x->shared, r->data + j);
			if (j == r->len || t != s) {
				fn(r->origin + start, j - start, s, userdata);
				start = j;
				s = t;
			}
		}
	}
	return 0;
}

/* ---- reading the metadata ------------------------------------------------ */

static inline void spawn_actions_destroyp(posix_spawn_file_actions_t **a)
{
	if (*a)
		posix_spawn_file_actions_destroy(*a);
}

/* thin_dump the held metadata snapshot of meta (one device, or all) into
 * the parser. */
static int run_thin_dump(const char *meta, const char *dev_id,
			 struct tp_thin_xml *x, bool others)
{
	posix_spawn_file_actions_t fa_storage;
	_cleanup_(spawn_actions_destroyp) posix_spawn_file_actions_t *fa = NULL;
	_cleanup_close_ int rd = -1;
	int pfd[2], r, status;
	pid_t pid;
	char *argv[] = { "thin_dump", "--metadata-snap", "--format", "xml",
			 (char *)meta, NULL, NULL, NULL };

	if (dev_id) {
		argv[4] = "--dev-id";
		argv[5] = (char *)dev_id;
		argv[6] = (char *)meta;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	rd = pfd[0];
	r = posix_spawn_file_actions_init(&fa_storage);
	if (r) {
		close(pfd[1]);
		return -r;
	}
	fa = &fa_storage;
	r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (!r)
		r = posix_spawn_file_actions_adddup2(fa, pfd[1], 1);
	if (!r)
		r = posix_spawn_file_actions_addopen(fa, 2, "/dev/null", O_WRONLY, 0);
	if (!r) {
		/* PATH first; a service's or cron's PATH may lack sbin */
		r = posix_spawnp(&pid, "thin_dump", fa, NULL, argv, environ);
		if (r == ENOENT)
			r = posix_spawn(&pid, "/usr/sbin/thin_dump", fa, NULL, argv, environ);
		if (r == ENOENT)
			r = posix_spawn(&pid, "/sbin/thin_dump", fa, NULL, argv, environ);
	}
	close(pfd[1]);
	if (r)
		return -r;
	r = tp_thin_xml_parse(x, rd, others);
	/* a parse that stopped early leaves thin_dump writing to nothing:
	 * closing the pipe ends it */
	rd = tp_safe_close(rd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return r < 0 ? r : -errno;
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EPROTO;
	return 0;
}

/* A path to the block device devno: /dev/mapper/NAME for a dm device,
 * /dev/KERNELNAME otherwise. */
static int devno_path(dev_t devno, char **ret)
{
	char *path = NULL;
	struct stat st;

	if (dm_is_dm_major(major(devno))) {
		_cleanup_(dm_task_destroyp) struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
		const char *name;

		if (!dmt)
			return -ENOMEM;
		if (!dm_task_set_major(dmt, (int)major(devno)) ||
		    !dm_task_set_minor(dmt, (int)minor(devno)))
			return -EINVAL;
		errno = 0;
		if (!dm_task_run(dmt))
			return dm_error();
		name = dm_task_get_name(dmt);
		if (name && *name && asprintf(&path, "%s/%s", dm_dir(), name) < 0)
			return -ENOMEM;
	} else {
		char uevent[64], line[256];
		_cleanup_fclose_ FILE *f = NULL;

		snprintf(uevent, sizeof(uevent), "/sys/dev/block/%u:%u/uevent",
			 major(devno), minor(devno));
		f = fopen(uevent, "re");
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "DEVNAME=", 8) == 0) {
				line[strcspn(line, "\n")] = '\0';
				if (asprintf(&path, "/dev/%s", line + 8) < 0)
					return -ENOMEM;
				break;
			}
	}
	if (path && stat(path, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == devno) {
		*ret = path;
		return 0;
	}
	free(path);
	return -ENODEV;
}

/* The names of the active thin devices of p that share its blocks. */
static void name_sharers(struct tp_pool *p)
{
	_cleanup_(dm_task_destroyp) struct dm_task *dmt = NULL;
	struct dm_names *names;
	unsigned next = 0;

	if (!p->n_sharers)
		return;
	dmt = dm_task_create(DM_DEVICE_LIST);
	if (!dmt || !dm_task_run(dmt))
		return;
	names = dm_task_get_names(dmt);
	if (!names || !names->dev)
		return;
	do {
		names = (struct dm_names *)((char *)names + next);
		_cleanup_free_ char *type = NULL, *params = NULL;
		unsigned pmaj, pmin;
		unsigned long long id;

		next = names->next;
		if (dm_query(DM_DEVICE_TABLE, 0, names->name, NULL, &type, &params) < 0 ||
		    strcmp(type, "thin") != 0 ||
		    sscanf(params, "%u:%u %llu", &pmaj, &pmin, &id) != 3 ||
		    makedev(pmaj, pmin) != p->devno)
			continue;
		for (size_t i = 0; i < p->n_sharers; i++)
			if (p->sharers[i].dev_id == id && !p->sharers[i].name)
				p->sharers[i].name = strdup(names->name);
	} while (next);
}

int tp_pool_read_mappings(struct tp_pool *p, tp_pool_run_fn fn, void *userdata)
{
	_cleanup_(tp_thin_xml_freep) struct tp_thin_xml *x = NULL;
	_cleanup_free_ char *meta = NULL;
	char id[24];
	int r, rr;

	if (p->held_root)
		return -EBUSY;
	if (p->read_only || p->needs_check)
		return -EROFS;
	dm_quiet();
	r = devno_path(p->metadata_devno, &meta);
	if (r < 0)
		return r;
	r = tp_thin_xml_new(p->thin_id, p->total_blocks, &x);
	if (r < 0)
		return r;
	snprintf(id, sizeof(id), "%" PRIu64, p->thin_id);

	/* The kernel commits before it takes the snapshot.  Someone else
	 * may have reserved one since the status was read: then this
	 * fails, and theirs is left alone. */
	r = pool_message(p, "reserve_metadata_snap");
	if (r < 0)
		return r;
	r = run_thin_dump(meta, id, x, false);
	if (r >= 0)
		r = run_thin_dump(meta, NULL, x, true);
	rr = pool_message(p, "release_metadata_snap");
	if (r >= 0 && rr < 0)
		r = rr;
	if (r < 0)
		return r;
	r = tp_thin_xml_finish(x, p, fn, userdata);
	if (r < 0)
		return r;
	name_sharers(p);
	return 0;
}
