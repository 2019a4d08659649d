/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service manager's side: READY=1 once the configuration is read and
 * the filesystems found, STATUS= lines that say what happens, WATCHDOG=1
 * while alive (from the main loop and from between two moves),
 * RELOADING=1/READY=1 around a reload, STOPPING=1.  Without NOTIFY_SOCKET
 * sd_notify() does nothing.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "notify.h"
#include "clock.h"

static uint64_t watchdog_usec;
static double last_ping, last_status;
static char *status_sent;

void notify_setup(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0)
		watchdog_usec = usec;
}

uint64_t notify_watchdog_period_usec(void)
{
	return watchdog_usec / 2;
}

void notify_watchdog(void)
{
	double now = tp_monotonic();

	if (!watchdog_usec || now - last_ping < (double)watchdog_usec / 4e6)
		return;
	sd_notify(0, "WATCHDOG=1");
	last_ping = now;
}

static void remember(const char *status)
{
	free(status_sent);
	status_sent = status ? strdup(status) : NULL;
	last_status = tp_monotonic();
}

void notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "");
	remember(status);
}

void notify_reloading(const char *status)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* MONOTONIC_USEC= for Type=notify-reload (systemd 253 and later). */
	sd_notifyf(0, "RELOADING=1\nSTATUS=%s\nMONOTONIC_USEC=%llu", status,
		   (unsigned long long)ts.tv_sec * 1000000ULL +
			   (unsigned long long)ts.tv_nsec / 1000ULL);
	remember(status);
}

void notify_stopping(const char *status)
{
	sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
	free(status_sent);
	status_sent = NULL;
}

void notify_status(const char *status, bool force)
{
	if (!status)
		return;
	if (status_sent && strcmp(status, status_sent) == 0)
		return;
	if (!force && tp_monotonic() - last_status < 1.0)
		return;
	sd_notifyf(0, "STATUS=%s", status);
	remember(status);
}
