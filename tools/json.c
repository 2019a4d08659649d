/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON every command prints: {"filesystems": [...]}, via json-c. */

#include <stdio.h>
#include <string.h>

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

/* The member json_print_filesystem_array() fills: a string no JSON of
 * ours otherwise holds in this place, its last member. */
#define ARRAY_MARK "\"thinpack:array-printed-here\""

void json_print_filesystem_array(json_object *fs, const char *key, size_t n,
				 json_object *(*item)(size_t i, void *userdata),
				 void *userdata)
{
	json_object *root = json_object_new_object(), *arr = json_object_new_array();
	const char *s, *mark = NULL;

	json_object_object_add(fs, key, json_object_new_string("thinpack:array-printed-here"));
	json_object_array_add(arr, fs);
	json_object_object_add(root, "filesystems", arr);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						 JSON_C_TO_STRING_NOSLASHESCAPE);
	/* the last one: fs's last member, whatever its other strings hold */
	for (const char *p = s; (p = strstr(p, ARRAY_MARK)); p++)
		mark = p;
	if (!mark) { /* cannot be: print the document without the items */
		puts(s);
		json_object_put(root);
		return;
	}
	fwrite(s, 1, (size_t)(mark - s), stdout);
	fputs("[", stdout);
	for (size_t i = 0; i < n; i++) {
		json_object *it = item(i, userdata);
		printf("%s\n        %s", i ? "," : "",
		       json_object_to_json_string_ext(it, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(it);
	}
	fputs(n ? "\n      ]" : "]", stdout);
	puts(mark + strlen(ARRAY_MARK));
	json_object_put(root);
}
