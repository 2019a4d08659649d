/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon, its filesystems and their passes: the enums' names, and
 * freeing what they own. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "journal.h"

const char *pass_result_to_string(enum pass_result r)
{
	switch (r) {
	case PASS_NONE:
		return "none";
	case PASS_RUNNING:
		return "running";
	case PASS_DONE:
		return "done";
	case PASS_STOPPED:
		return "stopped";
	case PASS_ERROR:
		return "error";
	}
	return "unknown";
}

const char *stop_reason_to_string(enum stop_reason r)
{
	switch (r) {
	case STOP_NONE:
		return "none";
	case STOP_BUDGET:
		return "budget";
	case STOP_SHUTDOWN:
		return "shutdown";
	case STOP_RELOAD:
		return "reload";
	}
	return "unknown";
}

const char *fs_phase_to_string(enum fs_phase p)
{
	switch (p) {
	case PHASE_IDLE:
		return "idle";
	case PHASE_WAITING:
		return "waiting";
	case PHASE_SCAN:
		return "scanning";
	case PHASE_PLAN:
		return "planning";
	case PHASE_MOVE:
		return "moving";
	case PHASE_YIELD:
		return "yielding";
	case PHASE_TRIM:
		return "trimming";
	}
	return "unknown";
}

void settings_done(struct settings *s)
{
	free(s->metrics_file);
	s->metrics_file = NULL;
}

void pass_info_done(struct pass_info *p)
{
	free(p->error);
	p->error = NULL;
}

void state_done(struct fs_state *st)
{
	pass_info_done(&st->last);
	free(st->failed);
	*st = (struct fs_state){ 0 };
}

struct fsent *fsent_free(struct fsent *f)
{
	if (!f)
		return NULL;
	free(f->mountpoint);
	free(f->device);
	free(f->uuid);
	free(f->section);
	free(f->problem);
	free(f->skipped_why);
	settings_done(&f->s);
	state_done(&f->st);
	pass_info_done(&f->pass);
	free(f);
	return NULL;
}

void fsent_set_problem(struct fsent *f, int priority, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return;
	if (!f->problem || strcmp(f->problem, msg) != 0)
		log_fs(priority, f->mountpoint, f->uuid, UINT64_MAX, UINT64_MAX,
		       "%s: %s", f->mountpoint, msg);
	free(f->problem);
	f->problem = msg;
}

void fsent_clear_problem(struct fsent *f)
{
	free(f->problem);
	f->problem = NULL;
}

void daemon_free_fs(struct daemon *d)
{
	for (size_t i = 0; i < d->n_fs; i++)
		fsent_free(d->fs[i]);
	free(d->fs);
	d->fs = NULL;
	d->n_fs = 0;
}
