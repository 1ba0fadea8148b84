// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-client: the test and demo HTTP/1.1 client.
 *
 *   shunt-client --connect IP:PORT|[IP6]:PORT|NAME:PORT [-n N] [--new-conn] [--path P] [--method M]
 *                [--host H] [--header 'NAME: VALUE']... [--body-size N] [--chunked]
 *                [--mark MARK] [--timeout-ms MS] [--peer] [--show-headers] [--show-body]
 *
 * Sends N requests, one after the other, on one keep-alive connection (or one
 * connection each with --new-conn) and prints one line per response:
 *
 *   status=CODE pod=<x-shunt-pod> version=<x-shunt-version> bytes=<body length>
 *       seen_peer=<x-shunt-peer> [upstream=<x-shunt-upstream>] [received=<n> sum=ok|bad]
 *       [pattern=ok|bad]
 *
 * (one line; "-" for a missing header). seen_peer is the address the backend
 * saw the request come from; received/sum are only printed when a body was
 * sent, and check shunt-echo's "received=<n> sum=<sum>" answer against what
 * was sent; pattern is printed for GET /bytes/N and /chunked/N and says
 * whether the body is shunt-echo's pattern byte for byte. --peer prints "peer=IP:PORT" from
 * getpeername() after each connect ("peer=[::ffff:IP]:PORT" with --v4mapped, which connects
 * from an AF_INET6 socket to the IPv4-mapped address, as dual-stack apps such as Java do). The
 * request body is body_pattern repeated, like shunt-echo's.
 *
 * --header adds a request header (up to HEADERS_MAX of them); a User-Agent
 * given so replaces the default "shunt-client", a Host is the same as --host.
 * After each response line, --show-headers prints every response header as
 * "header=<name lowercased>: <value>" (in the order received; at most
 * SHOWN_MAX, values cut at SHOWN_VALUE_MAX bytes) and --show-body prints
 * "body=<the first BODY_HEAD_MAX bytes>". Both escape backslashes and bytes
 * that are not printable ASCII as \\, \n, \r, \t or \xNN.
 *
 * Exit status: 0 all responses read (whatever their status), 2 usage,
 * 3 connect failed ("connect: <strerror>" on stderr), 4 anything else
 * (timeout, malformed or short response, connection closed early).
 * Every wait is bounded by --timeout-ms (default 5000).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <llhttp.h>

#define EXIT_USAGE   2
#define EXIT_CONNECT 3
#define EXIT_OTHER   4

#define RECV_BUF_SIZE	(64 * 1024)
#define SEND_CHUNK	(16 * 1024)
#define HDR_VAL_MAX	128
#define BODY_HEAD_MAX	256
#define BODY_SIZE_MAX	(1ull << 32)
#define HEADERS_MAX	32   /* --header options */
#define SHOWN_MAX	64   /* response headers --show-headers prints */
#define SHOWN_NAME_MAX	64   /* longer names are cut */
#define SHOWN_VALUE_MAX 1024 /* longer values are cut */

static const char body_pattern[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/";
#define PATTERN_PERIOD 64

struct options {
	struct sockaddr_in addr;
	struct sockaddr_in6 addr6; /* --connect [IP6]:PORT: an AF_INET6 socket, native IPv6 */
	bool is6;
	const char *connect_arg;
	unsigned long n;
	bool new_conn;
	const char *path;
	const char *method;
	const char *host;
	long long body_size; /* -1: no body */
	bool chunked;
	bool have_mark;
	uint32_t mark;
	int timeout_ms;
	bool peer;
	bool v4mapped; /* connect from an AF_INET6 socket to ::ffff:IP, as dual-stack apps do */
	bool check_pattern;		  /* the path asks shunt-echo for pattern bytes */
	const char *headers[HEADERS_MAX]; /* --header, "NAME: VALUE" as given */
	size_t n_headers;
	bool own_user_agent; /* one of them is User-Agent */
	bool show_headers;
	bool show_body;
};

/* The x-shunt-* headers this client reports. */
enum hdr {
	HDR_OTHER = 0,
	HDR_POD,
	HDR_VERSION,
	HDR_PEER,
	HDR_UPSTREAM,
	HDR_MAX,
};

static const char *const hdr_names[HDR_MAX] = {
	[HDR_POD] = "x-shunt-pod",
	[HDR_VERSION] = "x-shunt-version",
	[HDR_PEER] = "x-shunt-peer",
	[HDR_UPSTREAM] = "x-shunt-upstream",
};

/* One response as it is parsed. */
struct response {
	char field[32]; /* the header name being read (longer names are not ours) */
	size_t field_len;
	enum hdr cur; /* which of ours the current value belongs to */
	char val[HDR_VAL_MAX];
	size_t val_len;
	char hdr[HDR_MAX][HDR_VAL_MAX]; /* captured values, "" when absent */
	uint64_t body_bytes;
	char body_head[BODY_HEAD_MAX + 1]; /* the start of the body, for received=/sum= */
	size_t body_head_len;
	bool head;	  /* the request was HEAD: the response has no body */
	bool pattern_bad; /* a body byte differs from body_pattern */
	bool complete;
};

/* The response headers --show-headers prints, kept apart from struct response
 * so that resetting a response does not clear this much memory. */
struct shown {
	char name[SHOWN_NAME_MAX];
	size_t name_len;
	char value[SHOWN_VALUE_MAX];
	size_t value_len;
};

static struct shown shown[SHOWN_MAX];
static size_t n_shown;
static struct shown shown_cur; /* the header being read */

static const struct options *opts;
static uint64_t sent_bytes; /* request body: length and sum, to check the echo's answer */
static uint32_t sent_sum;

static void fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void fail(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* Appends what fits of @len bytes to a --show-headers buffer of @size bytes. */
static void shown_append(char *buf, size_t size, size_t *used, const char *at, size_t len)
{
	if (len > size - *used)
		len = size - *used;
	memcpy(buf + *used, at, len);
	*used += len;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct response *r = p->data;

	if (r->field_len + len < sizeof(r->field))
		memcpy(r->field + r->field_len, at, len);
	r->field_len += len;
	if (opts->show_headers)
		shown_append(shown_cur.name, sizeof(shown_cur.name), &shown_cur.name_len, at, len);
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct response *r = p->data;

	r->cur = HDR_OTHER;
	if (r->field_len < sizeof(r->field)) {
		r->field[r->field_len] = '\0';
		for (int h = HDR_OTHER + 1; h < HDR_MAX; h++)
			if (!strcasecmp(r->field, hdr_names[h]))
				r->cur = h;
	}
	r->field_len = 0;
	r->val_len = 0;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct response *r = p->data;

	if (opts->show_headers)
		shown_append(shown_cur.value, sizeof(shown_cur.value), &shown_cur.value_len, at,
			     len);
	if (r->cur == HDR_OTHER)
		return 0;
	if (len > sizeof(r->val) - 1 - r->val_len)
		len = sizeof(r->val) - 1 - r->val_len;
	memcpy(r->val + r->val_len, at, len);
	r->val_len += len;
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct response *r = p->data;

	if (r->cur != HDR_OTHER) {
		memcpy(r->hdr[r->cur], r->val, r->val_len);
		r->hdr[r->cur][r->val_len] = '\0';
	}
	r->cur = HDR_OTHER;
	if (opts->show_headers && n_shown < SHOWN_MAX)
		shown[n_shown++] = shown_cur;
	shown_cur.name_len = shown_cur.value_len = 0;
	return 0;
}

/* A response to HEAD has no body, whatever its Content-Length says. */
static int on_headers_complete(llhttp_t *p)
{
	return ((struct response *)p->data)->head ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct response *r = p->data;
	size_t keep = BODY_HEAD_MAX - r->body_head_len;

	if (keep > len)
		keep = len;
	memcpy(r->body_head + r->body_head_len, at, keep);
	r->body_head_len += keep;
	r->body_head[r->body_head_len] = '\0';
	if (opts->check_pattern && !r->pattern_bad) {
		for (size_t i = 0; i < len; i++) {
			if (at[i] != body_pattern[(r->body_bytes + i) % PATTERN_PERIOD]) {
				r->pattern_bad = true;
				break;
			}
		}
	}
	r->body_bytes += len;
	return 0;
}

/* Stop at the end of each response: the bytes after it belong to the next one. */
static int on_message_complete(llhttp_t *p)
{
	((struct response *)p->data)->complete = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t *parser_settings(void)
{
	static llhttp_settings_t s;
	static bool init;

	if (!init) {
		llhttp_settings_init(&s);
		s.on_header_field = on_header_field;
		s.on_header_field_complete = on_header_field_complete;
		s.on_header_value = on_header_value;
		s.on_header_value_complete = on_header_value_complete;
		s.on_headers_complete = on_headers_complete;
		s.on_body = on_body;
		s.on_message_complete = on_message_complete;
		init = true;
	}
	return &s;
}

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		fail(EXIT_OTHER, "setsockopt(SO_RCVTIMEO/SO_SNDTIMEO): %s", strerror(errno));
}

/* Connects (non-blocking, bounded by the timeout) and returns a blocking socket. */
static int conn_open(void)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = opts->addr.sin_port};
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	const struct sockaddr *to = (const struct sockaddr *)&opts->addr;
	socklen_t to_len = sizeof(opts->addr);
	struct pollfd pfd;
	int fd, err = 0, r, one = 1;

	if (opts->is6) {
		to = (const struct sockaddr *)&opts->addr6;
		to_len = sizeof(opts->addr6);
	} else if (opts->v4mapped) {
		a6.sin6_addr.s6_addr[10] = 0xff;
		a6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&a6.sin6_addr.s6_addr[12], &opts->addr.sin_addr, 4);
		to = (const struct sockaddr *)&a6;
		to_len = sizeof(a6);
	}
	fd = socket(opts->v4mapped || opts->is6 ? AF_INET6 : AF_INET,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail(EXIT_OTHER, "socket: %s", strerror(errno));
	if (opts->have_mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &opts->mark, sizeof(opts->mark)))
		fail(EXIT_OTHER, "setsockopt(SO_MARK, 0x%x): %s", opts->mark, strerror(errno));
	if (connect(fd, to, to_len)) {
		if (errno != EINPROGRESS)
			fail(EXIT_CONNECT, "connect: %s", strerror(errno));
		pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
		do {
			r = poll(&pfd, 1, opts->timeout_ms);
		} while (r < 0 && errno == EINTR);
		if (r < 0)
			fail(EXIT_OTHER, "poll: %s", strerror(errno));
		if (r == 0)
			fail(EXIT_CONNECT, "connect: %s", strerror(ETIMEDOUT));
		len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
			fail(EXIT_OTHER, "getsockopt(SO_ERROR): %s", strerror(errno));
		if (err)
			fail(EXIT_CONNECT, "connect: %s", strerror(err));
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK))
		fail(EXIT_OTHER, "fcntl: %s", strerror(errno));
	set_timeouts(fd, opts->timeout_ms);
	/* a request's head and body leave in separate writes: without this, Nagle
	 * holds the body until the server's delayed ACK, 40 ms per request */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		fail(EXIT_OTHER, "setsockopt(TCP_NODELAY): %s", strerror(errno));
	if (opts->peer) {
		len = sizeof(peer);
		if (getpeername(fd, (struct sockaddr *)&peer, &len))
			fail(EXIT_OTHER, "getpeername: %s", strerror(errno));
		if (peer.ss_family == AF_INET6) {
			const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)&peer;
			char ip[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, &p6->sin6_addr, ip, sizeof(ip));
			printf("peer=[%s]:%u\n", ip, ntohs(p6->sin6_port));
		} else {
			const struct sockaddr_in *p4 = (const struct sockaddr_in *)&peer;

			printf("peer=%s:%u\n", inet_ntoa(p4->sin_addr), ntohs(p4->sin_port));
		}
		fflush(stdout);
	}
	return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
	ssize_t w;

	while (len) {
		w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				fail(EXIT_OTHER, "send: timed out after %d ms", opts->timeout_ms);
			fail(EXIT_OTHER, "send: %s", strerror(errno));
		}
		p += w;
		len -= (size_t)w;
	}
}

/* Sends @len bytes of the pattern, from body position @pos. */
static void send_pattern(int fd, uint64_t pos, uint64_t len)
{
	static char buf[SEND_CHUNK + PATTERN_PERIOD];

	if (!buf[0])
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = body_pattern[i % PATTERN_PERIOD];
	while (len) {
		size_t k = len < SEND_CHUNK ? (size_t)len : SEND_CHUNK;

		send_all(fd, buf + pos % PATTERN_PERIOD, k);
		pos += k;
		len -= k;
	}
}

static void send_request(int fd)
{
	char hdr[8192];
	uint64_t size = opts->body_size < 0 ? 0 : (uint64_t)opts->body_size;
	uint64_t chunk, pos;
	int n;

	n = snprintf(hdr, sizeof(hdr), "%s %s HTTP/1.1\r\nHost: %s\r\n", opts->method, opts->path,
		     opts->host);
	if (!opts->own_user_agent && (size_t)n < sizeof(hdr))
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "User-Agent: shunt-client\r\n");
	for (size_t i = 0; i < opts->n_headers && (size_t)n < sizeof(hdr); i++)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "%s\r\n", opts->headers[i]);
	if ((size_t)n >= sizeof(hdr) - 64) /* room for the framing header and the blank line */
		fail(EXIT_USAGE, "request line and headers too long");
	if (opts->body_size >= 0 && opts->chunked)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Transfer-Encoding: chunked\r\n");
	else if (opts->body_size >= 0)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Content-Length: %" PRIu64 "\r\n",
			      size);
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "\r\n");
	if ((size_t)n >= sizeof(hdr))
		fail(EXIT_USAGE, "request line and headers too long");
	send_all(fd, hdr, (size_t)n);
	if (opts->body_size < 0)
		return;
	if (!opts->chunked) {
		send_pattern(fd, 0, size);
		return;
	}
	/* several chunks even for a small body: a quarter of it, at most SEND_CHUNK */
	chunk = size / 4 < SEND_CHUNK ? (size >= 4 ? size / 4 : 1) : SEND_CHUNK;
	for (pos = 0; pos < size; pos += chunk) {
		uint64_t k = size - pos < chunk ? size - pos : chunk;

		n = snprintf(hdr, sizeof(hdr), "%" PRIx64 "\r\n", k);
		send_all(fd, hdr, (size_t)n);
		send_pattern(fd, pos, k);
		send_all(fd, "\r\n", 2);
	}
	send_all(fd, "0\r\n\r\n", 5);
}

/* Bytes received after the end of one response, carried into the next one. */
struct carry {
	char buf[RECV_BUF_SIZE];
	size_t off;
	size_t len;
};

/* Feeds bytes to the parser; keeps what follows the end of the response in @c. */
static void feed(llhttp_t *parser, struct response *r, struct carry *c, const char *data,
		 size_t len, unsigned long index)
{
	llhttp_errno_t err = llhttp_execute(parser, data, len);
	size_t used;

	if (err == HPE_OK)
		return;
	if (err != HPE_PAUSED || !r->complete)
		fail(EXIT_OTHER, "response %lu: malformed: %s: %s", index, llhttp_errno_name(err),
		     llhttp_get_error_reason(parser));
	llhttp_resume(parser);
	used = (size_t)(llhttp_get_error_pos(parser) - data);
	if (used < len) {
		/* data may point into c->buf: move it to the front */
		memmove(c->buf, data + used, len - used);
		c->len = len - used;
	} else {
		c->len = 0;
	}
	c->off = 0;
}

/* Prints @len bytes escaped: printable ASCII but the backslash as is. */
static void print_escaped(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\\')
			fputs("\\\\", stdout);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\r')
			fputs("\\r", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

/* The lines --show-headers and --show-body add after a response line. */
static void print_extras(const struct response *r)
{
	for (size_t i = 0; opts->show_headers && i < n_shown; i++) {
		fputs("header=", stdout);
		for (size_t k = 0; k < shown[i].name_len; k++)
			shown[i].name[k] = (char)tolower((unsigned char)shown[i].name[k]);
		print_escaped(shown[i].name, shown[i].name_len);
		fputs(": ", stdout);
		print_escaped(shown[i].value, shown[i].value_len);
		putchar('\n');
	}
	if (opts->show_body) {
		fputs("body=", stdout);
		print_escaped(r->body_head, r->body_head_len);
		putchar('\n');
	}
}

/* Reads one response; returns false if the server will close the connection. */
static bool read_response(int fd, llhttp_t *parser, struct carry *c, unsigned long index)
{
	static char buf[RECV_BUF_SIZE];
	static struct response r;
	ssize_t n;
	int status;

	parser->data = &r;
next_message:
	memset(&r, 0, sizeof(r));
	n_shown = 0;
	shown_cur.name_len = shown_cur.value_len = 0;
	r.head = !strcasecmp(opts->method, "HEAD");
	if (c->len - c->off) {
		size_t len = c->len - c->off;

		c->len = c->off = 0;
		feed(parser, &r, c, c->buf, len, index);
	}
	while (!r.complete) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				fail(EXIT_OTHER,
				     "response %lu: timed out after %d ms (%" PRIu64
				     " body bytes so far)",
				     index, opts->timeout_ms, r.body_bytes);
			fail(EXIT_OTHER, "response %lu: recv: %s", index, strerror(errno));
		}
		if (n == 0) {
			/* a response delimited by the end of the connection ends here */
			llhttp_finish(parser); /* HPE_PAUSED from on_message_complete */
			if (r.complete)
				break;
			fail(EXIT_OTHER,
			     "response %lu: connection closed before the response was complete "
			     "(%" PRIu64 " body bytes)",
			     index, r.body_bytes);
		}
		feed(parser, &r, c, buf, (size_t)n, index);
	}
	status = llhttp_get_status_code(parser);
	if (status >= 100 && status < 200 && status != 101)
		goto next_message; /* interim (100 Continue, 103): the final one follows */

	printf("status=%d pod=%s version=%s bytes=%" PRIu64 " seen_peer=%s", status,
	       r.hdr[HDR_POD][0] ? r.hdr[HDR_POD] : "-",
	       r.hdr[HDR_VERSION][0] ? r.hdr[HDR_VERSION] : "-", r.body_bytes,
	       r.hdr[HDR_PEER][0] ? r.hdr[HDR_PEER] : "-");
	if (r.hdr[HDR_UPSTREAM][0]) /* shunt-echo --call: who answered it upstream */
		printf(" upstream=%s", r.hdr[HDR_UPSTREAM]);
	if (opts->body_size >= 0) {
		const char *p = strstr(r.body_head, "received=");
		unsigned long long got;
		unsigned sum;

		if (p && sscanf(p, "received=%llu sum=%u", &got, &sum) == 2)
			printf(" received=%llu sum=%s", got,
			       got == sent_bytes && sum == sent_sum ? "ok" : "bad");
		else
			printf(" received=- sum=-");
	}
	if (opts->check_pattern)
		printf(" pattern=%s", r.pattern_bad ? "bad" : "ok");
	putchar('\n');
	print_extras(&r);
	fflush(stdout);
	return llhttp_should_keep_alive(parser);
}

static void run(void)
{
	static struct carry carry;
	llhttp_t parser;
	unsigned long i = 0;
	int fd = -1;

	while (i < opts->n) {
		if (fd < 0) {
			fd = conn_open();
			llhttp_init(&parser, HTTP_RESPONSE, parser_settings());
			carry.off = carry.len = 0;
		}
		send_request(fd);
		i++;
		if (!read_response(fd, &parser, &carry, i) && i < opts->n && !opts->new_conn)
			fail(EXIT_OTHER,
			     "response %lu: the server closes the connection, %lu requests left", i,
			     opts->n - i);
		if (opts->new_conn || i == opts->n) {
			close(fd);
			fd = -1;
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: shunt-client --connect IP:PORT [-n N] [--new-conn] [--path P]\n"
		   "                    [--method M] [--host H] [--header 'NAME: VALUE']...\n"
		   "                    [--body-size N] [--chunked] [--mark MARK] [--timeout-ms "
		   "MS] [--v4mapped]\n"
		   "                    [--peer] [--show-headers] [--show-body]\n");
}

static unsigned long long parse_num(const char *opt, const char *s, unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max) {
		fprintf(stderr, "shunt-client: %s %s: expected a number up to %llu\n", opt, s, max);
		exit(EXIT_USAGE);
	}
	return v;
}

/* --header NAME: VALUE. Host sets the Host header; User-Agent replaces the default. */
static void add_header(struct options *o, const char *s)
{
	const char *colon = strchr(s, ':');
	size_t name_len = colon ? (size_t)(colon - s) : 0;
	const char *value = colon ? colon + 1 : NULL;

	if (!name_len || strpbrk(s, "\r\n") || strcspn(s, " \t") < name_len) {
		fprintf(stderr, "shunt-client: --header %s: expected NAME: VALUE\n", s);
		exit(EXIT_USAGE);
	}
	if (name_len == 4 && !strncasecmp(s, "host", 4)) {
		o->host = value + strspn(value, " \t");
		return;
	}
	if (o->n_headers == HEADERS_MAX) {
		fprintf(stderr, "shunt-client: more than %d --header options\n", HEADERS_MAX);
		exit(EXIT_USAGE);
	}
	if (name_len == 10 && !strncasecmp(s, "user-agent", 10))
		o->own_user_agent = true;
	o->headers[o->n_headers++] = s;
}

/* "IPv4:PORT" into o->addr, or "[IPv6]:PORT" into o->addr6 (o->is6). */
static void parse_connect(const char *s, struct options *o)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hlen;
	uint16_t port;

	memset(&o->addr, 0, sizeof(o->addr));
	memset(&o->addr6, 0, sizeof(o->addr6));
	if (!colon)
		goto bad;
	hlen = (size_t)(colon - s);
	if (*s == '[' && hlen >= 2 && colon[-1] == ']') {
		h = s + 1;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	port = htons((uint16_t)parse_num("--connect", colon + 1, 65535));
	if (!port)
		goto bad;
	o->is6 = h != s;
	if (o->is6) {
		o->addr6.sin6_family = AF_INET6;
		o->addr6.sin6_port = port;
		if (inet_pton(AF_INET6, host, &o->addr6.sin6_addr) == 1)
			return;
	} else {
		struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;

		o->addr.sin_family = AF_INET;
		o->addr.sin_port = port;
		if (inet_pton(AF_INET, host, &o->addr.sin_addr) == 1)
			return;
		/* a name: resolved once, as an app would (in a mesh pod, shunt answers) */
		if (!getaddrinfo(host, NULL, &hints, &ai) && ai) {
			o->addr.sin_addr = ((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
			freeaddrinfo(ai);
			return;
		}
		fprintf(stderr, "shunt-client: --connect %s: cannot resolve %s\n", s, host);
		exit(EXIT_CONNECT);
	}
bad:
	fprintf(stderr,
		"shunt-client: --connect %s: expected IPv4:PORT, [IPv6]:PORT or NAME:PORT\n", s);
	exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"connect", required_argument, NULL, 'c'},
		{"new-conn", no_argument, NULL, 'N'},
		{"path", required_argument, NULL, 'p'},
		{"method", required_argument, NULL, 'm'},
		{"host", required_argument, NULL, 'H'},
		{"body-size", required_argument, NULL, 'b'},
		{"chunked", no_argument, NULL, 'C'},
		{"mark", required_argument, NULL, 'k'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"peer", no_argument, NULL, 'P'},
		{"v4mapped", no_argument, NULL, 'V'},
		{"header", required_argument, NULL, 'e'},
		{"show-headers", no_argument, NULL, 'S'},
		{"show-body", no_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	static struct options o = {.n = 1, .path = "/", .body_size = -1, .timeout_ms = 5000};
	int c;

	while ((c = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.connect_arg = optarg;
			break;
		case 'n':
			o.n = (unsigned long)parse_num("-n", optarg, 1000000);
			break;
		case 'N':
			o.new_conn = true;
			break;
		case 'p':
			o.path = optarg;
			break;
		case 'm':
			o.method = optarg;
			break;
		case 'H':
			o.host = optarg;
			break;
		case 'b':
			o.body_size = (long long)parse_num("--body-size", optarg, BODY_SIZE_MAX);
			break;
		case 'C':
			o.chunked = true;
			break;
		case 'k':
			o.mark = (uint32_t)parse_num("--mark", optarg, UINT32_MAX);
			o.have_mark = true;
			break;
		case 't':
			o.timeout_ms = (int)parse_num("--timeout-ms", optarg, 3600 * 1000);
			break;
		case 'P':
			o.peer = true;
			break;
		case 'V':
			o.v4mapped = true;
			break;
		case 'e':
			add_header(&o, optarg);
			break;
		case 'S':
			o.show_headers = true;
			break;
		case 'B':
			o.show_body = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!o.connect_arg || optind != argc || o.n < 1 || o.timeout_ms < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	parse_connect(o.connect_arg, &o);
	if (!o.host)
		o.host = o.connect_arg;
	if (o.chunked && o.body_size < 0)
		o.body_size = 0;
	if (!o.method)
		o.method = o.body_size >= 0 ? "POST" : "GET";
	o.check_pattern = o.body_size < 0 && strcasecmp(o.method, "HEAD") &&
			  (!strncmp(o.path, "/bytes/", 7) || !strncmp(o.path, "/chunked/", 9));
	if (o.body_size >= 0) {
		sent_bytes = (uint64_t)o.body_size;
		/* the sum of the pattern: whole periods, then the rest */
		for (size_t i = 0; i < PATTERN_PERIOD; i++) {
			uint64_t times =
				sent_bytes / PATTERN_PERIOD + (i < sent_bytes % PATTERN_PERIOD);

			sent_sum += (uint32_t)(times * (unsigned char)body_pattern[i]);
		}
	}
	opts = &o;
	run();
	return 0;
}
