/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON every command prints: {"filesystems": [...]}, via json-c. */

#include <stdio.h>

#include "thinpack.h"

void json_add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

void json_add_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

void json_add_bool(json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

void json_print_filesystems(json_object *filesystems)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "filesystems", filesystems);
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}
