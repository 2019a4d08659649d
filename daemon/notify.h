/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The service manager's side (sd_notify): see notify.c. */
#ifndef TP_DAEMON_NOTIFY_H
#define TP_DAEMON_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

void notify_setup(void);
/* Every WATCHDOG_USEC / 2 at least: 0 when there is no watchdog. */
uint64_t notify_watchdog_period_usec(void);
void notify_watchdog(void);   /* WATCHDOG=1, when due */
void notify_ready(const char *status);
void notify_reloading(const char *status);
void notify_stopping(const char *status);
/* STATUS=, at most once a second unless force. */
void notify_status(const char *status, bool force);

#endif
