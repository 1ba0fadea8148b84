// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

enum log_level log_level_cur = LOG_INFO;

static __thread void (*thread_sink)(const char *msg, void *arg);
static __thread void *thread_sink_arg;

void log_set_thread_sink(void (*fn)(const char *msg, void *arg), void *arg)
{
	thread_sink = fn;
	thread_sink_arg = arg;
}

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

const char *log_level_str(enum log_level level)
{
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "?";
	return level_names[level];
}

int log_set_level_str(const char *name)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(name, level_names[i])) {
			__atomic_store_n(&log_level_cur, (enum log_level)i, __ATOMIC_RELAXED);
			return 0;
		}
	}
	return -EINVAL;
}

void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, log_level_str(level));
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line, so lines from several threads do not interleave. */
	fprintf(stderr, "%s\n", line);
	if (thread_sink && level == LOG_ERROR)
		thread_sink(line + n, thread_sink_arg);
}

bool log_ratelimit(uint64_t *last_ms, uint32_t *held, uint32_t interval_ms, uint32_t *was_held)
{
	uint64_t last = __atomic_load_n(last_ms, __ATOMIC_RELAXED), now;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1; /* never 0 */
	if ((last && now - last < interval_ms) ||
	    !__atomic_compare_exchange_n(last_ms, &last, now, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED)) {
		__atomic_fetch_add(held, 1, __ATOMIC_RELAXED);
		return false;
	}
	*was_held = __atomic_exchange_n(held, 0, __ATOMIC_RELAXED);
	return true;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}
