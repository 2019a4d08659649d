/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What survives a restart, one JSON file per filesystem UUID in the state
 * directory ($STATE_DIRECTORY, or /var/lib/thinpack):
 *
 *   totals           the counters of the metrics (moved bytes, clusters
 *                    emptied, passes...), so that they only grow
 *   last_pass        when it ran, what it did, why it stopped: the next
 *                    pass is due an interval after it ended, at once when
 *                    a shutdown or a reload cut it short
 *   failed_clusters  clusters a pass chose and could not empty (a file in
 *                    use, changed, no room), with when: left out of the
 *                    passes for a while, so that the next pass goes on
 *                    with the others instead of failing on them again
 *
 * Where a pass stopped needs nothing more: each pass scans afresh, and
 * the emptiest clusters left are the ones it had not reached.
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "state.h"
#include "atomic.h"
#include "clock.h"
#include "json-add.h"
#include "basic/cleanup.h"
#include "basic/macros.h"

static char *state_path(const char *dir, const char *uuid)
{
	char *p;

	if (asprintf(&p, "%s/%s.json", dir, uuid) < 0)
		return NULL;
	return p;
}

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_uint64(v);
}

static double get_double(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_double(v);
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int enum_from(const char *s, const char *(*to_string)(int), int max)
{
	for (int i = 0; s && i <= max; i++)
		if (strcmp(s, to_string(i)) == 0)
			return i;
	return 0;
}

static const char *result_str(int r)
{
	return pass_result_to_string((enum pass_result)r);
}

/* The totals as JSON: one table for the state file and the status. */
static const struct {
	const char *name;
	size_t offset;
	bool real; /* a double, else a uint64_t */
} totals_fields[] = {
#define U(f) { #f, offsetof(struct totals, f), false }
	U(passes), U(passes_stopped), U(pass_errors), U(passes_skipped),
	U(moved_bytes), U(moves),
	U(clusters_emptied), U(trimmed_bytes), U(discarded_bytes),
	U(placement_attempts), U(placement_exact), U(placement_missed),
	U(placement_reservoir),
#undef U
	{ "pass_seconds", offsetof(struct totals, pass_s), true },
	{ "yield_seconds", offsetof(struct totals, yield_s), true },
};

json_object *totals_to_json(const struct totals *t)
{
	json_object *o = json_object_new_object(), *sk = json_object_new_object();

	if (!o || !sk) {
		json_object_put(o);
		json_object_put(sk);
		return NULL;
	}
	for (size_t i = 0; i < ELEMENTSOF(totals_fields); i++) {
		const void *v = (const char *)t + totals_fields[i].offset;
		if (totals_fields[i].real)
			add_double(o, totals_fields[i].name, *(const double *)v);
		else
			add_u64(o, totals_fields[i].name, *(const uint64_t *)v);
	}
	for (int i = 0; i < _TP_SKIP_MAX; i++)
		add_u64(sk, tp_skip_reason_to_string(i), t->skipped[i]);
	json_object_object_add(o, "skipped", sk);
	return o;
}

static void totals_from_json(json_object *o, struct totals *t)
{
	json_object *sk;

	*t = (struct totals){ 0 };
	for (size_t i = 0; i < ELEMENTSOF(totals_fields); i++) {
		void *v = (char *)t + totals_fields[i].offset;
		if (totals_fields[i].real)
			*(double *)v = get_double(o, totals_fields[i].name);
		else
			*(uint64_t *)v = get_u64(o, totals_fields[i].name);
	}
	if (o && json_object_object_get_ex(o, "skipped", &sk))
		for (int i = 0; i < _TP_SKIP_MAX; i++)
			t->skipped[i] = get_u64(sk, tp_skip_reason_to_string(i));
}

static const char *stop_str(int r)
{
	return stop_reason_to_string((enum stop_reason)r);
}

const char *state_strerror(int r)
{
	switch (r) {
	case -EISDIR:
		return "is a directory";
	case -EINVAL:
		return "is not a regular file";
	case -EBADMSG:
		return "is not a state file (not JSON)";
	}
	return strerror(-r);
}

/* A time read back from the file, never later than now: a date in the
 * future (the clock was set back, or the file was written by hand) would
 * keep a failed cluster out, or the next pass away, until then. */
static double not_after(double t, double now, bool *future)
{
	if (t <= now + 1)
		return t;
	*future = true;
	return now;
}

/* A missing file is a filesystem seen for the first time: *ret zeroed,
 * and 0.  One that cannot be read: *ret zeroed, and -errno to warn of
 * (state_strerror() says what is wrong with it).  ret_future: some of
 * its dates were in the future, and were taken as now. */
int state_load(const char *dir, const char *uuid, struct fs_state *ret,
	       bool *ret_future)
{
	_cleanup_free_ char *path = state_path(dir, uuid);
	json_object *root, *t, *l, *fc;
	struct fs_state st = { 0 };
	double now = tp_realtime();
	bool future = false;
	struct stat sb;

	*ret = st;
	*ret_future = false;
	if (!path)
		return -ENOMEM;
	/* stat(), not access(): access() drops the capabilities of a
	 * non-root user, and thinpackd.service runs as one. */
	if (stat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(sb.st_mode))
		return -EISDIR;
	if (!S_ISREG(sb.st_mode))
		return -EINVAL;
	root = json_object_from_file(path);
	if (!root)
		return -EBADMSG;
	if (!json_object_object_get_ex(root, "totals", &t))
		t = NULL;
	totals_from_json(t, &st.t);
	if (json_object_object_get_ex(root, "last_pass", &l)) {
		const char *e = get_string(l, "error");

		st.last = (struct pass_info){
			.start = not_after(get_double(l, "start"), now, &future),
			.end = not_after(get_double(l, "end"), now, &future),
			.result = enum_from(get_string(l, "result"), result_str, PASS_ERROR),
			.stop = enum_from(get_string(l, "stop"), stop_str, STOP_RELOAD),
			.moved_bytes = get_u64(l, "moved_bytes"),
			.moves = get_u64(l, "moves"),
			.victims = get_u64(l, "victims"),
			.clusters_emptied = get_u64(l, "clusters_emptied"),
			.victims_failed = get_u64(l, "victims_failed"),
			.trimmed_bytes = get_u64(l, "trimmed_bytes"),
			.granularity = get_u64(l, "granularity"),
			.yield_s = get_double(l, "yield_seconds"),
			.error = e ? strdup(e) : NULL,
		};
		if (st.last.result == PASS_RUNNING)
			/* It was running when thinpackd died. */
			st.last.result = PASS_STOPPED;
	}
	if (json_object_object_get_ex(root, "failed_clusters", &fc) &&
	    json_object_is_type(fc, json_type_array)) {
		size_t n = json_object_array_length(fc);

		st.failed = calloc(n ? n : 1, sizeof(*st.failed));
		if (!st.failed) {
			json_object_put(root);
			state_done(&st);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(fc, i);
			if (json_object_is_type(e, json_type_array) &&
			    json_object_array_length(e) == 2)
				st.failed[st.n_failed++] = (struct failed_cluster){
					json_object_get_uint64(json_object_array_get_idx(e, 0)),
					(int64_t)not_after((double)json_object_get_int64(
								   json_object_array_get_idx(e, 1)),
							   now, &future),
				};
		}
	}
	json_object_put(root);
	*ret = st;
	*ret_future = future;
	return 0;
}

int state_save(const char *dir, const char *uuid, const char *mountpoint,
	       const struct fs_state *st)
{
	_cleanup_free_ char *path = state_path(dir, uuid);
	json_object *root = json_object_new_object(), *t = totals_to_json(&st->t),
		    *l = json_object_new_object(), *fc = json_object_new_array();

	if (!path || !root || !t || !l || !fc) {
		json_object_put(root);
		json_object_put(t);
		json_object_put(l);
		json_object_put(fc);
		return -ENOMEM;
	}
	add_string(root, "uuid", uuid);
	add_string(root, "mountpoint", mountpoint);
	json_object_object_add(root, "totals", t);

	add_double(l, "start", st->last.start);
	add_double(l, "end", st->last.end);
	add_string(l, "result", pass_result_to_string(st->last.result));
	add_string(l, "stop", stop_reason_to_string(st->last.stop));
	add_u64(l, "moved_bytes", st->last.moved_bytes);
	add_u64(l, "moves", st->last.moves);
	add_u64(l, "victims", st->last.victims);
	add_u64(l, "clusters_emptied", st->last.clusters_emptied);
	add_u64(l, "victims_failed", st->last.victims_failed);
	add_u64(l, "trimmed_bytes", st->last.trimmed_bytes);
	add_u64(l, "granularity", st->last.granularity);
	add_double(l, "yield_seconds", st->last.yield_s);
	add_string(l, "error", st->last.error);
	json_object_object_add(root, "last_pass", l);

	for (size_t i = 0; i < st->n_failed; i++) {
		json_object *e = json_object_new_array();
		json_object_array_add(e, json_object_new_uint64(st->failed[i].cluster));
		json_object_array_add(e, json_object_new_int64(st->failed[i].since));
		json_object_array_add(fc, e);
	}
	json_object_object_add(root, "failed_clusters", fc);

	return write_json_atomic(path, root);
}
