// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-echo: the project's HTTP/1.1 test backend.
 *
 *   shunt-echo --listen IP:PORT --name NAME [--version V] [--log-requests]
 *              [--call HOST:PORT]
 *
 * One epoll loop, non-blocking sockets, keep-alive, pipelining. Requests are
 * parsed with llhttp one at a time: the parser pauses after each request, its
 * response is queued, and the next pipelined request is only parsed while the
 * queued output is small, so a slow reader costs a bounded amount of memory.
 * Large bodies are generated while they are sent, never held in memory.
 *
 * Every response carries x-shunt-pod, x-shunt-version, x-shunt-peer (the
 * address this server saw the request come from) and Content-Length (or
 * Transfer-Encoding: chunked). Every answer to a parsed request also says
 * what arrived, so that a test can check what a proxy forwarded:
 * x-shunt-path (the request-target as received) and, per request header,
 * x-shunt-req-<name lowercased>: <value> (headers whose name is longer than
 * REQ_NAME_MAX or value longer than REQ_VALUE_MAX are left out, and so is
 * whatever comes after ECHO_MAX bytes of them). Routes:
 *   any request with a body  "NAME VERSION received=<bytes> sum=<sum>\n"
 *                            (sum: the body's bytes added up modulo 2^32)
 *   /bytes/N                 N bytes of body_pattern (N <= 64 MiB)
 *   /chunked/N               the same bytes, chunked, in several chunks
 *   /status/CODE             that status (200..599), body "NAME VERSION\n"
 *   /fail-on/POD/CODE        status CODE (200..599) if this server's --name is POD,
 *                            else 200; body "NAME VERSION\n" (one pod of a set fails)
 *   /delay/MS                200, body "NAME VERSION\n", sent MS milliseconds
 *                            (<= DELAY_MAX_MS) after the request arrived; other
 *                            connections are served meanwhile, and requests
 *                            pipelined behind it wait their turn
 *   anything else            200, body "NAME VERSION\n"
 * HEAD answers the same headers without a body. "Expect: 100-continue" on a
 * request with a body gets "100 Continue" first. SIGTERM/SIGINT exit 0.
 *
 * --call HOST:PORT makes it an app that calls another service, like the
 * seed tutorial's helloweb calling greeter-service: each request without a
 * body is first sent upstream (GET, the same path, Host: HOST, the client's
 * User-Agent), HOST resolved with getaddrinfo() each time; the answer says
 * "x-shunt-upstream: POD" (the upstream's x-shunt-pod, or "error" / the
 * status when it failed). The call blocks the loop (at most 3 s): a test
 * app, not a server to load.
 *
 * --log-requests prints one line per request on stdout, for a test that
 * wants to know which requests a backend saw even when it did not get the
 * response (mirrored traffic):
 *   request method=<M> path=<request-target> host=<Host or -> case=<x-shunt-case or ->
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#define READ_BUF_SIZE	(64 * 1024)   /* one shared read buffer for the whole loop */
#define READ_BUDGET	(256 * 1024)  /* bytes read per connection per event */
#define WRITE_BUDGET	(1024 * 1024) /* bytes written per connection per event */
#define OUT_HIGH_WATER	(64 * 1024)   /* stop parsing pipelined requests above this */
#define INLINE_BODY_MAX (16 * 1024)   /* bodies up to this size are copied into the output */
#define CHUNK_SIZE	(16 * 1024)   /* largest generated chunk or write of the pattern */
#define BODY_MAX	(64u * 1024 * 1024)
#define URL_MAX		2048
#define REQ_NAME_MAX	64   /* longest request header name echoed as x-shunt-req-* */
#define REQ_VALUE_MAX	1024 /* longest request header value echoed */
#define ECHO_MAX	4096 /* x-shunt-req-* bytes per response at most */
#define LOG_VALUE_MAX	256  /* Host and x-shunt-case as --log-requests prints them */
#define MAX_EVENTS	256
#define ACCEPT_BUDGET	64
#define DELAY_MAX_MS	30000 /* longest /delay/MS */

/* Generated bodies repeat these 64 bytes; byte i of a body is body_pattern[i % 64]. */
static const char body_pattern[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/";
#define PATTERN_PERIOD 64
static char pattern_buf[CHUNK_SIZE + PATTERN_PERIOD];

/* A byte buffer: data[off, len) is pending. All-zero means "no buffer". */
struct buf {
	char *data;
	size_t off;
	size_t len;
	size_t cap;
};

/* A body produced while it is sent (/bytes/N and /chunked/N above INLINE_BODY_MAX). */
struct body_gen {
	uint64_t left; /* bytes of body still to produce */
	uint64_t pos;  /* bytes already produced, selects the pattern phase */
	size_t chunk;  /* chunk size, so that even a small body comes in several chunks */
	bool chunked;  /* frame as chunks and end with the last-chunk */
	bool active;   /* something (maybe only the last-chunk) is left */
};

enum conn_state {
	CONN_OPEN,     /* reading requests and answering them */
	CONN_DRAINING, /* the last response is queued; close once it is sent */
	CONN_DEAD,     /* on the reap list; freed after this round of events */
};

#define CONN_F_PEER_EOF (1u << 0) /* the peer shut down its sending side */

/* The request being parsed. */
struct request {
	char url[URL_MAX];
	size_t url_len;
	bool url_truncated;
	uint64_t body_bytes;
	uint32_t body_sum;
	char field[REQ_NAME_MAX]; /* the header name being read (field_len counts past the end) */
	size_t field_len;
	char value[REQ_VALUE_MAX]; /* its value (value_len counts past the end) */
	size_t value_len;
	bool expect_continue; /* "Expect: 100-continue" seen */
	char echo[ECHO_MAX];  /* "x-shunt-req-<name>: <value>\r\n" lines for the response */
	size_t echo_len;
	char host[LOG_VALUE_MAX];    /* Host, for --log-requests ("" when absent or too long) */
	char case_id[LOG_VALUE_MAX]; /* x-shunt-case, for --log-requests */
	char ua[LOG_VALUE_MAX];	     /* User-Agent, for --call */
};

struct server;

struct conn {
	struct server *srv;
	int fd;
	enum conn_state state;
	unsigned flags;	 /* CONN_F_* */
	uint32_t events; /* epoll interest currently registered */
	llhttp_t parser;
	struct request req;
	struct buf in;	     /* read but not yet parsed (only while the parser is paused) */
	struct buf out;	     /* response bytes ready to send */
	struct body_gen gen; /* the tail of the current response, after out */
	char peer[INET6_ADDRSTRLEN + 8];
	struct conn *prev, *next; /* all connections */
	struct conn *reap_next;
	uint64_t hold_until; /* /delay: c->out waits until then (monotonic ms); 0: not held */
};

struct server {
	const char *name;
	const char *version;
	int epfd;
	int listen_fd;
	int sig_fd;
	bool stop;
	llhttp_settings_t settings;
	struct conn *conns;
	struct conn *reap;
	unsigned held; /* connections whose response is held (hold_until set) */
	char rbuf[READ_BUF_SIZE];
};

/* Markers for the two non-connection descriptors in epoll's data.ptr. */
static char tag_listen, tag_signal;
static bool verbose;
static bool log_requests;

static const char *conn_state_str(enum conn_state s)
{
	switch (s) {
	case CONN_OPEN:
		return "open";
	case CONN_DRAINING:
		return "draining";
	case CONN_DEAD:
		return "dead";
	}
	return "?";
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("shunt-echo: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more <= b->cap)
		return 0;
	if (b->off) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return -ENOMEM;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int i = 0; i < 2; i++) {
		va_start(ap, fmt);
		n = vsnprintf(b->data ? b->data + b->len : NULL, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return 0;
		}
		if (buf_reserve(b, (size_t)n + 1))
			return -ENOMEM;
	}
	return -EINVAL;
}

static size_t buf_pending(const struct buf *b)
{
	return b->len - b->off;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Copies @n pattern bytes starting at body position @pos to @dst. */
static void pattern_copy(char *dst, uint64_t pos, size_t n)
{
	while (n) {
		size_t k = n < CHUNK_SIZE ? n : CHUNK_SIZE;

		memcpy(dst, pattern_buf + pos % PATTERN_PERIOD, k);
		dst += k;
		pos += k;
		n -= k;
	}
}

static const char *status_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	}
	return code < 300   ? "Success"
	       : code < 400 ? "Redirection"
	       : code < 500 ? "Client Error"
			    : "Server Error";
}

/* Parses the decimal number that is the whole of @s into @out, at most @max. */
static bool parse_num(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* What the request asks for, decided from its method, path and body. */
struct route {
	int status;
	bool bad;	 /* the request cannot be answered as asked: close after the reply */
	bool body_reply; /* the request had a body: answer received=/sum= */
	bool pattern;	 /* answer pattern_len bytes of the pattern */
	bool chunked;	 /* ... as chunks */
	uint64_t pattern_len;
	uint32_t delay_ms; /* hold the response this long (/delay/MS) */
};

static struct route route_request(struct conn *c)
{
	struct request *r = &c->req;
	struct route rt = {.status = 200};
	uint8_t method = llhttp_get_method(&c->parser);
	char path[URL_MAX];
	uint64_t v;
	char *q;

	if (r->url_truncated)
		return (struct route){.status = 414, .bad = true};
	memcpy(path, r->url, r->url_len);
	path[r->url_len] = '\0';
	q = strpbrk(path, "?#");
	if (q)
		*q = '\0';

	rt.body_reply = (c->parser.flags & F_CHUNKED) || r->body_bytes > 0 || method == HTTP_POST ||
			method == HTTP_PUT || method == HTTP_PATCH;
	if (!strncmp(path, "/status/", 8)) {
		if (!parse_num(path + 8, 599, &v) || v < 200)
			return (struct route){.status = 400, .bad = true};
		rt.status = (int)v;
	} else if (!rt.body_reply && !strncmp(path, "/bytes/", 7)) {
		if (!parse_num(path + 7, BODY_MAX, &v))
			return (struct route){.status = 400, .bad = true};
		rt.pattern = true;
		rt.pattern_len = v;
	} else if (!rt.body_reply && !strncmp(path, "/chunked/", 9)) {
		if (!parse_num(path + 9, BODY_MAX, &v))
			return (struct route){.status = 400, .bad = true};
		rt.pattern = true;
		rt.chunked = true;
		rt.pattern_len = v;
	} else if (!strncmp(path, "/fail-on/", 9)) {
		const char *pod = path + 9;
		char *slash = strrchr(pod, '/');

		if (!slash || slash == pod || !parse_num(slash + 1, 599, &v) || v < 200)
			return (struct route){.status = 400, .bad = true};
		*slash = '\0';
		if (!strcmp(pod, c->srv->name))
			rt.status = (int)v;
	} else if (!strncmp(path, "/delay/", 7)) {
		if (!parse_num(path + 7, DELAY_MAX_MS, &v))
			return (struct route){.status = 400, .bad = true};
		rt.delay_ms = (uint32_t)v;
	}
	return rt;
}

/* CLOCK_MONOTONIC in milliseconds. */
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Queues the response to the request just parsed. Large pattern bodies go to
 * c->gen and are produced while they are sent. Returns 0 or -ENOMEM.
 */
static const char *call_target; /* --call HOST:PORT */

/*
 * --call: GET @path from call_target with @ua, blocking (3 s at most); the
 * upstream's x-shunt-pod into @pod ("error" when the call failed, "status=N"
 * when it answered something else than 2xx).
 */
static void call_upstream(const char *path, size_t path_len, const char *ua, char *pod,
			  size_t pod_len)
{
	char host[256], req[1024], rsp[4096];
	const char *colon = strrchr(call_target, ':');
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct timeval tv = {.tv_sec = 3};
	size_t got = 0;
	int fd = -1, n, status = 0;
	char *h;

	snprintf(pod, pod_len, "error");
	if (!colon || (size_t)(colon - call_target) >= sizeof(host))
		return;
	memcpy(host, call_target, (size_t)(colon - call_target));
	host[colon - call_target] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) || !ai)
		return;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen))
		goto out;
	n = snprintf(req, sizeof(req),
		     "GET %.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n",
		     (int)path_len, path, call_target, *ua ? ua : "shunt-echo");
	if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n)
		goto out;
	while (got < sizeof(rsp) - 1 && (n = (int)read(fd, rsp + got, sizeof(rsp) - 1 - got)) > 0)
		got += (size_t)n;
	rsp[got] = '\0';
	if (sscanf(rsp, "HTTP/1.%*d %d", &status) != 1)
		goto out;
	h = strcasestr(rsp, "\r\nx-shunt-pod: ");
	if (status < 200 || status > 299 || !h)
		snprintf(pod, pod_len, "status=%d", status);
	else
		snprintf(pod, pod_len, "%.*s", (int)strcspn(h + 15, "\r\n"), h + 15);
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
}

static int conn_respond(struct conn *c, bool keep_alive)
{
	struct server *srv = c->srv;
	struct route rt = route_request(c);
	bool head = llhttp_get_method(&c->parser) == HTTP_HEAD;
	bool http10 = llhttp_get_http_major(&c->parser) == 1 && !llhttp_get_http_minor(&c->parser);
	bool no_body = rt.status == 204 || rt.status == 304;
	char text[512];
	size_t text_len;
	int err;

	if (rt.bad)
		keep_alive = false;
	if (rt.delay_ms) {
		/* queued now, sent by server_release() once the time is up */
		c->hold_until = now_ms() + rt.delay_ms;
		srv->held++;
	}
	if (rt.chunked && http10)
		rt.chunked = false; /* HTTP/1.0 has no chunked coding: use Content-Length */
	if (rt.body_reply)
		text_len = (size_t)snprintf(text, sizeof(text),
					    "%s %s received=%" PRIu64 " sum=%u\n", srv->name,
					    srv->version, c->req.body_bytes, c->req.body_sum);
	else
		text_len = (size_t)snprintf(text, sizeof(text), "%s %s\n", srv->name, srv->version);
	if (text_len >= sizeof(text))
		text_len = sizeof(text) - 1;

	err = buf_printf(&c->out,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: text/plain\r\n"
			 "x-shunt-pod: %s\r\n"
			 "x-shunt-version: %s\r\n"
			 "x-shunt-peer: %s\r\n",
			 rt.status, status_reason(rt.status), srv->name, srv->version, c->peer);
	if (!err && !c->req.url_truncated)
		err = buf_printf(&c->out, "x-shunt-path: %.*s\r\n", (int)c->req.url_len,
				 c->req.url);
	if (!err && call_target && !rt.body_reply && !c->req.url_truncated) {
		char up[128];

		call_upstream(c->req.url, c->req.url_len, c->req.ua, up, sizeof(up));
		err = buf_printf(&c->out, "x-shunt-upstream: %s\r\n", up);
	}
	if (!err)
		err = buf_append(&c->out, c->req.echo, c->req.echo_len);
	if (!err && !no_body) {
		if (rt.chunked)
			err = buf_printf(&c->out, "Transfer-Encoding: chunked\r\n");
		else
			err = buf_printf(&c->out, "Content-Length: %" PRIu64 "\r\n",
					 rt.pattern ? rt.pattern_len : (uint64_t)text_len);
	}
	if (!err && !keep_alive)
		err = buf_printf(&c->out, "Connection: close\r\n");
	else if (!err && http10)
		err = buf_printf(&c->out, "Connection: keep-alive\r\n");
	if (!err)
		err = buf_append(&c->out, "\r\n", 2);
	if (err || head || no_body)
		return err;

	if (!rt.pattern)
		return buf_append(&c->out, text, text_len);
	if (rt.pattern_len <= INLINE_BODY_MAX && !rt.chunked) {
		err = buf_reserve(&c->out, rt.pattern_len);
		if (!err) {
			pattern_copy(c->out.data + c->out.len, 0, rt.pattern_len);
			c->out.len += rt.pattern_len;
		}
		return err;
	}
	c->gen = (struct body_gen){.left = rt.pattern_len, .chunked = rt.chunked, .active = true};
	c->gen.chunk = CHUNK_SIZE;
	if (rt.chunked && rt.pattern_len / 4 < CHUNK_SIZE)
		c->gen.chunk = rt.pattern_len >= 4 ? (size_t)(rt.pattern_len / 4) : 1;
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct conn *c = p->data;

	c->req.url_len = 0;
	c->req.url_truncated = false;
	c->req.body_bytes = 0;
	c->req.body_sum = 0;
	c->req.field_len = 0;
	c->req.value_len = 0;
	c->req.expect_continue = false;
	c->req.echo_len = 0;
	c->req.host[0] = '\0';
	c->req.case_id[0] = '\0';
	c->req.ua[0] = '\0';
	return 0;
}

/* Appends @len bytes to a small buffer; past its size it only counts them. */
static void small_append(char *buf, size_t size, size_t *used, const char *at, size_t len)
{
	if (*used + len <= size)
		memcpy(buf + *used, at, len);
	*used += len;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct request *r = &((struct conn *)p->data)->req;

	small_append(r->field, sizeof(r->field), &r->field_len, at, len);
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct request *r = &((struct conn *)p->data)->req;

	small_append(r->value, sizeof(r->value), &r->value_len, at, len);
	return 0;
}

/* Copies a header value for --log-requests if it fits, else leaves "". */
static void keep_value(char *dst, size_t size, const struct request *r)
{
	if (r->value_len >= size)
		return;
	memcpy(dst, r->value, r->value_len);
	dst[r->value_len] = '\0';
}

/* Adds "x-shunt-req-<name>: <value>" for the header just read, if it fits. */
static void echo_header(struct request *r)
{
	static const char prefix[] = "x-shunt-req-";
	size_t need = sizeof(prefix) - 1 + r->field_len + 2 + r->value_len + 2;
	char *p = r->echo + r->echo_len;

	if (r->field_len > sizeof(r->field) || r->value_len > sizeof(r->value) ||
	    need > sizeof(r->echo) - r->echo_len)
		return;
	memcpy(p, prefix, sizeof(prefix) - 1);
	p += sizeof(prefix) - 1;
	for (size_t i = 0; i < r->field_len; i++)
		*p++ = (char)tolower((unsigned char)r->field[i]);
	*p++ = ':';
	*p++ = ' ';
	memcpy(p, r->value, r->value_len);
	p += r->value_len;
	*p++ = '\r';
	*p++ = '\n';
	r->echo_len += need;
}

static bool field_is(const struct request *r, const char *name)
{
	size_t n = strlen(name);

	return r->field_len == n && !strncasecmp(r->field, name, n);
}

static int on_header_value_complete(llhttp_t *p)
{
	struct request *r = &((struct conn *)p->data)->req;

	if (field_is(r, "expect") && r->value_len == 12 &&
	    !strncasecmp(r->value, "100-continue", 12))
		r->expect_continue = true;
	else if (field_is(r, "host"))
		keep_value(r->host, sizeof(r->host), r);
	else if (field_is(r, "x-shunt-case"))
		keep_value(r->case_id, sizeof(r->case_id), r);
	else if (field_is(r, "user-agent"))
		keep_value(r->ua, sizeof(r->ua), r);
	echo_header(r);
	r->field_len = 0;
	r->value_len = 0;
	return 0;
}

/* A client that waits for "100 Continue" before it sends the body gets it now. */
static int on_headers_complete(llhttp_t *p)
{
	struct conn *c = p->data;
	bool has_body =
		(p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);

	if (c->req.expect_continue && has_body && llhttp_get_http_minor(p) >= 1 &&
	    buf_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n")) {
		llhttp_set_error_reason(p, "out of memory");
		return -1;
	}
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct request *r = &((struct conn *)p->data)->req;

	if (r->url_len + len >= URL_MAX) {
		r->url_truncated = true;
		return 0;
	}
	memcpy(r->url + r->url_len, at, len);
	r->url_len += len;
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct request *r = &((struct conn *)p->data)->req;
	uint32_t sum = r->body_sum;

	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)at[i];
	r->body_sum = sum;
	r->body_bytes += len;
	return 0;
}

/* Answers the request and pauses, so that requests are taken one at a time. */
static int on_message_complete(llhttp_t *p)
{
	struct conn *c = p->data;
	bool keep_alive = llhttp_should_keep_alive(p);

	if (log_requests) {
		printf("request method=%s path=%.*s host=%s case=%s\n",
		       llhttp_method_name(llhttp_get_method(p)),
		       c->req.url_truncated ? 1 : (int)c->req.url_len,
		       c->req.url_truncated ? "-" : c->req.url, c->req.host[0] ? c->req.host : "-",
		       c->req.case_id[0] ? c->req.case_id : "-");
		fflush(stdout);
	}
	if (conn_respond(c, keep_alive)) {
		llhttp_set_error_reason(p, "out of memory");
		return -1;
	}
	if (!keep_alive)
		c->state = CONN_DRAINING;
	return HPE_PAUSED;
}

/* Marks @c for reaping after this round of events; @why is logged with --verbose. */
static void conn_kill(struct conn *c, const char *why)
{
	if (c->state == CONN_DEAD)
		return;
	if (verbose)
		fprintf(stderr, "shunt-echo: %s: closing in state %s: %s\n", c->peer,
			conn_state_str(c->state), why);
	c->state = CONN_DEAD;
	if (c->hold_until) {
		c->hold_until = 0;
		c->srv->held--;
	}
	c->reap_next = c->srv->reap;
	c->srv->reap = c;
}

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/* A request we cannot parse: answer 400 and close. */
static void conn_bad_request(struct conn *c, llhttp_errno_t err)
{
	static const char msg[] = "bad request\n";

	c->gen.active = false;
	if (buf_printf(&c->out,
		       "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
		       "x-shunt-pod: %s\r\nx-shunt-version: %s\r\nx-shunt-peer: %s\r\n"
		       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		       c->srv->name, c->srv->version, c->peer, sizeof(msg) - 1, msg))
		conn_kill(c, "out of memory");
	else
		c->state = CONN_DRAINING;
	if (verbose)
		fprintf(stderr, "shunt-echo: %s: bad request: %s (%s)\n", c->peer,
			llhttp_errno_name(err), llhttp_get_error_reason(&c->parser));
}

static bool conn_can_parse(const struct conn *c)
{
	return c->state == CONN_OPEN && !c->gen.active && !c->hold_until &&
	       buf_pending(&c->out) < OUT_HIGH_WATER;
}

/*
 * Feeds @data to the parser. Whatever the parser did not take (it pauses
 * after each request) is kept in c->in for later. Returns the bytes consumed.
 */
static size_t conn_parse(struct conn *c, const char *data, size_t len)
{
	size_t done = 0;
	llhttp_errno_t err;

	while (done < len && conn_can_parse(c)) {
		err = llhttp_execute(&c->parser, data + done, len - done);
		if (err == HPE_OK) {
			done = len;
			break;
		}
		if (err != HPE_PAUSED) {
			conn_bad_request(c, err);
			return len;
		}
		done = (size_t)(llhttp_get_error_pos(&c->parser) - data);
		llhttp_resume(&c->parser);
	}
	return done;
}

/* Parses what c->in holds; returns true if it is now empty. */
static bool conn_parse_pending(struct conn *c)
{
	size_t n;

	if (!buf_pending(&c->in))
		return true;
	n = conn_parse(c, c->in.data + c->in.off, buf_pending(&c->in));
	c->in.off += n;
	if (buf_pending(&c->in))
		return false;
	c->in.off = c->in.len = 0;
	return true;
}

/* Reads and parses while the connection may take more requests. */
static void conn_read(struct conn *c)
{
	struct server *srv = c->srv;
	size_t budget = READ_BUDGET, n;
	ssize_t r;

	while (budget && conn_can_parse(c) && !(c->flags & CONN_F_PEER_EOF)) {
		if (!conn_parse_pending(c))
			return;
		r = recv(c->fd, srv->rbuf, sizeof(srv->rbuf), 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_kill(c, strerror(errno));
			return;
		}
		if (r == 0) {
			c->flags |= CONN_F_PEER_EOF;
			return;
		}
		budget = (size_t)r < budget ? budget - (size_t)r : 0;
		n = conn_parse(c, srv->rbuf, (size_t)r);
		if (n < (size_t)r && buf_append(&c->in, srv->rbuf + n, (size_t)r - n)) {
			conn_kill(c, "out of memory");
			return;
		}
	}
}

/* Moves the next piece of a generated body (and its framing) to c->out. */
static int conn_gen_fill(struct conn *c)
{
	struct body_gen *g = &c->gen;
	size_t n = g->left < g->chunk ? (size_t)g->left : g->chunk;
	int err;

	if (!g->chunked) {
		err = buf_reserve(&c->out, n);
		if (err)
			return err;
		pattern_copy(c->out.data + c->out.len, g->pos, n);
		c->out.len += n;
	} else if (n) {
		err = buf_printf(&c->out, "%zx\r\n", n);
		if (!err)
			err = buf_reserve(&c->out, n + 2);
		if (err)
			return err;
		pattern_copy(c->out.data + c->out.len, g->pos, n);
		c->out.len += n;
		memcpy(c->out.data + c->out.len, "\r\n", 2);
		c->out.len += 2;
	} else {
		err = buf_printf(&c->out, "0\r\n\r\n");
		if (err)
			return err;
	}
	g->pos += n;
	g->left -= n;
	if (!g->left && (!g->chunked || !n))
		g->active = false;
	return 0;
}

/* Sends what is queued, producing generated body bytes on the way. */
static void conn_write(struct conn *c)
{
	size_t budget = WRITE_BUDGET;
	ssize_t w;

	if (c->hold_until)
		return; /* a /delay response: not yet */
	while (budget) {
		/* top up with the next piece: the first one leaves with the headers */
		if (c->gen.active && buf_pending(&c->out) < CHUNK_SIZE && conn_gen_fill(c)) {
			conn_kill(c, "out of memory");
			return;
		}
		if (!buf_pending(&c->out))
			return;
		w = send(c->fd, c->out.data + c->out.off, buf_pending(&c->out), MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_kill(c, strerror(errno));
			return;
		}
		c->out.off += (size_t)w;
		budget = (size_t)w < budget ? budget - (size_t)w : 0;
		if (buf_pending(&c->out))
			return; /* the socket is full */
	}
}

static void conn_close_gracefully(struct conn *c)
{
	char junk[4096];

	/* Send our FIN first and swallow what is queued, so close() sends no RST. */
	shutdown(c->fd, SHUT_WR);
	for (int i = 0; i < 16 && recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
	conn_kill(c, "response sent, connection not kept alive");
}

static void conn_update_events(struct conn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	uint32_t want = 0;

	if (c->state == CONN_DEAD)
		return;
	if (conn_can_parse(c) && !(c->flags & CONN_F_PEER_EOF))
		want |= EPOLLIN | EPOLLRDHUP;
	if ((buf_pending(&c->out) || c->gen.active) && !c->hold_until)
		want |= EPOLLOUT;
	if (want == c->events)
		return;
	ev.events = want;
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		conn_kill(c, strerror(errno));
	else
		c->events = want;
}

/* Runs a connection until it waits for the network, or is finished. */
static void conn_run(struct conn *c, uint32_t events)
{
	if (events & EPOLLERR) {
		conn_kill(c, "socket error");
		return;
	}
	if ((events & EPOLLHUP) && c->hold_until) {
		/* nothing to read or write until the hold ends: HUP would fire until then */
		conn_kill(c, "hung up while a response was held");
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		conn_read(c);
	/*
	 * Write; once the output is drained, answer the requests already read
	 * (each parse either empties c->in or queues a response, so this ends).
	 */
	for (int round = 0; round < 64 && c->state != CONN_DEAD; round++) {
		conn_write(c);
		if (c->state == CONN_DEAD || buf_pending(&c->out) || c->gen.active ||
		    !buf_pending(&c->in))
			break;
		conn_parse_pending(c);
	}
	if (c->state == CONN_DEAD)
		return;
	if (!buf_pending(&c->out) && !c->gen.active) {
		if (c->state == CONN_DRAINING) {
			conn_close_gracefully(c);
			return;
		}
		if ((c->flags & CONN_F_PEER_EOF) && !buf_pending(&c->in)) {
			conn_kill(c, "peer closed");
			return;
		}
	}
	conn_update_events(c);
}

static void server_accept(struct server *srv)
{
	struct sockaddr_storage peer;
	socklen_t plen;
	struct conn *c;
	int fd, one = 1;

	for (int i = 0; i < ACCEPT_BUDGET; i++) {
		plen = sizeof(peer);
		fd = accept4(srv->listen_fd, (struct sockaddr *)&peer, &plen,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				fprintf(stderr, "shunt-echo: accept: %s\n", strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->srv = srv;
		c->fd = fd;
		c->state = CONN_OPEN;
		if (peer.ss_family == AF_INET6) {
			const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)&peer;
			char ip[INET6_ADDRSTRLEN];

			snprintf(c->peer, sizeof(c->peer), "[%s]:%u",
				 inet_ntop(AF_INET6, &p6->sin6_addr, ip, sizeof(ip)),
				 ntohs(p6->sin6_port));
		} else {
			const struct sockaddr_in *p4 = (const struct sockaddr_in *)&peer;

			snprintf(c->peer, sizeof(c->peer), "%s:%u", inet_ntoa(p4->sin_addr),
				 ntohs(p4->sin_port));
		}
		if (verbose)
			fprintf(stderr, "shunt-echo: %s: accepted\n", c->peer);
		llhttp_init(&c->parser, HTTP_REQUEST, &srv->settings);
		c->parser.data = c;
		c->events = EPOLLIN | EPOLLRDHUP;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd,
			      &(struct epoll_event){.events = c->events, .data.ptr = c})) {
			close(fd);
			free(c);
			continue;
		}
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
	}
}

static void server_reap(struct server *srv)
{
	while (srv->reap) {
		struct conn *c = srv->reap;

		srv->reap = c->reap_next;
		conn_free(c);
	}
}

/*
 * The epoll_wait() timeout: -1 with no response held, else the milliseconds
 * until the first hold ends. A scan of every connection, fine for a test
 * backend that rarely holds anything.
 */
static int server_wait_ms(const struct server *srv)
{
	uint64_t now, first = UINT64_MAX;

	if (!srv->held)
		return -1;
	for (const struct conn *c = srv->conns; c; c = c->next)
		if (c->hold_until && c->hold_until < first)
			first = c->hold_until;
	now = now_ms();
	if (first == UINT64_MAX || first <= now)
		return 0;
	return first - now > DELAY_MAX_MS ? DELAY_MAX_MS : (int)(first - now);
}

/* Lets out the held responses whose time is up. */
static void server_release(struct server *srv)
{
	uint64_t now;

	if (!srv->held)
		return;
	now = now_ms();
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (!c->hold_until || c->hold_until > now || c->state == CONN_DEAD)
			continue;
		c->hold_until = 0;
		srv->held--;
		conn_run(c, 0); /* sends, then reads what was pipelined behind */
	}
}

/* @addr: IPv4 or IPv6 (an IPv6 socket takes IPv6 only). */
static int server_listen(struct server *srv, const struct sockaddr_storage *addr)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	char ip[INET6_ADDRSTRLEN];
	int one = 1;
	bool v6 = addr->ss_family == AF_INET6;

	srv->listen_fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->listen_fd < 0)
		return -errno;
	if (setsockopt(srv->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (v6 && setsockopt(srv->listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(srv->listen_fd, (const struct sockaddr *)addr,
		 v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) ||
	    listen(srv->listen_fd, SOMAXCONN) ||
	    getsockname(srv->listen_fd, (struct sockaddr *)&bound, &blen))
		return -errno;
	if (v6)
		printf("shunt-echo %s listening on [%s]:%u\n", srv->name,
		       inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, ip,
				 sizeof(ip)),
		       ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
	else
		printf("shunt-echo %s listening on %s:%u\n", srv->name,
		       inet_ntoa(((struct sockaddr_in *)&bound)->sin_addr),
		       ntohs(((struct sockaddr_in *)&bound)->sin_port));
	fflush(stdout);
	return 0;
}

static void server_loop(struct server *srv)
{
	struct epoll_event evs[MAX_EVENTS];
	struct signalfd_siginfo si;
	int n;

	while (!srv->stop) {
		n = epoll_wait(srv->epfd, evs, MAX_EVENTS, server_wait_ms(srv));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &tag_listen) {
				server_accept(srv);
			} else if (p == &tag_signal) {
				if (read(srv->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					srv->stop = true;
			} else if (((struct conn *)p)->state != CONN_DEAD) {
				conn_run(p, evs[i].events);
			}
		}
		server_release(srv);
		server_reap(srv);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: shunt-echo --listen IP:PORT --name NAME [--version V] [--verbose]\n"
		   "                  [--log-requests] [--call HOST:PORT]\n");
}

/* "IPv4:PORT" or "[IPv6]:PORT". */
static void parse_listen(const char *s, struct sockaddr_storage *addr)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hlen;
	uint64_t port;

	if (!colon || !parse_num(colon + 1, 65535, &port))
		die("--listen %s: expected IPv4:PORT or [IPv6]:PORT", s);
	hlen = (size_t)(colon - s);
	if (*s == '[' && hlen >= 2 && colon[-1] == ']') {
		h = s + 1;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		die("--listen %s: expected IPv4:PORT or [IPv6]:PORT", s);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(addr, 0, sizeof(*addr));
	if (h != s) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1)
			return;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)addr;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a4->sin_addr) == 1)
			return;
	}
	die("--listen %s: expected IPv4:PORT or [IPv6]:PORT", s);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},  {"name", required_argument, NULL, 'n'},
		{"version", required_argument, NULL, 'v'}, {"verbose", no_argument, NULL, 'V'},
		{"log-requests", no_argument, NULL, 'L'},  {"call", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},	   {},
	};
	static struct server srv; /* large (the read buffer): not on the stack */
	struct sockaddr_storage addr;
	const char *listen_arg = NULL;
	sigset_t mask;
	int c, err;

	srv.version = "v0";
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_arg = optarg;
			break;
		case 'n':
			srv.name = optarg;
			break;
		case 'v':
			srv.version = optarg;
			break;
		case 'V':
			verbose = true;
			break;
		case 'L':
			log_requests = true;
			break;
		case 'C':
			call_target = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!listen_arg || !srv.name || optind != argc) {
		usage(stderr);
		return 2;
	}
	parse_listen(listen_arg, &addr);

	for (size_t i = 0; i < sizeof(pattern_buf); i++)
		pattern_buf[i] = body_pattern[i % PATTERN_PERIOD];
	llhttp_settings_init(&srv.settings);
	srv.settings.on_message_begin = on_message_begin;
	srv.settings.on_url = on_url;
	srv.settings.on_header_field = on_header_field;
	srv.settings.on_header_value = on_header_value;
	srv.settings.on_header_value_complete = on_header_value_complete;
	srv.settings.on_headers_complete = on_headers_complete;
	srv.settings.on_body = on_body;
	srv.settings.on_message_complete = on_message_complete;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		die("sigprocmask: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	srv.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	srv.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv.sig_fd < 0 || srv.epfd < 0)
		die("signalfd/epoll: %s", strerror(errno));
	err = server_listen(&srv, &addr);
	if (err)
		die("listen on %s: %s", listen_arg, strerror(-err));
	if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.listen_fd,
		      &(struct epoll_event){.events = EPOLLIN, .data.ptr = &tag_listen}) ||
	    epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.sig_fd,
		      &(struct epoll_event){.events = EPOLLIN, .data.ptr = &tag_signal}))
		die("epoll_ctl: %s", strerror(errno));

	server_loop(&srv);

	while (srv.conns)
		conn_free(srv.conns);
	close(srv.listen_fd);
	close(srv.sig_fd);
	close(srv.epfd);
	return 0;
}
