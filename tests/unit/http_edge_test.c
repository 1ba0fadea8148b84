// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * HTTP/1.1 edge cases against the real proxy on 127.0.0.1 (docs/security.md,
 * "HTTP edge cases", names each case's test here). Each case of the table is
 * data: the bytes a client sends in one write, how a scripted upstream
 * behaves, the proxy's limits; and what must come of it: the responses the
 * client reads (in order), whether its connection is closed or serves a
 * next request, what the upstream received, the access log's response flags
 * and details. Every case gets a fresh proxy on its own loop thread. The
 * cases that need time or an exchange of several steps (the header timeout,
 * idle timeouts, a WebSocket tunnel's half-closes) are functions below the
 * table. Every socket has a receive timeout: no case can hang.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <cmocka.h>

#include <llhttp.h>

#include "loop.h"
#include "proxy.h"

#define IO_TIMEOUT_MS 5000
#define SEEN_MAX      (256 * 1024) /* what the upstream records, all its connections */
#define RSP_MAX	      (256 * 1024) /* what the client records */

/* How the scripted upstream answers each request it parses. */
struct up_script {
	const char *reply;     /* the answer; NULL: 200 with the request-target as its body */
	const char *interim;   /* sent once the head is in (before the body), e.g. a 100 */
	bool early;	       /* the answer goes once the head is in, before the body is read */
	bool close;	       /* close after the first answer */
	bool silent;	       /* never answer; wait for the proxy to close */
	bool tunnel;	       /* after the answer, echo what comes until EOF, then after_eof */
	const char *after_eof; /* tunnel: sent once the proxy's FIN came, then closed */
	bool half_close;       /* after the answer, shut the write side, read until EOF */
};

/* The proxy's limits for a case (0: the proxy's defaults, or none). */
struct limits {
	uint32_t max_head_bytes;
	uint64_t max_body_bytes;
	uint32_t header_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t pool_idle_timeout_ms;
};

struct edge_case {
	const char *name;
	const char *req; /* what the client sends; "@PAD@" and "@HDRS@" are expanded (below) */
	size_t req_len;	 /* 0: strlen(req); a NUL inside needs it */
	uint32_t pad_to; /* "@PAD@" is 'a' bytes, as many as make the head this long */
	uint16_t n_hdrs; /* "@HDRS@" is this many "x-h<i>: v" lines */
	struct up_script up;
	struct limits lim;
	const char *statuses; /* the responses read, in order, "100 200"; "200~": cut short */
	bool closed;	      /* then closed; otherwise a next request on it is answered 200 */
	int up_requests;      /* requests the upstream parsed; 0: not checked */
	int up_conns;	      /* connections it accepted; 0: not checked */
	bool up_untouched;    /* no connection reached the upstream */
	bool up_no_request;   /* the upstream parsed no whole request */
	const char *up_sees;  /* what it must have received (a substring); NULL: no check */
	const char *up_never; /* what it must not have received */
	const char *rsp_has;  /* what the client must have received (a substring) */
	const char *details;  /* the first request's %RESPONSE_CODE_DETAILS%; NULL: no check */
	uint32_t rflags;      /* and its response flags (checked with details) */
};

/* The scripted upstream and the one that answers every case's next request. */

struct upstream {
	int lfd;
	struct sockaddr_in addr;
	pthread_t thread;
	const struct up_script *sc;
	volatile bool stop;
	pthread_mutex_t mu; /* guards what follows */
	char *seen;
	size_t seen_len;
	int conns, requests, peer_closed; /* peer_closed: EOFs read (the proxy closed first) */
};

struct up_conn {
	struct upstream *u;
	int fd;
	llhttp_t p;
	char url[256];
	size_t url_len;
	bool answered; /* the current request got its answer (early) */
	bool at_head;  /* the parser paused after a head */
};

static void set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		abort();
}

static int send_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = send(fd, c, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int listen_loopback(struct sockaddr_in *out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		abort();
	*out = a;
	return fd;
}

static void up_record(struct upstream *u, const char *p, size_t n)
{
	pthread_mutex_lock(&u->mu);
	if (u->seen_len + n <= SEEN_MAX) {
		memcpy(u->seen + u->seen_len, p, n);
		u->seen_len += n;
	}
	pthread_mutex_unlock(&u->mu);
}

static void up_count(struct upstream *u, int *field)
{
	pthread_mutex_lock(&u->mu);
	(*field)++;
	pthread_mutex_unlock(&u->mu);
}

static int up_on_message_begin(llhttp_t *p)
{
	struct up_conn *c = p->data;

	c->url_len = 0;
	c->answered = false;
	return 0;
}

static int up_on_url(llhttp_t *p, const char *at, size_t n)
{
	struct up_conn *c = p->data;

	if (c->url_len + n < sizeof(c->url)) {
		memcpy(c->url + c->url_len, at, n);
		c->url_len += n;
	}
	return 0;
}

static int up_on_headers_complete(llhttp_t *p)
{
	struct up_conn *c = p->data;

	if (!c->u->sc->early && !c->u->sc->interim)
		return 0;
	c->at_head = true;
	return HPE_PAUSED;
}

static int up_on_message_complete(llhttp_t *p)
{
	return HPE_PAUSED;
}

static const llhttp_settings_t up_settings = {
	.on_message_begin = up_on_message_begin,
	.on_url = up_on_url,
	.on_headers_complete = up_on_headers_complete,
	.on_message_complete = up_on_message_complete,
};

/* Sends the script's answer (or 200 with the request-target). 0 or -1. */
static int up_answer(struct up_conn *c)
{
	char buf[512];
	int n;

	c->answered = true;
	if (c->u->sc->silent)
		return 0;
	if (c->u->sc->reply)
		return send_all(c->fd, c->u->sc->reply, strlen(c->u->sc->reply));
	n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%.*s",
		     c->url_len, (int)c->url_len, c->url);
	return send_all(c->fd, buf, (size_t)n);
}

/* Echoes @n bytes at @p, then everything until EOF, then after_eof. */
static void up_tunnel(struct up_conn *c, const char *p, size_t n)
{
	char b[4096];
	ssize_t r;

	if (n && send_all(c->fd, p, n))
		return;
	while ((r = recv(c->fd, b, sizeof(b), 0)) > 0) {
		up_record(c->u, b, (size_t)r);
		if (send_all(c->fd, b, (size_t)r))
			return;
	}
	if (r == 0 && c->u->sc->after_eof)
		(void)send_all(c->fd, c->u->sc->after_eof, strlen(c->u->sc->after_eof));
}

/* Shuts the write side after the answer and records what still comes, until EOF. */
static void up_half_close(struct up_conn *c)
{
	char b[4096];
	ssize_t r;

	(void)shutdown(c->fd, SHUT_WR);
	while ((r = recv(c->fd, b, sizeof(b), 0)) > 0)
		up_record(c->u, b, (size_t)r);
	if (r == 0)
		up_count(c->u, &c->u->peer_closed);
}

/* Feeds @n received bytes to the parser and answers as scripted. False: the connection ends. */
static bool up_feed(struct up_conn *c, const char *at, size_t n, bool *broken)
{
	const char *end = at + n;

	while (!*broken && at < end) {
		llhttp_errno_t err = llhttp_execute(&c->p, at, (size_t)(end - at));

		if (err == HPE_OK)
			return true;
		if (err == HPE_PAUSED_UPGRADE) {
			/* After an upgrade request (answered at its end): a tunnel, or HTTP again.
			 */
			at = llhttp_get_error_pos(&c->p);
			if (c->u->sc->tunnel) {
				up_tunnel(c, at, (size_t)(end - at));
				return false;
			}
			llhttp_resume_after_upgrade(&c->p);
			continue;
		}
		if (err != HPE_PAUSED) {
			*broken = true; /* not HTTP any more: keep recording until the close */
			return true;
		}
		at = llhttp_get_error_pos(&c->p);
		llhttp_resume(&c->p);
		if (c->at_head) {
			c->at_head = false;
			if (c->u->sc->interim &&
			    send_all(c->fd, c->u->sc->interim, strlen(c->u->sc->interim)))
				return false;
			if (c->u->sc->early && (up_answer(c) || c->u->sc->close))
				return false;
			continue;
		}
		up_count(c->u, &c->u->requests);
		if (!c->answered && up_answer(c))
			return false;
		if (c->u->sc->half_close) {
			up_half_close(c);
			return false;
		}
		if (c->u->sc->close)
			return false;
	}
	return true;
}

static void up_serve(struct upstream *u, int fd)
{
	struct up_conn c = {.u = u, .fd = fd};
	bool broken = false;
	char buf[16384];
	ssize_t n;

	llhttp_init(&c.p, HTTP_REQUEST, &up_settings);
	c.p.data = &c;
	set_timeouts(fd);
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			if (n == 0)
				up_count(u, &u->peer_closed);
			break;
		}
		up_record(u, buf, (size_t)n);
		if (!up_feed(&c, buf, (size_t)n, &broken))
			break;
	}
	close(fd);
}

static void *up_main(void *arg)
{
	struct upstream *u = arg;

	while (!u->stop) {
		struct pollfd pfd = {.fd = u->lfd, .events = POLLIN};
		int fd;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		fd = accept4(u->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		up_count(u, &u->conns);
		up_serve(u, fd); /* one connection at a time: a case uses one */
	}
	return NULL;
}

static void up_start(struct upstream *u, const struct up_script *sc)
{
	memset(u, 0, sizeof(*u));
	u->sc = sc;
	u->seen = calloc(1, SEEN_MAX + 1);
	pthread_mutex_init(&u->mu, NULL);
	u->lfd = listen_loopback(&u->addr);
	assert_int_equal(pthread_create(&u->thread, NULL, up_main, u), 0);
}

static void up_stop(struct upstream *u)
{
	u->stop = true;
	pthread_join(u->thread, NULL);
	close(u->lfd);
	pthread_mutex_destroy(&u->mu);
	free(u->seen);
}

/* The proxy under test. */

struct fixture {
	struct loop *loop;
	struct proxy *px;
	int lfd;
	struct sockaddr_in addr;
	pthread_t thread;
	struct upstream up, again;
	pthread_mutex_t mu; /* guards the log record */
	int logged;
	int log_status;
	uint32_t log_flags;
	const char *log_details;
};

static int fake_orig_dst(void *ctx, int fd, const struct sockaddr_in *peer,
			 const struct sockaddr_in *local, struct sockaddr_in *orig)
{
	orig->sin_family = AF_INET;
	orig->sin_port = htons(80);
	orig->sin_addr.s_addr = inet_addr("10.96.0.10");
	return 0;
}

/* /again... goes to the upstream that always answers, /noroute... is a 404, the rest to the
 * scripted one. */
static int fake_pick(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		     const struct http_req *req, struct proxy_pick *out)
{
	struct fixture *f = ctx;

	if (req->url_len >= 6 && !memcmp(req->url, "/again", 6)) {
		out->ep = f->again.addr;
	} else if (req->url_len >= 8 && !memcmp(req->url, "/noroute", 8)) {
		out->status = 404;
		out->flags = "NR";
	} else {
		out->ep = f->up.addr;
	}
	return 0;
}

/* The access log's view of the first request of the case (loop thread). */
static void fake_log(void *ctx, const struct proxy_reqinfo *ri)
{
	struct fixture *f = ctx;

	pthread_mutex_lock(&f->mu);
	if (!f->logged++) {
		f->log_status = ri->status;
		f->log_flags = ri->flags;
		f->log_details = ri->details;
	}
	pthread_mutex_unlock(&f->mu);
}

static void *loop_main(void *arg)
{
	struct fixture *f = arg;

	(void)loop_run(f->loop);
	return NULL;
}

static struct fixture *fixture_start(const struct up_script *sc, const struct limits *lim)
{
	static const struct up_script always_ok = {.reply = "HTTP/1.1 200 OK\r\n"
							    "Content-Length: 5\r\n\r\nagain"};
	struct fixture *f = calloc(1, sizeof(*f));
	struct proxy_ops ops = {
		.orig_dst = fake_orig_dst,
		.pick = fake_pick,
		.log = fake_log,
		.ctx = f,
		.connect_timeout_ms = 1000,
		.max_head_bytes = lim->max_head_bytes,
		.max_body_bytes = lim->max_body_bytes,
		.header_timeout_ms = lim->header_timeout_ms,
		.client_idle_timeout_ms = lim->idle_timeout_ms,
		.pool_idle_timeout_ms = lim->pool_idle_timeout_ms,
	};

	assert_non_null(f);
	pthread_mutex_init(&f->mu, NULL);
	up_start(&f->up, sc);
	up_start(&f->again, &always_ok);
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->lfd = listen_loopback(&f->addr);
	f->px = proxy_new(f->loop, f->lfd, &ops);
	assert_non_null(f->px);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
	return f;
}

static struct proxy_stats stats(struct fixture *f)
{
	struct proxy_stats s;

	proxy_get_stats(f->px, &s);
	return s;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Waits (bounded) until every client connection of the proxy is gone. */
static bool wait_no_sessions(struct fixture *f)
{
	for (int i = 0; i < IO_TIMEOUT_MS; i++) {
		if (!stats(f).active)
			return true;
		sleep_ms(1);
	}
	return false;
}

static bool wait_logged(struct fixture *f)
{
	for (int i = 0; i < IO_TIMEOUT_MS; i++) {
		int n;

		pthread_mutex_lock(&f->mu);
		n = f->logged;
		pthread_mutex_unlock(&f->mu);
		if (n)
			return true;
		sleep_ms(1);
	}
	return false;
}

static void fixture_stop(struct fixture *f)
{
	loop_stop(f->loop);
	pthread_join(f->thread, NULL);
	proxy_free(f->px);
	loop_free(f->loop);
	close(f->lfd);
	up_stop(&f->up);
	up_stop(&f->again);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* The client. */

struct client {
	int fd;
	char *all; /* everything received */
	size_t len, off;
	char statuses[128]; /* the responses parsed, "100 200" ("200~" for one cut short) */
	int n_statuses;
	bool eof;
	llhttp_t p;
	bool in_msg; /* a response head came, its message is not over */
};

static int cl_on_headers_complete(llhttp_t *p)
{
	struct client *c = p->data;

	c->in_msg = true;
	return 0;
}

static void cl_push(struct client *c, int status, bool cut)
{
	size_t n = strlen(c->statuses);

	snprintf(c->statuses + n, sizeof(c->statuses) - n, "%s%d%s", n ? " " : "", status,
		 cut ? "~" : "");
	c->n_statuses++;
	c->in_msg = false;
}

static int cl_on_message_complete(llhttp_t *p)
{
	cl_push(p->data, p->status_code, false);
	return HPE_PAUSED;
}

static const llhttp_settings_t cl_settings = {
	.on_headers_complete = cl_on_headers_complete,
	.on_message_complete = cl_on_message_complete,
};

static struct client *client_open(struct fixture *f)
{
	struct client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->all = calloc(1, RSP_MAX + 1);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	set_timeouts(c->fd);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&f->addr, sizeof(f->addr)), 0);
	llhttp_init(&c->p, HTTP_RESPONSE, &cl_settings);
	c->p.data = c;
	return c;
}

static void client_free(struct client *c)
{
	close(c->fd);
	free(c->all);
	free(c);
}

/* Parses what was received and not parsed yet. False: not HTTP (the rest is kept raw). */
static bool client_parse(struct client *c)
{
	while (c->off < c->len) {
		llhttp_errno_t err = llhttp_execute(&c->p, c->all + c->off, c->len - c->off);

		if (err == HPE_OK) {
			c->off = c->len;
			return true;
		}
		if (err == HPE_PAUSED_UPGRADE) {
			c->off = (size_t)(llhttp_get_error_pos(&c->p) - c->all);
			return false; /* a 101: what follows is the tunnel's */
		}
		if (err != HPE_PAUSED)
			return false;
		c->off = (size_t)(llhttp_get_error_pos(&c->p) - c->all);
		llhttp_resume(&c->p);
	}
	return true;
}

/* Reads until @want responses are parsed, the connection ends or a read times out. */
static void client_read(struct client *c, int want)
{
	while (c->n_statuses < want && !c->eof) {
		ssize_t n = recv(c->fd, c->all + c->len, RSP_MAX - c->len, 0);

		if (n <= 0) {
			c->eof = true;
			if (llhttp_finish(&c->p) == HPE_PAUSED)
				; /* a body delimited by the close: complete, pushed by the callback
				   */
			else if (c->in_msg)
				cl_push(c, c->p.status_code, true);
			break;
		}
		c->len += (size_t)n;
		if (!client_parse(c))
			break;
	}
}

/* True when the proxy closed the connection (EOF or reset) with nothing more to read. */
static bool client_closed(struct client *c)
{
	char b;
	ssize_t n;

	if (c->eof)
		return true;
	n = recv(c->fd, &b, 1, 0);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int count_words(const char *s)
{
	int n = 0;

	for (; *s; s++)
		if (*s != ' ' && (s[1] == ' ' || !s[1]))
			n++;
	return n;
}

/* The request of @tc as sent: markers expanded. Caller frees. */
static char *build_request(const struct edge_case *tc, size_t *len)
{
	size_t raw = tc->req_len ? tc->req_len : strlen(tc->req),
	       cap = raw + tc->pad_to + (size_t)tc->n_hdrs * 24 + 64;
	char *out = malloc(cap), *o = out;
	const char *p = tc->req, *end = tc->req + raw;
	const char *head_end;
	size_t pad = 0;

	assert_non_null(out);
	if (tc->pad_to) {
		/* The head without the marker, then as many pad bytes as reach pad_to. */
		head_end = memmem(tc->req, raw, "\r\n\r\n", 4);
		assert_non_null(head_end);
		pad = tc->pad_to - ((size_t)(head_end - tc->req) + 4 - 5);
	}
	while (p < end) {
		if (end - p >= 5 && !memcmp(p, "@PAD@", 5)) {
			memset(o, 'a', pad);
			o += pad;
			p += 5;
		} else if (end - p >= 6 && !memcmp(p, "@HDRS@", 6)) {
			for (unsigned i = 0; i < tc->n_hdrs; i++)
				o += sprintf(o, "x-h%u: v\r\n", i);
			p += 6;
		} else {
			*o++ = *p++;
		}
	}
	*len = (size_t)(o - out);
	return out;
}

#define NEXT_REQUEST "GET /again HTTP/1.1\r\nHost: svc\r\n\r\n"

static void run_case(const struct edge_case *tc)
{
	struct fixture *f = fixture_start(&tc->up, &tc->lim);
	struct client *c = client_open(f);
	size_t len;
	char *req = build_request(tc, &len);

	print_message("  case %s\n", tc->name);
	assert_int_equal(send_all(c->fd, req, len), 0);
	client_read(c, count_words(tc->statuses));
	if (strcmp(c->statuses, tc->statuses))
		fail_msg("%s: read \"%s\", expected \"%s\"; received:\n%.*s", tc->name, c->statuses,
			 tc->statuses, (int)(c->len < 2048 ? c->len : 2048), c->all);
	if (tc->rsp_has && !memmem(c->all, c->len, tc->rsp_has, strlen(tc->rsp_has)))
		fail_msg("%s: the client did not receive \"%s\"", tc->name, tc->rsp_has);
	if (tc->closed) {
		if (!client_closed(c))
			fail_msg("%s: the connection was not closed", tc->name);
	} else {
		/* Kept: the connection must serve the next request, and nothing else came. */
		size_t before = c->len;

		assert_int_equal(send_all(c->fd, NEXT_REQUEST, strlen(NEXT_REQUEST)), 0);
		c->off = c->len;
		llhttp_init(&c->p, HTTP_RESPONSE, &cl_settings);
		c->p.data = c;
		c->statuses[0] = '\0';
		c->n_statuses = 0;
		client_read(c, 1);
		if (strcmp(c->statuses, "200") ||
		    !memmem(c->all + before, c->len - before, "again", 5))
			fail_msg("%s: the next request on the connection got \"%s\"", tc->name,
				 c->statuses);
	}
	if (tc->details) {
		assert_true(wait_logged(f));
		pthread_mutex_lock(&f->mu);
		if (!f->log_details || strcmp(f->log_details, tc->details) ||
		    f->log_flags != tc->rflags)
			fail_msg("%s: logged details %s flags 0x%x, expected %s 0x%x", tc->name,
				 f->log_details ? f->log_details : "(none)", f->log_flags,
				 tc->details, tc->rflags);
		pthread_mutex_unlock(&f->mu);
	}
	client_free(c);
	free(req);
	assert_true(wait_no_sessions(f));
	sleep_ms(5); /* the upstream's last read */
	pthread_mutex_lock(&f->up.mu);
	if ((tc->up_requests || tc->up_no_request || tc->up_untouched) &&
	    f->up.requests != tc->up_requests)
		fail_msg("%s: the upstream parsed %d requests, expected %d:\n%.*s", tc->name,
			 f->up.requests, tc->up_requests, (int)f->up.seen_len, f->up.seen);
	if ((tc->up_conns || tc->up_untouched) && f->up.conns != tc->up_conns)
		fail_msg("%s: the upstream got %d connections, expected %d", tc->name, f->up.conns,
			 tc->up_conns);
	if (tc->up_sees && !memmem(f->up.seen, f->up.seen_len, tc->up_sees, strlen(tc->up_sees)))
		fail_msg("%s: the upstream did not receive \"%s\":\n%.*s", tc->name, tc->up_sees,
			 (int)f->up.seen_len, f->up.seen);
	if (tc->up_never && memmem(f->up.seen, f->up.seen_len, tc->up_never, strlen(tc->up_never)))
		fail_msg("%s: the upstream received \"%s\":\n%.*s", tc->name, tc->up_never,
			 (int)f->up.seen_len, f->up.seen);
	pthread_mutex_unlock(&f->up.mu);
	fixture_stop(f);
}

#define GET(path, extra) "GET " path " HTTP/1.1\r\nHost: svc\r\n" extra "\r\n"
#define POST_CL(path, n, extra, body)                                                              \
	"POST " path " HTTP/1.1\r\nHost: svc\r\nContent-Length: " #n "\r\n" extra "\r\n" body
#define POST_CHUNKED(path, extra, body)                                                            \
	"POST " path " HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n" extra "\r\n" body

/* A malformed request: a 400 and the close, nothing of it reaches a backend. */
#define REFUSED(nm, request, st)                                                                   \
	{                                                                                          \
		.name = nm, .req = request, .statuses = st, .closed = true, .up_no_request = true, \
		.up_untouched = true, .details = "http1.codec_error", .rflags = PROXY_RF_DPE,      \
	}
/* A malformed body found after routing: a 400 and the close; the upstream, if it was
 * connected, got no whole request. */
#define REFUSED_BODY(nm, request)                                                                  \
	{                                                                                          \
		.name = nm, .req = request, .statuses = "400", .closed = true,                     \
		.up_no_request = true, .details = "http1.codec_error", .rflags = PROXY_RF_DPE,     \
	}
/* The upstream's answer @rsp is malformed: a 502 in Envoy's words, the client kept. */
#define BAD_RESPONSE(nm, rsp)                                                                      \
	{                                                                                          \
		.name = nm, .req = GET("/x", ""), .up = {.reply = rsp}, .statuses = "502",         \
		.up_requests = 1, .up_conns = 1, .rsp_has = "reset reason: protocol error",        \
		.details = "upstream_reset_before_response_started{protocol_error}",               \
		.rflags = PROXY_RF_UPE,                                                            \
	}

static const struct edge_case cases[] = {
	/* Framing: what two parsers could read differently (request smuggling). */
	REFUSED("content_length_and_chunked",
		POST_CL("/x", 5, "Transfer-Encoding: chunked\r\n", "0\r\n\r\n"), "400"),
	REFUSED("chunked_and_content_length",
		POST_CHUNKED("/x", "Content-Length: 5\r\n", "0\r\n\r\n"), "400"),
	REFUSED("content_length_twice_differing",
		POST_CL("/x", 5, "Content-Length: 6\r\n", "hello!"), "400"),
	REFUSED("content_length_twice_equal", POST_CL("/x", 5, "Content-Length: 5\r\n", "hello"),
		"400"),
	REFUSED("content_length_list",
		"POST /x HTTP/1.1\r\nHost: svc\r\nContent-Length: 5, 5\r\n\r\nhello", "400"),
	REFUSED("content_length_signed",
		"POST /x HTTP/1.1\r\nHost: svc\r\nContent-Length: +5\r\n\r\nhello", "400"),
	REFUSED("chunked_not_last", POST_CHUNKED("/x", "Transfer-Encoding: gzip\r\n", "0\r\n\r\n"),
		"400"),
	REFUSED("transfer_encoding_without_chunked",
		"POST /x HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: gzip\r\n\r\nhello", "400"),
	REFUSED("transfer_encoding_in_http10",
		"POST /x HTTP/1.0\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"400"),
	REFUSED("transfer_encoding_space_before_colon",
		"POST /x HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
		"400"),
	REFUSED_BODY("chunk_data_longer_than_its_size",
		     POST_CHUNKED("/x", "", "5\r\nhelloXX0\r\n\r\n")),
	REFUSED_BODY("chunk_size_line_bare_lf", POST_CHUNKED("/x", "", "5\nhello\r\n0\r\n\r\n")),
	REFUSED_BODY("chunk_size_not_hex", POST_CHUNKED("/x", "", "zz\r\nhello\r\n0\r\n\r\n")),
	{
		.name = "chunked_with_extension_and_trailer_forwarded_as_is",
		.req = POST_CHUNKED("/x", "", "5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
		.statuses = "200",
		.up_requests = 1,
		.up_conns = 1,
		.up_sees = "\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
	},
	{
		.name = "other_coding_before_chunked_501",
		.req = "POST /x HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
		       "0\r\n\r\n",
		.statuses = "501",
		.closed = true,
		.up_untouched = true,
		.details = "http1.invalid_transfer_encoding",
		.rflags = PROXY_RF_DPE,
	},
	{
		.name = "chunked_in_capitals_forwarded",
		.req = "POST /x HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: Chunked\r\n\r\n"
		       "0\r\n\r\n",
		.statuses = "200",
		.up_requests = 1,
		.up_sees = "Transfer-Encoding: Chunked\r\n",
	},

	/* Header fields: names, values, folding. */
	REFUSED("obs_fold_space", GET("/x", "X-A: a\r\n b\r\n"), "400"),
	REFUSED("obs_fold_tab", GET("/x", "X-A: a\r\n\tb\r\n"), "400"),
	REFUSED("space_before_colon", "GET /x HTTP/1.1\r\nHost : svc\r\n\r\n", "400"),
	REFUSED("space_inside_name", GET("/x", "X A: b\r\n"), "400"),
	REFUSED("line_starting_with_space", "GET /x HTTP/1.1\r\n X-A: b\r\nHost: svc\r\n\r\n",
		"400"),
	REFUSED("no_colon", GET("/x", "Bad Header\r\n"), "400"),
	REFUSED("empty_name", GET("/x", ": b\r\n"), "400"),
	{
		.name = "nul_in_value",
		.req = "GET /x HTTP/1.1\r\nHost: svc\r\nX-A: a\0b\r\n\r\n",
		.req_len = 40,
		.statuses = "400",
		.closed = true,
		.up_untouched = true,
		.details = "http1.codec_error",
		.rflags = PROXY_RF_DPE,
	},
	REFUSED("control_byte_in_value", GET("/x", "X-A: a\x01z\r\n"), "400"),
	REFUSED("bare_lf_line_ends", "GET /x HTTP/1.1\nHost: svc\n\n", "400"),
	REFUSED("bare_cr", "GET /x HTTP/1.1\r\nHost: svc\r\r\n\r\n", "400"),
	{
		.name = "obs_text_in_value_forwarded",
		.req = GET("/x", "X-A: caf\xc3\xa9\r\n"),
		.statuses = "200",
		.up_requests = 1,
		.up_sees = "X-A: caf\xc3\xa9\r\n",
	},
	{
		.name = "host_twice",
		.req = GET("/x", "Host: other\r\n"),
		.statuses = "400",
		.closed = true,
		.up_untouched = true,
		.details = "http1.codec_error",
		.rflags = PROXY_RF_DPE,
	},
	{
		.name = "no_host_in_http11",
		.req = "GET /x HTTP/1.1\r\nX-A: b\r\n\r\n",
		.statuses = "400",
		.closed = true,
		.up_untouched = true,
		.details = "missing_host_header",
		.rflags = PROXY_RF_DPE,
	},

	/* The request line. */
	REFUSED("http09_request_line", "GET /x\r\n\r\n", "505"),
	REFUSED("http20_version", "GET /x HTTP/2.0\r\nHost: svc\r\n\r\n", "505"),
	REFUSED("http12_version", "GET /x HTTP/1.2\r\nHost: svc\r\n\r\n", "400"),
	REFUSED("unknown_method", "FETCH /x HTTP/1.1\r\nHost: svc\r\n\r\n", "400"),
	REFUSED("space_in_target", "GET /a b HTTP/1.1\r\nHost: svc\r\n\r\n", "400"),
	{
		.name = "connect_method_405",
		.req = "CONNECT svc:443 HTTP/1.1\r\nHost: svc:443\r\n\r\n",
		.statuses = "405",
		.closed = true,
		.up_untouched = true,
	},

	/* Limits. */
	{
		.name = "head_at_the_limit",
		.req = GET("/x", "X-Pad: @PAD@\r\n"),
		.pad_to = 1024,
		.lim = {.max_head_bytes = 1024},
		.statuses = "200",
		.up_requests = 1,
	},
	{
		.name = "head_a_byte_over_the_limit_431",
		.req = GET("/x", "X-Pad: @PAD@\r\n"),
		.pad_to = 1025,
		.lim = {.max_head_bytes = 1024},
		.statuses = "431",
		.closed = true,
		.up_untouched = true,
		.details = "http1.headers_too_large",
		.rflags = PROXY_RF_DPE,
	},
	{
		.name = "request_line_over_the_limit_414",
		.req = "GET /@PAD@ HTTP/1.1\r\nHost: svc\r\n\r\n",
		.pad_to = 3000,
		.lim = {.max_head_bytes = 1024},
		.statuses = "414",
		.closed = true,
		.up_untouched = true,
		.details = "http1.headers_too_large",
		.rflags = PROXY_RF_DPE,
	},
	{
		.name = "head_of_40k_under_the_default_60k",
		.req = GET("/x", "X-Pad: @PAD@\r\n"),
		.pad_to = 40000,
		.statuses = "200",
		.up_requests = 1,
		.up_sees = "aaaa\r\nx-request-id",
	},
	{
		.name = "head_at_the_default_60k",
		.req = GET("/x", "X-Pad: @PAD@\r\n"),
		.pad_to = PROXY_HEAD_MAX_DEFAULT,
		.statuses = "200",
		.up_requests = 1,
	},
	{
		.name = "head_over_the_default_60k_431",
		.req = GET("/x", "X-Pad: @PAD@\r\n"),
		.pad_to = PROXY_HEAD_MAX_DEFAULT + 1,
		.statuses = "431",
		.closed = true,
		.up_untouched = true,
	},
	{
		.name = "one_hundred_header_fields",
		.req = "GET /x HTTP/1.1\r\nHost: svc\r\n@HDRS@\r\n",
		.n_hdrs = 99,
		.statuses = "200",
		.up_requests = 1,
	},
	{
		.name = "one_hundred_and_one_header_fields_431",
		.req = "GET /x HTTP/1.1\r\nHost: svc\r\n@HDRS@\r\n",
		.n_hdrs = 100,
		.statuses = "431",
		.closed = true,
		.up_untouched = true,
		.details = "http1.headers_too_large",
		.rflags = PROXY_RF_DPE,
	},
	{
		.name = "body_at_the_limit",
		.req = POST_CL("/x", 10, "", "0123456789"),
		.lim = {.max_body_bytes = 10},
		.statuses = "200",
		.up_requests = 1,
		.up_sees = "\r\n\r\n0123456789",
	},
	{
		.name = "content_length_over_the_limit_413",
		.req = POST_CL("/x", 11, "", "0123456789A"),
		.lim = {.max_body_bytes = 10},
		.statuses = "413",
		.closed = true,
		.up_untouched = true,
		.details = "request_payload_too_large",
	},
	{
		.name = "expect_100_over_the_limit_413_before_the_body",
		.req = POST_CL("/x", 1000000, "Expect: 100-continue\r\n", ""),
		.lim = {.max_body_bytes = 10},
		.statuses = "413",
		.closed = true,
		.up_untouched = true,
		.details = "request_payload_too_large",
	},
	{
		.name = "chunks_over_the_limit_413",
		.req = POST_CHUNKED("/x", "", "6\r\n012345\r\n6\r\n6789AB\r\n0\r\n\r\n"),
		.lim = {.max_body_bytes = 10},
		.statuses = "413",
		.closed = true,
		.up_no_request = true,
		.details = "request_payload_too_large",
	},

	/* HTTP/1.0, Connection: close. */
	{
		.name = "http10_closes_and_says_so",
		.req = "GET /x HTTP/1.0\r\n\r\n",
		.statuses = "200",
		.closed = true,
		.up_requests = 1,
		.up_sees = "GET /x HTTP/1.0\r\n",
		.rsp_has = "connection: close\r\n",
	},
	{
		.name = "http10_keep_alive_kept_and_says_so",
		.req = "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		.statuses = "200",
		.up_requests = 1,
		.up_never = "eep-alive",
		.rsp_has = "connection: keep-alive\r\n",
	},
	{
		.name = "connection_close_closes_and_stays_on_its_hop",
		.req = GET("/x", "Connection: close\r\n"),
		.statuses = "200",
		.closed = true,
		.up_requests = 1,
		.up_never = "onnection",
		.rsp_has = "connection: close\r\n",
	},

	/* Pipelining: answered in order, one at a time. */
	{
		.name = "pipelined_answered_in_order",
		.req = GET("/p1", "") GET("/p2", "") GET("/p3", ""),
		.statuses = "200 200 200",
		.up_requests = 3,
		.up_conns = 1,
		.rsp_has = "\r\n\r\n/p1HTTP/1.1 200 OK\r\n",
	},
	{
		.name = "pipelined_behind_a_body",
		.req = POST_CL("/p1", 5, "", "hello") GET("/p2", ""),
		.statuses = "200 200",
		.up_requests = 2,
		.up_sees = "hello",
	},
	{
		.name = "pipelined_behind_a_local_reply",
		.req = GET("/noroute", "") GET("/p2", ""),
		.statuses = "404 200",
		.up_requests = 1,
		.details = "route_not_found",
		.rflags = PROXY_RF_NR,
	},
	{
		.name = "pipelined_malformed_after_a_good_one",
		.req = GET("/p1", "") "GET /p2 HTTP/1.1\r\nBad Header\r\n\r\n",
		.statuses = "200 400",
		.closed = true,
		.up_requests = 1,
		.up_never = "/p2",
	},
	{
		.name = "pipelined_behind_connection_close_dropped",
		.req = GET("/p1", "Connection: close\r\n") GET("/p2", ""),
		.statuses = "200",
		.closed = true,
		.up_requests = 1,
		.up_never = "/p2",
	},

	/* Upgrade refused, Expect. */
	{
		.name = "upgrade_answered_200_stays_http",
		.req = GET("/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\n"),
		.statuses = "200",
		.up_requests = 1,
		.up_sees = "Upgrade: websocket\r\n",
	},
	{
		.name = "upgrade_answered_101_unasked_is_502",
		.req = GET("/x", ""),
		.up = {.reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
				"Connection: Upgrade\r\n\r\n"},
		.statuses = "502",
		.up_requests = 1,
		.details = "upstream_reset_before_response_started{protocol_error}",
		.rflags = PROXY_RF_UPE,
	},
	{
		.name = "expect_100_relayed_then_the_answer",
		.req = POST_CL("/x", 5, "Expect: 100-continue\r\n", "hello"),
		.up = {.interim = "HTTP/1.1 100 Continue\r\n\r\n"},
		.statuses = "100 200",
		.up_requests = 1,
		.up_sees = "Expect: 100-continue\r\n",
	},
	{
		.name = "expect_100_refused_by_the_upstream_closes",
		.req = POST_CL("/x", 5, "Expect: 100-continue\r\n", ""),
		.up = {.early = true,
		       .reply = "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n"},
		.statuses = "417",
		.closed = true,
		.up_no_request = true,
		.rsp_has = "connection: close\r\n",
	},
	{
		.name = "expect_100_answered_locally_closes",
		.req = "POST /noroute HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\n"
		       "Content-Length: 5\r\n\r\n",
		.statuses = "404",
		.closed = true,
		.up_untouched = true,
	},

	/* The upstream answers before the body is in: the answer goes out, then the close. */
	{
		.name = "early_answer_then_close",
		.req = POST_CL("/x", 20, "", "0123456789"),
		.up = {.early = true,
		       .reply = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!"},
		.statuses = "413",
		.closed = true,
		.up_no_request = true,
		.rsp_has = "connection: close\r\n",
	},
	{
		.name = "early_answer_and_upstream_close",
		.req = POST_CL("/x", 20, "", "0123456789"),
		.up = {.early = true,
		       .close = true,
		       .reply = "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"},
		.statuses = "403",
		.closed = true,
		.up_no_request = true,
	},

	/* Malformed responses: 502, the upstream connection closed, the client kept. */
	BAD_RESPONSE("response_status_not_a_number", "HTTP/1.1 2x0 OK\r\n\r\n"),
	BAD_RESPONSE("response_not_http", "hello\r\n\r\n"),
	BAD_RESPONSE("response_content_length_and_chunked",
		     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "0\r\n\r\n"),
	BAD_RESPONSE("response_content_length_twice",
		     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"),
	BAD_RESPONSE("response_obs_fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n"
					  "Content-Length: 2\r\n\r\nok"),
	BAD_RESPONSE("response_space_before_colon",
		     "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"),
	BAD_RESPONSE("response_bare_lf", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
	{
		.name = "response_cut_in_its_chunks",
		.req = GET("/x", ""),
		.up = {.reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				"2\r\nokZZ"},
		.statuses = "200~",
		.closed = true,
		.up_requests = 1,
		.details = "upstream_reset_after_response_started{protocol_error}",
		.rflags = PROXY_RF_UPE,
	},
	{
		.name = "upstream_closes_before_answering_503",
		.req = GET("/x", ""),
		.up = {.silent = true, .close = true},
		.statuses = "503",
		.up_requests = 1,
		.rsp_has = "reset reason: connection termination",
		.details = "upstream_reset_before_response_started{connection_termination}",
		.rflags = PROXY_RF_UC,
	},
	{
		.name = "upstream_closes_mid_body",
		.req = GET("/x", ""),
		.up = {.close = true, .reply = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"},
		.statuses = "200~",
		.closed = true,
		.up_requests = 1,
		.details = "upstream_reset_after_response_started{connection_termination}",
		.rflags = PROXY_RF_UC,
	},
	{
		.name = "interim_103_then_the_answer",
		.req = GET("/x", ""),
		.up = {.reply = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		.statuses = "103 200",
		.up_requests = 1,
	},
	{
		.name = "bytes_after_a_whole_response_do_not_reach_the_client",
		.req = GET("/x", ""),
		.up = {.reply =
			       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"},
		.statuses = "200",
		.up_requests = 1,
	},
};

static void table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Cases with time or several steps in them. */

/* Slowloris: the head one byte at a time. It gets its 408 after header_timeout_ms from its
 * first byte, however often bytes come. */
static void head_trickling_in_gets_408_after_the_header_timeout(void **state)
{
	static const struct up_script sc = {0};
	struct limits lim = {.header_timeout_ms = 300};
	struct fixture *f = fixture_start(&sc, &lim);
	struct client *c = client_open(f);
	const char *head = "GET /slow HTTP/1.1\r\nHost: svc\r\nX-Trickle: ";
	uint64_t t0 = now_ms(), took;
	char peek;

	(void)state;
	/* A byte every 20 ms (the head's, then a value's that never ends), until the answer. */
	for (size_t i = 0; now_ms() - t0 < 2000; i++) {
		if (send(c->fd, i < strlen(head) ? head + i : "a", 1, MSG_NOSIGNAL) != 1)
			break;
		sleep_ms(20);
		if (recv(c->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
			break;
	}
	client_read(c, 1);
	took = now_ms() - t0;
	assert_string_equal(c->statuses, "408");
	assert_true(memmem(c->all, c->len, "connection: close", 17) != NULL);
	assert_true(client_closed(c));
	assert_true(took >= 280 && took < 1500);
	assert_int_equal(stats(f).header_timeouts, 1);
	assert_true(wait_logged(f));
	assert_string_equal(f->log_details, "request_header_timeout");
	assert_int_equal(f->log_status, 408);
	assert_int_equal(f->up.conns, 0);
	client_free(c);
	assert_true(wait_no_sessions(f));
	fixture_stop(f);
}

/* A connection that never begins a request is closed, without a word, a header timeout after
 * its accept (as HAProxy's timeout http-request); it is not an idle keep-alive one. */
static void silent_connection_closed_after_the_header_timeout(void **state)
{
	static const struct up_script sc = {0};
	struct limits lim = {.header_timeout_ms = 200, .idle_timeout_ms = 60000};
	struct fixture *f = fixture_start(&sc, &lim);
	struct client *c = client_open(f);
	uint64_t t0 = now_ms();

	(void)state;
	assert_true(client_closed(c));
	assert_true(now_ms() - t0 >= 180 && now_ms() - t0 < 1500);
	assert_int_equal(c->len, 0);
	assert_int_equal(stats(f).header_timeouts, 0); /* no head, no 408 */
	client_free(c);
	assert_true(wait_no_sessions(f));
	fixture_stop(f);
}

/* The header timeout is for heads: an idle keep-alive connection is the idle timeout's. */
static void idle_connection_is_not_hit_by_the_header_timeout(void **state)
{
	static const struct up_script sc = {0};
	struct limits lim = {.header_timeout_ms = 100};
	struct fixture *f = fixture_start(&sc, &lim);
	struct client *c = client_open(f);

	(void)state;
	assert_int_equal(send_all(c->fd, GET("/a", ""), strlen(GET("/a", ""))), 0);
	client_read(c, 1);
	assert_string_equal(c->statuses, "200");
	sleep_ms(300); /* three header timeouts, idle */
	/* A head in two writes, each well within the timeout. */
	assert_int_equal(send_all(c->fd, "GET /b HTTP/1.1\r\n", 17), 0);
	sleep_ms(50);
	assert_int_equal(send_all(c->fd, "Host: svc\r\n\r\n", 13), 0);
	client_read(c, 2);
	assert_string_equal(c->statuses, "200 200");
	assert_int_equal(stats(f).header_timeouts, 0);
	client_free(c);
	assert_true(wait_no_sessions(f));
	fixture_stop(f);
}

/* Keep-alive idle timeouts on both sides: the client's connection and the pooled upstream. */
static void idle_timeouts_close_both_sides(void **state)
{
	static const struct up_script sc = {0};
	struct limits lim = {.idle_timeout_ms = 200, .pool_idle_timeout_ms = 150};
	struct fixture *f = fixture_start(&sc, &lim);
	struct client *c = client_open(f);
	uint64_t t0;

	(void)state;
	assert_int_equal(send_all(c->fd, GET("/a", ""), strlen(GET("/a", ""))), 0);
	client_read(c, 1);
	assert_string_equal(c->statuses, "200");
	t0 = now_ms();
	assert_true(client_closed(c)); /* waits for the proxy to close, nothing else comes */
	assert_true(now_ms() - t0 >= 150 && now_ms() - t0 < 1500);
	for (int i = 0; i < 1500 && !f->up.peer_closed; i++)
		sleep_ms(1);
	assert_int_equal(f->up.peer_closed, 1); /* the pooled upstream connection closed too */
	assert_int_equal(stats(f).upstream_active, 0);
	client_free(c);
	assert_true(wait_no_sessions(f));
	fixture_stop(f);
}

/* Reads until @want is among what was received (bounded). */
static bool client_wait_for(struct client *c, const char *want)
{
	while (!memmem(c->all, c->len, want, strlen(want))) {
		ssize_t n = recv(c->fd, c->all + c->len, RSP_MAX - c->len, 0);

		if (n <= 0)
			return false;
		c->len += (size_t)n;
	}
	return true;
}

static const char WS_REQUEST[] = "GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\n"
				 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
				 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
#define WS_101                                                                                     \
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"        \
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

/* WebSocket: after the 101, bytes both ways; the client's FIN goes on to the upstream, which
 * still answers after it, and the upstream's FIN then ends the client's connection. */
static void websocket_tunnel_passes_half_closes_on(void **state)
{
	static const struct up_script sc = {.reply = WS_101, .tunnel = true, .after_eof = "bye"};
	static const struct limits lim = {.idle_timeout_ms = 100, .header_timeout_ms = 100};
	struct fixture *f = fixture_start(&sc, &lim);
	struct client *c = client_open(f);

	(void)state;
	assert_int_equal(send_all(c->fd, WS_REQUEST, strlen(WS_REQUEST)), 0);
	assert_true(client_wait_for(c, "\r\n\r\n"));
	assert_true(!strncmp(c->all, "HTTP/1.1 101 ", 13));
	assert_true(memmem(c->all, c->len, "Sec-WebSocket-Accept: ", 22) != NULL);
	sleep_ms(250); /* the tunnel is no idle request: neither timeout touches it */
	assert_int_equal(send_all(c->fd, "\x81\x04ping", 6), 0);
	assert_true(client_wait_for(c, "\x81\x04ping"));
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	assert_true(client_wait_for(c, "bye")); /* the upstream saw the FIN and answered after it */
	assert_true(client_closed(c));
	pthread_mutex_lock(&f->up.mu);
	assert_true(memmem(f->up.seen, f->up.seen_len, "Upgrade: websocket\r\n", 20) != NULL);
	assert_true(memmem(f->up.seen, f->up.seen_len, "Sec-WebSocket-Key: ", 19) != NULL);
	pthread_mutex_unlock(&f->up.mu);
	assert_int_equal(stats(f).responses_1xx, 1);
	client_free(c);
	assert_true(wait_no_sessions(f));
	assert_int_equal(stats(f).upstream_active, 0);
	fixture_stop(f);
}

/* The other way: the upstream half-closes first; the client reads the end of its bytes and
 * can still send, which reaches the upstream, until it closes too. */
static void websocket_upstream_half_close_first(void **state)
{
	static const struct up_script sc = {.reply = WS_101 "server-done", .half_close = true};
	static const struct limits none = {0};
	struct fixture *f = fixture_start(&sc, &none);
	struct client *c = client_open(f);
	bool got = false;
	char b;

	(void)state;
	assert_int_equal(send_all(c->fd, WS_REQUEST, strlen(WS_REQUEST)), 0);
	assert_true(client_wait_for(c, "server-done"));
	assert_int_equal(recv(c->fd, &b, 1, 0), 0); /* the upstream's FIN, passed on */
	assert_int_equal(send_all(c->fd, "late", 4), 0);
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	for (int i = 0; i < IO_TIMEOUT_MS && !got; i++) {
		pthread_mutex_lock(&f->up.mu);
		got = f->up.peer_closed == 1;
		pthread_mutex_unlock(&f->up.mu);
		sleep_ms(1);
	}
	assert_true(got); /* the upstream read the client's FIN ... */
	pthread_mutex_lock(&f->up.mu);
	assert_true(memmem(f->up.seen, f->up.seen_len, "late", 4) != NULL); /* ... after "late" */
	pthread_mutex_unlock(&f->up.mu);
	client_free(c);
	assert_true(wait_no_sessions(f));
	assert_int_equal(stats(f).upstream_active, 0);
	fixture_stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table),
		cmocka_unit_test(head_trickling_in_gets_408_after_the_header_timeout),
		cmocka_unit_test(silent_connection_closed_after_the_header_timeout),
		cmocka_unit_test(idle_connection_is_not_hit_by_the_header_timeout),
		cmocka_unit_test(idle_timeouts_close_both_sides),
		cmocka_unit_test(websocket_tunnel_passes_half_closes_on),
		cmocka_unit_test(websocket_upstream_half_close_first),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
