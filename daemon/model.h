/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * thinpackd: the service that keeps thin pools compact.  It only
 * schedules -- which filesystem, when, how fast; tp_compact() does the
 * work.  The modules, each depending only on those above it:
 *
 *   clock.c      the clocks, and a time as the logs and STATUS= say it
 *   atomic.c     writing a file whole or not at all
 *   journal.c    the log (common/log.c) to the journal, with fields
 *   model.c      this header: the daemon, its filesystems, their passes
 *   keys.c       the settings' keys: one table for the file, the command
 *                line and --help
 *   conf.c       thinpackd.conf (inih): sections, matching a filesystem
 *   notify.c     sd_notify: READY, STATUS, WATCHDOG, RELOADING, STOPPING
 *   signals.c    SIGTERM, SIGINT, SIGHUP through a signalfd
 *   state.c      what survives a restart, per filesystem UUID
 *   publish.c    the STATUS= line, the status JSON, the Prometheus file
 *   pace.c       between two victims: signals, and the status and log of
 *                the throttles (I/O rate, pressure, budget: lib/throttle.c)
 *   scheduler.c  which filesystem when; a pass
 *   discover.c   the mount table against the configuration
 *   thinpackd.c  the command line and the main loop
 */
#ifndef TP_DAEMON_MODEL_H
#define TP_DAEMON_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "thinpack/thinpack.h"
#include "basic/macros.h"

/* Exit codes, as thinpack(8): 0 done what could be done, 1 the admin must
 * act (a filesystem named in the configuration cannot be compacted, moves
 * that failed with an I/O error), 4
 * operational error, 8 usage or configuration error, 16 a filesystem was
 * left to another runner that held it.  A pass that left clusters behind
 * (files in use, no room, the budget) is done: a timer must not fail. */
enum {
	TPD_EXIT_OK = 0,
	TPD_EXIT_ACTION = 1,
	TPD_EXIT_OPERATIONAL = 4,
	TPD_EXIT_CONFIG = 8,
	TPD_EXIT_BUSY = 16,
};

#define TPD_DEFAULT_CONFIG SYSCONFDIR "/thinpack/thinpackd.conf"
#define TPD_DEFAULT_RUNTIME_DIR "/run/thinpack"
#define TPD_DEFAULT_STATE_DIR "/var/lib/thinpack"

/* ---- settings: what a filesystem is compacted with (keys.c reads them) ---- */

struct placement_setting {
	enum tp_placement mode;
	long fallocate2_nr; /* -1: ask the kernel */
};

/* One key of the table each. */
struct settings {
	uint64_t interval;    /* seconds between two passes */
	uint64_t min_age;     /* seconds */
	unsigned max_usage;   /* percent */
	unsigned slack;       /* percent */
	unsigned pool_margin; /* percent of a thin pool's data kept free */
	uint64_t io_rate;     /* bytes moved per second; 0: no limit */
	uint64_t pass_budget; /* seconds; 0: no limit */
	double pressure_limit; /* percent of "some avg10"; < 0: off */
	uint64_t granularity; /* bytes; 0: the device's (sysfs) */
	struct placement_setting placement;
	bool trim;
	char *metrics_file;   /* [global] only; NULL: default, "": none */
};

void settings_done(struct settings *s);

/* ---- passes and what they add up to (state.c keeps them) ------------------- */

struct totals {
	uint64_t passes, passes_stopped, pass_errors;
	uint64_t passes_skipped; /* not started: another runner held it */
	uint64_t moved_bytes, moves, clusters_emptied;
	uint64_t trimmed_bytes, discarded_bytes;
	uint64_t placement_attempts, placement_exact, placement_missed;
	uint64_t placement_reservoir;
	uint64_t skipped[_TP_SKIP_MAX];
	double pass_s, yield_s;
};

enum pass_result {
	PASS_NONE,    /* no pass yet */
	PASS_RUNNING,
	PASS_DONE,    /* nothing left that this pass could do */
	PASS_STOPPED, /* by the time budget, a reload or a shutdown */
	PASS_ERROR,
};
const char *pass_result_to_string(enum pass_result r);

enum stop_reason {
	STOP_NONE,
	STOP_BUDGET,   /* pass_budget ran out */
	STOP_SHUTDOWN, /* SIGTERM, SIGINT */
	STOP_RELOAD,   /* SIGHUP */
};
const char *stop_reason_to_string(enum stop_reason r);

struct pass_info {
	double start, end; /* realtime seconds; end 0 while it runs */
	enum pass_result result;
	enum stop_reason stop;
	uint64_t moved_bytes, moves, victims, clusters_emptied, victims_failed;
	uint64_t trimmed_bytes;
	uint64_t io_errors;   /* moves skipped as io_error: not kept in the state */
	uint64_t granularity;
	double yield_s;
	char *error;
};

void pass_info_done(struct pass_info *p);

struct failed_cluster {
	uint64_t cluster; /* on the whole device */
	int64_t since;    /* realtime seconds */
};

struct fs_state {
	struct totals t;
	struct pass_info last;
	struct failed_cluster *failed;
	size_t n_failed;
};

void state_done(struct fs_state *st);

/* What the filesystem holds stranded, as `thinpack report` counts it
 * (tp_summarize()): a read-only scan after each pass, with the pass's
 * geometry and min_age.  Not kept in the state: none until the first pass
 * since thinpackd started (when 0). */
struct fs_summary {
	double when;      /* realtime seconds of the scan; 0: none */
	uint64_t total, empty, partial, full, pinned, eligible;
	uint64_t bound;   /* clusters compaction could empty */
	uint64_t trim_now_bytes;      /* empty and provisioned: trim returns */
	uint64_t reclaimable_bytes;   /* the bound, in bytes */
	uint64_t reclaim_io_bytes;    /* the least data moved for it */
	const char *prov_source;      /* tp_prov_source_to_string() */
	uint64_t shared;              /* clusters whose space a snapshot shares */
	/* the dm-thin pool below, when there is one (pool_name[0]) */
	char pool_name[128];          /* device-mapper names are shorter */
	uint64_t pool_block_size;     /* bytes */
	uint64_t pool_used_blocks, pool_total_blocks;
	uint64_t pool_used_metadata_blocks, pool_total_metadata_blocks;
	bool pool_out_of_data_space, pool_read_only, pool_needs_check;
};

/* ---- the filesystems --------------------------------------------------------- */

enum fs_phase {
	PHASE_IDLE,
	PHASE_WAITING,  /* for I/O pressure to fall before a pass */
	PHASE_SCAN,
	PHASE_PLAN,
	PHASE_MOVE,
	PHASE_YIELD,    /* pressure above the limit: no moves */
	PHASE_TRIM,
};
const char *fs_phase_to_string(enum fs_phase p);

struct fsent {
	char *mountpoint, *device, *uuid, *section;
	dev_t devno;
	struct settings s;
	bool present;     /* in the mount table now */
	bool blocked;     /* read-only, not ext4, no discard: no passes */
	char *problem;    /* why it is not compacted, or NULL */
	bool unsaved;     /* its state could not be saved: said once */
	double next_due;  /* realtime seconds */
	struct fs_state st;
	struct pass_info pass; /* in progress (result PASS_RUNNING) */
	enum fs_phase phase;
	uint64_t phase_done, phase_total;
	uint64_t granularity;  /* of the last pass */
	const char *granularity_source;
	size_t n_skipping;     /* failed clusters left out of passes now */
	double pressure;       /* last "some avg10" read; < 0: unknown */
	struct fs_summary summary; /* after the last pass */
	double skipped_at;     /* realtime of the last pass skipped; 0: none */
	char *skipped_why;     /* and why, or NULL */
};

struct fsent *fsent_free(struct fsent *f);
/* Why f is not compacted: logged when it differs from the reason before. */
void fsent_set_problem(struct fsent *f, int priority, const char *fmt, ...)
	_printf_(3, 4);
void fsent_clear_problem(struct fsent *f);

/* ---- the daemon ------------------------------------------------------------- */

struct config;    /* conf.h */
struct overrides; /* keys.h */

struct daemon {
	struct config *config;
	const char *config_path;
	bool config_explicit;
	const struct overrides *overrides;
	bool foreground, oneshot;
	char *state_dir, *runtime_dir, *status_path;

	struct fsent **fs;
	size_t n_fs;
	struct fsent *active; /* the one with a pass running */

	int signal_fd;
	int mountinfo_fd;
	bool stop, reload, mounts_changed;
	bool stopped;     /* the last status: it is exiting */
	double started;   /* realtime */
	double config_loaded;
	unsigned reloads, reload_failures;
	int exit_code;    /* --oneshot */
};

/* Free every filesystem of d. */
void daemon_free_fs(struct daemon *d);

#endif
