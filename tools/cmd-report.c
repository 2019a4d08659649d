/* SPDX-License-Identifier: GPL-2.0-or-later */
/* thinpack report: per filesystem, what trim and compaction can return. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thinpack.h"
#include "basic/cleanup.h"

#define DEFAULT_MIN_AGE (24 * 3600)
#define DEFAULT_CURVE 10
#define MAX_CURVE 10000

struct report_options {
	bool json;
	uint64_t granularity; /* 0: from the device */
	uint64_t min_age;
	unsigned curve;
	const char *map_path;
};

struct fs_report {
	struct target t;
	struct tp_clustermap *map;
	struct tp_provmap *prov;
	struct tp_summary *sum;
	struct tp_scan_stats stats;
	const char *blocker;
	double elapsed;
};

static void fs_report_clear(struct fs_report *rep)
{
	tp_clustermap_free(rep->map);
	tp_provmap_free(rep->prov);
	tp_summary_free(rep->sum);
	target_clear(&rep->t);
}

/* Resolve, scan and summarize one PATH.  Returns its exit bits. */
static int report_one(const char *path, const struct report_options *o,
		      struct fs_report *rep)
{
	struct target *t = &rep->t;
	_cleanup_free_ uint64_t *swaps = NULL;
	size_t n_swaps = 0;
	double start = tp_monotonic();
	int r;

	if (target_open(t, path, o->granularity) != 0)
		return t->exit;
	if (target_swapfiles(t, &swaps, &n_swaps) != 0)
		return t->exit;

	struct tp_scan_options so = {
		.min_age = o->min_age,
		.pinned_inodes = swaps,
		.n_pinned_inodes = n_swaps,
		.progress = progress_line,
		.userdata = (void *)t->dev->device,
	};
	r = tp_scan(t->fs, &t->geo, &so, &rep->map);
	progress_done();
	if (r < 0)
		return target_scan_error(t, r);
	rep->stats = *tp_clustermap_stats(rep->map);
	r = tp_provmap_read(t->dev, &t->geo, &rep->prov);
	if (r < 0) {
		target_warn(t, "%s: cannot read which clusters %s holds space for: %s",
			    path, t->dev->loop_backing_file ? t->dev->loop_backing_file :
							       t->dev->device, strerror(-r));
		rep->prov = NULL;
	}
	if (tp_provmap_warning(rep->prov))
		target_warn(t, "%s: %s", path, tp_provmap_warning(rep->prov));
	r = tp_summarize(rep->map, rep->prov, o->curve, &rep->sum);
	if (r < 0)
		return target_fail(t, TP_EXIT_OPERATIONAL, "%s: %s", path, strerror(-r));
	rep->elapsed = tp_monotonic() - start;

	if (rep->stats.unreadable_inodes)
		target_warn(t, "%s: %" PRIu64 " inodes changed while being read; "
			       "their clusters count as pinned",
			    path, rep->stats.unreadable_inodes);
	rep->blocker = tp_blocker_to_string(tp_compaction_blocker(t->dev, &t->info, 0));
	if (!rep->blocker)
		/* what compact would refuse, at the default margin */
		rep->blocker = tp_blocker_to_string(
			tp_pool_blocker(tp_provmap_pool(rep->prov), TP_POOL_MARGIN_DEFAULT));
	if (rep->blocker) {
		target_warn(t, "%s: compaction is impossible: %s", path, rep->blocker);
		t->exit |= TP_EXIT_NOTHING;
	}
	if (!t->dev->discard) {
		target_warn(t, "%s: %s does not support discard: nothing can be "
			       "returned to it", path, t->dev->device);
		t->exit |= TP_EXIT_NOTHING;
	}
	return t->exit;
}

/* ---- text ---------------------------------------------------------------- */

/* The dm-thin pool under the volume, when it is on one. */
static void print_pool(const struct tp_pool *p)
{
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX];

	if (!p)
		return;
	printf("  %-22s %s: %" PRIu64 " of %" PRIu64 " data blocks of %s in use (%u %% "
	       "free), discards %s\n", "thin pool", p->name, p->used_blocks,
	       p->total_blocks, tp_format_size(p->block_size, a),
	       tp_pool_free_percent(p),
	       p->discard_ignored ? "ignored" : p->discard_passdown ? "passed down" :
								    "not passed down");
	if (p->needs_check || p->read_only || p->out_of_data_space || p->held_root)
		printf("  %-22s%s%s%s%s\n", "pool flags",
		       p->needs_check ? " needs_check" : "",
		       p->read_only ? " read_only" : "",
		       p->out_of_data_space ? " out_of_data_space" : "",
		       p->held_root ? " metadata_snapshot_held" : "");
	printf("  %-22s %s, thin id %" PRIu64 ": %s mapped", "thin volume",
	       p->thin_name, p->thin_id, tp_format_size(p->thin_mapped_bytes, a));
	if (p->metadata_read)
		printf(" (%" PRIu64 " blocks), %" PRIu64 " shared (%s)",
		       p->mapped_blocks, p->shared_blocks,
		       tp_format_size(p->shared_blocks * p->block_size, b));
	printf("\n");
	for (size_t i = 0; i < p->n_sharers; i++) {
		printf("  %-22s thin id %" PRIu64, i ? "" : "shared with",
		       p->sharers[i].dev_id);
		if (p->sharers[i].name)
			printf(" (%s)", p->sharers[i].name);
		else
			printf(" (not active)");
		printf(": %" PRIu64 " blocks\n", p->sharers[i].blocks);
	}
}

static void print_text(const struct fs_report *rep)
{
	const struct tp_device *dev = rep->t.dev;
	const struct tp_summary *s = rep->sum;
	const struct tp_geometry *g = &rep->t.geo;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX];

	printf("%s: %s, %s", rep->t.path, dev->device, dev->fstype);
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
	if (s->prov_source == TP_PROV_SOURCE_NONE)
		printf("  %-22s unknown: no map of the space %s holds; every "
		       "cluster counts as provisioned\n", "provisioned", dev->device);
	else {
		printf("  %-22s %" PRIu64 " clusters (%s)", "provisioned",
		       s->provisioned, tp_prov_source_to_string(s->prov_source));
		/* empty and shared: held, but for the snapshot */
		uint64_t gone = s->empty - s->empty_provisioned -
				(s->shared - s->used_shared);
		if (gone)
			printf("; %" PRIu64 " empty ones hold no space already", gone);
		if (s->used_unprovisioned)
			printf("; %" PRIu64 " in use were never written",
			       s->used_unprovisioned);
		if (s->shared)
			printf("; %" PRIu64 " shared with snapshots (%" PRIu64
			       " in use): neither trim nor compaction frees them",
			       s->shared, s->used_shared);
		printf("\n");
	}
	print_pool(tp_provmap_pool(rep->prov));
	printf("  %-22s %s\n", "trim returns now", tp_format_size(s->trim_now_bytes, a));
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
}

/* ---- JSON ---------------------------------------------------------------- */

static json_object *pool_json(const struct tp_pool *p)
{
	json_object *j, *fl, *sh;

	if (!p)
		return NULL;
	j = json_object_new_object();
	json_add_str(j, "name", p->name);
	json_add_str(j, "thin_name", p->thin_name);
	json_add_u64(j, "thin_id", p->thin_id);
	json_add_u64(j, "block_size", p->block_size);
	json_add_u64(j, "used_blocks", p->used_blocks);
	json_add_u64(j, "total_blocks", p->total_blocks);
	json_add_u64(j, "free_percent", tp_pool_free_percent(p));
	json_add_u64(j, "used_metadata_blocks", p->used_metadata_blocks);
	json_add_u64(j, "total_metadata_blocks", p->total_metadata_blocks);
	json_add_u64(j, "thin_mapped_bytes", p->thin_mapped_bytes);
	json_add_bool(j, "metadata_read", p->metadata_read);
	if (p->metadata_read) {
		json_add_u64(j, "mapped_blocks", p->mapped_blocks);
		json_add_u64(j, "shared_blocks", p->shared_blocks);
		json_add_u64(j, "shared_bytes", p->shared_blocks * p->block_size);
	} else {
		json_object_object_add(j, "mapped_blocks", NULL);
		json_object_object_add(j, "shared_blocks", NULL);
		json_object_object_add(j, "shared_bytes", NULL);
	}
	sh = json_object_new_array();
	for (size_t i = 0; i < p->n_sharers; i++) {
		json_object *o = json_object_new_object();
		json_add_u64(o, "thin_id", p->sharers[i].dev_id);
		json_add_str(o, "name", p->sharers[i].name);
		json_add_u64(o, "blocks", p->sharers[i].blocks);
		json_object_array_add(sh, o);
	}
	json_object_object_add(j, "shared_with", sh);
	fl = json_object_new_object();
	json_add_bool(fl, "out_of_data_space", p->out_of_data_space);
	json_add_bool(fl, "read_only", p->read_only);
	json_add_bool(fl, "needs_check", p->needs_check);
	json_add_bool(fl, "discard_passdown", p->discard_passdown);
	json_add_bool(fl, "discard_ignored", p->discard_ignored);
	json_add_bool(fl, "metadata_snapshot_held", p->held_root);
	json_object_object_add(j, "flags", fl);
	return j;
}

static json_object *to_json(const struct fs_report *rep, const struct report_options *o)
{
	const struct tp_device *dev = rep->t.dev;
	json_object *j = json_object_new_object();

	json_add_str(j, "path", rep->t.path);
	if (dev) {
		json_add_str(j, "device", dev->device);
		json_add_str(j, "fstype", dev->fstype);
		json_add_str(j, "kind", tp_target_kind_to_string(dev->kind));
		json_add_bool(j, "mounted", dev->kind == TP_TARGET_MOUNTED);
		json_add_str(j, "mountpoint", dev->mountpoint);
	}
	if (rep->t.error) {
		json_add_str(j, "error", rep->t.error);
		json_object_object_add(j, "exit_code", json_object_new_int(rep->t.exit));
		return j;
	}

	const struct tp_summary *s = rep->sum;
	const struct tp_geometry *g = &rep->t.geo;
	json_add_bool(j, "read_only", dev->read_only);
	json_add_str(j, "uuid", rep->t.info.uuid);
	json_add_str(j, "label", rep->t.info.label);
	json_add_u64(j, "block_size", g->block_size);
	json_add_u64(j, "blocks", g->blocks_count);
	json_add_u64(j, "granularity", g->granularity);
	json_add_str(j, "granularity_source",
		tp_granularity_source_to_string(dev->granularity_source));
	json_add_u64(j, "alignment_offset", g->offset);
	json_add_bool(j, "discard", dev->discard);
	json_add_u64(j, "discard_max_bytes", dev->discard_max_bytes);
	json_add_bool(j, "partition", dev->partition);
	json_add_bool(j, "loop", dev->loop);

	json_object *topo = json_object_new_object();
	json_add_u64(topo, "minimum_io_size", dev->minimum_io_size);
	json_add_u64(topo, "optimal_io_size", dev->optimal_io_size);
	json_add_u64(topo, "physical_sector_size", dev->physical_sector_size);
	json_add_u64(topo, "logical_sector_size", dev->logical_sector_size);
	json_object_object_add(j, "topology", topo);

	json_object *cl = json_object_new_object();
	json_add_u64(cl, "total", s->total);
	json_add_u64(cl, "full", s->full);
	json_add_u64(cl, "partial", s->partial);
	json_add_u64(cl, "empty", s->empty);
	json_add_u64(cl, "pinned", s->pinned);
	json_add_u64(cl, "eligible", s->eligible);
	json_add_u64(cl, "edge", s->edge);
	json_add_u64(cl, "blocks_per_cluster", g->cluster_blocks);
	json_add_u64(cl, "first_block", g->first_block);
	json_object_object_add(j, "clusters", cl);

	json_object *pv = json_object_new_object();
	json_add_str(pv, "source", tp_prov_source_to_string(s->prov_source));
	json_add_u64(pv, "provisioned", s->provisioned);
	json_add_u64(pv, "empty_provisioned", s->empty_provisioned);
	json_add_u64(pv, "used_unprovisioned", s->used_unprovisioned);
	json_add_u64(pv, "shared", s->shared);
	json_add_u64(pv, "used_shared", s->used_shared);
	json_add_str(pv, "warning", tp_provmap_warning(rep->prov));
	json_object_object_add(j, "provisioning", pv);
	json_object_object_add(j, "pool", pool_json(tp_provmap_pool(rep->prov)));

	json_object *pr = json_object_new_object();
	for (unsigned r = 0; r < _TP_PIN_MAX; r++)
		json_add_u64(pr, tp_pin_reason_to_string(r), s->pinned_by_reason[r]);
	json_object_object_add(j, "pinned_reasons", pr);

	json_object *bl = json_object_new_object();
	json_add_u64(bl, "used", s->used_blocks);
	json_add_u64(bl, "movable", s->movable_blocks);
	json_add_u64(bl, "holes", s->hole_blocks);
	json_object_object_add(j, "blocks_in_clusters", bl);

	json_object *rc = json_object_new_object();
	json_add_u64(rc, "empty_bytes", s->empty_bytes);
	json_add_u64(rc, "trim_now_bytes", s->trim_now_bytes);
	json_add_u64(rc, "compaction_bytes", rep->blocker ? 0 : s->compaction_bytes);
	json_add_u64(rc, "compaction_io_bytes", rep->blocker ? 0 : s->compaction_io_bytes);
	json_add_u64(rc, "compaction_clusters", rep->blocker ? 0 : s->bound);
	json_add_u64(rc, "bound_clusters", s->bound);
	json_add_u64(rc, "min_io_bytes", s->compaction_io_bytes);
	json_object *curve = json_object_new_array();
	for (size_t i = 0; !rep->blocker && i < s->n_curve; i++) {
		json_object *p = json_object_new_object();
		json_add_u64(p, "io_bytes", s->curve[i].io_bytes);
		json_add_u64(p, "reclaim_bytes", s->curve[i].reclaim_bytes);
		json_add_u64(p, "clusters", s->curve[i].clusters);
		json_object_array_add(curve, p);
	}
	json_object_object_add(rc, "curve", curve);
	json_object_object_add(j, "reclaim", rc);
	json_add_bool(j, "compaction_possible", !rep->blocker);
	json_add_str(j, "compaction_blocker", rep->blocker);

	json_object *sc = json_object_new_object();
	json_add_u64(sc, "min_age", o->min_age);
	json_add_u64(sc, "inodes", rep->stats.inodes);
	json_add_u64(sc, "regular_files", rep->stats.regular_files);
	json_add_u64(sc, "movable_files", rep->stats.movable_files);
	json_add_u64(sc, "unreadable_inodes", rep->stats.unreadable_inodes);
	json_add_u64(sc, "overcounted_blocks", rep->stats.overcounted_blocks);
	json_add_u64(sc, "owned_free_ranges", rep->stats.owned_free_ranges);
	json_object_object_add(sc, "elapsed_s", json_object_new_double(rep->elapsed));
	json_object_object_add(j, "scan", sc);

	json_object *w = json_object_new_array();
	for (unsigned i = 0; i < rep->t.n_warnings; i++)
		json_object_array_add(w, json_object_new_string(rep->t.warnings[i]));
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
			if (parse_granularity_option(optarg, &o.granularity) < 0)
				return TP_EXIT_USAGE;
			break;
		case 'a':
			if (parse_duration_option("--min-age", optarg, &o.min_age) < 0)
				return TP_EXIT_USAGE;
			break;
		case 'c':
			if (parse_uint_option("--curve", optarg, MAX_CURVE, &o.curve) < 0)
				return TP_EXIT_USAGE;
			break;
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
		if (!o.json && !reps[i].t.error) {
			if (i > 0)
				printf("\n");
			print_text(&reps[i]);
		}
	}

	if (o.json) {
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, to_json(&reps[i], &o));
		json_print_filesystems(arr);
	}

	if (o.map_path) {
		_cleanup_free_ struct map_section *sec = calloc(n, sizeof(*sec));
		size_t k = 0;
		if (!sec) {
			log_error("out of memory");
			exit_code |= TP_EXIT_OPERATIONAL;
		} else {
			for (size_t i = 0; i < n; i++)
				if (!reps[i].t.error)
					sec[k++] = (struct map_section){
						.title = reps[i].t.path,
						.map = reps[i].map,
						.prov = reps[i].prov,
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
