/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * walk-fiemap: the baseline of bench/scan.sh.  What a per-file tool (e4defrag
 * -c, filefrag, a compactor that only has the VFS) must do to learn how the
 * data of a filesystem lies on the device's clusters: walk every directory,
 * open every regular file, ask FS_IOC_FIEMAP for all its extents, and add the
 * blocks to the clusters they fall in.
 *
 * Usage: walk-fiemap GRANULARITY_BYTES DIR
 *
 * The walk does not cross into other filesystems and does not follow
 * symbolic links.  Like e4defrag it passes FIEMAP_FLAG_SYNC and asks for up
 * to 512 extents per call.  It sees file data only: directories, extent-tree
 * blocks, inode tables and the journal are invisible to it, so its
 * "partial" clusters are partial as far as file data goes.  Physical offsets
 * are relative to the filesystem's device; clusters are aligned to it.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw flags, O_NOATIME; config.h sets it in the build */
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/fiemap.h>
#include <linux/fs.h>

#define EXTENT_MAX_COUNT 512
#define MAX_REPORTED_ERRORS 10

static uint64_t granularity;
static uint64_t block_size;
static uint64_t cluster_blocks;

static struct fiemap *fm;
static uint32_t *cluster_count; /* file data blocks per cluster */
static uint64_t n_clusters_alloc;

static uint64_t n_files, n_dirs, n_other, n_extents, n_blocks;
static uint64_t n_inline, n_delalloc, n_errors;
static bool noatime_ok = true;

static void error_at(const char *path, const char *what)
{
	if (n_errors++ < MAX_REPORTED_ERRORS)
		fprintf(stderr, "walk-fiemap: %s: %s: %s\n", path, what,
			strerror(errno));
}

static int grow_clusters(uint64_t last)
{
	uint64_t n = n_clusters_alloc ? n_clusters_alloc : 1024;
	uint32_t *p;

	while (n <= last)
		n *= 2;
	if (n > SIZE_MAX / sizeof(*p)) {
		errno = ENOMEM;
		return -1;
	}
	p = realloc(cluster_count, (size_t)n * sizeof(*p));
	if (!p)
		return -1;
	memset(p + n_clusters_alloc, 0,
	       (size_t)(n - n_clusters_alloc) * sizeof(*p));
	cluster_count = p;
	n_clusters_alloc = n;
	return 0;
}

/* Add the bytes [physical, physical + length) of the device. */
static int add_extent(uint64_t physical, uint64_t length)
{
	uint64_t b = physical / block_size;
	uint64_t e = (physical + length + block_size - 1) / block_size;

	if (e <= b)
		return 0;
	if ((e - 1) / cluster_blocks >= n_clusters_alloc &&
	    grow_clusters((e - 1) / cluster_blocks) < 0)
		return -1;
	n_blocks += e - b;
	while (b < e) {
		uint64_t c = b / cluster_blocks;
		uint64_t end = (c + 1) * cluster_blocks;
		uint64_t n = (end < e ? end : e) - b;

		cluster_count[c] += (uint32_t)n;
		b += n;
	}
	return 0;
}

static int map_file(int fd, const char *path)
{
	uint64_t start = 0;

	for (;;) {
		memset(fm, 0, sizeof(*fm));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = EXTENT_MAX_COUNT;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
			error_at(path, "FS_IOC_FIEMAP");
			return -1;
		}
		if (fm->fm_mapped_extents == 0)
			return 0; /* empty, or a hole up to the end */

		const struct fiemap_extent *x = NULL;
		for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
			x = &fm->fm_extents[i];
			n_extents++;
			if (x->fe_flags & FIEMAP_EXTENT_DATA_INLINE) {
				n_inline++; /* in the inode: no block of its own */
				continue;
			}
			if (x->fe_flags & (FIEMAP_EXTENT_UNKNOWN |
					   FIEMAP_EXTENT_DELALLOC)) {
				n_delalloc++; /* not on disk yet */
				continue;
			}
			if (add_extent(x->fe_physical, x->fe_length) < 0) {
				error_at(path, "out of memory");
				return -1;
			}
		}
		if (x->fe_flags & FIEMAP_EXTENT_LAST)
			return 0;
		start = x->fe_logical + x->fe_length;
	}
}

static int visit(const char *path, const struct stat *st, int type,
		 struct FTW *ftw)
{
	int fd;

	(void)ftw;
	switch (type) {
	case FTW_D:
		n_dirs++;
		return 0;
	case FTW_DNR:
		errno = EACCES;
		error_at(path, "cannot read directory");
		return 0;
	case FTW_NS:
		error_at(path, "cannot stat");
		return 0;
	case FTW_F:
		break;
	default:
		n_other++;
		return 0;
	}
	if (!S_ISREG(st->st_mode)) {
		n_other++;
		return 0;
	}

	n_files++;
	/* O_NOATIME needs ownership or CAP_FOWNER: drop it once refused. */
	fd = -1;
	if (noatime_ok) {
		fd = open(path, O_RDONLY | O_NOATIME | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 && errno == EPERM)
			noatime_ok = false;
	}
	if (fd < 0 && !noatime_ok)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		error_at(path, "open");
		return 0;
	}
	(void)map_file(fd, path);
	close(fd);
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct statvfs sv;
	struct timespec t0, t1;
	uint64_t touched = 0, partial = 0, full = 0;

	if (argc != 3 || parse_u64(argv[1], &granularity) < 0 ||
	    granularity == 0 || (granularity & (granularity - 1))) {
		fprintf(stderr, "Usage: walk-fiemap GRANULARITY_BYTES DIR\n"
				"GRANULARITY_BYTES: a power of two, e.g. 1048576\n");
		return 2;
	}
	if (statvfs(argv[2], &sv) < 0) {
		fprintf(stderr, "walk-fiemap: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	block_size = sv.f_bsize;
	if (block_size == 0 || granularity < block_size) {
		fprintf(stderr, "walk-fiemap: granularity %" PRIu64 " is smaller "
				"than the block size %" PRIu64 "\n",
			granularity, block_size);
		return 2;
	}
	cluster_blocks = granularity / block_size;

	fm = calloc(1, sizeof(*fm) + EXTENT_MAX_COUNT * sizeof(struct fiemap_extent));
	if (!fm) {
		fprintf(stderr, "walk-fiemap: out of memory\n");
		return 1;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (nftw(argv[2], visit, 64, FTW_PHYS | FTW_MOUNT) < 0) {
		fprintf(stderr, "walk-fiemap: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	for (uint64_t c = 0; c < n_clusters_alloc; c++) {
		if (!cluster_count[c])
			continue;
		touched++;
		if (cluster_count[c] >= cluster_blocks)
			full++;
		else
			partial++;
	}

	printf("granularity: %" PRIu64 "\n", granularity);
	printf("block_size: %" PRIu64 "\n", block_size);
	printf("directories: %" PRIu64 "\n", n_dirs);
	printf("files: %" PRIu64 "\n", n_files);
	printf("other: %" PRIu64 "\n", n_other);
	printf("extents: %" PRIu64 "\n", n_extents);
	printf("inline_extents: %" PRIu64 "\n", n_inline);
	printf("delalloc_extents: %" PRIu64 "\n", n_delalloc);
	printf("data_blocks: %" PRIu64 "\n", n_blocks);
	printf("clusters_with_data: %" PRIu64 "\n", touched);
	printf("partial_clusters: %" PRIu64 "\n", partial);
	printf("full_clusters: %" PRIu64 "\n", full);
	printf("errors: %" PRIu64 "\n", n_errors);
	printf("elapsed_s: %.3f\n", (double)(t1.tv_sec - t0.tv_sec) +
					    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	free(fm);
	free(cluster_count);
	return n_errors ? 1 : 0;
}
