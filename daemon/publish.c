/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What thinpackd tells: the STATUS= line, the status JSON that `thinpack
 * status` prints ($RUNTIME_DIRECTORY/status.json: rewritten through a pass,
 * at most every 0.2 s and before each victim), and after every pass a
 * Prometheus text file for node_exporter's textfile collector.  Counters
 * come from the state files, so they survive restarts.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "publish.h"
#include "atomic.h"
#include "clock.h"
#include "conf.h"
#include "journal.h"
#include "json-add.h"
#include "notify.h"
#include "state.h"
#include "basic/cleanup.h"

#define STATUS_PERIOD_S 0.2

/* ---- the STATUS= line ------------------------------------------------------------ */

static void fs_line(const struct daemon *d, const struct fsent *f, FILE *out)
{
	char a[TP_SIZE_STR_MAX], p[32], w[32];

	fprintf(out, "fs %s: ", f->mountpoint);
	if (f == d->active) {
		const struct pass_info *c = &f->pass;
		switch (f->phase) {
		case PHASE_WAITING:
		case PHASE_YIELD:
			fprintf(out, "%s for I/O pressure (some avg10 %.2f > %s), %s "
				"moved this pass",
				f->phase == PHASE_YIELD ? "yielding" : "waiting",
				f->pressure, format_pressure(f->s.pressure_limit, p),
				tp_format_size(c->moved_bytes, a));
			return;
		case PHASE_SCAN:
			fprintf(out, "scanning");
			if (f->phase_total)
				fprintf(out, " (%" PRIu64 " %%)",
					f->phase_done * 100 / f->phase_total);
			return;
		case PHASE_MOVE:
			fprintf(out, "moving, %s moved this pass",
				tp_format_size(c->moved_bytes, a));
			if (f->phase_total)
				fprintf(out, ", %" PRIu64 " of %" PRIu64 " clusters",
					f->phase_done, f->phase_total);
			return;
		default:
			fprintf(out, "%s, %s moved this pass", fs_phase_to_string(f->phase),
				tp_format_size(c->moved_bytes, a));
			return;
		}
	}
	if (f->blocked) {
		fprintf(out, "not compacted: %s", f->problem ? f->problem : "?");
		return;
	}
	format_when(f->next_due, w);
	fprintf(out, "moved %s, %" PRIu64 " clusters emptied, ",
		tp_format_size(f->st.t.moved_bytes, a), f->st.t.clusters_emptied);
	if (f->st.last.result == PASS_ERROR)
		fprintf(out, "last pass failed, ");
	if (f->skipped_at && f->skipped_at > f->st.last.start) {
		char sw[sizeof(w)];
		format_when(f->skipped_at, sw);
		fprintf(out, "last pass skipped at %s (%s), ", sw,
			f->skipped_why ? f->skipped_why : "?");
	}
	if (d->oneshot)
		fprintf(out, "idle");
	else
		fprintf(out, "idle until %s", w);
}

char *publish_status_line(const struct daemon *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	bool any = false;

	if (!out)
		return NULL;
	if (d->stop)
		fprintf(out, "stopping; ");
	if (d->active) {
		fs_line(d, d->active, out);
		any = true;
	} else
		for (size_t i = 0; i < d->n_fs; i++) {
			if (!d->fs[i]->present)
				continue;
			fprintf(out, "%s", any ? "; " : "");
			fs_line(d, d->fs[i], out);
			any = true;
		}
	if (!any)
		fprintf(out, "idle: no mounted filesystem matches %s", d->config->path);
	if (fclose(out) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the status JSON -------------------------------------------------------------- */

static json_object *pass_json(const struct pass_info *p)
{
	json_object *o = json_object_new_object();

	add_double(o, "start", p->start);
	add_double(o, "end", p->end);
	add_string(o, "result", pass_result_to_string(p->result));
	add_string(o, "stop", p->stop ? stop_reason_to_string(p->stop) : NULL);
	add_u64(o, "moved_bytes", p->moved_bytes);
	add_u64(o, "moves", p->moves);
	add_u64(o, "victims", p->victims);
	add_u64(o, "clusters_emptied", p->clusters_emptied);
	add_u64(o, "victims_failed", p->victims_failed);
	add_u64(o, "trimmed_bytes", p->trimmed_bytes);
	add_u64(o, "granularity", p->granularity);
	add_double(o, "yield_seconds", p->yield_s);
	add_string(o, "error", p->error);
	return o;
}

static json_object *settings_json(const struct settings *s)
{
	json_object *o = json_object_new_object();
	char b[32];

	add_u64(o, "interval", s->interval);
	add_u64(o, "min_age", s->min_age);
	add_u64(o, "max_usage", s->max_usage);
	add_u64(o, "slack", s->slack);
	add_u64(o, "io_rate", s->io_rate);
	add_u64(o, "pass_budget", s->pass_budget);
	if (s->pressure_limit < 0)
		add_string(o, "pressure_limit", format_pressure(s->pressure_limit, b));
	else
		add_double(o, "pressure_limit", s->pressure_limit);
	add_u64(o, "granularity", s->granularity);
	add_string(o, "placement", tp_placement_to_string(s->placement.mode));
	json_object_object_add(o, "trim", json_object_new_boolean(s->trim));
	return o;
}

static json_object *summary_json(const struct fs_summary *s)
{
	json_object *o = json_object_new_object();

	add_double(o, "time", s->when);
	add_u64(o, "total", s->total);
	add_u64(o, "empty", s->empty);
	add_u64(o, "partial", s->partial);
	add_u64(o, "full", s->full);
	add_u64(o, "pinned", s->pinned);
	add_u64(o, "eligible", s->eligible);
	add_u64(o, "bound_clusters", s->bound);
	add_u64(o, "trim_now_bytes", s->trim_now_bytes);
	add_u64(o, "reclaimable_bytes", s->reclaimable_bytes);
	add_u64(o, "reclaim_io_bytes", s->reclaim_io_bytes);
	add_string(o, "provisioning", s->prov_source);
	add_u64(o, "shared_clusters", s->shared);
	if (s->pool_name[0]) {
		json_object *p = json_object_new_object();
		add_string(p, "name", s->pool_name);
		add_u64(p, "block_size", s->pool_block_size);
		add_u64(p, "used_blocks", s->pool_used_blocks);
		add_u64(p, "total_blocks", s->pool_total_blocks);
		add_u64(p, "used_metadata_blocks", s->pool_used_metadata_blocks);
		add_u64(p, "total_metadata_blocks", s->pool_total_metadata_blocks);
		json_object_object_add(p, "out_of_data_space",
				       json_object_new_boolean(s->pool_out_of_data_space));
		json_object_object_add(p, "read_only",
				       json_object_new_boolean(s->pool_read_only));
		json_object_object_add(p, "needs_check",
				       json_object_new_boolean(s->pool_needs_check));
		json_object_object_add(o, "pool", p);
	}
	return o;
}

static int status_write(const struct daemon *d, const char *path)
{
	json_object *root = json_object_new_object(), *arr = json_object_new_array();
	_cleanup_free_ char *line = publish_status_line(d);

	add_u64(root, "version", 1);
	add_u64(root, "pid", (uint64_t)getpid());
	add_double(root, "updated", tp_realtime());
	add_double(root, "started", d->started);
	add_string(root, "config", d->config->path);
	add_double(root, "config_loaded", d->config_loaded);
	add_u64(root, "reloads", d->reloads);
	add_u64(root, "reload_failures", d->reload_failures);
	add_string(root, "state", d->stopped ? "stopped" : d->stop ? "stopping" :
				 d->active ? "compacting" : "idle");
	add_string(root, "status", line);
	for (size_t i = 0; i < d->n_fs; i++) {
		const struct fsent *f = d->fs[i];
		json_object *o = json_object_new_object();

		add_string(o, "mountpoint", f->mountpoint);
		add_string(o, "device", f->device);
		add_string(o, "uuid", f->uuid);
		add_string(o, "section", f->section);
		json_object_object_add(o, "present", json_object_new_boolean(f->present));
		add_string(o, "phase", fs_phase_to_string(f->phase));
		add_string(o, "problem", f->problem);
		add_double(o, "next_pass", f->blocked ? 0 : f->next_due);
		if (f->pressure >= 0)
			add_double(o, "pressure", f->pressure);
		add_u64(o, "granularity", f->granularity);
		add_string(o, "granularity_source", f->granularity_source);
		add_u64(o, "clusters_left_out", f->n_skipping);
		json_object_object_add(o, "settings", settings_json(&f->s));
		json_object_object_add(o, "pass", f == d->active ? pass_json(&f->pass) : NULL);
		json_object_object_add(o, "last_pass", f->st.last.start ?
						       pass_json(&f->st.last) : NULL);
		json_object *sk = NULL;
		if (f->skipped_at) {
			sk = json_object_new_object();
			add_double(sk, "at", f->skipped_at);
			add_string(sk, "why", f->skipped_why);
		}
		json_object_object_add(o, "last_skipped", sk);
		json_object_object_add(o, "totals", totals_to_json(&f->st.t));
		json_object_object_add(o, "summary", f->summary.when ?
						     summary_json(&f->summary) : NULL);
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "filesystems", arr);
	return write_json_atomic(path, root);
}

/* ---- Prometheus text format --------------------------------------------------------- */

static void label_escaped(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void labels(FILE *out, const struct fsent *f, const char *extra_key,
		   const char *extra)
{
	fputs("{mountpoint=\"", out);
	label_escaped(out, f->mountpoint);
	fputs("\",uuid=\"", out);
	label_escaped(out, f->uuid ? f->uuid : "");
	if (extra_key) {
		fprintf(out, "\",%s=\"", extra_key);
		label_escaped(out, extra);
	}
	fputs("\"}", out);
}

enum mtype { COUNTER, GAUGE };

static void family(FILE *out, const char *name, enum mtype t, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
		t == COUNTER ? "counter" : "gauge");
}

/* One sample per filesystem for which COND holds of metric NAME: EXPR, of
 * C type CTYPE, printed with FMT. */
#define PER_FS_IF(name, type, help, fmt, ctype, cond, expr)                    \
	do {                                                                   \
		family(out, name, type, help);                                 \
		for (size_t i_ = 0; i_ < d->n_fs; i_++) {                      \
			const struct fsent *f = d->fs[i_];                     \
			if (!(cond))                                           \
				continue;                                      \
			fputs(name, out);                                      \
			labels(out, f, NULL, NULL);                            \
			fprintf(out, " " fmt "\n", (ctype)(expr));             \
		}                                                              \
	} while (0)
#define PER_FS(name, type, help, fmt, ctype, expr) \
	PER_FS_IF(name, type, help, fmt, ctype, true, expr)
#define PER_FS_U64(name, type, help, expr) \
	PER_FS(name, type, help, "%" PRIu64, uint64_t, expr)
#define PER_FS_DOUBLE(name, type, help, expr) \
	PER_FS(name, type, help, "%.3f", double, expr)
/* The summary after the last pass: no sample before the first one. */
#define PER_FS_SUMMARY(name, help, expr) \
	PER_FS_IF(name, GAUGE, help, "%" PRIu64, uint64_t, f->summary.when, expr)

/* The dm-thin pool below each filesystem, as read with the summary: its
 * families only when a filesystem has one. */
static void pool_metrics(FILE *out, const struct daemon *d)
{
	bool pools = false;

	for (size_t i = 0; i < d->n_fs; i++)
		pools |= d->fs[i]->summary.when && d->fs[i]->summary.pool_name[0];
	if (!pools)
		return;
#define POOL_U64(name, help, expr)                                             \
	PER_FS_IF(name, GAUGE, help, "%" PRIu64, uint64_t,                     \
		  f->summary.when && f->summary.pool_name[0], expr)
	family(out, "thinpack_pool_info", GAUGE,
	       "The dm-thin pool below the filesystem (its device-mapper name "
	       "in the label pool); 1.");
	for (size_t i = 0; i < d->n_fs; i++) {
		const struct fsent *f = d->fs[i];
		if (!f->summary.when || !f->summary.pool_name[0])
			continue;
		fputs("thinpack_pool_info", out);
		labels(out, f, "pool", f->summary.pool_name);
		fputs(" 1\n", out);
	}
	POOL_U64("thinpack_pool_data_size_bytes", "The pool's data space.",
		 f->summary.pool_total_blocks * f->summary.pool_block_size);
	POOL_U64("thinpack_pool_data_used_bytes", "Of it, what is allocated.",
		 f->summary.pool_used_blocks * f->summary.pool_block_size);
	PER_FS_IF("thinpack_pool_metadata_used_ratio", GAUGE,
		  "Of the pool's metadata blocks, the part in use.", "%.4f", double,
		  f->summary.when && f->summary.pool_name[0] &&
			  f->summary.pool_total_metadata_blocks,
		  (double)f->summary.pool_used_metadata_blocks /
			  (double)f->summary.pool_total_metadata_blocks);
#undef POOL_U64
	family(out, "thinpack_pool_flag", GAUGE,
	       "The pool's state, as its status says: out_of_data_space, "
	       "read_only, needs_check; 1 when set (thinpackd does not compact "
	       "then).");
	for (size_t i = 0; i < d->n_fs; i++) {
		const struct fsent *f = d->fs[i];
		const struct {
			const char *flag;
			bool set;
		} fl[] = {
			{ "out_of_data_space", f->summary.pool_out_of_data_space },
			{ "read_only", f->summary.pool_read_only },
			{ "needs_check", f->summary.pool_needs_check },
		};
		if (!f->summary.when || !f->summary.pool_name[0])
			continue;
		for (size_t k = 0; k < ELEMENTSOF(fl); k++) {
			fputs("thinpack_pool_flag", out);
			labels(out, f, "flag", fl[k].flag);
			fprintf(out, " %d\n", fl[k].set);
		}
	}
}

static int metrics_write(const struct daemon *d, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int r;

	if (!out)
		return -ENOMEM;
	family(out, "thinpack_daemon_start_timestamp_seconds", GAUGE,
	       "When thinpackd started.");
	fprintf(out, "thinpack_daemon_start_timestamp_seconds %.3f\n", d->started);
	family(out, "thinpack_config_reload_failures_total", COUNTER,
	       "Reloads refused because the new configuration was wrong.");
	fprintf(out, "thinpack_config_reload_failures_total %u\n", d->reload_failures);
	family(out, "thinpack_filesystems", GAUGE,
	       "Mounted filesystems the configuration names.");
	fprintf(out, "thinpack_filesystems %zu\n", d->n_fs);

	PER_FS_U64("thinpack_compactable", GAUGE,
		   "1 when passes run on the filesystem, 0 when it cannot be "
		   "compacted (read-only, no discard...).", !f->blocked);
	PER_FS_U64("thinpack_passes_total", COUNTER, "Compaction passes.",
		   f->st.t.passes);
	PER_FS_U64("thinpack_passes_stopped_total", COUNTER,
		   "Passes stopped by the time budget, a reload or a shutdown.",
		   f->st.t.passes_stopped);
	PER_FS_U64("thinpack_passes_skipped_total", COUNTER,
		   "Passes not started: another runner held the filesystem.",
		   f->st.t.passes_skipped);
	PER_FS_U64("thinpack_pass_errors_total", COUNTER, "Passes that failed.",
		   f->st.t.pass_errors);
	PER_FS_U64("thinpack_moved_bytes_total", COUNTER,
		   "File data moved out of emptied clusters.", f->st.t.moved_bytes);
	PER_FS_U64("thinpack_moves_total", COUNTER, "Pieces of files moved.",
		   f->st.t.moves);
	PER_FS_U64("thinpack_clusters_emptied_total", COUNTER,
		   "Clusters emptied and checked free.", f->st.t.clusters_emptied);
	PER_FS_U64("thinpack_trimmed_bytes_total", COUNTER,
		   "Bytes of emptied clusters trimmed (returned to the thin device).",
		   f->st.t.trimmed_bytes);
	PER_FS_U64("thinpack_placement_attempts_total", COUNTER,
		   "Allocations at a chosen block.", f->st.t.placement_attempts);
	PER_FS_U64("thinpack_placement_exact_total", COUNTER,
		   "Allocations that landed at the chosen block.",
		   f->st.t.placement_exact);
	PER_FS_U64("thinpack_placement_reservoir_total", COUNTER,
		   "Exact allocations that wrote nothing to allocate (the "
		   "placer's reservoir).", f->st.t.placement_reservoir);
	family(out, "thinpack_skipped_moves_total", COUNTER,
	       "Moves not made, by reason.");
	for (size_t i = 0; i < d->n_fs; i++)
		for (int k = 0; k < _TP_SKIP_MAX; k++) {
			fputs("thinpack_skipped_moves_total", out);
			labels(out, d->fs[i], "reason", tp_skip_reason_to_string(k));
			fprintf(out, " %" PRIu64 "\n", d->fs[i]->st.t.skipped[k]);
		}
	PER_FS_DOUBLE("thinpack_pass_seconds_total", COUNTER,
		      "Time spent in passes.", f->st.t.pass_s);
	PER_FS_DOUBLE("thinpack_yield_seconds_total", COUNTER,
		      "Time passes waited for I/O pressure to fall.", f->st.t.yield_s);
	PER_FS_DOUBLE("thinpack_last_pass_start_timestamp_seconds", GAUGE,
		      "When the last pass started (0: never).", f->st.last.start);
	PER_FS_DOUBLE("thinpack_last_pass_end_timestamp_seconds", GAUGE,
		      "When the last pass ended (0: never).", f->st.last.end);
	PER_FS_U64("thinpack_last_pass_moved_bytes", GAUGE,
		   "Data the last pass moved.", f->st.last.moved_bytes);
	PER_FS_U64("thinpack_last_pass_clusters_emptied", GAUGE,
		   "Clusters the last pass emptied.", f->st.last.clusters_emptied);
	PER_FS_U64("thinpack_last_pass_success", GAUGE,
		   "1 when the last pass did not fail.",
		   f->st.last.result != PASS_ERROR);
	PER_FS_DOUBLE("thinpack_next_pass_timestamp_seconds", GAUGE,
		      "When the next pass is due (0: none).",
		      f->blocked ? 0 : f->next_due);
	PER_FS_U64("thinpack_clusters_left_out", GAUGE,
		   "Clusters that failed lately, left out of passes for now.",
		   f->n_skipping);
	PER_FS_U64("thinpack_granularity_bytes", GAUGE,
		   "Cluster size of the last pass.", f->granularity);
	PER_FS_U64("thinpack_io_rate_limit_bytes_per_second", GAUGE,
		   "The io_rate setting (0: no limit).", f->s.io_rate);

	/* The stranded space, as thinpack report counts it, after the last
	 * pass (none before the first since thinpackd started). */
	family(out, "thinpack_clusters", GAUGE,
	       "Whole clusters of the filesystem by occupancy after the last "
	       "pass: empty, partial, full; pinned: partial ones holding "
	       "unmovable blocks.");
	for (size_t i = 0; i < d->n_fs; i++) {
		const struct fsent *f = d->fs[i];
		const struct {
			const char *state;
			uint64_t n;
		} c[] = {
			{ "empty", f->summary.empty },
			{ "partial", f->summary.partial },
			{ "full", f->summary.full },
			{ "pinned", f->summary.pinned },
		};
		if (!f->summary.when)
			continue;
		for (size_t k = 0; k < ELEMENTSOF(c); k++) {
			fputs("thinpack_clusters", out);
			labels(out, f, "state", c[k].state);
			fprintf(out, " %" PRIu64 "\n", c[k].n);
		}
	}
	PER_FS_SUMMARY("thinpack_trim_now_bytes",
		       "Empty clusters the device holds space for: what a trim "
		       "returns now.", f->summary.trim_now_bytes);
	PER_FS_SUMMARY("thinpack_reclaimable_bytes",
		       "What compaction could return at most (the bound of "
		       "thinpack report), after the last pass.",
		       f->summary.reclaimable_bytes);
	PER_FS_SUMMARY("thinpack_reclaim_io_bytes",
		       "The least data compaction must move to return "
		       "thinpack_reclaimable_bytes.", f->summary.reclaim_io_bytes);
	PER_FS_SUMMARY("thinpack_shared_bytes",
		       "Clusters whose space the device shares with a snapshot (a "
		       "dm-thin pool's metadata): neither moved from nor into.",
		       f->summary.shared * f->granularity);

	pool_metrics(out, d);

	PER_FS_IF("thinpack_summary_timestamp_seconds", GAUGE,
		  "When the figures of what is left were counted (the scan "
		  "after the last pass).", "%.3f", double, f->summary.when,
		  f->summary.when);

	if (fclose(out) != 0)
		return -ENOMEM;
	r = write_file_atomic(path, buf, len, 0644);
	return r;
}

/* ---- both ----------------------------------------------------------------------------- */

/* Where node_exporter's textfile collector reads *.prom on Debian
 * (prometheus-node-exporter); THINPACK_TEXTFILE_DIR names another. */
#define TEXTFILE_DIR "/var/lib/prometheus/node-exporter"

/* metrics_file; by default thinpack.prom in the textfile collector's
 * directory when there is one, else in the runtime directory. */
static const char *metrics_path(const struct daemon *d, char **buf)
{
	const char *m = config_global(d->config)->s.metrics_file;
	const char *dir = getenv("THINPACK_TEXTFILE_DIR");
	struct stat st;

	if (m)
		return *m ? m : NULL;
	if (!dir || !*dir)
		dir = TEXTFILE_DIR;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		dir = d->runtime_dir;
	if (asprintf(buf, "%s/thinpack.prom", dir) < 0)
		return NULL;
	return *buf;
}

void publish(struct daemon *d, bool force, bool metrics)
{
	static double last;
	static bool warned_status, warned_metrics;
	double now = tp_monotonic();
	_cleanup_free_ char *line = NULL, *mbuf = NULL;
	int r;

	if (!force && !metrics && now - last < STATUS_PERIOD_S) {
		line = publish_status_line(d);
		notify_status(line, false);
		return;
	}
	last = now;
	r = status_write(d, d->status_path);
	if (r < 0 && !warned_status) {
		log_warning("cannot write %s: %s", d->status_path, strerror(-r));
		warned_status = true;
	}
	if (metrics) {
		const char *p = metrics_path(d, &mbuf);
		if (p && (r = metrics_write(d, p)) < 0 && !warned_metrics) {
			log_warning("cannot write %s: %s", p, strerror(-r));
			warned_metrics = true;
		}
	}
	line = publish_status_line(d);
	notify_status(line, force);
}
