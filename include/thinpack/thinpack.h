/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libthinpack: find the space a thin-provisioned device cannot get back from
 * an ext4 filesystem, what it would cost to get it back, and get it back
 * (online with EXT4_IOC_MOVE_EXT, or offline with libext2fs), then trim.
 *
 * Conventions: every function returns >= 0 on success or a negative errno;
 * out-parameters are named ret* and are untouched on failure; destructors
 * accept NULL and return NULL.  Nothing in the library prints or exits.
 *
 * Units: "blocks" are filesystem blocks, "clusters" are granularity-aligned
 * ranges of the *device* (not bigalloc clusters), "bytes" are bytes.
 */
#ifndef THINPACK_THINPACK_H
#define THINPACK_THINPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sizes, durations ------------------------------------------------- */

/* "4096", "64K", "64KiB", "1M", "1.5G", "10KB" (KB = 1000).  Bytes. */
int tp_parse_size(const char *s, uint64_t *ret_bytes);
/* "0", "90", "30s", "15m", "12h", "1d", "2w", "1d12h".  Seconds. */
int tp_parse_duration(const char *s, uint64_t *ret_seconds);

#define TP_SIZE_STR_MAX 32
/* "0 B", "4.0 KiB", "1.5 GiB".  Returns buf. */
const char *tp_format_size(uint64_t bytes, char buf[static TP_SIZE_STR_MAX]);
/* "0", "45s", "1d12h", "2w3d": what tp_parse_duration() reads back.
 * Returns buf. */
const char *tp_format_duration(uint64_t seconds, char buf[static TP_SIZE_STR_MAX]);

/* ---- discover: what a path names, and its device ----------------------- */

enum tp_target_kind {
	TP_TARGET_MOUNTED,  /* a mounted filesystem (path inside it, or its device) */
	TP_TARGET_BLOCKDEV, /* an unmounted block device */
	TP_TARGET_IMAGE,    /* an image file of an unmounted filesystem */
};

enum tp_granularity_source {
	TP_GRANULARITY_SYSFS,   /* queue/discard_granularity of the device */
	TP_GRANULARITY_OPTION,  /* --granularity */
	TP_GRANULARITY_CONFIG,  /* the configuration file */
	TP_GRANULARITY_BLKSIZE, /* an image file: st_blksize of the file */
};

struct tp_device {
	char *path;       /* as named by the user */
	char *device;     /* block device node, or the image file */
	char *mountpoint; /* NULL when not mounted */
	char *fstype;     /* "ext4", "tmpfs", "xfs"...; NULL if unknown */
	enum tp_target_kind kind;
	bool read_only;   /* mounted read-only */
	bool data_journal;   /* mounted with data=journal */
	bool data_writeback; /* mounted with data=writeback */
	uint64_t size;    /* bytes of the device or image file; 0 if unknown */
	dev_t devno;      /* of the block device; 0 for an image */

	bool partition;   /* the device is a partition of a whole disk */
	bool loop;        /* the (whole) device is a loop device */
	char *loop_backing_file;

	/* Byte offset of the filesystem's first byte on the whole device
	 * whose chunks the thin pool hands out: partition start plus loop
	 * offset; on a stack that ends at a dm thin device (tp_pool_read()),
	 * the byte of the thin device, dm linear starts (kpartx) included.
	 * Clusters are aligned to the whole device. */
	uint64_t offset;

	uint64_t granularity; /* discard granularity in bytes */
	enum tp_granularity_source granularity_source;
	bool discard;         /* the device accepts discards */
	uint64_t discard_max_bytes;

	/* libblkid topology, 0 where unknown */
	uint64_t minimum_io_size;
	uint64_t optimal_io_size;
	uint64_t physical_sector_size;
	uint64_t logical_sector_size;
};

/*
 * Resolve PATH: a mount point or any path inside a mounted filesystem, a
 * block device, or an image file.  Succeeds for any existing path that
 * belongs to some filesystem; check tp_device_is_ext() before scanning.
 * -ENOENT: no such path.  -ENOTBLK: a path that is on no block device.
 */
int tp_device_open(const char *path, struct tp_device **ret);
struct tp_device *tp_device_free(struct tp_device *dev);
/* ext2, ext3 or ext4, by the mount table or by libblkid's probe. */
bool tp_device_is_ext(const struct tp_device *dev);
void tp_device_set_granularity(struct tp_device *dev, uint64_t bytes,
			       enum tp_granularity_source source);
const char *tp_granularity_source_to_string(enum tp_granularity_source s);
const char *tp_target_kind_to_string(enum tp_target_kind k);
/* Inode numbers of the active swap files on this (mounted) filesystem. */
int tp_device_swapfiles(const struct tp_device *dev, uint64_t **ret_inodes,
			size_t *ret_n);

/* ---- the filesystem, read-only through libext2fs ------------------------ */

struct tp_fs;

struct tp_fs_info {
	uint32_t block_size;
	uint64_t blocks_count;
	uint64_t free_blocks;
	uint64_t first_data_block;
	uint32_t inodes_count;
	uint32_t free_inodes;
	bool bigalloc;
	uint32_t bigalloc_cluster_size; /* bytes; == block_size without bigalloc */
	bool extents;        /* the extent feature */
	bool needs_recovery; /* journal not replayed: on-disk state may be stale */
	bool quota;          /* the quota feature: usage lives in quota inodes */
	bool fast_commit;    /* the fast_commit feature */
	char uuid[37];
	char label[17];
};

int tp_fs_open(const struct tp_device *dev, struct tp_fs **ret);
/* Read-write, for offline compaction: the device opened exclusively (a
 * mounted one gives -EBUSY).  -EUCLEAN: the journal needs recovery or the
 * filesystem has errors: run e2fsck first. */
int tp_fs_open_rw(const struct tp_device *dev, struct tp_fs **ret);
struct tp_fs *tp_fs_close(struct tp_fs *fs);
const struct tp_fs_info *tp_fs_get_info(const struct tp_fs *fs);
/* The libext2fs message behind the last error of fs (or of the failed
 * tp_fs_open() on this thread), or NULL. */
const char *tp_fs_last_error(void);
/* A path from the filesystem's root ("/a/b") of each of inodes[0, n), as
 * debugfs ncheck finds it: a directory by its ".." chain, anything else
 * in the first directory that names it (one walk over every directory,
 * and only when needed).  (*ret)[i] is NULL for an inode no directory
 * names (deleted but open, an xattr inode, a reserved one).  Free with
 * tp_paths_free(*ret, n). */
int tp_fs_inode_paths(struct tp_fs *fs, const uint32_t *inodes, size_t n,
		      char ***ret);
char **tp_paths_free(char **paths, size_t n);

/* ---- target: can this filesystem be compacted ----------------------------- */

enum tp_blocker {
	TP_BLOCKER_NONE,
	TP_BLOCKER_NOT_MOUNTED,    /* TP_CHECK_ONLINE */
	TP_BLOCKER_READ_ONLY,      /* TP_CHECK_ONLINE */
	TP_BLOCKER_BIGALLOC,
	TP_BLOCKER_NO_EXTENTS,
	TP_BLOCKER_DATA_JOURNAL,   /* a mount with data=journal */
	TP_BLOCKER_DATA_WRITEBACK, /* a mount with data=writeback */
	TP_BLOCKER_NO_DISCARD,     /* TP_CHECK_DISCARD */
	TP_BLOCKER_BLOCK_SIZE,     /* TP_CHECK_ONLINE: block size != page size */
	/* tp_pool_blocker(): the dm-thin pool under the filesystem */
	TP_BLOCKER_POOL_NEEDS_CHECK,  /* needs_check set: thin_check first */
	TP_BLOCKER_POOL_READ_ONLY,    /* metadata read-only, or the pool failed */
	TP_BLOCKER_POOL_OUT_OF_SPACE, /* out_of_data_space */
	TP_BLOCKER_POOL_MARGIN,       /* free data space below the margin */
};
/* What is checked besides the filesystem's features and its mount's data
 * mode (which every compaction needs): */
#define TP_CHECK_ONLINE 1u  /* mounted read-write, block size == page size */
#define TP_CHECK_DISCARD 2u /* the device takes discards */
/* The first reason, in the order of the enum, why dev's filesystem cannot
 * be compacted; TP_BLOCKER_NONE if it can. */
enum tp_blocker tp_compaction_blocker(const struct tp_device *dev,
				      const struct tp_fs_info *info, unsigned checks);
/* Why, in words (NULL for TP_BLOCKER_NONE). */
const char *tp_blocker_to_string(enum tp_blocker b);

/* ---- geometry: filesystem blocks on the device's cluster grid ------------ */

struct tp_geometry {
	uint32_t block_size;
	uint64_t blocks_count;
	uint64_t offset;          /* bytes, fs start on the whole device */
	uint64_t granularity;     /* bytes */
	uint32_t cluster_blocks;  /* C: blocks per cluster */
	uint64_t first_block;     /* first fs block of the first whole cluster */
	uint64_t first_cluster;   /* its cluster number on the whole device */
	uint64_t clusters;        /* whole clusters inside the filesystem */
	uint64_t edge_clusters;   /* clusters only partly inside it (0..2) */
};

/*
 * -EINVAL: granularity smaller than a block or not a multiple of one;
 * -EXDEV: offset not a multiple of the block size;
 * -E2BIG: more than 2^31 blocks per cluster.
 */
int tp_geometry_init(struct tp_geometry *g, uint32_t block_size,
		     uint64_t blocks_count, uint64_t offset,
		     uint64_t granularity);

#define TP_NO_CLUSTER UINT64_MAX
/* Index (0..clusters-1) of the whole cluster that holds block, or
 * TP_NO_CLUSTER when the block lies in an edge cluster. */
static inline uint64_t tp_blk_to_cluster(const struct tp_geometry *g,
					 uint64_t blk)
{
	if (blk < g->first_block)
		return TP_NO_CLUSTER;
	uint64_t c = (blk - g->first_block) / g->cluster_blocks;
	return c < g->clusters ? c : TP_NO_CLUSTER;
}

static inline uint64_t tp_cluster_to_blk(const struct tp_geometry *g,
					 uint64_t cluster)
{
	return g->first_block + cluster * g->cluster_blocks;
}

static inline uint64_t tp_blks_to_bytes(const struct tp_geometry *g,
					uint64_t blocks)
{
	return blocks * g->block_size;
}

static inline uint64_t tp_clusters_to_bytes(const struct tp_geometry *g,
					    uint64_t clusters)
{
	return clusters * g->granularity;
}

/* ---- provisioning: which clusters the device has backed with space ------ */

enum tp_prov {
	TP_PROV_UNKNOWN,
	TP_PROV_MAPPED,   /* the device holds space for it */
	TP_PROV_UNMAPPED, /* it holds none: nothing to trim, and a write
			   * there would make it allocate */
	TP_PROV_SHARED,   /* it holds space another device (a snapshot) maps
			   * too: nothing the volume does frees it, and a
			   * write there breaks the sharing and allocates */
};
enum tp_prov_source {
	TP_PROV_SOURCE_NONE,    /* no map: every cluster unknown */
	TP_PROV_SOURCE_FILE,    /* a loop device's backing file, or an image */
	TP_PROV_SOURCE_DM_THIN, /* a dm-thin pool's metadata (lib/pool.c) */
};
const char *tp_prov_source_to_string(enum tp_prov_source s);

struct tp_provmap;
struct tp_pool;
/* The provisioning of geo's whole clusters, from the best source dev
 * offers (lib/provision.c); a map of source NONE where it offers none. */
int tp_provmap_read(const struct tp_device *dev, const struct tp_geometry *geo,
		    struct tp_provmap **ret);
struct tp_provmap *tp_provmap_free(struct tp_provmap *m);
/* m may be NULL: source NONE, every cluster unknown. */
enum tp_prov_source tp_provmap_source(const struct tp_provmap *m);
enum tp_prov tp_provmap_get(const struct tp_provmap *m, uint64_t cluster);
/* Record that the caller placed data in the whole clusters blocks [blk,
 * blk + n) of the filesystem touch (a move's target): the delta tells
 * what it backed anew there from the rest. */
void tp_provmap_note_write(struct tp_provmap *m, uint64_t blk, uint64_t n);
/* Verified reclaim: dev's map read again against the one before. */
struct tp_prov_delta {
	uint64_t released;    /* clusters before backed, now not */
	/* Clusters backed anew: before not backed, now backed; on dm-thin a
	 * cluster shared before and the volume's own now too (a write
	 * broke the sharing).  A compaction must never cause one with its
	 * own writes; the filesystem's (a new extent-tree block, an inode
	 * or bitmap update in a shared chunk) may. */
	uint64_t provisioned;
	uint64_t provisioned_written; /* of them, those tp_provmap_note_write()
				       * named */
};
/* -ENODATA: no source. */
int tp_provmap_delta(const struct tp_device *dev, const struct tp_provmap *before,
		     struct tp_prov_delta *ret);
/* The dm-thin pool the map was read from (NULL for other devices): its
 * status even when its metadata could not be read (source NONE then). */
const struct tp_pool *tp_provmap_pool(const struct tp_provmap *m);
/* Why the map is unknown, or less than it could be, in words; NULL if
 * nothing to say.  Valid as long as m. */
const char *tp_provmap_warning(const struct tp_provmap *m);

/* ---- pool: the dm-thin pool under a thin device (lib/pool.c) ---------- */

struct tp_pool_sharer {
	uint64_t dev_id; /* the other thin device (a snapshot, an origin) */
	char *name;      /* its device-mapper name; NULL when not active */
	uint64_t blocks; /* of the volume's data blocks, those it maps too */
};

struct tp_pool {
	/* From the device-mapper tables and status (libdevmapper). */
	char *name;             /* device-mapper name of the pool */
	char *thin_name;        /* ... and of the thin device */
	dev_t devno, metadata_devno, data_devno;
	uint64_t thin_id;       /* the thin device's id in the pool */
	uint64_t block_size;    /* bytes: the pool's data block (chunk) */
	uint64_t used_blocks, total_blocks;            /* data */
	uint64_t used_metadata_blocks, total_metadata_blocks;
	uint64_t thin_mapped_bytes; /* the thin device's status */
	uint64_t offset;        /* bytes: where the filesystem starts on the
				 * thin device (see struct tp_device) */
	uint64_t disk_offset;   /* ... and its disk (the device, or the one
				 * its partition is on): the kernel cuts
				 * discards at the disk's own granularity
				 * boundaries, counted from there */
	bool out_of_data_space;
	bool read_only;         /* metadata read-only, or the pool failed */
	bool needs_check;
	bool discard_passdown;  /* discards reach the data device */
	bool discard_ignored;   /* the pool ignores discards */
	bool held_root;         /* a metadata snapshot was held when read */
	/* From the pool's metadata (tp_provmap_read()), when it could be
	 * read: the volume's data blocks, and those another device maps
	 * too, by device. */
	bool metadata_read;
	uint64_t mapped_blocks, shared_blocks;
	struct tp_pool_sharer *sharers;
	size_t n_sharers;
};

/* The pool under dev when dev is a dm thin device (an LVM thin LV is
 * one), or a stack over one: dm linear mappings (kpartx's), partitions,
 * loop devices over a block device; from the tables and status only.
 * -ENODEV: no dm thin device under dev. */
int tp_pool_read(const struct tp_device *dev, struct tp_pool **ret);
struct tp_pool *tp_pool_free(struct tp_pool *p);
/* Free data space, in percent of the pool's (rounded down). */
unsigned tp_pool_free_percent(const struct tp_pool *p);
/* Whether compaction may write on this pool: TP_BLOCKER_NONE, or the
 * first of the TP_BLOCKER_POOL_* that holds.  margin: percent of the
 * pool's data blocks that must stay free. */
#define TP_POOL_MARGIN_DEFAULT 5
enum tp_blocker tp_pool_blocker(const struct tp_pool *p, unsigned margin);
/* What blocker b of p means, in words with the pool's figures, for a
 * message: "... (pool NAME: N % free, U of T data blocks used, margin M
 * %)"; free() it.  NULL: out of memory. */
char *tp_pool_blocker_message(const struct tp_pool *p, unsigned margin,
			      enum tp_blocker b);

/* ---- scan: per-cluster occupancy ---------------------------------------- */

/* Why a used block cannot be moved.  Order is the order of reports. */
enum tp_pin_reason {
	TP_PIN_METADATA,     /* superblocks, descriptors, bitmaps, inode tables,
			      * journal, reserved inodes */
	TP_PIN_DIRECTORY,
	TP_PIN_EXTENT_TREE,  /* extent-tree and indirect blocks */
	TP_PIN_XATTR,        /* extended attribute blocks */
	TP_PIN_RECENT,       /* changed less than min_age ago */
	TP_PIN_ATTRIBUTE,    /* immutable, append-only, encrypted, verity, DAX,
			      * data journalling */
	TP_PIN_BLOCK_MAPPED, /* file without extents */
	TP_PIN_IN_USE,       /* swap file; unlinked but still open */
	TP_PIN_BEYOND_EOF,   /* allocated past i_size: MOVE_EXT cannot reach it */
	TP_PIN_OTHER,        /* symlinks, special files */
	TP_PIN_UNOWNED,      /* bitmap and owners disagree: used but owned by
			      * no inode (ext4 preallocations), or owned
			      * twice (the filesystem changed during the
			      * scan) */
	_TP_PIN_MAX,
};
const char *tp_pin_reason_to_string(enum tp_pin_reason r);

typedef void (*tp_progress_fn)(const char *phase, uint64_t done,
			       uint64_t total, void *userdata);

struct tp_scan_options {
	uint64_t min_age;              /* seconds; by max(mtime, ctime) */
	int64_t now;                   /* 0: time(NULL) */
	const uint64_t *pinned_inodes; /* e.g. swap files */
	size_t n_pinned_inodes;
	/* Also keep what compaction needs: the movable extents that touch
	 * partial clusters (the reverse map) and the free runs inside them. */
	bool reverse_map;
	/* Also note who owns each used block of these clusters (indexes, 0
	 * to geometry->clusters - 1, in any order), each owner classified
	 * as the map counts it: tp_clustermap_owners(), for thinpack
	 * explain. */
	const uint64_t *explain;
	size_t n_explain;
	/* Checked after each block group: -ECANCELED when set. */
	const volatile sig_atomic_t *stop;
	tp_progress_fn progress;
	void *userdata;
};

struct tp_clustermap;

struct tp_cluster {
	uint32_t used;     /* blocks used in the bitmap */
	uint32_t movable;  /* of those, data blocks of movable files */
	uint16_t reasons;  /* 1 << enum tp_pin_reason, for pinned blocks */
};

struct tp_scan_stats {
	uint64_t inodes;           /* in use */
	uint64_t regular_files;
	uint64_t movable_files;
	uint64_t unreadable_inodes; /* mapping could not be read (live fs) */
	uint64_t overcounted_blocks; /* owned more than once */
	uint64_t owned_free_ranges;  /* owned, yet free in the bitmap */
};

int tp_scan(struct tp_fs *fs, const struct tp_geometry *geo,
	    const struct tp_scan_options *opts, struct tp_clustermap **ret);
struct tp_clustermap *tp_clustermap_free(struct tp_clustermap *map);
const struct tp_geometry *tp_clustermap_geometry(const struct tp_clustermap *map);
const struct tp_scan_stats *tp_clustermap_stats(const struct tp_clustermap *map);
/* Cluster i, 0 <= i < geometry->clusters. */
void tp_clustermap_get(const struct tp_clustermap *map, uint64_t i,
		       struct tp_cluster *ret);

/* Building a map by hand: for tests and for the planner's what-ifs. */
int tp_clustermap_new(const struct tp_geometry *geo, struct tp_clustermap **ret);
void tp_clustermap_add_used(struct tp_clustermap *map, uint64_t blk, uint64_t len);
void tp_clustermap_add_owned(struct tp_clustermap *map, uint64_t blk,
			     uint64_t len, bool movable, enum tp_pin_reason why);
/* Give the clusters of a range a pinning reason without counting blocks. */
void tp_clustermap_flag(struct tp_clustermap *map, uint64_t blk, uint64_t len,
			enum tp_pin_reason why);

enum tp_cluster_state {
	TP_CLUSTER_EMPTY,
	TP_CLUSTER_PARTIAL,
	TP_CLUSTER_FULL,
};

static inline enum tp_cluster_state
tp_cluster_state(const struct tp_geometry *g, const struct tp_cluster *c)
{
	if (c->used == 0)
		return TP_CLUSTER_EMPTY;
	return c->used >= g->cluster_blocks ? TP_CLUSTER_FULL : TP_CLUSTER_PARTIAL;
}

/* Every used block belongs to a movable file, and nothing pins it. */
static inline bool tp_cluster_eligible(const struct tp_cluster *c)
{
	return c->used > 0 && c->reasons == 0 && c->movable >= c->used;
}

/* Whether compaction may empty a cluster, or the first reason why not:
 * the planner's choice of victims (lib/plan.c) and thinpack explain ask
 * this one question.  pv: the cluster's provisioning (TP_PROV_UNKNOWN
 * where unknown).  The plan's own limits come on top: --max-usage
 * (tp_cluster_usage_needed()), --max-io, and room in the holes of the
 * clusters that stay. */
enum tp_verdict {
	TP_VERDICT_MOVABLE,  /* every used block movable: a candidate victim */
	TP_VERDICT_EMPTY,    /* nothing to move */
	TP_VERDICT_PINNED,   /* it holds unmovable blocks (tp_cluster.reasons) */
	TP_VERDICT_UNBACKED, /* the device holds no space for it: emptying it
			      * returns nothing, and the plan neither empties
			      * nor fills it */
	TP_VERDICT_SHARED,   /* its space is shared with a snapshot: emptying
			      * it frees nothing */
};
const char *tp_verdict_to_string(enum tp_verdict v);

static inline enum tp_verdict tp_cluster_verdict(const struct tp_cluster *c,
						 enum tp_prov pv)
{
	if (c->used == 0)
		return TP_VERDICT_EMPTY;
	if (pv == TP_PROV_UNMAPPED)
		return TP_VERDICT_UNBACKED;
	if (pv == TP_PROV_SHARED)
		return TP_VERDICT_SHARED;
	return tp_cluster_eligible(c) ? TP_VERDICT_MOVABLE : TP_VERDICT_PINNED;
}

/* The least --max-usage (percent) under which the plan takes a cluster
 * this full: used * 100 <= C * max_usage. */
static inline unsigned tp_cluster_usage_needed(const struct tp_geometry *g,
					       const struct tp_cluster *c)
{
	return (unsigned)(((uint64_t)c->used * 100 + g->cluster_blocks - 1) /
			  g->cluster_blocks);
}

/* ---- explain: who owns the used blocks of a cluster --------------------- */

enum tp_owner_kind {
	/* static metadata, at places the superblock fixes */
	TP_OWNER_BOOT_BLOCK,        /* below s_first_data_block (1 KiB blocks) */
	TP_OWNER_SUPERBLOCK,        /* the primary or a backup */
	TP_OWNER_GROUP_DESCRIPTORS,
	TP_OWNER_RESERVED_GDT,      /* room for the descriptors of growth */
	TP_OWNER_BLOCK_BITMAP,
	TP_OWNER_INODE_BITMAP,
	TP_OWNER_INODE_TABLE,
	TP_OWNER_RESIZE_INODE,      /* its double-indirect block */
	TP_OWNER_MMP,
	/* inodes the superblock names, or reserved ones */
	TP_OWNER_JOURNAL,
	TP_OWNER_QUOTA,
	TP_OWNER_ORPHAN_FILE,
	TP_OWNER_RESERVED_INODE,
	/* the data of an inode */
	TP_OWNER_FILE,
	TP_OWNER_DIRECTORY,
	TP_OWNER_SYMLINK,
	TP_OWNER_SPECIAL,           /* device, fifo, socket */
	TP_OWNER_XATTR_INODE,       /* a large extended attribute's value */
	/* blocks of an inode that are not its data */
	TP_OWNER_EXTENT_TREE,       /* extent-tree or indirect blocks */
	TP_OWNER_XATTR_BLOCK,       /* i_file_acl, maybe shared (refs) */
	/* where the bitmap and the owners disagree (TP_PIN_UNOWNED) */
	TP_OWNER_NONE,              /* used in the bitmap, owned by no inode */
	TP_OWNER_FREE,              /* owned, yet free in the bitmap */
	TP_OWNER_TWICE,             /* owned by two inodes or more */
	_TP_OWNER_MAX,
};
const char *tp_owner_kind_to_string(enum tp_owner_kind k);

/* A run of blocks of one cluster and what owns it. */
struct tp_owner {
	uint64_t cluster;          /* index, as tp_clustermap_get() takes */
	uint64_t blk, len;         /* filesystem blocks, inside the cluster */
	enum tp_owner_kind kind;
	bool movable;              /* counted movable in the map */
	enum tp_pin_reason reason; /* why not, when not */
	uint32_t group;            /* static metadata: of which block group */
	/* Blocks of an inode (ino != 0): */
	uint32_t ino;              /* an xattr block: the first that uses it */
	uint32_t refs;             /* an xattr block: how many inodes use it */
	uint64_t logical;          /* data: the file's block at blk */
	bool unwritten;            /* data: fallocated, never written */
	uint16_t mode, links;
	uint32_t flags;            /* i_flags */
	uint64_t size;
	int64_t changed;           /* max(mtime, ctime) */
};

/* The owners noted for tp_scan_options.explain, sorted by cluster, then
 * block, then kind; a block with several owners (or none, TP_OWNER_NONE)
 * is in several runs. */
const struct tp_owner *tp_clustermap_owners(const struct tp_clustermap *map,
					    size_t *ret_n);

/* ---- report: the figures and the bound ----------------------------------- */

struct tp_curve_point {
	uint64_t clusters;      /* emptied */
	uint64_t io_bytes;      /* moved, cumulative */
	uint64_t reclaim_bytes; /* returned by compaction, cumulative */
};

struct tp_summary {
	uint64_t total, full, partial, empty, pinned, eligible, edge;
	uint64_t used_blocks, movable_blocks;
	uint64_t hole_blocks;         /* H: free blocks in non-empty clusters */
	uint64_t bound;               /* min(floor(H / C), eligible) clusters */
	uint64_t min_io_blocks;       /* sum of the bound smallest eligible u_i */
	uint64_t empty_bytes;         /* empty clusters, in bytes */
	/* With a provisioning map (else as if every cluster were provisioned): */
	enum tp_prov_source prov_source;
	uint64_t provisioned;         /* clusters the device holds space for */
	uint64_t empty_provisioned;   /* of them empty: what trim returns now */
	uint64_t used_unprovisioned;  /* non-empty, yet holding no space (never
				       * written: lazy inode tables...) */
	uint64_t shared;              /* of the provisioned, those whose space
				       * another device maps too (dm-thin
				       * snapshots): neither trim nor
				       * compaction frees them */
	uint64_t used_shared;         /* of them non-empty */
	uint64_t trim_now_bytes;      /* empty_provisioned, in bytes */
	uint64_t compaction_bytes;    /* bound * granularity */
	uint64_t compaction_io_bytes; /* min_io_blocks * block size */
	uint64_t pinned_by_reason[_TP_PIN_MAX]; /* pinned partial clusters with
						 * at least one such block */
	size_t n_curve;
	struct tp_curve_point *curve;
};

/* curve_points: how many points of the reclaim curve (0: none); prov may
 * be NULL. */
int tp_summarize(const struct tp_clustermap *map, const struct tp_provmap *prov,
		 unsigned curve_points, struct tp_summary **ret);
struct tp_summary *tp_summary_free(struct tp_summary *s);

/* ---- compaction ------------------------------------------------------------ */

enum tp_placement {
	TP_PLACEMENT_BORROW,     /* stock kernels: merge with a borrowed block */
	TP_PLACEMENT_FALLOCATE2, /* a kernel with physical-goal fallocate */
	TP_PLACEMENT_OFFLINE,    /* libext2fs on an unmounted filesystem */
};
const char *tp_placement_to_string(enum tp_placement k);

struct tp_placement_stats {
	uint64_t attempts;   /* allocations at a chosen block */
	uint64_t exact;      /* landed exactly there (checked with FIEMAP) */
	uint64_t missed;     /* landed elsewhere: released */
	uint64_t reservoir;  /* exact ones that wrote nothing to allocate
			      * (borrow: the placer's reservoir) */
	uint64_t unreturned; /* borrowed blocks that could not be given back
			      * (the lender keeps its data, elsewhere) */
};

/* Why a piece of data was not moved. */
enum tp_skip_reason {
	TP_SKIP_GONE,        /* deleted or replaced since the scan */
	TP_SKIP_IN_USE,      /* open elsewhere: no lease */
	TP_SKIP_CHANGED,     /* size, ctime, flags or blocks differ from the scan */
	TP_SKIP_INTERRUPTED, /* opened by someone during the move: let go */
	TP_SKIP_LENDER,      /* the block beside the hole could not be lent */
	TP_SKIP_HOLE_TAKEN,  /* the target is no longer free */
	TP_SKIP_MISSED,      /* the placement landed elsewhere */
	TP_SKIP_NO_ROOM,     /* no hole left for the data */
	TP_SKIP_BUSY,        /* EBUSY, ETXTBSY */
	TP_SKIP_NO_SPACE,    /* ENOSPC */
	TP_SKIP_UNSUPPORTED, /* EOPNOTSUPP */
	TP_SKIP_IO_ERROR,    /* EIO, and anything else */
	_TP_SKIP_MAX,
};
const char *tp_skip_reason_to_string(enum tp_skip_reason r);

/* One move, planned (dry run) or done or skipped. */
struct tp_move_report {
	uint64_t victim;         /* cluster number on the whole device */
	uint32_t ino, generation;
	uint64_t logical, len;   /* the file's blocks */
	uint64_t source, target; /* filesystem blocks */
	bool has_lender, right;
	uint32_t lender_ino;
	uint64_t lender_logical;
	int result;              /* 0, or -errno */
	enum tp_skip_reason skip; /* when result < 0 */
};

struct tp_compact_options {
	uint64_t min_age;        /* seconds */
	unsigned max_usage;      /* percent: clusters at most this full */
	unsigned slack;          /* percent of the target holes left free */
	uint64_t max_io;         /* bytes; 0: no limit */
	enum tp_placement placement;
	long fallocate2_nr;
	/* On a dm-thin pool: percent of its data blocks that must stay free
	 * (tp_pool_blocker()). */
	unsigned pool_margin;
	bool dry_run;
	bool trim;               /* FITRIM the clusters emptied */
	const uint64_t *pinned_inodes;
	size_t n_pinned_inodes;
	/* Checked between two moves: stop when it becomes non-zero. */
	const volatile sig_atomic_t *stop;
	/* Called before each victim with the bytes moved so far: it may
	 * sleep (an I/O rate, a pressure limit), or return < 0 to stop (a
	 * time budget).  The daemon's scheduling lives there, not here. */
	int (*pace)(uint64_t moved_bytes, void *userdata);
	/* Clusters (numbers on the whole device) not to empty this time:
	 * those that failed lately, say. */
	const uint64_t *skip_clusters;
	size_t n_skip_clusters;
	tp_progress_fn progress; /* phases "scan", "plan", "move", "trim" */
	void (*on_move)(const struct tp_move_report *m, void *userdata);
	void *userdata;
};

struct tp_compact_result {
	uint64_t victims;          /* clusters chosen to empty */
	uint64_t victim_bytes;     /* the data they hold */
	uint64_t clusters_emptied; /* checked free afterwards */
	uint64_t victims_failed;   /* chosen, not emptied */
	uint64_t victims_unplaced; /* their data found no holes */
	uint64_t victims_refilled; /* moved out, but a block was taken again */
	uint64_t deferred;         /* victims put off until a journal commit */
	uint64_t moved_bytes;
	uint64_t moves;
	uint64_t trimmed_clusters; /* emptied clusters FITRIM was run on */
	uint64_t trimmed_bytes;    /* their size */
	uint64_t discarded_bytes;  /* what FITRIM reports: whole free extents
				    * that start in them, so often more */
	uint64_t retrimmed_clusters; /* empty clusters placement wrote to
				      * (borrow slots), trimmed again */
	/* Measured on the device's provisioning map (a loop device's
	 * backing file, an image), before the run and after its trim: */
	bool reclaim_measured;     /* else the three below are unknown */
	uint64_t returned_bytes;   /* clusters it took back, in bytes */
	uint64_t provisioned_bytes; /* clusters it had to back anew, by the
				    * run's writes or the filesystem's own
				    * (a new extent-tree block in a cluster
				    * it held no space for, a bitmap or inode
				    * update in one shared with a snapshot) */
	uint64_t provisioned_by_moves_bytes; /* of them, clusters the run
				    * placed data in (moves' targets): never
				    * more than 0, or something is wrong.
				    * A borrow slot's write is for a moment,
				    * in a cluster backed already or empty
				    * and trimmed again; one refilled
				    * meanwhile counts with the rest */
	int trim_error;            /* 0, or why checking or trimming the
				    * emptied clusters failed (-errno) */
	struct tp_placement_stats placement;
	uint64_t skipped[_TP_SKIP_MAX];
	bool stopped;              /* by *stop or pace() */
	/* fallocate2 was asked for and this kernel has none: placed with
	 * borrow instead. */
	bool fallocate2_missing;
	/* -EOPNOTSUPP: EXT4_IOC_MOVE_EXT refused a movable file, so the
	 * mount refuses them all; the run stopped there. */
	bool move_refused;
	unsigned passes;           /* scan-plan-move rounds */
	/* Clusters (numbers on the whole device) chosen and not emptied,
	 * for the caller to skip for a while; tp_compact_result_clear(). */
	uint64_t *failed_clusters;
	size_t n_failed_clusters;
	double elapsed_s;
	double phase_s[4];         /* scan, plan, move, trim */
	/* Offline, -EUCLEAN: the bitmaps disagree with the owners the scan
	 * found -- ranges some inode maps that are free in the bitmap, and
	 * blocks owned beyond what the bitmap marks in use (claimed twice,
	 * or free).  Nothing was written. */
	uint64_t owned_free_ranges;
	uint64_t overcounted_blocks;
};

/*
 * Compact a filesystem: scan, plan, move, trim.  Online, dev must be
 * mounted read-write and fs opened on it with tp_fs_open(): -EROFS,
 * -EOPNOTSUPP (see tp_compaction_blocker()); fallocate2 asked for and
 * absent places with borrow (ret->fallocate2_missing).  With placement
 * TP_PLACEMENT_OFFLINE, dev must not be mounted (-EBUSY) and fs be opened
 * with tp_fs_open_rw() (tp_fs_open() for a dry run); min_age does not
 * apply; -EUCLEAN when the block bitmaps disagree with the owners of the
 * blocks (ret->owned_free_ranges, ret->overcounted_blocks), before any
 * write.  -ENOSPC: a dm-thin pool that tp_pool_blocker() refuses, before
 * anything moves (a dry run goes on).  Per-file failures are counted in
 * ret->skipped, never returned.
 */
int tp_compact(const struct tp_device *dev, struct tp_fs *fs,
	       const struct tp_geometry *geo, const struct tp_compact_options *o,
	       struct tp_compact_result *ret);
void tp_compact_result_clear(struct tp_compact_result *r);

/* FITRIM every empty cluster of a mounted filesystem.  *ret_clusters: how
 * many were trimmed; *ret_bytes: what FITRIM reported. */
int tp_trim_empty(const struct tp_device *dev, struct tp_fs *fs,
		  const struct tp_geometry *geo, uint64_t *ret_clusters,
		  uint64_t *ret_bytes);

#ifdef __cplusplus
}
#endif

#endif
