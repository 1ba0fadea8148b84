// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "loop.h"
#include "proxy.h"

#define RETRY_MS 20 /* a pipe that was full is tried again this much later */

enum sink_kind {
	SINK_FILE, /* a regular file (or anything written blocking): write() whole */
	SINK_PIPE, /* non-blocking pipe or terminal: whole lines, at most PIPE_BUF a write */
	SINK_SOCK, /* a socket (journald's stdout): send() with MSG_DONTWAIT */
};

struct alog_sink {
	int fd;
	enum sink_kind kind;
	uint64_t lines, dropped, write_errors; /* atomic: added once per flush, not per line */
};

struct alog {
	struct alog_sink *sink;
	struct loop *loop;
	char *buf;
	size_t len;
	bool flush_pending;	 /* a deferred flush is queued */
	struct loop_timer retry; /* a flush left bytes behind */
};

/* --- formatting ------------------------------------------------------------------- */

struct out {
	char *p, *end;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p, (size_t)(o->end - o->p), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= o->end - o->p)
		o->full = true;
	else
		o->p += n;
}

/* A string field: "-" when missing; '"', '\\' and control bytes escaped so a line stays one. */
static void put_str(struct out *o, const char *s)
{
	if (!s || !*s) {
		put(o, "-", 1);
		return;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			putf(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			putf(o, "\\x%02x", c);
		else
			put(o, s, 1);
	}
}

static void put_addr(struct out *o, const struct sockaddr_in *a)
{
	char ip[INET_ADDRSTRLEN];

	if (!a->sin_port) {
		put(o, "-", 1);
		return;
	}
	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	putf(o, "%s:%u", ip, ntohs(a->sin_port));
}

/* %START_TIME% as Envoy prints it by default: 2024-05-01T12:34:56.789Z. */
static void put_time(struct out *o, int64_t unix_us)
{
	time_t sec = (time_t)(unix_us / 1000000);
	struct tm tm;

	if (!unix_us || !gmtime_r(&sec, &tm)) {
		put(o, "-", 1);
		return;
	}
	putf(o, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	     tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_us % 1000000 / 1000));
}

size_t alog_format(const struct proxy_reqinfo *ri, char *buf, size_t len)
{
	struct out o = {buf, buf + len - 1, !len}; /* room for the NUL */
	char flags[PROXY_RF_STR_MAX];

	put(&o, "[", 1);
	put_time(&o, ri->start_unix_us);
	put(&o, "] \"", 3);
	put_str(&o, ri->str[PROXY_RQ_METHOD]);
	put(&o, " ", 1);
	put_str(&o, ri->str[PROXY_RQ_PATH]);
	put(&o, " ", 1);
	put_str(&o, ri->str[PROXY_RQ_PROTOCOL]);
	putf(&o, "\" %d %s ", ri->status, proxy_rflags_str(ri->flags, flags));
	put_str(&o, ri->details);
	/* %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%": no TLS upstream
	 */
	putf(&o, " - \"-\" %" PRIu64 " %" PRIu64 " %" PRIu64 " ", ri->body_in, ri->body_out,
	     ri->duration_us / 1000);
	if (ri->upstream_ms >= 0)
		putf(&o, "%" PRId64, ri->upstream_ms);
	else
		put(&o, "-", 1);
	for (int i = PROXY_RQ_XFF; i <= PROXY_RQ_AUTHORITY; i++) {
		put(&o, " \"", 2);
		put_str(&o, ri->str[i]);
		put(&o, "\"", 1);
	}
	put(&o, " \"", 2);
	put_addr(&o, &ri->ep);
	put(&o, "\" ", 2);
	put_str(&o, ri->str[PROXY_RQ_CLUSTER]);
	put(&o, " ", 1);
	put_addr(&o, &ri->up_local);
	put(&o, " ", 1);
	put_addr(&o, &ri->orig);
	put(&o, " ", 1);
	put_addr(&o, &ri->peer);
	put(&o, " ", 1);
	put_str(&o, ri->str[PROXY_RQ_SNI]);
	put(&o, " ", 1);
	put_str(&o, ri->str[PROXY_RQ_ROUTE]);
	put(&o, "\n", 1);
	if (o.full)
		return 0;
	*o.p = '\0';
	return (size_t)(o.p - buf);
}

/* --- the sink ---------------------------------------------------------------------- */

/*
 * A descriptor of our own for standard output or error (@std): a pipe or a
 * terminal is opened again, as a new open file description that can be made
 * non-blocking without touching the one the agent's own log shares; a regular
 * file is duplicated, so that both keep writing at one offset.
 */
static int open_std(int std, struct alog_sink *s)
{
	char path[32];
	struct stat st;

	if (fstat(std, &st))
		return -errno;
	s->kind = S_ISSOCK(st.st_mode) ? SINK_SOCK : SINK_FILE;
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", std);
		s->fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (s->fd >= 0) {
			s->kind = SINK_PIPE;
			return 0;
		}
	}
	s->fd = fcntl(std, F_DUPFD_CLOEXEC, 3);
	return s->fd < 0 ? -errno : 0;
}

static int open_path(const char *path, struct alog_sink *s)
{
	struct stat st;

	s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (s->fd < 0)
		return -errno;
	if (fstat(s->fd, &st)) {
		int err = -errno;

		close(s->fd);
		return err;
	}
	s->kind = S_ISREG(st.st_mode) ? SINK_FILE : SINK_PIPE;
	return 0;
}

int alog_sink_open(const char *spec, struct alog_sink **out)
{
	struct alog_sink *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	if (!strcmp(spec, "-") || !strcmp(spec, "/dev/stdout"))
		err = open_std(STDOUT_FILENO, s);
	else if (!strcmp(spec, "/dev/stderr"))
		err = open_std(STDERR_FILENO, s);
	else
		err = open_path(spec, s);
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

void alog_sink_close(struct alog_sink *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

void alog_sink_stats(const struct alog_sink *s, struct alog_stats *out)
{
	out->lines = __atomic_load_n(&s->lines, __ATOMIC_RELAXED);
	out->dropped = __atomic_load_n(&s->dropped, __ATOMIC_RELAXED);
	out->write_errors = __atomic_load_n(&s->write_errors, __ATOMIC_RELAXED);
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

/* One write of what @a holds: bytes written, 0 when it would block, -errno on error. */
static ssize_t write_once(struct alog *a)
{
	size_t n = a->len;
	ssize_t w;

	if (a->sink->kind == SINK_PIPE && n > PIPE_BUF) {
		/* the last whole line within PIPE_BUF: a write that size is atomic */
		const char *nl = memrchr(a->buf, '\n', PIPE_BUF);

		n = nl ? (size_t)(nl - a->buf) + 1 : PIPE_BUF;
	}
	do {
		w = a->sink->kind == SINK_SOCK
			    ? send(a->sink->fd, a->buf, n, MSG_DONTWAIT | MSG_NOSIGNAL)
			    : write(a->sink->fd, a->buf, n);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return errno == EAGAIN ? 0 : -errno;
	return w;
}

static void on_retry(struct loop *loop, struct loop_timer *t, void *arg);

/* Writes the buffer until it is empty or the sink takes no more; never waits. */
static void flush(struct alog *a)
{
	uint64_t lines = 0;

	while (a->len) {
		ssize_t w = write_once(a);

		if (w < 0) {
			/* a sink that fails (disk full, reader gone) loses what it was given */
			__atomic_fetch_add(&a->sink->write_errors, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&a->sink->dropped, count_lines(a->buf, a->len),
					   __ATOMIC_RELAXED);
			a->len = 0;
			break;
		}
		if (!w) {
			if (!loop_timer_armed(&a->retry))
				(void)loop_timer_arm(a->loop, &a->retry, RETRY_MS, on_retry, a);
			break;
		}
		lines += count_lines(a->buf, (size_t)w);
		memmove(a->buf, a->buf + w, a->len - (size_t)w);
		a->len -= (size_t)w;
	}
	if (lines)
		__atomic_fetch_add(&a->sink->lines, lines, __ATOMIC_RELAXED);
}

static void on_retry(struct loop *loop, struct loop_timer *t, void *arg)
{
	flush(arg);
}

static void on_batch_end(void *arg)
{
	struct alog *a = arg;

	a->flush_pending = false;
	flush(a);
}

int alog_new(struct alog_sink *sink, struct loop *loop, struct alog **out)
{
	struct alog *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->buf = malloc(ALOG_BUF_SIZE);
	if (!a->buf) {
		free(a);
		return -ENOMEM;
	}
	a->sink = sink;
	a->loop = loop;
	*out = a;
	return 0;
}

void alog_free(struct alog *a)
{
	if (!a)
		return;
	flush(a);
	if (a->len)
		__atomic_fetch_add(&a->sink->dropped, count_lines(a->buf, a->len),
				   __ATOMIC_RELAXED);
	loop_timer_cancel(a->loop, &a->retry);
	loop_defer_cancel(a->loop, on_batch_end, a);
	free(a->buf);
	free(a);
}

void alog_request(struct alog *a, const struct proxy_reqinfo *ri)
{
	char line[ALOG_LINE_MAX];
	size_t n = alog_format(ri, line, sizeof(line));

	if (n && ALOG_BUF_SIZE - a->len < n)
		flush(a); /* full: write now, without waiting, to make room */
	if (!n || ALOG_BUF_SIZE - a->len < n) {
		__atomic_fetch_add(&a->sink->dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	memcpy(a->buf + a->len, line, n);
	a->len += n;
	if (!a->flush_pending && !loop_defer(a->loop, on_batch_end, a))
		a->flush_pending = true;
}
