/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpack explain: why is this cluster still there?  For each cluster
 * asked about, every owner of its used blocks (files and directories by
 * path, metadata by kind), whether compaction could move each and why
 * not, and what emptying the cluster costs or what pins it.  Without
 * clusters: the emptiest pinned clusters, a line each.
 *
 * Read-only.  The owners come from the scan report and compact run
 * (tp_scan_options.explain notes them as it counts them), so what explain
 * calls movable is what the planner moves; the paths from libext2fs.
 * The owners in words: explain-owners.c.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "explain.h"
#include "basic/cleanup.h"

#define DEFAULT_MIN_AGE (24 * 3600)
#define DEFAULT_TOP 10
#define MAX_TOP 100000

static void print_verdict(const struct explain *e, const struct cluster_view *v)
{
	const struct tp_geometry *g = &e->t.geo;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX];

	switch (v->verdict) {
	case TP_VERDICT_EMPTY:
		printf("  empty: nothing to move; %s\n",
		       v->prov == TP_PROV_UNMAPPED ? "the device holds no space for it already" :
		       v->prov == TP_PROV_SHARED ? "its space is shared with a snapshot" :
						   "trim returns it");
		return;
	case TP_VERDICT_UNBACKED:
		printf("  left alone: the device holds no space for it (never "
		       "written), so emptying it would return nothing\n");
		return;
	case TP_VERDICT_SHARED:
		printf("  left alone: its space is shared with a snapshot, so "
		       "emptying it would free nothing\n");
		return;
	case TP_VERDICT_PINNED:
		printf("  cannot be emptied: pinned by %s", v->summary ? v->summary : "?");
		if (v->c.movable)
			printf("; its %" PRIu32 " movable blocks would move for nothing",
			       v->c.movable);
		printf("\n");
		return;
	case TP_VERDICT_MOVABLE:
		if (e->blocker) {
			printf("  cannot be emptied: compaction is impossible on this "
			       "filesystem: %s\n", e->blocker);
			return;
		}
		printf("  can be emptied: moving %s (%" PRIu32 " blocks of %" PRIu64
		       " file%s) returns %s; compact takes it at --max-usage %u or more\n",
		       tp_format_size(tp_blks_to_bytes(g, v->c.used), a), v->c.used,
		       v->movable_files, v->movable_files == 1 ? "" : "s",
		       tp_format_size(g->granularity, b), tp_cluster_usage_needed(g, &v->c));
		return;
	}
}

static const char *state_to_string(enum tp_cluster_state s)
{
	return s == TP_CLUSTER_EMPTY ? "empty" : s == TP_CLUSTER_FULL ? "full" : "partial";
}

static void print_cluster(const struct explain *e, const struct cluster_view *v)
{
	const struct tp_geometry *g = &e->t.geo;
	uint64_t first = tp_cluster_to_blk(g, v->idx);

	printf("\ncluster %" PRIu64 ": blocks %" PRIu64 "-%" PRIu64 ", %s, %" PRIu32
	       " of %" PRIu32 " used (%u %%), %" PRIu32 " movable",
	       v->number, first, first + g->cluster_blocks - 1,
	       state_to_string(v->state), v->c.used, g->cluster_blocks,
	       (unsigned)((uint64_t)v->c.used * 100 / g->cluster_blocks), v->c.movable);
	if (v->prov == TP_PROV_UNMAPPED || v->prov == TP_PROV_SHARED)
		printf(", %s", v->prov == TP_PROV_UNMAPPED ? "not backed by the device" :
							     "shared with a snapshot");
	printf("\n");
	if (v->n_groups)
		printf("  %6s  %-12s %s\n", "blocks", "movable", "owner");
	for (size_t i = 0; i < v->n_groups; i++) {
		const struct group *gr = &v->groups[i];
		const struct tp_owner *o = gr->runs[0];
		_cleanup_free_ char *label = owner_label(e, o);
		_cleanup_free_ char *detail = pin_detail(e, o);
		_cleanup_free_ char *ranges = group_ranges(gr);

		printf("  %6" PRIu64 "  %-12s %s%s%s; %s %s\n", gr->blocks,
		       o->movable ? "yes" : tp_pin_reason_to_string(o->reason),
		       label ? label : "?", detail ? ": " : "", detail ? detail : "",
		       gr->blocks > 1 ? "blocks" : "block", ranges ? ranges : "?");
	}
	print_verdict(e, v);
}

/* ---- JSON ------------------------------------------------------------------------ */

static json_object *owner_json(const struct explain *e, const struct group *gr)
{
	const struct tp_owner *o = gr->runs[0];
	json_object *j = json_object_new_object(), *ranges = json_object_new_array();
	_cleanup_free_ char *path = names_inode(o->kind) ?
					    host_path(e, fs_path(e, o->ino)) : NULL;
	_cleanup_free_ char *label = owner_label(e, o);
	_cleanup_free_ char *detail = pin_detail(e, o);
	bool data = o->kind >= TP_OWNER_JOURNAL && o->kind <= TP_OWNER_XATTR_INODE;

	json_add_str(j, "kind", tp_owner_kind_to_string(o->kind));
	json_add_str(j, "owner", label);
	json_object_object_add(j, "inode", o->ino ? json_object_new_uint64(o->ino) : NULL);
	json_add_str(j, "path", path);
	if (o->kind <= TP_OWNER_MMP)
		json_add_u64(j, "group", o->group);
	if (o->kind == TP_OWNER_XATTR_BLOCK)
		json_add_u64(j, "refs", o->refs);
	json_add_bool(j, "movable", o->movable);
	json_add_str(j, "reason", o->movable ? NULL : tp_pin_reason_to_string(o->reason));
	json_add_str(j, "detail", detail);
	json_add_u64(j, "blocks", gr->blocks);
	for (size_t i = 0; i < gr->n_runs;) {
		const struct tp_owner *r = gr->runs[i];
		uint64_t len = r->len;
		size_t k = i + 1;
		for (; k < gr->n_runs && continues(gr->runs[k - 1], gr->runs[k]); k++)
			len += gr->runs[k]->len;
		json_object *x = json_object_new_object();
		json_add_u64(x, "start", r->blk);
		json_add_u64(x, "blocks", len);
		if (data) {
			json_add_u64(x, "logical", r->logical);
			json_add_bool(x, "unwritten", r->unwritten);
		}
		json_object_array_add(ranges, x);
		i = k;
	}
	json_object_object_add(j, "ranges", ranges);
	return j;
}

static json_object *cluster_json(const struct explain *e, const struct cluster_view *v)
{
	const struct tp_geometry *g = &e->t.geo;
	json_object *j = json_object_new_object(), *reasons = json_object_new_array();
	json_object *owners = json_object_new_array();

	json_add_u64(j, "cluster", v->number);
	json_add_u64(j, "first_block", tp_cluster_to_blk(g, v->idx));
	json_add_u64(j, "blocks", g->cluster_blocks);
	json_add_u64(j, "used_blocks", v->c.used);
	json_add_u64(j, "movable_blocks", v->c.movable);
	json_add_str(j, "state", state_to_string(v->state));
	json_add_str(j, "provisioning", prov_to_string(v->prov));
	json_add_str(j, "verdict", tp_verdict_to_string(v->verdict));
	json_add_bool(j, "can_empty", v->can_empty);
	json_object_object_add(j, "cost_bytes", v->can_empty ?
			       json_object_new_uint64(tp_blks_to_bytes(g, v->c.used)) : NULL);
	json_add_u64(j, "movable_bytes", tp_blks_to_bytes(g, v->c.movable));
	json_add_u64(j, "max_usage_needed", tp_cluster_usage_needed(g, &v->c));
	for (unsigned r = 0; r < _TP_PIN_MAX; r++)
		if (v->c.reasons & (1u << r))
			json_object_array_add(reasons,
					      json_object_new_string(tp_pin_reason_to_string(r)));
	json_object_object_add(j, "pinned_reasons", reasons);
	json_add_str(j, "pinned_by", v->summary);
	for (size_t i = 0; i < v->n_groups; i++)
		json_object_array_add(owners, owner_json(e, &v->groups[i]));
	json_object_object_add(j, "owners", owners);
	return j;
}

/* ---- the filesystem ---------------------------------------------------------------- */

static void explain_clear(struct explain *e)
{
	tp_clustermap_free(e->map);
	tp_provmap_free(e->prov);
	free(e->swaps);
	free(e->clusters);
	inode_paths_clear(&e->paths);
	target_clear(&e->t);
}

static int scan(struct explain *e, const uint64_t *explain, size_t n)
{
	struct target *t = &e->t;
	struct tp_scan_options so = {
		.min_age = e->o->min_age,
		.now = e->now,
		.pinned_inodes = e->swaps,
		.n_pinned_inodes = e->n_swaps,
		.explain = explain,
		.n_explain = n,
		.progress = progress_line,
		.userdata = (void *)t->dev->device,
	};
	int r;

	e->map = tp_clustermap_free(e->map);
	r = tp_scan(t->fs, &t->geo, &so, &e->map);
	progress_done();
	if (r < 0)
		return target_scan_error(t, r);
	return 0;
}

struct candidate {
	uint32_t used;
	uint64_t idx;
};

static int cmp_candidate(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The pinned partial clusters (as report counts them), emptiest first:
 * the first o->top of them into e->clusters. */
static int choose_top(struct explain *e)
{
	const struct tp_geometry *g = &e->t.geo;
	_cleanup_free_ struct candidate *cand = malloc(MAX(g->clusters, 1) * sizeof(*cand));
	size_t n = 0;

	if (!cand)
		return -ENOMEM;
	for (uint64_t i = 0; i < g->clusters; i++) {
		struct tp_cluster c;
		tp_clustermap_get(e->map, i, &c);
		if (tp_cluster_state(g, &c) == TP_CLUSTER_PARTIAL &&
		    tp_cluster_verdict(&c, tp_provmap_get(e->prov, i)) == TP_VERDICT_PINNED)
			cand[n++] = (struct candidate){ c.used, i };
	}
	qsort(cand, n, sizeof(*cand), cmp_candidate);
	e->pinned = n;
	e->n_clusters = MIN(n, (size_t)e->o->top);
	e->clusters = malloc(MAX(e->n_clusters, 1) * sizeof(*e->clusters));
	if (!e->clusters)
		return -ENOMEM;
	for (size_t i = 0; i < e->n_clusters; i++)
		e->clusters[i] = cand[i].idx;
	return 0;
}

/* The paths of every inode that owns blocks of the clusters shown. */
static int find_paths(struct explain *e)
{
	size_t n_all, n = 0;
	const struct tp_owner *all = tp_clustermap_owners(e->map, &n_all);
	uint32_t *inos = malloc(MAX(n_all, 1) * sizeof(*inos));

	if (!inos)
		return -ENOMEM;
	for (size_t i = 0; i < n_all; i++)
		if (names_inode(all[i].kind))
			inos[n++] = all[i].ino;
	return inode_paths_find(&e->t, inos, n, false, &e->paths);
}

/* A cluster number the user gave, on the device's grid: its index in the
 * map, or the exit bits after saying what is wrong with it. */
static int cluster_index(struct explain *e, uint64_t number, uint64_t *ret)
{
	struct target *t = &e->t;
	const struct tp_geometry *g = &t->geo;
	uint64_t C = g->cluster_blocks, off = g->offset / g->block_size;
	uint64_t touched_first = off / C;
	uint64_t touched_end = (off + g->blocks_count + C - 1) / C;
	char a[TP_SIZE_STR_MAX];

	if (number >= g->first_cluster && number - g->first_cluster < g->clusters) {
		*ret = number - g->first_cluster;
		return 0;
	}
	if (g->clusters == 0)
		return target_fail(t, TP_EXIT_USAGE, "%s: cluster %" PRIu64 ": the "
				   "filesystem holds no whole cluster of %s", t->path,
				   number, tp_format_size(g->granularity, a));
	if (number >= touched_first && number < touched_end)
		return target_fail(t, TP_EXIT_USAGE, "%s: cluster %" PRIu64 " is only "
				   "partly inside the filesystem (an edge cluster, "
				   "never emptied or filled); its whole clusters of %s "
				   "are %" PRIu64 " to %" PRIu64, t->path, number,
				   tp_format_size(g->granularity, a), g->first_cluster,
				   g->first_cluster + g->clusters - 1);
	return target_fail(t, TP_EXIT_USAGE, "%s: cluster %" PRIu64 " is beyond the "
			   "filesystem: its clusters of %s are %" PRIu64 " to %" PRIu64,
			   t->path, number, tp_format_size(g->granularity, a),
			   g->first_cluster, g->first_cluster + g->clusters - 1);
}

static int explain_one(struct explain *e, const char *path,
		       const uint64_t *numbers, size_t n_numbers)
{
	struct target *t = &e->t;
	int r;

	e->now = (int64_t)time(NULL);
	if (target_open(t, path, e->o->granularity) != 0)
		return t->exit;
	if (target_swapfiles(t, &e->swaps, &e->n_swaps) != 0)
		return t->exit;
	if (n_numbers) {
		e->clusters = malloc(n_numbers * sizeof(*e->clusters));
		if (!e->clusters)
			return target_fail(t, TP_EXIT_OPERATIONAL, "out of memory");
		for (size_t i = 0; i < n_numbers; i++)
			if (cluster_index(e, numbers[i], &e->clusters[i]) != 0)
				return t->exit;
		e->n_clusters = n_numbers;
	}

	r = tp_provmap_read(t->dev, &t->geo, &e->prov);
	if (r < 0) {
		target_warn(t, "%s: cannot read which clusters %s holds space for: %s",
			    path, t->dev->loop_backing_file ? t->dev->loop_backing_file :
							      t->dev->device, strerror(-r));
		e->prov = NULL;
	}
	if (tp_provmap_warning(e->prov))
		target_warn(t, "%s: %s", path, tp_provmap_warning(e->prov));
	if (!n_numbers) {
		/* Which clusters are the emptiest pinned ones is known only
		 * after a whole scan; a second one notes their owners. */
		if (scan(e, NULL, 0) != 0)
			return t->exit;
		if (choose_top(e) < 0)
			return target_fail(t, TP_EXIT_OPERATIONAL, "out of memory");
	}
	if ((e->n_clusters || n_numbers) && scan(e, e->clusters, e->n_clusters) != 0)
		return t->exit;
	if (tp_clustermap_stats(e->map)->unreadable_inodes)
		target_warn(t, "%s: %" PRIu64 " inodes changed while being read; "
			       "their clusters count as pinned",
			    path, tp_clustermap_stats(e->map)->unreadable_inodes);
	r = find_paths(e);
	if (r < 0)
		return target_scan_error(t, r);
	e->blocker = tp_blocker_to_string(tp_compaction_blocker(t->dev, &t->info, 0));
	if (!e->blocker)
		e->blocker = tp_blocker_to_string(
			tp_pool_blocker(tp_provmap_pool(e->prov), TP_POOL_MARGIN_DEFAULT));
	return t->exit;
}

static void print_header(const struct explain *e)
{
	const struct target *t = &e->t;
	const struct tp_device *dev = t->dev;
	const struct tp_geometry *g = &t->geo;
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX];

	printf("%s: %s, %s", t->path, dev->device, dev->fstype);
	if (dev->mountpoint)
		printf(", mounted on %s%s", dev->mountpoint,
		       dev->read_only ? " (read-only)" : "");
	else
		printf(", %s", dev->kind == TP_TARGET_IMAGE ? "image file" : "not mounted");
	printf("\n");
	printf("  %-22s %s (%s): ", "granularity", tp_format_size(g->granularity, a),
	       tp_granularity_source_to_string(dev->granularity_source));
	if (g->clusters)
		printf("clusters %" PRIu64 " to %" PRIu64, g->first_cluster,
		       g->first_cluster + g->clusters - 1);
	else
		printf("no whole cluster");
	printf(" of %" PRIu32 " blocks of %s\n", g->cluster_blocks,
	       tp_format_size(g->block_size, b));
	if (e->o->min_age)
		printf("  %-22s files changed in the last %s are not movable\n",
		       "min-age", tp_format_duration(e->o->min_age, a));
	else
		printf("  %-22s 0: files are movable whatever their age\n", "min-age");
	if (e->blocker)
		printf("  %-22s impossible: %s\n", "compaction", e->blocker);
}

static void print_top(const struct explain *e, const struct cluster_view *views)
{
	const struct tp_geometry *g = &e->t.geo;

	if (!e->pinned) {
		printf("  %-22s no partial cluster holds unmovable blocks\n", "pinned");
		return;
	}
	printf("  %-22s %" PRIu64 " partial clusters hold unmovable blocks", "pinned",
	       e->pinned);
	if (!e->n_clusters) {
		printf("\n");
		return;
	}
	if (e->n_clusters < e->pinned)
		printf("; the %zu emptiest:\n", e->n_clusters);
	else
		printf(", emptiest first:\n");
	printf("  %10s %14s  %s\n", "cluster", "used", "pinned by");
	for (size_t i = 0; i < e->n_clusters; i++) {
		const struct cluster_view *v = &views[i];
		char used[32];
		snprintf(used, sizeof(used), "%" PRIu32 "/%" PRIu32, v->c.used,
			 g->cluster_blocks);
		printf("  %10" PRIu64 " %14s  %s\n", v->number, used,
		       v->summary ? v->summary :
		       v->verdict == TP_VERDICT_MOVABLE ? "(movable now: the files aged "
							  "or changed since the first scan)" :
							  tp_verdict_to_string(v->verdict));
	}
	printf("  'thinpack explain %s CLUSTER' names every owner of one.\n", e->t.path);
}

static json_object *to_json(const struct explain *e, const struct cluster_view *views,
			    bool top)
{
	const struct target *t = &e->t;
	const struct tp_device *dev = t->dev;
	const struct tp_geometry *g = &t->geo;
	json_object *j = json_object_new_object();

	json_add_str(j, "path", t->path);
	if (dev) {
		json_add_str(j, "device", dev->device);
		json_add_str(j, "fstype", dev->fstype);
		json_add_str(j, "kind", tp_target_kind_to_string(dev->kind));
		json_add_bool(j, "mounted", dev->kind == TP_TARGET_MOUNTED);
		json_add_str(j, "mountpoint", dev->mountpoint);
	}
	if (t->error) {
		json_add_str(j, "error", t->error);
		json_object_object_add(j, "exit_code", json_object_new_int(t->exit));
		return j;
	}
	json_add_u64(j, "block_size", g->block_size);
	json_add_u64(j, "granularity", g->granularity);
	json_add_str(j, "granularity_source",
		     tp_granularity_source_to_string(dev->granularity_source));
	json_add_u64(j, "alignment_offset", g->offset);
	json_add_u64(j, "blocks_per_cluster", g->cluster_blocks);
	json_add_u64(j, "first_cluster", g->first_cluster);
	json_add_u64(j, "clusters", g->clusters);
	json_add_u64(j, "min_age", e->o->min_age);
	json_add_bool(j, "compaction_possible", !e->blocker);
	json_add_str(j, "compaction_blocker", e->blocker);
	if (top)
		json_add_u64(j, "pinned_clusters", e->pinned);
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < e->n_clusters; i++)
		json_object_array_add(arr, cluster_json(e, &views[i]));
	json_object_object_add(j, top ? "top_pinned" : "explained", arr);
	json_object *w = json_object_new_array();
	for (unsigned i = 0; i < t->n_warnings; i++)
		json_object_array_add(w, json_object_new_string(t->warnings[i]));
	json_object_object_add(j, "warnings", w);
	return j;
}

/* ---- the command ----------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s explain [OPTIONS] PATH [CLUSTER...]\n"
		"\n"
		"Why is a cluster still there?  For each CLUSTER (its number on the\n"
		"device's grid, as compact --dry-run --verbose prints them): every\n"
		"owner of its used blocks (files and directories by path, metadata by\n"
		"kind), which of them compaction could move and why not the others,\n"
		"and what emptying it costs.  Without CLUSTER: the emptiest pinned\n"
		"clusters, a line each.  Read-only.\n"
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
		"  -t, --top N              without CLUSTER: how many pinned clusters\n"
		"                           (default %d)\n"
		"  -j, --json               machine-readable output\n"
		"  -h, --help               show this help\n"
		"\n"
		"Exit status: 0 explained; 4 the filesystem could not be read; 8 usage\n"
		"error (bad option, no such path, not ext4, a CLUSTER that is no number\n"
		"or not a whole cluster of the filesystem).\n",
		program_invocation_short_name, DEFAULT_TOP);
}

/* "37": a cluster number, nothing else. */
static int parse_cluster(const char *arg, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || errno || *end) {
		log_error("explain: cluster '%s': expected a cluster number (0, 1, "
			  "2...), as compact --dry-run --verbose and explain print them", arg);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int cmd_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "granularity", required_argument, NULL, 'g' },
		{ "min-age", required_argument, NULL, 'a' },
		{ "top", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct explain_options o = { .min_age = DEFAULT_MIN_AGE, .top = DEFAULT_TOP };
	struct explain e = { .o = &o };
	_cleanup_free_ uint64_t *numbers = NULL;
	_cleanup_free_ struct cluster_view *views = NULL;
	size_t n_numbers = 0;
	int c, exit_code;

	optind = 1;
	while ((c = getopt_long(argc, argv, "g:a:t:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (parse_granularity_option(optarg, &o.granularity) < 0)
				return TP_EXIT_USAGE;
			break;
		case 'a':
			if (parse_duration_option("--min-age", optarg, &o.min_age) < 0)
				return TP_EXIT_USAGE;
			break;
		case 't':
			if (parse_uint_option("--top", optarg, MAX_TOP, &o.top) < 0)
				return TP_EXIT_USAGE;
			o.top_given = true;
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
		log_error("explain: no PATH given");
		usage(stderr);
		return TP_EXIT_USAGE;
	}
	n_numbers = (size_t)(argc - optind - 1);
	if (n_numbers && o.top_given) {
		log_error("explain: --top is for the pinned clusters, without CLUSTER "
			  "numbers");
		return TP_EXIT_USAGE;
	}
	numbers = malloc(MAX(n_numbers, 1) * sizeof(*numbers));
	if (!numbers) {
		log_error("out of memory");
		return TP_EXIT_OPERATIONAL;
	}
	for (size_t i = 0; i < n_numbers; i++)
		if (parse_cluster(argv[optind + 1 + (int)i], &numbers[i]) < 0)
			return TP_EXIT_USAGE;

	exit_code = explain_one(&e, argv[optind], numbers, n_numbers);
	if (!e.t.error) {
		views = calloc(MAX(e.n_clusters, 1), sizeof(*views));
		if (!views)
			exit_code |= target_fail(&e.t, TP_EXIT_OPERATIONAL, "out of memory");
		for (size_t i = 0; !e.t.error && i < e.n_clusters; i++)
			if (cluster_view(&e, e.clusters[i], &views[i]) < 0)
				exit_code |= target_fail(&e.t, TP_EXIT_OPERATIONAL,
							 "out of memory");
	}
	if (o.json) {
		json_object *arr = json_object_new_array();
		json_object_array_add(arr, to_json(&e, views, n_numbers == 0));
		json_print_filesystems(arr);
	} else if (!e.t.error) {
		print_header(&e);
		if (n_numbers == 0)
			print_top(&e, views);
		for (size_t i = 0; n_numbers && i < e.n_clusters; i++)
			print_cluster(&e, &views[i]);
	}
	for (size_t i = 0; views && i < e.n_clusters; i++)
		cluster_view_clear(&views[i]);
	explain_clear(&e);
	return exit_code;
}
