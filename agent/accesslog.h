/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The access log: one line per request in Istio's default text format (Envoy's
 * default with the fields Istio adds), written to standard output, standard
 * error or a file.
 *
 * Each worker formats its lines into a buffer of its own (struct alog) and
 * writes it once per batch of its event loop, or when it is full, never
 * waiting: standard output and standard error are written through a
 * non-blocking descriptor of their own when they are a pipe or a terminal
 * (a socket with MSG_DONTWAIT), a regular file through an O_APPEND one. What
 * cannot be written stays in the buffer for the next try; a line that finds
 * the buffer full is dropped and counted, and so is a write error: neither
 * stops the agent. Writes to a pipe hold whole lines and stay within
 * PIPE_BUF, so the lines of several workers never interleave.
 */
#ifndef SHUNT_ACCESSLOG_H
#define SHUNT_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct proxy_reqinfo;
struct alog;
struct alog_sink;

#define ALOG_BUF_SIZE (64 * 1024) /* a worker's buffer */
#define ALOG_LINE_MAX 8192	  /* a formatted line; the strings are cut well below it */

/*
 * Opens where the lines go: "-" or "/dev/stdout" is standard output,
 * "/dev/stderr" standard error, anything else a file, created (0644) or
 * appended to. Stores the sink in *@out; 0 or -errno.
 */
int alog_sink_open(const char *spec, struct alog_sink **out);
/* Closes the sink; every worker's struct alog must be freed first. NULL is fine. */
void alog_sink_close(struct alog_sink *s);

/* What the sink did, summed over the workers (read from any thread). */
struct alog_stats {
	uint64_t lines;	       /* written */
	uint64_t dropped;      /* lost: the worker's buffer was full, or a write failed */
	uint64_t write_errors; /* writes that failed (not counting "try again") */
};
void alog_sink_stats(const struct alog_sink *s, struct alog_stats *out);

/* A worker's buffer writing to @sink, flushed on @loop (its thread). 0 or -ENOMEM. */
int alog_new(struct alog_sink *sink, struct loop *loop, struct alog **out);
/* Writes what it can of the buffer without waiting, then frees it. NULL is fine. */
void alog_free(struct alog *a);

/* Appends the line of request @ri (the worker's thread). */
void alog_request(struct alog *a, const struct proxy_reqinfo *ri);

/*
 * The line of @ri, '\n' included and NUL-terminated, into @out (@len bytes,
 * ALOG_LINE_MAX is enough): Istio's default format, "-" for what is missing; quotes, backslashes
 * and control bytes in strings escaped. Returns its length, 0 when it does
 * not fit.
 */
size_t alog_format(const struct proxy_reqinfo *ri, char *out, size_t len);

#endif /* SHUNT_ACCESSLOG_H */
