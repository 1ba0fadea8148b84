/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Leveled logging to stderr. The level is checked before anything is formatted. */
#ifndef SHUNT_LOG_H
#define SHUNT_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_OFF = -1, /* nothing is written (shuntctl validate prints diagnostics itself) */
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/* Set at start-up, or at run time from the admin API (another thread): read it atomically. */
extern enum log_level log_level_cur;

static inline enum log_level log_level_get(void)
{
	return __atomic_load_n(&log_level_cur, __ATOMIC_RELAXED);
}

/* Sets the level; returns 0, or -EINVAL for a name that is not a level. */
int log_set_level_str(const char *name);
const char *log_level_str(enum log_level level);

/*
 * Hands every error line this thread logs from now on (without timestamp and
 * level) to @fn as well, until called with NULL: how a reload collects why a
 * config was refused.
 */
void log_set_thread_sink(void (*fn)(const char *msg, void *arg), void *arg);

/* Formats and writes one line with a timestamp and level. Use the macros. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(enum log_level level, const char *fmt, va_list ap);

#define log_at(lvl, ...)                                                                           \
	do {                                                                                       \
		if ((lvl) <= log_level_get())                                                      \
			log_write((lvl), __VA_ARGS__);                                             \
	} while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

/*
 * Whether a call site whose last line went out at *@last_ms (monotonic) may
 * write one now, at most one per @interval_ms: true, with the lines held back
 * since in *@was_held; false counts one more in *@held. Any thread.
 */
bool log_ratelimit(uint64_t *last_ms, uint32_t *held, uint32_t interval_ms, uint32_t *was_held);

/*
 * log_at() for faults that may repeat per request or per connection: at most
 * one line per @ms from this call site, saying how many it held back. @fmt
 * takes at least one argument.
 */
#define log_every(lvl, ms, fmt, ...)                                                               \
	do {                                                                                       \
		static uint64_t last_;                                                             \
		static uint32_t held_;                                                             \
		uint32_t n_;                                                                       \
		if ((lvl) <= log_level_cur && log_ratelimit(&last_, &held_, (ms), &n_)) {          \
			if (n_)                                                                    \
				log_write((lvl), fmt " (%u more like it since the last one)",      \
					  __VA_ARGS__, n_);                                        \
			else                                                                       \
				log_write((lvl), fmt, __VA_ARGS__);                                \
		}                                                                                  \
	} while (0)
#define LOG_EVERY_MS 10000 /* the interval of log_every() for faults on the request path */

#endif /* SHUNT_LOG_H */
