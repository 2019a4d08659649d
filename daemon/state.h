/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What survives a restart: the state file of each filesystem UUID (see
 * state.c), and the totals' JSON it shares with the status. */
#ifndef TP_DAEMON_STATE_H
#define TP_DAEMON_STATE_H

#include <stdbool.h>

#include <json-c/json.h>

#include "model.h"

int state_load(const char *dir, const char *uuid, struct fs_state *ret,
	       bool *ret_future);
/* What is wrong with a state file that state_load() or state_save()
 * refused. */
const char *state_strerror(int r);
int state_save(const char *dir, const char *uuid, const char *mountpoint,
	       const struct fs_state *st);
/* The totals as the state file and the status JSON carry them. */
struct json_object *totals_to_json(const struct totals *t);

#endif
