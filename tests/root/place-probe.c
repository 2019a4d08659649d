/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * place-probe: measure the placement backend on a mounted filesystem, the
 * way doc/placement.md describes, with discovery independent of thinpack's
 * scan (every file's FIEMAP, GETFSMAP for free space).
 *
 *   place-probe [--right] [--trials N] [--min-len N] [--max-len N]
 *               [--seed S] [--move] MNT
 *
 * Each trial picks a free extent whose left (or, with --right, right)
 * neighbour block is a data block of a regular file, places a donor of a
 * random length (--right: exactly the hole) there and checks with its own
 * FIEMAP that it landed exactly.  With --move it then moves a real file's
 * data into the donor with EXT4_IOC_MOVE_EXT and checks that the file's
 * blocks are at the target and that the file and the lender read back the
 * same bytes as before.  Prints "trials N exact N missed N moved N errors N
 * reservoir N wide N retried N taken N" (reservoir: the exact ones placed
 * by the placer's reservoir; wide: holes a one-block borrow slot landed in,
 * which then got a wide one; retried: allocations that missed inside the
 * placer, which then placed the trial another way; taken: holes the placer
 * found partly taken by something else before it allocated -- not trials;
 * see lib/place/) and exits 1 on any data error.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kio/kio.h"
#include "place/place.h"

struct file {
	char *path;
	uint64_t size;
};

struct ext { /* a data extent of a file, by physical block */
	uint64_t physical, logical, len;
	size_t file;
};

static struct file *files;
static size_t n_files, cap_files;
static struct ext *exts;
static size_t n_exts, cap_exts;
static uint32_t bs;
static dev_t fsdev;

static int collect(const char *path, const struct stat *st, int type,
		   struct FTW *ftw)
{
	struct tp_fe_list l = { 0 };
	int fd;

	if (type != FTW_F || !S_ISREG(st->st_mode) || st->st_dev != fsdev ||
	    st->st_size == 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (tp_fiemap(fd, bs, 0, UINT64_MAX / 2 / bs, true, &l) == 0) {
		if (n_files == cap_files) {
			cap_files = cap_files ? 2 * cap_files : 256;
			files = realloc(files, cap_files * sizeof(*files));
		}
		files[n_files] = (struct file){ strdup(path), (uint64_t)st->st_size };
		uint64_t eof = ((uint64_t)st->st_size + bs - 1) / bs;
		for (size_t i = 0; i < l.n; i++) {
			if (l.v[i].flags & (TP_FE_UNSETTLED | TP_FE_UNWRITTEN) ||
			    l.v[i].logical + l.v[i].len > eof)
				continue;
			if (n_exts == cap_exts) {
				cap_exts = cap_exts ? 2 * cap_exts : 1024;
				exts = realloc(exts, cap_exts * sizeof(*exts));
			}
			exts[n_exts++] = (struct ext){ l.v[i].physical, l.v[i].logical,
						       l.v[i].len, n_files };
		}
		n_files++;
	}
	tp_fe_list_clear(&l);
	close(fd);
	return 0;
}

/* The extent holding physical block b, or NULL. */
static const struct ext *owner(uint64_t b)
{
	for (size_t i = 0; i < n_exts; i++)
		if (exts[i].physical <= b && b < exts[i].physical + exts[i].len)
			return &exts[i];
	return NULL;
}

struct hole {
	uint64_t start, len;
};
static struct hole *holes;
static size_t n_holes, cap_holes;

static int add_hole(uint64_t blk, uint64_t len, void *ud)
{
	(void)ud;
	if (n_holes == cap_holes) {
		cap_holes = cap_holes ? 2 * cap_holes : 1024;
		holes = realloc(holes, cap_holes * sizeof(*holes));
	}
	holes[n_holes++] = (struct hole){ blk, len };
	return 0;
}

static uint64_t rng_state;
static uint64_t rnd(uint64_t n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return n ? (rng_state >> 33) % n : 0;
}

/* FNV-1a of a file's bytes. */
static uint64_t checksum(const char *path)
{
	char buf[65536];
	uint64_t h = 1469598103934665603ULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
	close(fd);
	return h;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "right", no_argument, NULL, 'r' },
		{ "trials", required_argument, NULL, 't' },
		{ "max-len", required_argument, NULL, 'l' },
		{ "min-len", required_argument, NULL, 'L' },
		{ "seed", required_argument, NULL, 's' },
		{ "move", no_argument, NULL, 'm' },
		{}
	};
	bool right = false, move = false;
	unsigned trials = 50;
	uint64_t max_len = 64, min_len = 1;
	int c;

	rng_state = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (c) {
		case 'r': right = true; break;
		case 't': trials = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l': max_len = strtoull(optarg, NULL, 10); break;
		case 'L': min_len = strtoull(optarg, NULL, 10); break;
		case 's': rng_state = strtoull(optarg, NULL, 10); break;
		case 'm': move = true; break;
		default: return 2;
		}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: place-probe [options] MOUNTPOINT\n");
		return 2;
	}
	const char *mnt = argv[optind];
	struct stat st;
	struct statvfs sv;
	int mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0 || fstat(mfd, &st) < 0 || fstatvfs(mfd, &sv) < 0) {
		perror(mnt);
		return 2;
	}
	fsdev = st.st_dev;
	bs = (uint32_t)sv.f_bsize;

	struct tp_placer placer;
	if (tp_placer_init(&placer, TP_PLACEMENT_BORROW, mfd, bs, 0) < 0)
		return 2;
	placer.may_park = true;

	unsigned done = 0, exact = 0, missed = 0, moved_ok = 0, errors = 0,
		 no_candidate = 0, reservoir = 0, taken = 0;
	for (unsigned t = 0; t < trials && no_candidate < 1000; ) {
		/* fresh view each trial: the previous one changed it */
		for (size_t i = 0; i < n_files; i++)
			free(files[i].path);
		n_files = n_exts = n_holes = 0;
		sync();
		nftw(mnt, collect, 64, FTW_PHYS | FTW_MOUNT);
		tp_fsmap_for_each_free(mfd, fsdev, bs, 0, sv.f_blocks, add_hole, NULL);
		if (n_holes == 0)
			break;

		const struct hole *h = &holes[rnd(n_holes)];
		if (h->len < min_len || (right && h->len > max_len)) {
			no_candidate++;
			continue;
		}
		const struct ext *lend = owner(right ? h->start + h->len : h->start - 1);
		if (!lend) {
			no_candidate++;
			continue;
		}
		uint64_t top = h->len < max_len ? h->len : max_len;
		uint64_t n = right ? h->len : min_len + rnd(top - min_len + 1);
		const char *lpath = files[lend->file].path;
		uint64_t lsum = checksum(lpath);
		int lfd = open(lpath, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			no_candidate++;
			continue;
		}
		struct tp_place_request q = {
			.target = h->start,
			.len = n,
			.lender_fd = lfd,
			.lender_logical = lend->logical +
				((right ? h->start + h->len : h->start - 1) - lend->physical),
			.right = right,
		};
		struct tp_donor d;
		t++;
		done++;
		enum tp_place_outcome o = TP_PLACED;
		int r = tp_place(&placer, &q, &d, &o);
		if (r >= 0 && o == TP_PLACE_MISSED) {
			/* Whether something else holds part of the hole now
			 * (the donor is gone, and what it freed committed): a
			 * hint for whoever reads the log of a miss. */
			bool still_free = false;
			sync();
			tp_fsmap_is_free(mfd, fsdev, bs, h->start, n, &still_free);
			fprintf(stderr, "trial %u: missed %" PRIu64 "+%" PRIu64
				" (hole of %" PRIu64 "; afterwards %s)\n", t, h->start,
				n, h->len, still_free ? "free" : "not all free");
			missed++;
		} else if (r >= 0 && o == TP_PLACE_HOLE_TAKEN) {
			/* not a trial: something else took part of the hole */
			fprintf(stderr, "trial %u: hole %" PRIu64 "+%" PRIu64
				" taken before the allocation\n", t, h->start, n);
			taken++;
			no_candidate++; /* bounded all the same */
			t--;
		} else if (r < 0 || o != TP_PLACED) {
			fprintf(stderr, "trial %u: place %" PRIu64 "+%" PRIu64 ": %s\n",
				t, h->start, n,
				r < 0 ? strerror(-r) : tp_place_outcome_to_string(o));
			errors++;
		} else {
			/* Our own check, not place()'s. */
			struct tp_fe_list l = { 0 };
			tp_fiemap(d.fd, bs, d.start, n, true, &l);
			if (tp_fe_maps(&l, d.start, h->start, n)) {
				exact++;
				reservoir += d.reservoir != NULL;
			}
			else {
				fprintf(stderr, "trial %u: place() said exact, FIEMAP disagrees\n", t);
				errors++;
			}
			tp_fe_list_clear(&l);

			if (move) {
				/* a file with n contiguous data blocks, not the lender */
				const struct ext *src = NULL;
				for (unsigned k = 0; k < 200 && !src; k++) {
					const struct ext *e = &exts[rnd(n_exts)];
					if (e->file != lend->file && e->len >= n)
						src = e;
				}
				if (src) {
					const char *fpath = files[src->file].path;
					uint64_t fsum = checksum(fpath), mv = 0;
					int ffd = open(fpath, O_RDWR | O_CLOEXEC);
					uint64_t off = rnd(src->len - n + 1);
					int k = ffd < 0 ? -errno :
						tp_move_ext(ffd, d.fd, src->logical + off,
							    d.start, n, &mv);
					struct tp_fe_list fl = { 0 };
					if (ffd >= 0)
						tp_fiemap(ffd, bs, src->logical + off, n, true, &fl);
					if (k < 0 || mv != n ||
					    !tp_fe_maps(&fl, src->logical + off, h->start, n)) {
						fprintf(stderr, "trial %u: move: %s, %" PRIu64 "/%" PRIu64 "\n",
							t, strerror(-k), mv, n);
						errors++;
					}
					tp_fe_list_clear(&fl);
					if (ffd >= 0) {
						posix_fadvise(ffd, 0, 0, POSIX_FADV_DONTNEED);
						close(ffd);
					}
					if (checksum(fpath) != fsum) {
						fprintf(stderr, "trial %u: %s changed\n", t, fpath);
						errors++;
					} else if (k >= 0)
						moved_ok++;
				}
			}
			r = tp_donor_release(&d);
			if (r < 0) {
				fprintf(stderr, "trial %u: release: %s\n", t, strerror(-r));
				errors++;
			}
		}
		/* the lender has its block back, and its bytes */
		struct tp_fe_list ll = { 0 };
		tp_fiemap(lfd, bs, q.lender_logical, 1, true, &ll);
		if (!tp_fe_maps(&ll, q.lender_logical, right ? h->start + h->len : h->start - 1, 1)) {
			fprintf(stderr, "trial %u: lender block not returned\n", t);
			errors++;
		}
		tp_fe_list_clear(&ll);
		close(lfd);
		if (checksum(lpath) != lsum) {
			fprintf(stderr, "trial %u: lender %s changed\n", t, lpath);
			errors++;
		}
	}
	uint64_t retried = placer.stats.missed > missed ? placer.stats.missed - missed : 0;
	printf("trials %u exact %u missed %u moved %u errors %u reservoir %u wide %zu"
	       " retried %" PRIu64 " taken %u\n", done - taken, exact, missed, moved_ok,
	       errors, reservoir, placer.slot_took.n, retried, taken);
	for (size_t i = 0; i < n_files; i++)
		free(files[i].path);
	free(files);
	free(exts);
	free(holes);
	tp_placer_done(&placer);
	close(mfd);
	return errors ? 1 : 0;
}
