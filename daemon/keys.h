/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The keys of the settings (struct settings, model.h): one table for
 * thinpackd.conf, the command line, --check-config and --help. */
#ifndef TP_DAEMON_KEYS_H
#define TP_DAEMON_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "model.h"

enum key_id {
	KEY_INTERVAL,
	KEY_MIN_AGE,
	KEY_MAX_USAGE,
	KEY_SLACK,
	KEY_POOL_MARGIN,
	KEY_IO_RATE,
	KEY_PASS_BUDGET,
	KEY_PRESSURE_LIMIT,
	KEY_GRANULARITY,
	KEY_PLACEMENT,
	KEY_TRIM,
	KEY_METRICS_FILE,
	_KEY_MAX,
};

/* Errors are "FILE:LINE: key: what is wrong" (or "--key: what is wrong"),
 * one line each, passed to the caller's function. */
typedef void (*config_error_fn)(const char *line, void *userdata);

/* The key of that name, or -ENOENT. */
int key_from_name(const char *name);
const char *key_name(enum key_id id);
/* Allowed in [global] only. */
bool key_global_only(enum key_id id);
/* Parse v into s.  NULL, or what is wrong (static or in buf). */
const char *key_parse(enum key_id id, const char *v, struct settings *s,
		      char *buf, size_t bufsz);
/* Copy the key's value from src to dst. */
int key_copy(enum key_id id, struct settings *dst, const struct settings *src);
/* The value as the file would have it. */
void key_print(enum key_id id, const struct settings *s, FILE *out);

/* Every key's default. */
void settings_defaults(struct settings *s);
int settings_copy(struct settings *dst, const struct settings *src);
bool settings_equal(const struct settings *a, const struct settings *b);

/* Formatting of values, shared with status and logs. */
const char *format_pressure(double p, char buf[static 32]);

/* ---- the command line: --interval 1h and so on, from the same table ---- */

/* Values given on the command line: they win over every section. */
struct overrides {
	unsigned set[_KEY_MAX]; /* non-zero: given */
	struct settings s;
};

struct option;
size_t keys_long_options(struct option *opts, size_t max, int first_val);
int overrides_set(struct overrides *o, int val, int first_val, const char *arg,
		  config_error_fn err, void *userdata);
void overrides_done(struct overrides *o);
/* The keys as options, for --help. */
void keys_print_help(FILE *out);

#endif
