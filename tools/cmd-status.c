/* SPDX-License-Identifier: GPL-2.0-or-later */
/* thinpack status: what thinpackd is doing and has done, from the status
 * file it keeps in its runtime directory. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "thinpack.h"

#define DEFAULT_STATUS_FILE "/run/thinpack/status.json"

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v ? json_object_get_uint64(v) : 0;
}

static double get_double(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v ? json_object_get_double(v) : 0;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) :
							      NULL;
}

static const char *date(double t, char buf[static 32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0)
		return strcpy(buf, "never");
	localtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static void print_pass(const char *label, json_object *p, uint64_t granularity)
{
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX], c[TP_SIZE_STR_MAX], d[32];
	const char *result = get_str(p, "result"), *stop = get_str(p, "stop"),
		   *error = get_str(p, "error");
	double start = get_double(p, "start"), end = get_double(p, "end");
	uint64_t emptied = get_u64(p, "clusters_emptied");

	printf("  %-14s %s, %.1f s: %s%s%s", label, date(start, d),
	       end > start ? end - start : 0, result ? result : "?",
	       stop ? " by " : "", stop ? stop : "");
	if (error) {
		printf(": %s\n", error);
		return;
	}
	printf("; emptied %" PRIu64 " of %" PRIu64 " clusters (%s), moved %s, "
	       "trimmed %s", emptied, get_u64(p, "victims"),
	       tp_format_size(emptied * (get_u64(p, "granularity") ?
							get_u64(p, "granularity") : granularity),
			      a),
	       tp_format_size(get_u64(p, "moved_bytes"), b),
	       tp_format_size(get_u64(p, "trimmed_bytes"), c));
	if (get_double(p, "yield_seconds") >= 0.05)
		printf(", %.1f s yielding to I/O pressure", get_double(p, "yield_seconds"));
	printf("\n");
}

/* What the scan after the last pass counted, and the pool below. */
static void print_summary(json_object *sm, uint64_t granularity)
{
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX], c[TP_SIZE_STR_MAX], d[32];
	json_object *p = get(sm, "pool");

	if (!sm)
		return;
	printf("  %-14s %" PRIu64 " partial clusters (%" PRIu64 " pinned), %" PRIu64
	       " empty; trim returns %s now, compaction %s by moving %s (%s)\n",
	       "left", get_u64(sm, "partial"), get_u64(sm, "pinned"), get_u64(sm, "empty"),
	       tp_format_size(get_u64(sm, "trim_now_bytes"), a),
	       tp_format_size(get_u64(sm, "reclaimable_bytes"), b),
	       tp_format_size(get_u64(sm, "reclaim_io_bytes"), c),
	       date(get_double(sm, "time"), d));
	if (!p)
		return;
	uint64_t bs = get_u64(p, "block_size"), used = get_u64(p, "used_blocks"),
		 total = get_u64(p, "total_blocks");
	printf("  %-14s %s: %s of %s used (%" PRIu64 " %%), chunk %s", "pool",
	       get_str(p, "name") ? get_str(p, "name") : "?",
	       tp_format_size(used * bs, a), tp_format_size(total * bs, b),
	       total ? used * 100 / total : 0, tp_format_size(bs, c));
	if (get_u64(sm, "shared_clusters"))
		printf("; %s shared with snapshots",
		       tp_format_size(get_u64(sm, "shared_clusters") * granularity, a));
	static const char *const flags[] = { "out_of_data_space", "read_only",
					     "needs_check" };
	for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
		json_object *v = get(p, flags[i]);
		if (v && json_object_get_boolean(v))
			printf("; %s", flags[i]);
	}
	printf("\n");
}

static void print_fs(json_object *f)
{
	char a[TP_SIZE_STR_MAX], b[TP_SIZE_STR_MAX], c[32], d[32];
	json_object *s = get(f, "settings"), *t = get(f, "totals"),
		    *pass = get(f, "pass"), *last = get(f, "last_pass"),
		    *pl = get(s, "pressure_limit");
	const char *phase = get_str(f, "phase"), *problem = get_str(f, "problem");
	uint64_t gran = get_u64(f, "granularity");

	printf("%s (%s, UUID %s, section [%s])\n", get_str(f, "mountpoint"),
	       get_str(f, "device") ? get_str(f, "device") : "?",
	       get_str(f, "uuid") ? get_str(f, "uuid") : "unknown",
	       get_str(f, "section") ? get_str(f, "section") : "?");
	if (pass)
		printf("  %-14s %s, %s moved this pass\n", "now", phase ? phase : "?",
		       tp_format_size(get_u64(pass, "moved_bytes"), a));
	else if (problem && get_double(f, "next_pass") == 0)
		printf("  %-14s not compacted: %s\n", "now", problem);
	else
		printf("  %-14s idle, next pass %s\n", "now",
		       date(get_double(f, "next_pass"), c));
	if (problem && (pass || get_double(f, "next_pass") != 0))
		printf("  %-14s %s\n", "problem", problem);
	if (last)
		print_pass("last pass", last, gran);
	printf("  %-14s moved %s, %" PRIu64 " clusters emptied, trimmed %s in %"
	       PRIu64 " passes (%" PRIu64 " stopped, %" PRIu64 " failed), %.1f s "
	       "yielding\n", "in all", tp_format_size(get_u64(t, "moved_bytes"), a),
	       get_u64(t, "clusters_emptied"),
	       tp_format_size(get_u64(t, "trimmed_bytes"), b), get_u64(t, "passes"),
	       get_u64(t, "passes_stopped"), get_u64(t, "pass_errors"),
	       get_double(t, "yield_seconds"));
	print_summary(get(f, "summary"), gran);
	if (get_u64(f, "clusters_left_out"))
		printf("  %-14s %" PRIu64 " clusters that failed lately\n", "left out",
		       get_u64(f, "clusters_left_out"));
	printf("  %-14s interval %s, min_age %s, max_usage %" PRIu64 " %%, io_rate %s/s, "
	       "pass_budget %s, pressure_limit %s", "settings",
	       tp_format_duration(get_u64(s, "interval"), c), tp_format_duration(get_u64(s, "min_age"), d),
	       get_u64(s, "max_usage"), tp_format_size(get_u64(s, "io_rate"), a),
	       tp_format_duration(get_u64(s, "pass_budget"), (char[32]){ 0 }),
	       pl ? json_object_get_string(pl) : "?");
	if (gran)
		printf(", granularity %s (%s)", tp_format_size(gran, b),
		       get_str(f, "granularity_source") ? get_str(f, "granularity_source") :
							  "?");
	printf("\n");
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *file = DEFAULT_STATUS_FILE;
	bool json = false;
	json_object *root, *arr;
	char a[32];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jf:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			printf("Usage: %s status [--json] [--file FILE]\n"
			       "\nWhat thinpackd is doing and has done, per filesystem, "
			       "from its status\nfile (default %s).\n"
			       "Exit status: 0 thinpackd runs; 4 it does not.\n",
			       program_invocation_short_name, DEFAULT_STATUS_FILE);
			return TP_EXIT_OK;
		default:
			return TP_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_error("status: unexpected argument '%s'", argv[optind]);
		return TP_EXIT_USAGE;
	}
	root = json_object_from_file(file);
	if (!root) {
		if (access(file, F_OK) < 0)
			log_error("%s: no such file: thinpackd is not running", file);
		else
			log_error("%s: cannot read the status: %s", file,
				  json_util_get_last_err());
		return TP_EXIT_OPERATIONAL;
	}
	pid_t pid = (pid_t)get_u64(root, "pid");
	const char *state = get_str(root, "state");
	bool running = pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) &&
		       !(state && strcmp(state, "stopped") == 0);

	if (json) {
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
		return running ? TP_EXIT_OK : TP_EXIT_OPERATIONAL;
	}
	if (running)
		printf("thinpackd: running (pid %d) since %s, %s; configuration %s\n",
		       (int)pid, date(get_double(root, "started"), a),
		       state ? state : "?", get_str(root, "config"));
	else
		printf("thinpackd: not running (last status %s)\n",
		       date(get_double(root, "updated"), a));
	if (get_u64(root, "reload_failures"))
		printf("  %" PRIu64 " reloads refused: the configuration in use is the "
		       "one loaded %s\n", get_u64(root, "reload_failures"),
		       date(get_double(root, "config_loaded"), a));
	if (get_str(root, "status"))
		printf("  %s\n", get_str(root, "status"));
	arr = get(root, "filesystems");
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		printf("\n");
		print_fs(json_object_array_get_idx(arr, i));
	}
	json_object_put(root);
	return running ? TP_EXIT_OK : TP_EXIT_OPERATIONAL;
}
