/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * discover: what a path names, which device holds it, and how that device
 * hands space back (discard granularity, and where the filesystem starts on
 * the whole device, because clusters are aligned to the whole device).
 *
 * The mount table comes from libmount, the filesystem type and topology from
 * libblkid, discard limits and partition/loop offsets from sysfs.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <blkid.h>
#include <libmount.h>

#include "thinpack/thinpack.h"
#include "basic/array.h"
#include "basic/cleanup.h"
#include "basic/macros.h"
#include "pool.h"

static inline void mnt_free_tablep(struct libmnt_table **tb)
{
	mnt_unref_table(*tb);
}

static inline void blkid_free_probep(blkid_probe *pr)
{
	if (*pr)
		blkid_free_probe(*pr);
}

static inline void mnt_free_iterp(struct libmnt_iter **it)
{
	mnt_free_iter(*it);
}

TP_DEFINE_CLEANUP(struct tp_device *, tp_device_free)

struct tp_device *tp_device_free(struct tp_device *dev)
{
	if (!dev)
		return NULL;
	free(dev->path);
	free(dev->device);
	free(dev->mountpoint);
	free(dev->fstype);
	free(dev->loop_backing_file);
	free(dev);
	return NULL;
}

const char *tp_granularity_source_to_string(enum tp_granularity_source s)
{
	switch (s) {
	case TP_GRANULARITY_SYSFS:
		return "sysfs";
	case TP_GRANULARITY_OPTION:
		return "option";
	case TP_GRANULARITY_CONFIG:
		return "config";
	case TP_GRANULARITY_BLKSIZE:
		return "blksize";
	}
	return "unknown";
}

const char *tp_target_kind_to_string(enum tp_target_kind k)
{
	switch (k) {
	case TP_TARGET_MOUNTED:
		return "mounted";
	case TP_TARGET_BLOCKDEV:
		return "device";
	case TP_TARGET_IMAGE:
		return "image";
	}
	return "unknown";
}

bool tp_device_is_ext(const struct tp_device *dev)
{
	return dev->fstype && (strcmp(dev->fstype, "ext4") == 0 ||
			       strcmp(dev->fstype, "ext3") == 0 ||
			       strcmp(dev->fstype, "ext2") == 0);
}

void tp_device_set_granularity(struct tp_device *dev, uint64_t bytes,
			       enum tp_granularity_source source)
{
	dev->granularity = bytes;
	dev->granularity_source = source;
}

/* ---- sysfs ---------------------------------------------------------------- */

static int read_sysfs_string(const char *dir, const char *attr, char **ret)
{
	char path[PATH_MAX], buf[PATH_MAX];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, attr) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	char *s = strdup(buf);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int read_sysfs_u64(const char *dir, const char *attr, uint64_t *ret)
{
	_cleanup_free_ char *s = NULL;
	char *end;
	int r;

	r = read_sysfs_string(dir, attr, &s);
	if (r < 0)
		return r;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static bool sysfs_exists(const char *dir, const char *attr)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, attr) >= sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

/* Partition start, loop offset, discard limits of block device devno; on
 * a dm thin device, or a stack over one, where the filesystem starts on
 * it. */
static int fill_sysfs(struct tp_device *dev, dev_t devno)
{
	char link[64], dir[PATH_MAX], whole[PATH_MAX];
	uint64_t v;
	int r;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(devno),
		 minor(devno));
	if (!realpath(link, dir))
		return -errno;

	dev->offset = 0;
	dev->partition = sysfs_exists(dir, "partition");
	if (dev->partition) {
		r = read_sysfs_u64(dir, "start", &v);
		if (r < 0)
			return r;
		dev->offset += v * 512;
		char *slash = strrchr(dir, '/');
		if (!slash)
			return -EINVAL;
		memcpy(whole, dir, (size_t)(slash - dir));
		whole[slash - dir] = '\0';
	} else
		memcpy(whole, dir, sizeof(whole));

	/* The device's own size (a partition's, a loop device's after its
	 * offset and size limit), in 512-byte sectors. */
	if (read_sysfs_u64(dir, "size", &v) >= 0)
		dev->size = v * 512;

	dev->loop = sysfs_exists(whole, "loop");
	if (dev->loop) {
		if (read_sysfs_u64(whole, "loop/offset", &v) >= 0)
			dev->offset += v;
		free(dev->loop_backing_file);
		dev->loop_backing_file = NULL;
		(void)read_sysfs_string(whole, "loop/backing_file",
					&dev->loop_backing_file);
	}

	uint64_t gran = 0, max = 0;
	(void)read_sysfs_u64(whole, "queue/discard_granularity", &gran);
	(void)read_sysfs_u64(whole, "queue/discard_max_bytes", &max);
	dev->discard_max_bytes = max;
	dev->discard = max > 0 && gran > 0;
	if (gran == 0) {
		/* No discard: clusters of the physical block size, so the
		 * report still shows occupancy. */
		if (read_sysfs_u64(whole, "queue/physical_block_size", &gran) < 0)
			gran = 4096;
	}
	dev->granularity = gran;
	dev->granularity_source = TP_GRANULARITY_SYSFS;

	/* Over a dm thin device (through kpartx's linear mappings, loop
	 * devices, their partitions) the whole device is the thin device,
	 * whose chunks the pool hands out: the offset is the filesystem's
	 * on it, linear starts included, so that clusters follow the
	 * chunks.  Not root, or no thin device below: the offset above. */
	dev_t thin;
	if (tp_thin_under(devno, &thin, &v, NULL) >= 0)
		dev->offset = v;
	return 0;
}

/* ---- libblkid --------------------------------------------------------------- */

/* Filesystem type (if dev->fstype is unset) and, for block devices,
 * topology. */
static int probe(struct tp_device *dev)
{
	bool topology = dev->kind != TP_TARGET_IMAGE;
	_cleanup_(blkid_free_probep) blkid_probe pr = NULL;
	const char *type = NULL;
	int rc;

	pr = blkid_new_probe_from_filename(dev->device);
	if (!pr)
		return errno > 0 ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_topology(pr, topology);
	rc = blkid_do_safeprobe(pr);
	if (rc < 0)
		return rc == -2 ? -EMEDIUMTYPE : -EIO; /* -2: ambivalent */
	if (rc == 0 && !dev->fstype &&
	    blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0) {
		dev->fstype = strdup(type);
		if (!dev->fstype)
			return -ENOMEM;
	}
	blkid_topology tp = topology ? blkid_probe_get_topology(pr) : NULL;
	if (tp) {
		dev->minimum_io_size = blkid_topology_get_minimum_io_size(tp);
		dev->optimal_io_size = blkid_topology_get_optimal_io_size(tp);
		dev->physical_sector_size = blkid_topology_get_physical_sector_size(tp);
		dev->logical_sector_size = blkid_topology_get_logical_sector_size(tp);
	}
	return 0;
}

/* What filesystem (or swap area, or partition table) a regular file holds,
 * as libblkid sees it; NULL for plain data. */
static char *file_content_type(const char *path)
{
	_cleanup_(blkid_free_probep) blkid_probe pr = NULL;
	const char *type = NULL;

	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return NULL;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	if (blkid_do_safeprobe(pr) != 0)
		return NULL;
	if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0)
		return strdup(type);
	if (blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) == 0)
		return strdup(type);
	return NULL;
}

/* ---- the mount table -------------------------------------------------------- */

static int set_mount(struct tp_device *dev, struct libmnt_fs *fs)
{
	const char *target = mnt_fs_get_target(fs);
	const char *type = mnt_fs_get_fstype(fs);
	const char *vfsopts = mnt_fs_get_vfs_options(fs);

	dev->kind = TP_TARGET_MOUNTED;
	free(dev->mountpoint);
	dev->mountpoint = target ? strdup(target) : NULL;
	if (target && !dev->mountpoint)
		return -ENOMEM;
	free(dev->fstype);
	dev->fstype = type ? strdup(type) : NULL;
	if (type && !dev->fstype)
		return -ENOMEM;
	dev->read_only = vfsopts &&
			 mnt_optstr_get_option(vfsopts, "ro", NULL, NULL) == 0;

	/* ext4 shows its data mode among the superblock options, whether
	 * it came from the mount options or the superblock's defaults. */
	const char *fsopts = mnt_fs_get_fs_options(fs);
	char *val = NULL;
	size_t len = 0;
	if (fsopts && mnt_optstr_get_option(fsopts, "data", &val, &len) == 0 && val) {
		dev->data_journal = len == strlen("journal") &&
				    strncmp(val, "journal", len) == 0;
		dev->data_writeback = len == strlen("writeback") &&
				      strncmp(val, "writeback", len) == 0;
	}
	return 0;
}

/* The mount of block device devno, preferring the one mounted first (the
 * others are usually bind mounts of it). */
static struct libmnt_fs *find_mount_of_devno(struct libmnt_table *tb, dev_t devno)
{
	return mnt_table_find_devno(tb, devno, MNT_ITER_FORWARD);
}

static int resolve_blockdev(struct tp_device *dev, struct libmnt_table *tb,
			    dev_t devno)
{
	char *name = blkid_devno_to_devname(devno);
	int r;

	free(dev->device);
	dev->device = name ? name : strdup(dev->path);
	if (!dev->device)
		return -ENOMEM;
	dev->devno = devno;
	dev->kind = TP_TARGET_BLOCKDEV;

	struct libmnt_fs *fs = find_mount_of_devno(tb, devno);
	if (fs) {
		r = set_mount(dev, fs);
		if (r < 0)
			return r;
	}
	r = fill_sysfs(dev, devno);
	if (r < 0)
		return r;
	r = probe(dev);
	if (r == -ENOMEM)
		return r;
	/* Unreadable (not root) or unknown: the scan will say what is wrong. */
	return 0;
}

/* Loop devices whose backing file is st's file and which are mounted. */
static int find_mounted_loop(struct libmnt_table *tb, const struct stat *st,
			     dev_t *ret)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/block");
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char dir[PATH_MAX];
		_cleanup_free_ char *backing = NULL, *devstr = NULL;
		struct stat bst;
		unsigned maj, min;

		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(dir, sizeof(dir), "/sys/block/%s", de->d_name);
		if (read_sysfs_string(dir, "loop/backing_file", &backing) < 0)
			continue;
		if (stat(backing, &bst) < 0 || bst.st_dev != st->st_dev ||
		    bst.st_ino != st->st_ino)
			continue;
		if (read_sysfs_string(dir, "dev", &devstr) < 0 ||
		    sscanf(devstr, "%u:%u", &maj, &min) != 2)
			continue;
		if (find_mount_of_devno(tb, makedev(maj, min))) {
			*ret = makedev(maj, min);
			return 1;
		}
	}
	return 0;
}

int tp_device_open(const char *path, struct tp_device **ret)
{
	_cleanup_(mnt_free_tablep) struct libmnt_table *tb = NULL;
	_cleanup_(tp_device_freep) struct tp_device *dev = NULL;
	struct stat st;
	int r;

	if (stat(path, &st) < 0)
		return -errno;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->path = strdup(path);
	if (!dev->path)
		return -ENOMEM;

	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb)
		return errno > 0 ? -errno : -EIO;

	if (S_ISBLK(st.st_mode)) {
		r = resolve_blockdev(dev, tb, st.st_rdev);
		if (r < 0)
			return r;
	} else if (S_ISREG(st.st_mode)) {
		/* A regular file is an image, whatever it holds: of ext4, or
		 * of something else (or nothing) to refuse.  It never stands
		 * for the filesystem that holds it. */
		dev_t loopdev;

		dev->fstype = file_content_type(path);
		r = dev->fstype ? find_mounted_loop(tb, &st, &loopdev) : 0;
		if (r > 0) {
			/* The image is in use: report the live filesystem. */
			free(dev->fstype);
			dev->fstype = NULL;
			r = resolve_blockdev(dev, tb, loopdev);
			if (r < 0)
				return r;
		} else {
			dev->kind = TP_TARGET_IMAGE;
			dev->device = realpath(path, NULL);
			if (!dev->device)
				return -errno;
			dev->granularity = st.st_blksize;
			dev->granularity_source = TP_GRANULARITY_BLKSIZE;
			dev->discard = true; /* hole punching */
			dev->discard_max_bytes = UINT64_MAX;
			dev->size = (uint64_t)st.st_size;
		}
	} else {
		/* A path inside a mounted filesystem. */
		_cleanup_free_ char *abs = realpath(path, NULL);
		_cleanup_free_ char *mp = abs ? mnt_get_mountpoint(abs) : NULL;
		struct libmnt_fs *fs;

		fs = mp ? mnt_table_find_target(tb, mp, MNT_ITER_BACKWARD) : NULL;
		if (!fs)
			fs = mnt_table_find_devno(tb, st.st_dev, MNT_ITER_BACKWARD);
		if (!fs)
			return -ENOTBLK;
		r = set_mount(dev, fs);
		if (r < 0)
			return r;
		dev->devno = st.st_dev;
		if (!tp_device_is_ext(dev)) {
			const char *src = mnt_fs_get_source(fs);
			dev->device = strdup(src ? src : "none");
			if (!dev->device)
				return -ENOMEM;
		} else {
			char *name = blkid_devno_to_devname(st.st_dev);
			if (!name)
				return -ENOTBLK;
			dev->device = name;
			r = fill_sysfs(dev, st.st_dev);
			if (r < 0)
				return r;
			r = probe(dev);
			if (r == -ENOMEM)
				return r;
		}
	}

	*ret = TAKE_PTR(dev);
	return 0;
}

int tp_device_swapfiles(const struct tp_device *dev, uint64_t **ret_inodes,
			size_t *ret_n)
{
	_cleanup_(mnt_free_tablep) struct libmnt_table *tb = NULL;
	_cleanup_(mnt_free_iterp) struct libmnt_iter *it = NULL;
	_cleanup_free_ uint64_t *inodes = NULL;
	struct libmnt_fs *fs;
	size_t n = 0, cap = 0;

	if (dev->kind != TP_TARGET_MOUNTED) {
		*ret_inodes = NULL;
		*ret_n = 0;
		return 0;
	}
	tb = mnt_new_table();
	it = mnt_new_iter(MNT_ITER_FORWARD);
	if (!tb || !it)
		return -ENOMEM;
	if (mnt_table_parse_swaps(tb, NULL) < 0) {
		/* No /proc/swaps: no swap. */
		*ret_inodes = NULL;
		*ret_n = 0;
		return 0;
	}
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *type = mnt_fs_get_swaptype(fs);
		const char *src = mnt_fs_get_source(fs);
		struct stat st;

		if (!type || strcmp(type, "file") != 0 || !src)
			continue;
		if (stat(src, &st) < 0 || st.st_dev != dev->devno)
			continue;
		if (TP_RESERVE(inodes, cap, n + 1) < 0)
			return -ENOMEM;
		inodes[n++] = st.st_ino;
	}
	*ret_inodes = TAKE_PTR(inodes);
	*ret_n = n;
	return 0;
}
