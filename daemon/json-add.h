/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Members of the JSON that thinpackd writes (state files, status). */
#pragma once

#include <stdint.h>

#include <json-c/json.h>

static inline void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static inline void add_double(json_object *o, const char *key, double v)
{
	json_object_object_add(o, key, json_object_new_double(v));
}

/* A NULL string is a JSON null. */
static inline void add_string(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}
