/* SPDX-License-Identifier: GPL-2.0-or-later */
/* thinpack report: per filesystem, what trim and compaction can return. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "thinpack.h"
#include "basic/cleanup.h"

#define DEFAULT_MIN_AGE (24 * 3600)
#define DEFAULT_CURVE 10
#define MAX_CURVE 10000
#define MAX_WARNINGS 8

struct report_options {
	bool json;
	uint64_t granularity; /* 0: from the device */
	uint64_t min_age;
	unsigned curve;
	const char *map_path;
};

struct fs_report {
	const char *path;
	struct tp_device *dev;
	struct tp_fs_info info;
	struct tp_geometry geo;
	struct tp_clustermap *map;
	struct tp_summary *sum;
	struct tp_scan_stats stats;
	const char *blocker;
	double elapsed;
	char *error;
	char *warnings[MAX_WARNINGS];
	unsigned n_warnings;
	int exit;
};

static void fs_report_clear(struct fs_report *rep)
{
	tp_device_free(rep->dev);
	tp_clustermap_free(rep->map);
	tp_summary_free(rep->sum);
	free(rep->error);
	for (unsigned i = 0; i < rep->n_warnings; i++)
		free(rep->warnings[i]);
}

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

/* Record and print why this filesystem could not be reported. */
_printf_(3, 4) static int fail(struct fs_report *rep, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(rep->error);
	rep->error = vformat(fmt, ap);
	va_end(ap);
	log_error("%s", rep->error ? rep->error : "out of memory");
	rep->exit |= code;
	return rep->exit;
}

_printf_(2, 3) static void warn(struct fs_report *rep, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (!s)
		return;
	log_warning("%s", s);
	if (rep->n_warnings < MAX_WARNINGS)
		rep->warnings[rep->n_warnings++] = s;
	else
		free(s);
}

static int open_error(struct fs_report *rep, int r)
{
	const char *why = tp_fs_last_error();

	switch (r) {
	case -EACCES:
	case -EPERM:
		return fail(rep, TP_EXIT_OPERATIONAL,
			    "%s: cannot read %s: %s (reading the filesystem "
			    "needs root, or read access to the device)",
			    rep->path, rep->dev->device, strerror(-r));
	case -EMEDIUMTYPE:
		return fail(rep, TP_EXIT_USAGE,
			    "%s: %s does not hold a readable ext4 superblock: %s",
			    rep->path, rep->dev->device, why ? why : strerror(-r));
	default:
		return fail(rep, TP_EXIT_OPERATIONAL, "%s: cannot open %s: %s",
			    rep->path, rep->dev->device, why ? why : strerror(-r));
	}
}

static double now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fs_closep(struct tp_fs **fs)
{
	tp_fs_close(*fs);
}

/* Resolve, scan and summarize one PATH.  Returns its exit bits. */
static int report_one(const char *path, const struct report_options *o,
		      struct fs_report *rep)
{
	_cleanup_(fs_closep) struct tp_fs *fs = NULL;
	_cleanup_free_ uint64_t *swaps = NULL;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX];
	size_t n_swaps = 0;
	double start = now_monotonic();
	int r;

	rep->path = path;
	r = tp_device_open(path, &rep->dev);
	if (r == -ENOENT)
		return fail(rep, TP_EXIT_USAGE, "%s: no such file or directory", path);
	if (r == -ENOTBLK)
		return fail(rep, TP_EXIT_USAGE,
			    "%s: not on a block device, a mounted ext4 or an ext4 image",
			    path);
	if (r < 0)
		return fail(rep, TP_EXIT_OPERATIONAL, "%s: %s", path, strerror(-r));

	struct tp_device *dev = rep->dev;
	if (!tp_device_is_ext(dev)) {
		if (dev->fstype)
			return fail(rep, TP_EXIT_USAGE,
				    "%s: not an ext4 filesystem (%s is %s)", path,
				    dev->mountpoint ? dev->mountpoint : dev->device,
				    dev->fstype);
		return fail(rep, TP_EXIT_USAGE,
			    "%s: not an ext4 filesystem (no filesystem found on %s)",
			    path, dev->device);
	}
	if (o->granularity)
		tp_device_set_granularity(dev, o->granularity, TP_GRANULARITY_OPTION);

	r = tp_fs_open(dev, &fs);
	if (r < 0)
		return open_error(rep, r);
	rep->info = *tp_fs_get_info(fs);

	uint64_t gran = dev->granularity;
	if (gran < rep->info.block_size &&
	    dev->granularity_source != TP_GRANULARITY_OPTION) {
		/* Finer than a block: every block is its own cluster. */
		gran = rep->info.block_size;
		tp_device_set_granularity(dev, gran, dev->granularity_source);
	}
	r = tp_geometry_init(&rep->geo, rep->info.block_size,
			     rep->info.blocks_count, dev->offset, gran);
	if (r == -EINVAL && dev->granularity_source == TP_GRANULARITY_OPTION)
		return fail(rep, TP_EXIT_USAGE,
			    "%s: granularity %" PRIu64 " is smaller than the "
			    "filesystem's block size (%" PRIu32 ")",
			    path, gran, rep->info.block_size);
	if (r == -EINVAL)
		return fail(rep, TP_EXIT_OPERATIONAL,
			    "%s: %s reports a discard granularity of %" PRIu64
			    " bytes, which is not a power of two; pass --granularity",
			    path, dev->device, gran);
	if (r == -EXDEV)
		return fail(rep, TP_EXIT_OPERATIONAL,
			    "%s: the filesystem starts at byte %" PRIu64 " of the "
			    "device, not a multiple of its block size (%" PRIu32
			    "): not supported",
			    path, dev->offset, rep->info.block_size);
	if (r < 0)
		return fail(rep, TP_EXIT_USAGE,
			    "%s: granularity %" PRIu64 " is too large for %" PRIu32
			    "-byte blocks", path, gran, rep->info.block_size);

	if (dev->loop && dev->granularity_source == TP_GRANULARITY_SYSFS)
		warn(rep, "%s: %s is a loop device: its granularity (%s) says "
			  "nothing of what the filesystem under %s frees; pass "
			  "--granularity",
		     path, dev->device, tp_format_size(gran, a),
		     dev->loop_backing_file ? dev->loop_backing_file : "it");
	if (rep->info.needs_recovery && dev->kind != TP_TARGET_MOUNTED)
		warn(rep, "%s: the journal needs recovery; these figures describe "
			  "the filesystem before it (run e2fsck, or mount it once)",
		     path);

	r = tp_device_swapfiles(dev, &swaps, &n_swaps);
	if (r < 0)
		return fail(rep, TP_EXIT_OPERATIONAL, "%s: cannot read the swap "
			    "table: %s", path, strerror(-r));

	struct tp_scan_options so = {
		.min_age = o->min_age,
		.pinned_inodes = swaps,
		.n_pinned_inodes = n_swaps,
		.progress = progress_line,
		.userdata = (void *)dev->device,
	};
	r = tp_scan(fs, &rep->geo, &so, &rep->map);
	progress_done();
	if (r == -EACCES || r == -EPERM)
		return open_error(rep, r);
	if (r < 0) {
		const char *why = tp_fs_last_error();
		return fail(rep, TP_EXIT_OPERATIONAL, "%s: scanning %s failed: %s",
			    path, dev->device, why ? why : strerror(-r));
	}
	rep->stats = *tp_clustermap_stats(rep->map);
	r = tp_summarize(rep->map, o->curve, &rep->sum);
	if (r < 0)
		return fail(rep, TP_EXIT_OPERATIONAL, "%s: %s", path, strerror(-r));
	rep->elapsed = now_monotonic() - start;

	if (rep->stats.unreadable_inodes)
		warn(rep, "%s: %" PRIu64 " inodes changed while being read; "
			  "their clusters count as pinned",
		     path, rep->stats.unreadable_inodes);
	rep->blocker = tp_fs_compaction_blocker(&rep->info);
	if (rep->blocker) {
		warn(rep, "%s: compaction is impossible: %s", path, rep->blocker);
		rep->exit |= TP_EXIT_NOTHING;
	}
	if (!dev->discard) {
		warn(rep, "%s: %s does not support discard: nothing can be "
			  "returned to it",
		     path, dev->device);
		rep->exit |= TP_EXIT_NOTHING;
	}
	(void)b;
	return rep->exit;
}

/* ---- text ---------------------------------------------------------------- */

static void print_text(const struct fs_report *rep, const struct report_options *o)
{
	const struct tp_device *dev = rep->dev;
	const struct tp_summary *s = rep->sum;
	const struct tp_geometry *g = &rep->geo;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX], c[TP_SIZE_STR_MAX];

	printf("%s: %s, %s", rep->path, dev->device, dev->fstype);
	if (dev->mountpoint)
		printf(", mounted on %s%s", dev->mountpoint,
		       dev->read_only ? " (read-only)" : "");
	else
		printf(", %s", dev->kind == TP_TARGET_IMAGE ? "image file" :
							      "not mounted");
	printf("\n");
	printf("  %-22s %s in blocks of %s\n", "filesystem",
	       tp_format_size(tp_blks_to_bytes(g, g->blocks_count), a),
	       tp_format_size(g->block_size, b));
	printf("  %-22s %s (%s), filesystem at byte %" PRIu64 ", discard %s\n",
	       "granularity", tp_format_size(g->granularity, a),
	       tp_granularity_source_to_string(dev->granularity_source),
	       g->offset, dev->discard ? "yes" : "no");
	printf("  %-22s %" PRIu64 " total: %" PRIu64 " full, %" PRIu64
	       " partial, %" PRIu64 " empty",
	       "clusters", s->total, s->full, s->partial, s->empty);
	if (s->edge)
		printf(" (and %" PRIu64 " only partly inside)", s->edge);
	printf("\n");
	if (s->pinned) {
		const char *sep = "";
		printf("  %-22s %" PRIu64 " partial clusters hold unmovable blocks:",
		       "pinned", s->pinned);
		for (unsigned r = 0; r < _TP_PIN_MAX; r++)
			if (s->pinned_by_reason[r]) {
				printf("%s %s %" PRIu64, sep,
				       tp_pin_reason_to_string(r),
				       s->pinned_by_reason[r]);
				sep = ",";
			}
		printf("\n");
	}
	printf("  %-22s %s\n", "trim returns now", tp_format_size(s->empty_bytes, a));
	if (rep->blocker)
		printf("  %-22s impossible: %s\n", "compaction", rep->blocker);
	else
		printf("  %-22s %s (%" PRIu64 " clusters) by moving %s\n",
		       "compaction returns", tp_format_size(s->compaction_bytes, a),
		       s->bound, tp_format_size(s->compaction_io_bytes, b));
	if (!rep->blocker && s->n_curve) {
		printf("  %-22s %12s %12s %10s\n", "reclaim curve", "moved",
		       "returned", "clusters");
		for (size_t i = 0; i < s->n_curve; i++)
			printf("  %-22s %12s %12s %10" PRIu64 "\n", "",
			       tp_format_size(s->curve[i].io_bytes, a),
			       tp_format_size(s->curve[i].reclaim_bytes, b),
			       s->curve[i].clusters);
	}
	(void)c;
	(void)o;
}

/* ---- JSON ---------------------------------------------------------------- */

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static json_object *to_json(const struct fs_report *rep, const struct report_options *o)
{
	const struct tp_device *dev = rep->dev;
	json_object *j = json_object_new_object();

	add_str(j, "path", rep->path);
	if (dev) {
		add_str(j, "device", dev->device);
		add_str(j, "fstype", dev->fstype);
		add_str(j, "kind", tp_target_kind_to_string(dev->kind));
		json_object_object_add(j, "mounted",
				       json_object_new_boolean(dev->kind == TP_TARGET_MOUNTED));
		add_str(j, "mountpoint", dev->mountpoint);
	}
	if (rep->error) {
		add_str(j, "error", rep->error);
		json_object_object_add(j, "exit_code", json_object_new_int(rep->exit));
		return j;
	}

	const struct tp_summary *s = rep->sum;
	const struct tp_geometry *g = &rep->geo;
	json_object_object_add(j, "read_only", json_object_new_boolean(dev->read_only));
	add_str(j, "uuid", rep->info.uuid);
	add_str(j, "label", rep->info.label);
	add_u64(j, "block_size", g->block_size);
	add_u64(j, "blocks", g->blocks_count);
	add_u64(j, "granularity", g->granularity);
	add_str(j, "granularity_source",
		tp_granularity_source_to_string(dev->granularity_source));
	add_u64(j, "alignment_offset", g->offset);
	json_object_object_add(j, "discard", json_object_new_boolean(dev->discard));
	add_u64(j, "discard_max_bytes", dev->discard_max_bytes);
	json_object_object_add(j, "partition", json_object_new_boolean(dev->partition));
	json_object_object_add(j, "loop", json_object_new_boolean(dev->loop));

	json_object *topo = json_object_new_object();
	add_u64(topo, "minimum_io_size", dev->minimum_io_size);
	add_u64(topo, "optimal_io_size", dev->optimal_io_size);
	add_u64(topo, "physical_sector_size", dev->physical_sector_size);
	add_u64(topo, "logical_sector_size", dev->logical_sector_size);
	json_object_object_add(j, "topology", topo);

	json_object *cl = json_object_new_object();
	add_u64(cl, "total", s->total);
	add_u64(cl, "full", s->full);
	add_u64(cl, "partial", s->partial);
	add_u64(cl, "empty", s->empty);
	add_u64(cl, "pinned", s->pinned);
	add_u64(cl, "eligible", s->eligible);
	add_u64(cl, "edge", s->edge);
	add_u64(cl, "blocks_per_cluster", g->cluster_blocks);
	add_u64(cl, "first_block", g->first_block);
	json_object_object_add(j, "clusters", cl);

	json_object *pr = json_object_new_object();
	for (unsigned r = 0; r < _TP_PIN_MAX; r++)
		add_u64(pr, tp_pin_reason_to_string(r), s->pinned_by_reason[r]);
	json_object_object_add(j, "pinned_reasons", pr);

	json_object *bl = json_object_new_object();
	add_u64(bl, "used", s->used_blocks);
	add_u64(bl, "movable", s->movable_blocks);
	add_u64(bl, "holes", s->hole_blocks);
	json_object_object_add(j, "blocks_in_clusters", bl);

	json_object *rc = json_object_new_object();
	add_u64(rc, "empty_bytes", s->empty_bytes);
	add_u64(rc, "compaction_bytes", rep->blocker ? 0 : s->compaction_bytes);
	add_u64(rc, "compaction_io_bytes", rep->blocker ? 0 : s->compaction_io_bytes);
	add_u64(rc, "compaction_clusters", rep->blocker ? 0 : s->bound);
	add_u64(rc, "bound_clusters", s->bound);
	add_u64(rc, "min_io_bytes", s->compaction_io_bytes);
	json_object *curve = json_object_new_array();
	for (size_t i = 0; !rep->blocker && i < s->n_curve; i++) {
		json_object *p = json_object_new_object();
		add_u64(p, "io_bytes", s->curve[i].io_bytes);
		add_u64(p, "reclaim_bytes", s->curve[i].reclaim_bytes);
		add_u64(p, "clusters", s->curve[i].clusters);
		json_object_array_add(curve, p);
	}
	json_object_object_add(rc, "curve", curve);
	json_object_object_add(j, "reclaim", rc);
	json_object_object_add(j, "compaction_possible",
			       json_object_new_boolean(!rep->blocker));
	add_str(j, "compaction_blocker", rep->blocker);

	json_object *sc = json_object_new_object();
	add_u64(sc, "min_age", o->min_age);
	add_u64(sc, "inodes", rep->stats.inodes);
	add_u64(sc, "regular_files", rep->stats.regular_files);
	add_u64(sc, "movable_files", rep->stats.movable_files);
	add_u64(sc, "unreadable_inodes", rep->stats.unreadable_inodes);
	add_u64(sc, "overcounted_blocks", rep->stats.overcounted_blocks);
	add_u64(sc, "owned_free_ranges", rep->stats.owned_free_ranges);
	json_object_object_add(sc, "elapsed_s", json_object_new_double(rep->elapsed));
	json_object_object_add(j, "scan", sc);

	json_object *w = json_object_new_array();
	for (unsigned i = 0; i < rep->n_warnings; i++)
		json_object_array_add(w, json_object_new_string(rep->warnings[i]));
	json_object_object_add(j, "warnings", w);
	return j;
}

/* ---- the command ----------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s report [OPTIONS] PATH...\n"
		"\n"
		"Show, per filesystem, how many clusters of the device's discard\n"
		"granularity are empty, partial and full; what trim can return now;\n"
		"what compaction could return and how much data it would move.\n"
		"PATH: a mount point or a path inside a mounted ext4, a block device,\n"
		"or an image file of an unmounted ext4.\n"
		"\n"
		"Options:\n"
		"  -g, --granularity BYTES  cluster size of the thin device (e.g. 64K,\n"
		"                           1M, 4M); default: the device's discard\n"
		"                           granularity from sysfs\n"
		"  -a, --min-age DURATION   files changed more recently than this are\n"
		"                           not movable (e.g. 0, 30m, 12h, 7d);\n"
		"                           default 1d\n"
		"  -c, --curve N            points of the reclaim curve (default %d,\n"
		"                           0 for none)\n"
		"  -m, --map FILE.svg       draw the cluster map of every filesystem\n"
		"  -j, --json               machine-readable output\n"
		"  -h, --help               show this help\n"
		"\n"
		"Exit status: 0 reported; 1 reported, but a device cannot take\n"
		"discards or a filesystem cannot be compacted; 4 a filesystem could\n"
		"not be read; 8 usage error (bad option, no such path, not ext4).\n",
		program_invocation_short_name, DEFAULT_CURVE);
}

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "granularity", required_argument, NULL, 'g' },
		{ "min-age", required_argument, NULL, 'a' },
		{ "curve", required_argument, NULL, 'c' },
		{ "map", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct report_options o = { .min_age = DEFAULT_MIN_AGE,
				    .curve = DEFAULT_CURVE };
	int c, r, exit_code = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "g:a:c:m:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			r = tp_parse_size(optarg, &o.granularity);
			if (r < 0 || !tp_is_power_of_2(o.granularity) ||
			    o.granularity < 512) {
				log_error("--granularity '%s': expected a power of "
					  "two of at least 512 bytes, like 64K, "
					  "1M or 4M", optarg);
				return TP_EXIT_USAGE;
			}
			break;
		case 'a':
			if (tp_parse_duration(optarg, &o.min_age) < 0) {
				log_error("--min-age '%s': expected a duration "
					  "like 0, 30m, 12h or 7d", optarg);
				return TP_EXIT_USAGE;
			}
			break;
		case 'c': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v > MAX_CURVE ||
			    optarg[0] == '-') {
				log_error("--curve '%s': expected a number of "
					  "points from 0 to %d", optarg, MAX_CURVE);
				return TP_EXIT_USAGE;
			}
			o.curve = (unsigned)v;
			break;
		}
		case 'm':
			o.map_path = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return TP_EXIT_OK;
		default:
			usage(stderr);
			return TP_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		log_error("report: no PATH given");
		usage(stderr);
		return TP_EXIT_USAGE;
	}

	size_t n = (size_t)(argc - optind);
	_cleanup_free_ struct fs_report *reps = calloc(n, sizeof(*reps));
	if (!reps) {
		log_error("out of memory");
		return TP_EXIT_OPERATIONAL;
	}
	for (size_t i = 0; i < n; i++) {
		exit_code |= report_one(argv[optind + (int)i], &o, &reps[i]);
		if (!o.json && !reps[i].error) {
			if (i > 0)
				printf("\n");
			print_text(&reps[i], &o);
		}
	}

	if (o.json) {
		json_object *root = json_object_new_object();
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, to_json(&reps[i], &o));
		json_object_object_add(root, "filesystems", arr);
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	}

	if (o.map_path) {
		_cleanup_free_ struct map_section *sec = calloc(n, sizeof(*sec));
		size_t k = 0;
		if (!sec) {
			log_error("out of memory");
			exit_code |= TP_EXIT_OPERATIONAL;
		} else {
			for (size_t i = 0; i < n; i++)
				if (!reps[i].error)
					sec[k++] = (struct map_section){
						.title = reps[i].path,
						.map = reps[i].map,
						.summary = reps[i].sum,
					};
			if (k == 0)
				log_error("%s: no filesystem to draw; not written",
					  o.map_path);
			else if ((r = write_svg_map(o.map_path, sec, k)) < 0) {
				log_error_errno(r, "cannot write %s", o.map_path);
				exit_code |= TP_EXIT_OPERATIONAL;
			}
		}
	}

	for (size_t i = 0; i < n; i++)
		fs_report_clear(&reps[i]);
	return exit_code;
}
