/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A filesystem named on the command line: resolved, opened read-only, and
 * placed on its device's cluster grid, with the messages every command
 * gives when something is wrong.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "thinpack.h"

void target_clear(struct target *t)
{
	tp_fslock_release(t->lock);
	tp_fs_close(t->fs);
	tp_device_free(t->dev);
	free(t->error);
	for (unsigned i = 0; i < t->n_warnings; i++)
		free(t->warnings[i]);
	*t = (struct target){ 0 };
}

_printf_(1, 0) static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int target_fail(struct target *t, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(t->error);
	t->error = vformat(fmt, ap);
	va_end(ap);
	log_error("%s", t->error ? t->error : "out of memory");
	t->exit |= code;
	return t->exit;
}

void target_warn(struct target *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (!s)
		return;
	log_warning("%s", s);
	if (t->n_warnings < TARGET_MAX_WARNINGS)
		t->warnings[t->n_warnings++] = s;
	else
		free(s);
}

static int open_error(struct target *t, int r)
{
	const char *why = tp_fs_last_error();

	switch (r) {
	case -EACCES:
	case -EPERM:
		return target_fail(t, TP_EXIT_OPERATIONAL,
				   "%s: cannot read %s: %s (reading the filesystem "
				   "needs root, or read access to the device)",
				   t->path, t->dev->device, strerror(-r));
	case -EMEDIUMTYPE:
		return target_fail(t, TP_EXIT_USAGE,
				   "%s: %s does not hold a readable ext4 superblock: %s",
				   t->path, t->dev->device, why ? why : strerror(-r));
	default:
		return target_fail(t, TP_EXIT_OPERATIONAL, "%s: cannot open %s: %s",
				   t->path, t->dev->device, why ? why : strerror(-r));
	}
}

int target_scan_error(struct target *t, int r)
{
	const char *why = tp_fs_last_error();

	if (r == -EACCES || r == -EPERM)
		return open_error(t, r);
	return target_fail(t, TP_EXIT_OPERATIONAL, "%s: scanning %s failed: %s",
			   t->path, t->dev->device, why ? why : strerror(-r));
}

int target_open(struct target *t, const char *path, uint64_t granularity)
{
	char a[TP_SIZE_STR_MAX];
	int r;

	t->path = path;
	r = tp_device_open(path, &t->dev);
	if (r == -ENOENT)
		return target_fail(t, TP_EXIT_USAGE, "%s: no such file or directory",
				   path);
	if (r == -ENOTBLK)
		return target_fail(t, TP_EXIT_USAGE,
				   "%s: not on a block device, a mounted ext4 or an "
				   "ext4 image", path);
	if (r < 0)
		return target_fail(t, TP_EXIT_OPERATIONAL, "%s: %s", path, strerror(-r));

	struct tp_device *dev = t->dev;
	if (!tp_device_is_ext(dev)) {
		if (dev->fstype)
			return target_fail(t, TP_EXIT_USAGE,
					   "%s: not an ext4 filesystem (%s is %s)", path,
					   dev->mountpoint ? dev->mountpoint : dev->device,
					   dev->fstype);
		if (dev->kind == TP_TARGET_IMAGE)
			return target_fail(t, TP_EXIT_USAGE,
					   "%s: a regular file, so an image, but no "
					   "filesystem found in it (not an ext4 image)",
					   path);
		return target_fail(t, TP_EXIT_USAGE,
				   "%s: not an ext4 filesystem (no filesystem found "
				   "on %s)", path, dev->device);
	}
	if (granularity)
		tp_device_set_granularity(dev, granularity, TP_GRANULARITY_OPTION);

	r = tp_fs_open(dev, &t->fs);
	if (r < 0)
		return open_error(t, r);
	t->info = *tp_fs_get_info(t->fs);

	uint64_t gran = dev->granularity;
	if (gran < t->info.block_size &&
	    dev->granularity_source != TP_GRANULARITY_OPTION) {
		/* Finer than a block: every block is its own cluster. */
		gran = t->info.block_size;
		tp_device_set_granularity(dev, gran, dev->granularity_source);
	}
	r = tp_geometry_init(&t->geo, t->info.block_size, t->info.blocks_count,
			     dev->offset, gran);
	if (r == -EINVAL && dev->granularity_source == TP_GRANULARITY_OPTION)
		return target_fail(t, TP_EXIT_USAGE,
				   "%s: granularity %" PRIu64 " is not a multiple of "
				   "the filesystem's block size (%" PRIu32 ")",
				   path, gran, t->info.block_size);
	if (r == -EINVAL)
		return target_fail(t, TP_EXIT_OPERATIONAL,
				   "%s: %s reports a discard granularity of %" PRIu64
				   " bytes, not a multiple of the filesystem's block "
				   "size (%" PRIu32 "); pass --granularity", path,
				   dev->device, gran, t->info.block_size);
	if (r == -EXDEV)
		return target_fail(t, TP_EXIT_OPERATIONAL,
				   "%s: the filesystem starts at byte %" PRIu64 " of "
				   "the device, not a multiple of its block size (%"
				   PRIu32 "): not supported",
				   path, dev->offset, t->info.block_size);
	if (r < 0)
		return target_fail(t, TP_EXIT_USAGE,
				   "%s: granularity %" PRIu64 " is too large for %"
				   PRIu32 "-byte blocks", path, gran, t->info.block_size);

	if (dev->loop && dev->granularity_source == TP_GRANULARITY_SYSFS)
		target_warn(t, "%s: %s is a loop device: its granularity (%s) says "
			       "nothing of what the filesystem under %s frees; pass "
			       "--granularity",
			    path, dev->device, tp_format_size(gran, a),
			    dev->loop_backing_file ? dev->loop_backing_file : "it");
	uint64_t fs_bytes = t->info.blocks_count * t->info.block_size;
	if (dev->size && fs_bytes > dev->size) {
		/* Truncated: what lies past the end reads as zeroes, or
		 * not at all, and a write there grows an image. */
		t->short_device = true;
		t->exit |= TP_EXIT_USAGE;
		target_warn(t, "%s: the filesystem is %" PRIu64 " bytes (%" PRIu64
			       " blocks of %" PRIu32 ") but %s holds only %" PRIu64
			       " bytes: truncated?",
			    path, fs_bytes, t->info.blocks_count, t->info.block_size,
			    dev->device, dev->size);
	}
	if (t->info.needs_recovery && dev->kind != TP_TARGET_MOUNTED)
		target_warn(t, "%s: the journal needs recovery; these figures "
			       "describe the filesystem before it (run e2fsck, or "
			       "mount it once)", path);
	return 0;
}

int target_swapfiles(struct target *t, uint64_t **ret, size_t *ret_n)
{
	int r = tp_device_swapfiles(t->dev, ret, ret_n);

	if (r < 0)
		return target_fail(t, TP_EXIT_OPERATIONAL,
				   "%s: cannot read the swap table: %s", t->path,
				   strerror(-r));
	return 0;
}

char *target_host_path(const struct target *t, const char *path)
{
	const char *mp = t->dev ? t->dev->mountpoint : NULL;
	char *s = NULL;

	if (!path)
		return NULL;
	if (!mp || strcmp(mp, "/") == 0)
		return strdup(path);
	if (asprintf(&s, "%s%s", mp, strcmp(path, "/") == 0 ? "" : path) < 0)
		return NULL;
	return s;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int inode_paths_find(const struct target *t, uint32_t *inos, size_t n, bool host,
		     struct inode_paths *ret)
{
	char **paths = NULL;
	size_t u = 0;
	int r;

	*ret = (struct inode_paths){ 0 };
	if (n == 0) {
		free(inos);
		return 0;
	}
	qsort(inos, n, sizeof(*inos), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (u == 0 || inos[i] != inos[u - 1])
			inos[u++] = inos[i];
	r = tp_fs_inode_paths(t->fs, inos, u, &paths);
	if (r < 0) {
		free(inos);
		return r;
	}
	for (size_t i = 0; host && i < u; i++) {
		char *h = target_host_path(t, paths[i]);
		free(paths[i]);
		paths[i] = h;
	}
	*ret = (struct inode_paths){ inos, paths, u };
	return 0;
}

const char *inode_path(const struct inode_paths *ip, uint32_t ino)
{
	const uint32_t *k;

	if (!ip->paths)
		return NULL;
	k = bsearch(&ino, ip->inos, ip->n, sizeof(*ip->inos), cmp_u32);
	return k ? ip->paths[k - ip->inos] : NULL;
}

void inode_paths_clear(struct inode_paths *ip)
{
	ip->paths = tp_paths_free(ip->paths, ip->n);
	free(ip->inos);
	*ip = (struct inode_paths){ 0 };
}

