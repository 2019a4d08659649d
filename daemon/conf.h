/* SPDX-License-Identifier: GPL-2.0-or-later */
/* thinpackd.conf: its sections, and which of them a filesystem gets. */
#ifndef TP_DAEMON_CONF_H
#define TP_DAEMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "keys.h"
#include "model.h"

enum section_kind {
	SECTION_GLOBAL, /* [global] */
	SECTION_ALL,    /* [*] */
	SECTION_PATH,   /* [/srv] */
	SECTION_UUID,   /* [UUID=...] */
};

struct section {
	enum section_kind kind;
	char *name;      /* as written in the brackets */
	char *match;     /* normalized mount point, or lower-case UUID */
	unsigned line;
	unsigned key_line[_KEY_MAX]; /* where each key was set; 0: not set */
	bool duplicate;  /* ignored: reported */
	bool unmounted_said; /* names no mounted filesystem: said once */
	struct settings s; /* resolved: own keys, then [global], then defaults */
};

struct config {
	char *path;
	bool implicit;   /* no file: [*] with the defaults */
	struct section *sections; /* [0] is [global], written or not */
	size_t n_sections;
};

/* Load path.  missing_ok: a file that does not exist is [*] with the
 * defaults.  -EINVAL after reporting errors, -errno when unreadable. */
int config_load(const char *path, bool missing_ok, const struct overrides *o,
		config_error_fn err, void *userdata, struct config **ret);
struct config *config_free(struct config *c);
const struct section *config_global(const struct config *c);
/* The section for a filesystem: by UUID, by mount point, then [*] (when
 * all is true: fstab does not opt it out).  NULL: not configured. */
const struct section *config_match(const struct config *c, const char *uuid,
				   const char *mountpoint, bool all);
/* s is [UUID=uuid] or [mountpoint] (not a duplicate). */
bool section_names(const struct section *s, const char *uuid, const char *mountpoint);
/* Print the configuration as thinpackd reads it. */
void config_print(const struct config *c, FILE *out);

#endif
