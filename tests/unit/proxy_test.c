// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The HTTP/1.1 proxy against real sockets on 127.0.0.1: each test runs a
 * fresh proxy on its own event loop thread, two test backends (A and B,
 * threaded, llhttp-parsed, misbehaving on command by request path) and a
 * blocking test client. The fake pick() routes by path prefix:
 *   /b...          backend B            /refused...  a port nobody listens on
 *   /timeout...    a full listen queue  /noroute...  -ENOENT
 *   /unhealthy...  -EHOSTUNREACH        anything else: backend A
 * A backend answers by path: "NAME METHOD URL" bodies by default; /big,
 * /echo, /chunked, /eofbody, /abort, /stall, /malformed, /204, /continue,
 * /hdrs, /close, /slow, /upgrade, /kaclose (see srv_respond()).
 * Every socket has a receive timeout: no test can hang.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <cmocka.h>

#include <llhttp.h>

#include "loop.h"
#include "proxy.h"

#define IO_TIMEOUT_S	 5
#define BIG		 (1024 * 1024)
#define MAX_CONN_THREADS 256

static const struct timeval io_timeout = {.tv_sec = IO_TIMEOUT_S};

/* Also called from backend threads: no cmocka assertion there, they would jump across threads. */
static void set_timeouts(int fd)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof(io_timeout)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_timeout, sizeof(io_timeout)))
		abort();
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listen_on_loopback(int backlog, bool nonblock, struct sockaddr_in *out)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*out = a;
	return fd;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + 3);
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

static int send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* Test backends. */

struct server {
	char name[4];
	int lfd;
	struct sockaddr_in addr;
	pthread_t accept_thread;
	pthread_mutex_t mu;
	int conns;		      /* connections accepted, under mu */
	struct sockaddr_in last_peer; /* the proxy's end of the last connection, under mu */
	pthread_t threads[MAX_CONN_THREADS];
	int n_threads;
	sem_t stall_closed;	/* posted when a /stall connection saw the proxy close it */
	sem_t kaclose_closed;	/* posted when a /kaclose connection was closed by the backend */
	sem_t mirrored;		/* posted when a /mirror request was answered */
	char mirror_seen[2048]; /* its headers and body, under mu */
};

struct srv_conn {
	struct server *srv;
	int fd;
	llhttp_t p;
	char url[256];
	size_t url_len;
	char method[16];
	char *body;
	size_t body_len, body_cap;
	char hname[64];
	size_t hname_len;
	bool expect;
	char hdrs[2048]; /* "name: value\n" for each header, as parsed */
	size_t hdrs_len;
	bool drop_next; /* close at the next request without answering it */
};

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n > *cap) {
		*cap = (*len + n) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
	memcpy(*buf + *len, p, n);
	*len += n;
}

static int srv_on_message_begin(llhttp_t *p)
{
	struct srv_conn *c = p->data;

	c->url_len = 0;
	c->body_len = 0;
	c->hdrs_len = 0;
	c->hname_len = 0;
	c->expect = false;
	return 0;
}

static int srv_on_url(llhttp_t *p, const char *at, size_t n)
{
	struct srv_conn *c = p->data;

	if (c->url_len + n < sizeof(c->url)) {
		memcpy(c->url + c->url_len, at, n);
		c->url_len += n;
		c->url[c->url_len] = '\0';
	}
	return 0;
}

static void hdrs_put(struct srv_conn *c, const char *at, size_t n)
{
	if (c->hdrs_len + n < sizeof(c->hdrs)) {
		memcpy(c->hdrs + c->hdrs_len, at, n);
		c->hdrs_len += n;
	}
}

static int srv_on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct srv_conn *c = p->data;

	if (c->hname_len + n < sizeof(c->hname)) {
		memcpy(c->hname + c->hname_len, at, n);
		c->hname_len += n;
	}
	hdrs_put(c, at, n);
	return 0;
}

static int srv_on_header_field_complete(llhttp_t *p)
{
	hdrs_put(p->data, ": ", 2);
	return 0;
}

static int srv_on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct srv_conn *c = p->data;

	hdrs_put(c, at, n);
	if (c->hname_len == 6 && !strncasecmp(c->hname, "expect", 6) && n == 12 &&
	    !strncasecmp(at, "100-continue", 12))
		c->expect = true;
	return 0;
}

static int srv_on_header_value_complete(llhttp_t *p)
{
	struct srv_conn *c = p->data;

	hdrs_put(c, "\n", 1);
	c->hname_len = 0;
	return 0;
}

static int srv_on_headers_complete(llhttp_t *p)
{
	struct srv_conn *c = p->data;

	snprintf(c->method, sizeof(c->method), "%s", llhttp_method_name(p->method));
	if (c->expect && !strncmp(c->url, "/continue", 9))
		send_str(c->fd, "HTTP/1.1 100 Continue\r\n\r\n");
	/* Answer before the body, as a server refusing an upload does. */
	return !strncmp(c->url, "/early", 6) ? HPE_PAUSED : 0;
}

static int srv_on_body(llhttp_t *p, const char *at, size_t n)
{
	struct srv_conn *c = p->data;

	append(&c->body, &c->body_len, &c->body_cap, at, n);
	return 0;
}

static int srv_on_message_complete(llhttp_t *p)
{
	return HPE_PAUSED;
}

static const llhttp_settings_t srv_settings = {
	.on_message_begin = srv_on_message_begin,
	.on_url = srv_on_url,
	.on_header_field = srv_on_header_field,
	.on_header_field_complete = srv_on_header_field_complete,
	.on_header_value = srv_on_header_value,
	.on_header_value_complete = srv_on_header_value_complete,
	.on_headers_complete = srv_on_headers_complete,
	.on_body = srv_on_body,
	.on_message_complete = srv_on_message_complete,
};

static bool path_is(const struct srv_conn *c, const char *prefix)
{
	return !strncmp(c->url, prefix, strlen(prefix));
}

/* A response with a Content-Length body (none on the wire for HEAD). */
static int srv_reply(struct srv_conn *c, int status, const char *extra, const char *body,
		     size_t len)
{
	char head[512];

	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nX-Server: %s\r\nContent-Length: %zu\r\n%s\r\n", status,
		 c->srv->name, len, extra);
	if (send_str(c->fd, head))
		return -1;
	if (strcmp(c->method, "HEAD") && len)
		return send_all(c->fd, body, len);
	return 0;
}

/* Waits until the proxy closes the connection (bounded by the receive timeout). */
static void srv_wait_close(struct srv_conn *c)
{
	char b[4096];

	while (recv(c->fd, b, sizeof(b), 0) > 0)
		;
}

/* Answers one request by its path. Returns false when the connection must end. */
static bool srv_respond(struct srv_conn *c)
{
	char text[512];
	int n;

	if (c->drop_next)
		return false;
	if (path_is(c, "/dropnext")) {
		/* Answers as keep-alive, then drops the connection when the next request comes:
		 * what a backend closing an idle connection does when the request crosses the FIN.
		 */
		c->drop_next = true;
		return !srv_reply(c, 200, "", "ok", 2);
	}
	if (path_is(c, "/big")) {
		char *big = malloc(BIG);

		for (size_t i = 0; i < BIG; i++)
			big[i] = (char)pattern(i);
		n = srv_reply(c, 200, "", big, BIG);
		free(big);
		return !n;
	}
	if (path_is(c, "/echo") || path_is(c, "/continue"))
		return !srv_reply(c, 200, "", c->body, c->body_len);
	if (path_is(c, "/hdrs"))
		return !srv_reply(c, 200, "", c->hdrs, c->hdrs_len);
	if (path_is(c, "/chunked")) {
		/* The request body as received, as one chunk, then chunks with an extension and
		 * trailers. */
		n = snprintf(text, sizeof(text),
			     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
			     c->body_len);
		if (send_all(c->fd, text, (size_t)n) || send_all(c->fd, c->body, c->body_len))
			return false;
		return !send_str(c->fd, "\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n"
					"X-Trailer: t\r\n\r\n");
	}
	if (path_is(c, "/eofbody")) {
		send_str(c->fd, "HTTP/1.1 200 OK\r\nX-Server: A\r\n\r\nuntil the close");
		return false;
	}
	if (path_is(c, "/abort") || path_is(c, "/stall")) {
		char part[1000];

		memset(part, 'p', sizeof(part));
		send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
		send_all(c->fd, part, sizeof(part));
		if (path_is(c, "/stall")) {
			srv_wait_close(c);
			sem_post(&c->srv->stall_closed);
		}
		return false;
	}
	if (path_is(c, "/malformed")) {
		send_str(c->fd, "HTTP/1.1 2x0 OK\r\n\r\n");
		return false;
	}
	if (path_is(c, "/early")) {
		/* Closing with the body unread: the proxy gets a reset behind the answer. */
		send_str(c->fd, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n"
				"Connection: close\r\n\r\nbig!");
		return false;
	}
	if (path_is(c, "/204"))
		return !send_str(c->fd, "HTTP/1.1 204 No Content\r\nX-Server: A\r\n\r\n");
	if (path_is(c, "/mirror")) {
		bool ok = !srv_reply(c, 200, "", "m", 1);

		pthread_mutex_lock(&c->srv->mu);
		snprintf(c->srv->mirror_seen, sizeof(c->srv->mirror_seen), "%.*sbody=%.*s",
			 (int)c->hdrs_len, c->hdrs, (int)c->body_len, c->body ? c->body : "");
		pthread_mutex_unlock(&c->srv->mu);
		sem_post(&c->srv->mirrored);
		return ok;
	}
	/* Retries: A fails (503, or hangs), B answers with the headers it got; /fail-all fails
	 * on both. */
	if (path_is(c, "/fail-all") || (path_is(c, "/fail-a") && !strcmp(c->srv->name, "A")))
		return !srv_reply(c, 503, "", "unavailable", 11);
	if (path_is(c, "/hang") && (path_is(c, "/hang-all") || !strcmp(c->srv->name, "A"))) {
		srv_wait_close(c);
		return false;
	}
	if (path_is(c, "/fail-a") || path_is(c, "/hang"))
		return !srv_reply(c, 200, "", c->hdrs, c->hdrs_len);
	if (path_is(c, "/close")) {
		srv_reply(c, 200, "Connection: close\r\n", "bye", 3);
		return false;
	}
	if (path_is(c, "/kaclose")) {
		/* Answers as keep-alive, then closes: the pooled connection is dead. */
		srv_reply(c, 200, "", "ka", 2);
		shutdown(c->fd, SHUT_RDWR);
		sem_post(&c->srv->kaclose_closed);
		return false;
	}
	if (path_is(c, "/upgrade")) {
		char b[64];
		ssize_t r;

		send_str(c->fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
				"Connection: Upgrade\r\n\r\n");
		/* Echo raw bytes until the proxy closes. */
		while ((r = recv(c->fd, b, sizeof(b), 0)) > 0)
			send_all(c->fd, b, (size_t)r);
		return false;
	}
	if (path_is(c, "/slow")) {
		/* A behaviour, not synchronisation: the next pipelined answer must still wait. */
		struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	n = snprintf(text, sizeof(text), "%s %s %s", c->srv->name, c->method, c->url);
	return !srv_reply(c, 200, "", text, (size_t)n);
}

static void *srv_conn_main(void *arg)
{
	struct srv_conn *c = arg;
	char buf[65536];
	ssize_t n;

	llhttp_init(&c->p, HTTP_REQUEST, &srv_settings);
	c->p.data = c;
	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
		const char *at = buf, *end = buf + n;
		bool open = true;

		while (open && at < end) {
			llhttp_errno_t err = llhttp_execute(&c->p, at, (size_t)(end - at));

			if (err == HPE_OK)
				break;
			if (err != HPE_PAUSED) {
				open = false;
				break;
			}
			at = llhttp_get_error_pos(&c->p);
			llhttp_resume(&c->p);
			open = srv_respond(c);
		}
		if (!open)
			break;
	}
	close(c->fd);
	free(c->body);
	free(c);
	return NULL;
}

static void *srv_accept_main(void *arg)
{
	struct server *srv = arg;

	for (;;) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		struct srv_conn *c;
		int fd;

		fd = accept4(srv->lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
		if (fd < 0)
			return NULL; /* shutdown() at the end of the group */
		set_timeouts(fd);
		c = calloc(1, sizeof(*c));
		c->srv = srv;
		c->fd = fd;
		pthread_mutex_lock(&srv->mu);
		srv->conns++;
		srv->last_peer = peer;
		if (srv->n_threads < MAX_CONN_THREADS &&
		    !pthread_create(&srv->threads[srv->n_threads], NULL, srv_conn_main, c)) {
			srv->n_threads++;
		} else {
			close(fd);
			free(c);
		}
		pthread_mutex_unlock(&srv->mu);
	}
}

static void server_start(struct server *srv, const char *name)
{
	memset(srv, 0, sizeof(*srv));
	snprintf(srv->name, sizeof(srv->name), "%s", name);
	pthread_mutex_init(&srv->mu, NULL);
	sem_init(&srv->stall_closed, 0, 0);
	sem_init(&srv->kaclose_closed, 0, 0);
	sem_init(&srv->mirrored, 0, 0);
	srv->lfd = listen_on_loopback(128, false, &srv->addr);
	assert_int_equal(pthread_create(&srv->accept_thread, NULL, srv_accept_main, srv), 0);
}

static void server_stop(struct server *srv)
{
	shutdown(srv->lfd, SHUT_RDWR);
	pthread_join(srv->accept_thread, NULL);
	close(srv->lfd);
	for (int i = 0; i < srv->n_threads; i++)
		pthread_join(srv->threads[i], NULL);
	sem_destroy(&srv->stall_closed);
	sem_destroy(&srv->kaclose_closed);
	sem_destroy(&srv->mirrored);
	pthread_mutex_destroy(&srv->mu);
}

static int server_conns(struct server *srv)
{
	int n;

	pthread_mutex_lock(&srv->mu);
	n = srv->conns;
	srv->conns = 0;
	pthread_mutex_unlock(&srv->mu);
	return n;
}

static int sem_wait_bounded(sem_t *sem)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += IO_TIMEOUT_S;
	return sem_timedwait(sem, &ts);
}

/* The proxy under test, its loop thread and the fake control plane. */

static struct server srv_a, srv_b;
static struct sockaddr_in refused_addr; /* bound, never listening */
static int refused_fd;
static struct sockaddr_in blackhole_addr; /* listen queue full: SYNs are dropped */
static int blackhole_fd, blackhole_filler;

struct fixture {
	struct loop *loop;
	struct proxy *px;
	int lfd;
	struct sockaddr_in addr;
	pthread_t thread;
	int loop_rc;
	bool orig_unknown;
	int orig_calls;
	bool orig_args_bad; /* orig_dst() saw a peer or local address it should not have */
	int pick_calls;
	bool pick_args_bad;
	char last_url[256];
	/* done() calls, written on the loop thread, read after wait_active() */
	int done_calls;
	int done_status[8];	 /* the first ones, in order */
	uint64_t done_token_bad; /* done() got a token pick() did not hand out */
	int repick_calls;
	char scratch[64];
	/* log(): the last request reported, written on the loop thread */
	int log_calls;
	int log_status;
	uint32_t log_flags;
};

static struct sockaddr_in vip; /* 10.96.0.10:80, what orig_dst() answers */

static int fake_orig_dst(void *ctx, int fd, const struct sockaddr_in *peer,
			 const struct sockaddr_in *local, struct sockaddr_in *orig)
{
	struct fixture *f = ctx;

	/* Runs on the loop thread: record, the test asserts. */
	f->orig_calls++;
	if (peer->sin_addr.s_addr != htonl(INADDR_LOOPBACK) || local->sin_port != f->addr.sin_port)
		f->orig_args_bad = true;
	if (f->orig_unknown)
		return -ENOENT;
	*orig = vip;
	return 0;
}

static int fake_pick(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		     const struct http_req *req, struct proxy_pick *out)
{
	struct fixture *f = ctx;
	size_t n = req->url_len < sizeof(f->last_url) - 1 ? req->url_len : sizeof(f->last_url) - 1;
	struct sockaddr_in *ep = &out->ep;

	f->pick_calls++;
	if (orig->sin_addr.s_addr != vip.sin_addr.s_addr || orig->sin_port != vip.sin_port ||
	    peer->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		f->pick_args_bad = true;
	memcpy(f->last_url, req->url, n);
	f->last_url[n] = '\0';
	out->token[0] = 0x5eed + (uint64_t)f->pick_calls;
	if (!strncmp(f->last_url, "/noroute", 8)) {
		out->status = 404;
		out->flags = "NR";
		return 0;
	}
	if (!strncmp(f->last_url, "/unhealthy", 10)) {
		out->status = 503;
		out->body = "no healthy upstream";
		out->flags = "UH";
		return 0;
	}
	if (!strncmp(f->last_url, "/fail", 5) || !strncmp(f->last_url, "/hang", 5) ||
	    !strncmp(f->last_url, "/refused-retry", 14)) {
		/* Istio's default policy, two retries; the first attempt to A (or nowhere). */
		*ep = strncmp(f->last_url, "/refused", 8) ? srv_a.addr : refused_addr;
		out->retries = 2;
		out->retry_on = PROXY_RETRY_CONNECT_FAILURE | PROXY_RETRY_STATUS;
		out->retry_status[0] = 503;
		out->n_retry_status = 1;
		if (!strncmp(f->last_url, "/fail-all", 9))
			out->retries = 1;
		if (!strncmp(f->last_url, "/hang-a", 7)) {
			out->per_try_timeout_ms = 100;
			out->retry_on |= PROXY_RETRY_5XX;
		}
		if (!strncmp(f->last_url, "/hang-all", 9))
			out->timeout_ms = 150;
		return 0;
	}
	if (!strncmp(f->last_url, "/mirror-rw", 10)) {
		/* The route rewrites Host; the copy carries the shadow of the rewritten one. */
		*ep = srv_a.addr;
		snprintf(f->scratch, sizeof(f->scratch), "new-shadow");
		out->req_drop = "host\n";
		out->req_add = "x-a: 1\r\nhost: new\r\nx-b: 2\r\n";
		out->mirrors[0].ep = srv_b.addr;
		out->mirrors[0].authority = f->scratch;
		out->n_mirrors = 1;
		out->rsp_add = "x-only-added: yes\r\n"; /* no drop list: one block, freed once */
		return 0;
	}
	if (!strncmp(f->last_url, "/mirror", 7)) {
		*ep = srv_a.addr;
		snprintf(f->scratch, sizeof(f->scratch), "svc-shadow");
		out->mirrors[0].ep = srv_b.addr;
		out->mirrors[0].authority = f->scratch;
		out->n_mirrors = 1;
		return 0;
	}
	if (!strncmp(f->last_url, "/once", 5)) {
		*ep = srv_a.addr;
		out->max_requests_per_conn = 1;
		return 0;
	}
	if (!strncmp(f->last_url, "/delay", 6)) {
		out->delay_ms = 150;
		*ep = srv_a.addr;
		return 0;
	}
	if (!strncmp(f->last_url, "/fault-abort", 12)) {
		out->delay_ms = 50;
		out->status = 418;
		out->flags = "FI";
		out->body = "fault filter abort";
		return 0;
	}
	if (!strncmp(f->last_url, "/rw", 3)) {
		/* The router's copy dies with pick(): the proxy must not keep pointers. */
		snprintf(f->scratch, sizeof(f->scratch), "/hdrs/rewritten?q=1");
		out->target = f->scratch;
		out->req_drop = "x-drop\nhost\n";
		out->req_add = "host: new.example\r\nx-added: 1\r\n";
		out->rsp_drop = "x-server\n";
		out->rsp_add = "x-rsp: yes\r\n";
		*ep = srv_a.addr;
		return 0;
	}
	if (!strncmp(f->last_url, "/moved", 6)) {
		out->status = 301;
		out->headers = "location: http://svc/new\r\n";
		return 0;
	}
	if (!strncmp(f->last_url, "/routing-fails", 14))
		return -ENOMEM;
	if (!strncmp(f->last_url, "/refused", 8))
		*ep = refused_addr;
	else if (!strncmp(f->last_url, "/timeout", 8))
		*ep = blackhole_addr;
	else if (!strncmp(f->last_url, "/b", 2))
		*ep = srv_b.addr;
	else
		*ep = srv_a.addr;
	return 0;
}

/* The next attempt goes to the other server (from nowhere: to A). */
static int fake_repick(void *ctx, struct proxy_pick *pick)
{
	struct fixture *f = ctx;

	f->repick_calls++;
	pick->ep = pick->ep.sin_port == srv_a.addr.sin_port ? srv_b.addr : srv_a.addr;
	memset(f->scratch, 'X', sizeof(f->scratch) - 1); /* the rewritten target is gone */
	return 0;
}

static void fake_done(void *ctx, const struct proxy_pick *pick, int status)
{
	struct fixture *f = ctx;

	if (pick->token[0] <= 0x5eed || pick->token[0] > 0x5eed + (uint64_t)f->pick_calls)
		f->done_token_bad++;
	if (f->done_calls < 8)
		f->done_status[f->done_calls] = status;
	f->done_calls++;
}

static void fake_log(void *ctx, const struct proxy_reqinfo *ri)
{
	struct fixture *f = ctx;

	f->log_status = ri->status;
	f->log_flags = ri->flags;
	__atomic_add_fetch(&f->log_calls, 1, __ATOMIC_RELEASE);
}

static void *loop_main(void *arg)
{
	struct fixture *f = arg;

	f->loop_rc = loop_run(f->loop);
	return NULL;
}

static void fixture_start(struct fixture *f, const struct proxy_ops *extra)
{
	struct proxy_ops ops = {
		.orig_dst = fake_orig_dst,
		.pick = fake_pick,
		.done = fake_done,
		.repick = fake_repick,
		.log = fake_log,
		.ctx = f,
		.connect_timeout_ms = 200,
	};

	if (extra) {
		ops.upstream_mark = extra->upstream_mark;
		ops.pool_max_idle = extra->pool_max_idle;
		ops.pool_idle_timeout_ms = extra->pool_idle_timeout_ms;
		ops.client_idle_timeout_ms = extra->client_idle_timeout_ms;
		ops.max_connections = extra->max_connections;
		ops.max_requests = extra->max_requests;
	}
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->lfd = listen_on_loopback(128, true, &f->addr);
	f->px = proxy_new(f->loop, f->lfd, &ops);
	assert_non_null(f->px);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	server_conns(&srv_a);
	server_conns(&srv_b);
	fixture_start(f, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	loop_stop(f->loop);
	pthread_join(f->thread, NULL);
	assert_int_equal(f->loop_rc, 0);
	assert_false(f->orig_args_bad);
	assert_false(f->pick_args_bad);
	proxy_free(f->px);
	loop_free(f->loop);
	close(f->lfd);
	free(f);
	return 0;
}

static int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	vip.sin_family = AF_INET;
	vip.sin_port = htons(80);
	vip.sin_addr.s_addr = inet_addr("10.96.0.10");
	server_start(&srv_a, "A");
	server_start(&srv_b, "B");
	/* Bound but not listening: connect() is refused. */
	refused_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	refused_addr = loopback(0);
	{
		socklen_t len = sizeof(refused_addr);

		assert_int_equal(
			bind(refused_fd, (struct sockaddr *)&refused_addr, sizeof(refused_addr)),
			0);
		assert_int_equal(getsockname(refused_fd, (struct sockaddr *)&refused_addr, &len),
				 0);
	}
	/* A backlog of 0 holds one connection; with it taken, further SYNs go unanswered. */
	blackhole_fd = listen_on_loopback(0, false, &blackhole_addr);
	blackhole_filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(blackhole_filler, (struct sockaddr *)&blackhole_addr,
				 sizeof(blackhole_addr)),
			 0);
	return 0;
}

static int group_teardown(void **state)
{
	server_stop(&srv_a);
	server_stop(&srv_b);
	close(refused_fd);
	close(blackhole_filler);
	close(blackhole_fd);
	return 0;
}

static struct proxy_stats stats(struct fixture *f)
{
	struct proxy_stats s;

	proxy_get_stats(f->px, &s);
	return s;
}

/* Gauges settle when the loop thread gets to them: poll, bounded (no read can wait on this). */
static bool wait_active(struct fixture *f, uint64_t active, uint64_t upstream_busy)
{
	for (int i = 0; i < 2000; i++) {
		struct proxy_stats s = stats(f);
		struct timespec ts = {.tv_nsec = 1000 * 1000};

		if (s.active == active && s.upstream_active - s.upstream_idle == upstream_busy)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* The blocking test client. */

struct client {
	int fd;
	char buf[65536];
	size_t off, len;
};

struct response {
	int status;
	int interim; /* 1xx responses before the final one */
	int interim_status;
	bool head; /* the request was HEAD */
	bool keep_alive;
	char *body;
	size_t body_len, body_cap;
	long content_length; /* -1: none */
	char server[8];	     /* X-Server */
	char location[64];   /* Location */
	char hdrs[1024];     /* every header line, "name: value\n" */
	size_t hdrs_len;
	char hname[32];
	size_t hname_len;
	char hvalue[64];
	size_t hvalue_len;
	bool in_value;
};

static struct client *client_open(struct fixture *f)
{
	struct client *c = calloc(1, sizeof(*c));

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	set_timeouts(c->fd);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&f->addr, sizeof(f->addr)), 0);
	return c;
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void rsp_header_done(struct response *r)
{
	if (r->hname_len == 8 && !strncasecmp(r->hname, "x-server", 8))
		snprintf(r->server, sizeof(r->server), "%.*s", (int)r->hvalue_len, r->hvalue);
	if (r->hdrs_len + r->hname_len + r->hvalue_len + 4 < sizeof(r->hdrs))
		r->hdrs_len += (size_t)snprintf(
			r->hdrs + r->hdrs_len, sizeof(r->hdrs) - r->hdrs_len, "%.*s: %.*s\n",
			(int)r->hname_len, r->hname, (int)r->hvalue_len, r->hvalue);
	if (r->hname_len == 8 && !strncasecmp(r->hname, "location", 8))
		snprintf(r->location, sizeof(r->location), "%.*s", (int)r->hvalue_len, r->hvalue);
	if (r->hname_len == 14 && !strncasecmp(r->hname, "content-length", 14))
		r->content_length = strtol(r->hvalue, NULL, 10);
	r->hname_len = r->hvalue_len = 0;
	r->in_value = false;
}

static int rsp_on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct response *r = p->data;

	if (r->in_value)
		rsp_header_done(r);
	if (r->hname_len + n < sizeof(r->hname)) {
		memcpy(r->hname + r->hname_len, at, n);
		r->hname_len += n;
	}
	return 0;
}

static int rsp_on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct response *r = p->data;

	r->in_value = true;
	if (r->hvalue_len + n < sizeof(r->hvalue) - 1) {
		memcpy(r->hvalue + r->hvalue_len, at, n);
		r->hvalue_len += n;
		r->hvalue[r->hvalue_len] = '\0';
	}
	return 0;
}

static int rsp_on_headers_complete(llhttp_t *p)
{
	struct response *r = p->data;

	if (r->in_value)
		rsp_header_done(r);
	r->status = p->status_code;
	return r->head ? 1 : 0;
}

static int rsp_on_body(llhttp_t *p, const char *at, size_t n)
{
	struct response *r = p->data;

	append(&r->body, &r->body_len, &r->body_cap, at, n);
	return 0;
}

static int rsp_on_message_complete(llhttp_t *p)
{
	return HPE_PAUSED;
}

static const llhttp_settings_t rsp_settings = {
	.on_header_field = rsp_on_header_field,
	.on_header_value = rsp_on_header_value,
	.on_headers_complete = rsp_on_headers_complete,
	.on_body = rsp_on_body,
	.on_message_complete = rsp_on_message_complete,
};

static void response_reset(struct response *r, bool head)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->head = head;
	r->content_length = -1;
}

/*
 * Reads one response (the final one, or the first interim one if
 * @stop_at_interim). 0 when complete; -1 on a malformed, truncated or
 * timed-out response (what arrived is in @r).
 */
static int read_response_ex(struct client *c, struct response *r, bool head, bool stop_at_interim)
{
	llhttp_t p;

	response_reset(r, head);
	llhttp_init(&p, HTTP_RESPONSE, &rsp_settings);
	p.data = r;
	for (;;) {
		ssize_t n;

		while (c->off < c->len) {
			llhttp_errno_t err = llhttp_execute(&p, c->buf + c->off, c->len - c->off);

			if (err == HPE_OK) {
				c->off = c->len;
				break;
			}
			if (err != HPE_PAUSED)
				return -1;
			c->off = (size_t)(llhttp_get_error_pos(&p) - c->buf);
			llhttp_resume(&p);
			r->status = p.status_code;
			if (p.status_code / 100 == 1 && p.status_code != 101) {
				r->interim++;
				r->interim_status = p.status_code;
				if (stop_at_interim)
					return 0;
				continue;
			}
			r->keep_alive = llhttp_should_keep_alive(&p);
			return 0;
		}
		c->off = c->len = 0;
		n = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (n > 0) {
			c->len = (size_t)n;
			continue;
		}
		if (n == 0 && llhttp_finish(&p) == HPE_PAUSED) {
			r->status = p.status_code;
			return 0;
		}
		return -1;
	}
}

static int read_response(struct client *c, struct response *r)
{
	return read_response_ex(c, r, false, false);
}

/* True if the proxy closed the connection (EOF or reset), with nothing else to read. */
static bool closed_by_proxy(struct client *c)
{
	ssize_t n;
	char b;

	if (c->off < c->len)
		return false;
	n = recv(c->fd, &b, 1, 0);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void get_ok(struct client *c, const char *path, const char *server)
{
	struct response r = {0};
	char req[256], body[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: svc\r\n\r\n", path);
	assert_int_equal(send_str(c->fd, req), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.server, server);
	snprintf(body, sizeof(body), "%s GET %s", server, path);
	assert_int_equal(r.body_len, strlen(body));
	assert_memory_equal(r.body, body, r.body_len);
	assert_true(r.keep_alive);
	response_reset(&r, false);
}

/* Tests. */

static void simple_get(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct proxy_stats s;

	get_ok(c, "/hello", "A");
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	s = stats(f);
	assert_int_equal(s.accepted, 1);
	assert_int_equal(s.requests, 1);
	assert_int_equal(s.responses, 1);
	assert_int_equal(s.responses_2xx, 1);
	assert_int_equal(s.upstream_connects, 1);
	assert_int_equal(f->orig_calls, 1);
	assert_int_equal(f->pick_calls, 1);
}

static void keepalive_requests_alternate_between_backends(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);

	get_ok(c, "/a/1", "A");
	get_ok(c, "/b/1", "B");
	get_ok(c, "/a/2", "A");
	get_ok(c, "/b/2", "B");
	get_ok(c, "/a/3", "A");
	client_close(c);
	assert_int_equal(server_conns(&srv_a), 1);
	assert_int_equal(server_conns(&srv_b), 1);
	assert_int_equal(stats(f).accepted, 1);
	assert_int_equal(stats(f).upstream_reused, 3);
}

static void upstream_connection_reused_from_pool(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);

	for (int i = 0; i < 5; i++)
		get_ok(c, "/pooled", "A");
	client_close(c);
	/* A second client connection picks up the same pooled upstream. */
	c = client_open(f);
	get_ok(c, "/pooled", "A");
	client_close(c);
	assert_int_equal(server_conns(&srv_a), 1);
	assert_int_equal(stats(f).upstream_connects, 1);
	assert_int_equal(stats(f).upstream_reused, 5);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_idle, 1);
}

static void chunked_request_and_chunked_response(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "POST /chunked HTTP/1.1\r\nHost: svc\r\n"
					 "Transfer-Encoding: chunked\r\n\r\n"
					 "4\r\nabcd\r\n"),
			 0);
	assert_int_equal(send_str(c->fd, "3;name=v\r\nefg\r\n0\r\nX-T: 1\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 7 + 11);
	assert_memory_equal(r.body, "abcdefghello world", r.body_len);
	/* The connection is still good. */
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

static void big_request_body_streams_byte_exact(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	char head[128];
	char *body = malloc(BIG);

	for (size_t i = 0; i < BIG; i++)
		body[i] = (char)pattern(i);
	snprintf(head, sizeof(head),
		 "POST /echo HTTP/1.1\r\nHost: svc\r\nContent-Length: %d\r\n\r\n", BIG);
	assert_int_equal(send_str(c->fd, head), 0);
	assert_int_equal(send_all(c->fd, body, BIG), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, BIG);
	assert_memory_equal(r.body, body, BIG);
	assert_int_equal(stats(f).bytes_from_client, strlen(head) + BIG);
	free(body);
	response_reset(&r, false);
	client_close(c);
}

static void big_response_body_streams_byte_exact(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /big HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, BIG);
	for (size_t i = 0; i < BIG; i++) {
		if ((uint8_t)r.body[i] != pattern(i))
			fail_msg("byte %zu differs", i);
	}
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

static void pipelined_requests_answered_in_order(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	const char *expect[] = {"A GET /slow/1", "B GET /b/2", "A GET /a/3", "B GET /b/4"};

	/* One write: the first answer is slow, the others must still come after it, in order. */
	assert_int_equal(send_str(c->fd, "GET /slow/1 HTTP/1.1\r\nHost: svc\r\n\r\n"
					 "GET /b/2 HTTP/1.1\r\nHost: svc\r\n\r\n"
					 "GET /a/3 HTTP/1.1\r\nHost: svc\r\n\r\n"
					 "GET /b/4 HTTP/1.1\r\nHost: svc\r\n\r\n"),
			 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(read_response(c, &r), 0);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body_len, strlen(expect[i]));
		assert_memory_equal(r.body, expect[i], r.body_len);
	}
	assert_int_equal(stats(f).requests, 4);
	response_reset(&r, false);
	client_close(c);
}

static void head_response_has_length_but_no_body(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "HEAD /hello HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response_ex(c, &r, true, false), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.content_length, strlen("A HEAD /hello"));
	assert_int_equal(r.body_len, 0);
	/* Had the proxy waited for a body, this would time out or come back garbled. */
	get_ok(c, "/after-head", "A");
	response_reset(&r, false);
	client_close(c);
}

static void expect_100_continue_is_forwarded(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "POST /continue HTTP/1.1\r\nHost: svc\r\n"
					 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"),
			 0);
	/* The client holds its body back until the backend's 100 comes through. */
	assert_int_equal(read_response_ex(c, &r, false, true), 0);
	assert_int_equal(r.interim_status, 100);
	assert_int_equal(send_str(c->fd, "12345"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 5);
	assert_memory_equal(r.body, "12345", 5);
	assert_int_equal(stats(f).responses_1xx, 1);
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

static void interim_response_not_sent_to_http10_client(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "POST /continue HTTP/1.0\r\nHost: svc\r\n"
					 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n12345"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.interim, 0);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "12345", 5);
	response_reset(&r, false);
	client_close(c);
}

static void http10_request_closes_after_response(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /old HTTP/1.0\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "A GET /old", r.body_len);
	assert_true(closed_by_proxy(c));
	response_reset(&r, false);
	client_close(c);
	assert_true(wait_active(f, 0, 0));
}

static void connection_close_request_closes_after_response(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(
		send_str(c->fd, "GET /bye HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	/* The backend's response says nothing about closing: the client's request decides, and
	 * the response says so. */
	assert_false(r.keep_alive);
	assert_true(closed_by_proxy(c));
	response_reset(&r, false);
	client_close(c);
}

static void connection_close_response_closes_client(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /close HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "bye", 3);
	assert_true(closed_by_proxy(c));
	response_reset(&r, false);
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_idle, 0);
}

static void response_delimited_by_upstream_close(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /eofbody HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	/* read_response() completes it at EOF, so the proxy must have closed after the body. */
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, strlen("until the close"));
	assert_memory_equal(r.body, "until the close", r.body_len);
	response_reset(&r, false);
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).responses_2xx, 1);
}

static void client_closes_mid_response(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	char b[512];

	assert_int_equal(send_str(c->fd, "GET /stall HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_true(recv(c->fd, b, sizeof(b), 0) > 0); /* the response has started */
	client_close(c);
	/* The backend sees its connection closed: the proxy did not pool it. */
	assert_int_equal(sem_wait_bounded(&srv_a.stall_closed), 0);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_active, 0);
	assert_int_equal(stats(f).client_aborted, 1);
}

static void client_closes_mid_request_body(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);

	assert_int_equal(send_str(c->fd, "POST /echo HTTP/1.1\r\nHost: svc\r\n"
					 "Content-Length: 100000\r\n\r\npartial"),
			 0);
	assert_true(wait_active(f, 1, 1)); /* the request reached an upstream connection */
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_active, 0);
}

static void client_half_close_after_request_is_answered(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	/* What printf 'GET ...' | nc -N does: the whole request, then a FIN. */
	assert_int_equal(send_str(c->fd, "GET /hello HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body, "A GET /hello", r.body_len);
	response_reset(&r, false);
	assert_true(closed_by_proxy(c));
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).client_aborted, 0);
}

static void client_half_close_after_pipelined_requests_answers_each(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /p/1 HTTP/1.1\r\nHost: svc\r\n\r\n"
					 "GET /p/2 HTTP/1.1\r\nHost: svc\r\n\r\n"),
			 0);
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	for (int i = 1; i <= 2; i++) {
		char want[32];

		snprintf(want, sizeof(want), "A GET /p/%d", i);
		assert_int_equal(read_response(c, &r), 0);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body_len, strlen(want));
		assert_memory_equal(r.body, want, r.body_len);
		response_reset(&r, false);
	}
	assert_true(closed_by_proxy(c));
	client_close(c);
	assert_true(wait_active(f, 0, 0));
}

static void client_half_close_behind_a_full_buffer_loses_nothing(void **state)
{
	enum { N = 600 }; /* ~22 KiB of requests: more than one 16 KiB buffer */
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	char *reqs = malloc((size_t)N * 64), want[32];
	size_t len = 0;

	assert_non_null(reqs);
	for (int i = 0; i < N; i++)
		len += (size_t)sprintf(reqs + len, "GET /q/%d HTTP/1.1\r\nHost: svc\r\n\r\n", i);
	assert_int_equal(send_all(c->fd, reqs, len), 0);
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	for (int i = 0; i < N; i++) {
		snprintf(want, sizeof(want), "A GET /q/%d", i);
		assert_int_equal(read_response(c, &r), 0);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body_len, strlen(want));
		assert_memory_equal(r.body, want, r.body_len);
		response_reset(&r, false);
	}
	assert_true(closed_by_proxy(c));
	client_close(c);
	free(reqs);
	assert_true(wait_active(f, 0, 0));
}

static void client_half_close_after_big_body_is_answered(void **state)
{
	enum { BODY = 100000 };
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	char *body = malloc(BODY), head[128];

	assert_non_null(body);
	for (size_t i = 0; i < BODY; i++)
		body[i] = (char)pattern(i);
	snprintf(head, sizeof(head),
		 "POST /echo HTTP/1.1\r\nHost: svc\r\nContent-Length: %d\r\n\r\n", BODY);
	assert_int_equal(send_str(c->fd, head), 0);
	assert_int_equal(send_all(c->fd, body, BODY), 0);
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, BODY); /* the test server echoes the body */
	assert_memory_equal(r.body, body, BODY);
	response_reset(&r, false);
	assert_true(closed_by_proxy(c));
	client_close(c);
	free(body);
	assert_true(wait_active(f, 0, 0));
}

static void client_half_close_mid_body_aborts(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);

	assert_int_equal(send_str(c->fd, "POST /echo HTTP/1.1\r\nHost: svc\r\n"
					 "Content-Length: 100000\r\n\r\npartial"),
			 0);
	assert_true(wait_active(f, 1, 1));
	/* The body can never be whole: nothing is answered, both sides are closed. */
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	assert_true(closed_by_proxy(c));
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_active, 0);
	assert_int_equal(stats(f).client_aborted, 1);
}

static void upstream_closes_mid_response(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /abort HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	/* What the backend sent comes through, then the client sees the close. */
	assert_int_equal(read_response(c, &r), -1);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 1000);
	response_reset(&r, false);
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_reset, 1);
}

static void upstream_refuses_connection_503(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /refused HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(memmem(r.body, r.body_len, "connection failure", 18));
	/* Envoy-like: the client connection stays usable. */
	assert_true(r.keep_alive);
	get_ok(c, "/after", "A");
	assert_int_equal(stats(f).upstream_connect_failed, 1);
	assert_int_equal(stats(f).responses_5xx, 1);
	response_reset(&r, false);
	client_close(c);
}

static void upstream_refuses_post_with_body_503_then_drains(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "POST /refused HTTP/1.1\r\nHost: svc\r\n"
					 "Content-Length: 10\r\n\r\n0123456789"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 503);
	assert_true(r.keep_alive);
	get_ok(c, "/after", "A"); /* the body was drained, not taken for a request */
	response_reset(&r, false);
	client_close(c);
}

static void upstream_connect_timeout_503(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /timeout HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(memmem(r.body, r.body_len, "connection timeout", 18));
	assert_int_equal(stats(f).upstream_connect_timeouts, 1);
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

static void pick_answers_locally_404_503_and_301(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /noroute HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 404);
	assert_true(r.keep_alive);
	assert_int_equal(send_str(c->fd, "GET /unhealthy HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 503);
	assert_memory_equal(r.body, "no healthy upstream", r.body_len);
	get_ok(c, "/after", "A");
	assert_int_equal(stats(f).no_route, 1);
	assert_int_equal(stats(f).no_healthy_upstream, 1);
	assert_int_equal(stats(f).local_replies, 2);
	/* A redirect: the router's header lines go out with the local reply. */
	assert_int_equal(send_str(c->fd, "GET /moved HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 301);
	assert_string_equal(r.location, "http://svc/new");
	assert_int_equal(r.body_len, 0);
	assert_true(r.keep_alive);
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

static void done_reports_each_forwarded_request_once(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	get_ok(c, "/one", "A");
	/* Answered locally: nothing was forwarded, nothing is owed. */
	assert_int_equal(send_str(c->fd, "GET /noroute HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.body_len, 0);
	assert_int_equal(send_str(c->fd, "GET /refused HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 503);
	assert_int_equal(send_str(c->fd, "GET /routing-fails HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 503);
	response_reset(&r, false);
	/* The client leaves with its request upstream: the router hears -1. */
	assert_int_equal(send_str(c->fd, "POST /echo HTTP/1.1\r\nHost: svc\r\n"
					 "Content-Length: 100000\r\n\r\npartial"),
			 0);
	assert_true(wait_active(f, 1, 1));
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(f->done_calls, 3);
	assert_int_equal(f->done_status[0], 200);
	assert_int_equal(f->done_status[1], 0);
	assert_int_equal(f->done_status[2], -1);
	assert_int_equal(f->done_token_bad, 0);
}

static void orig_dst_unknown_404_on_first_request(void **state)
{
	struct fixture *f = *state;
	struct client *c;
	struct response r = {0};

	f->orig_unknown = true;
	c = client_open(f);
	assert_int_equal(send_str(c->fd, "GET /x HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 404);
	assert_int_equal(f->pick_calls, 0);
	response_reset(&r, false);
	client_close(c);
}

static void malformed_request_400_and_close(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 400);
	assert_false(r.keep_alive);
	assert_true(closed_by_proxy(c));
	assert_int_equal(stats(f).bad_requests, 1);
	assert_int_equal(f->pick_calls, 0);
	response_reset(&r, false);
	client_close(c);
}

static void smuggling_attempt_400(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	/* Both framings at once: strict llhttp refuses it, nothing reaches a backend. */
	assert_int_equal(send_str(c->fd, "POST /echo HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n"
					 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 400);
	assert_true(closed_by_proxy(c));
	assert_int_equal(server_conns(&srv_a), 0);
	response_reset(&r, false);
	client_close(c);
}

static void oversized_head_431(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	char *big = malloc(70000); /* over PROXY_HEAD_MAX_DEFAULT, Envoy's 60 KiB */

	memset(big, 'a', 70000);
	assert_int_equal(send_str(c->fd, "GET / HTTP/1.1\r\nX-Long: "), 0);
	assert_int_equal(send_all(c->fd, big, 70000), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 431);
	free(big);
	response_reset(&r, false);
	client_close(c);
}

static void malformed_response_502(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /malformed HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 502);
	assert_int_equal(stats(f).upstream_bad_response, 1);
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

static void status_204_has_no_body(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /204 HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.body_len, 0);
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

/*
 * The backend's echo of the headers it got (/hdrs): @expect, the client's
 * own, then what the proxy adds for Envoy's sake.
 */
static void assert_hdrs_echo(const struct response *r, const char *expect)
{
	const char *tail = "x-forwarded-proto: http\nx-forwarded-for: 127.0.0.1\n"
			   "x-envoy-attempt-count: 1\n";
	size_t n = strlen(expect), id = strlen("x-request-id: ") + 36 + 1;

	assert_true(r->body_len == n + id + strlen(tail));
	assert_memory_equal(r->body, expect, n);
	assert_memory_equal(r->body + n, "x-request-id: ", 14);
	assert_true(r->body[n + 14 + 8] == '-' && r->body[n + 14 + 14] == '4');
	assert_memory_equal(r->body + n + id, tail, strlen(tail));
}

static void request_head_reserialized_byte_exact(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	const char *expect = "Host: svc\nX-B: 2\nx-a: one, two\nX-Empty: \nX-Dup: 1\nX-Dup: 2\n";

	assert_int_equal(send_str(c->fd,
				  "GET /hdrs?q=1&r=%20 HTTP/1.1\r\nHost: svc\r\nX-B: 2\r\n"
				  "x-a: one, two\r\nX-Empty:\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(f->last_url, "/hdrs?q=1&r=%20");
	/* The backend's parse of what the proxy sent: same names, values and order. */
	assert_hdrs_echo(&r, expect);
	response_reset(&r, false);
	client_close(c);
}

static void hop_by_hop_headers_stay_on_their_connection(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	const char *expect = "Host: svc\nX-End: 2\nTransfer-Encoding: chunked\n";

	assert_int_equal(send_str(c->fd, "POST /hdrs HTTP/1.1\r\nHost: svc\r\n"
					 "Connection: close, X-Hop\r\nX-Hop: 1\r\n"
					 "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
					 "X-End: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	/* The backend saw none of the client connection's own headers ... */
	assert_hdrs_echo(&r, expect);
	response_reset(&r, false);
	/* ... the client's Connection: close still closes the client ... */
	assert_true(closed_by_proxy(c));
	client_close(c);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_idle, 1); /* pooled, not closed */
	/* ... and the upstream connection, never told to close, serves the next client. */
	c = client_open(f);
	get_ok(c, "/again", "A");
	client_close(c);
	assert_int_equal(stats(f).upstream_connects, 1);
	assert_int_equal(stats(f).upstream_reused, 1);
}

static void stale_pooled_connection_is_not_used(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /kaclose HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(sem_wait_bounded(&srv_a.kaclose_closed), 0);
	/* Pooled, then closed by the backend: dropped from the pool, or retried if raced. */
	get_ok(c, "/after", "A");
	assert_int_equal(server_conns(&srv_a), 2);
	response_reset(&r, false);
	client_close(c);
}

static void pooled_connection_dying_unanswered_is_retried(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /dropnext HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	/* Sent over the pooled connection, which closes unanswered: resent on a new one. */
	get_ok(c, "/again", "A");
	assert_int_equal(stats(f).upstream_retries, 1);
	assert_int_equal(server_conns(&srv_a), 2);

	/* Not for a POST, even without a body: the backend may have acted on it. */
	assert_int_equal(send_str(c->fd, "GET /dropnext HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(
		send_str(c->fd, "POST /echo HTTP/1.1\r\nHost: svc\r\nContent-Length: 0\r\n\r\n"),
		0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(memmem(r.body, r.body_len, "connection termination", 22));
	assert_int_equal(stats(f).upstream_retries, 1);
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

static void upgrade_switches_to_tunnel(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	char b[16] = {0};
	size_t got = 0;

	assert_int_equal(send_str(c->fd, "GET /upgrade HTTP/1.1\r\nHost: svc\r\n"
					 "Connection: Upgrade\r\nUpgrade: echo\r\n\r\n"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 101);
	assert_int_equal(send_str(c->fd, "ping-pong"), 0);
	memcpy(b, c->buf + c->off, c->len - c->off);
	got = c->len - c->off;
	while (got < 9) {
		ssize_t n = recv(c->fd, b + got, sizeof(b) - 1 - got, 0);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_string_equal(b, "ping-pong");
	response_reset(&r, false);
	client_close(c);
	assert_true(wait_active(f, 0, 0));
}

static void early_response_reaches_client_still_sending(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	char head[128];
	char *body = calloc(1, BIG);

	/* The backend answers 413 and resets; the proxy must read the client's upload to its
	 * end (lingering) rather than reset it, or the answer may never be seen. */
	snprintf(head, sizeof(head),
		 "POST /early HTTP/1.1\r\nHost: svc\r\nContent-Length: %d\r\n\r\n", BIG);
	assert_int_equal(send_str(c->fd, head), 0);
	assert_int_equal(send_all(c->fd, body, BIG), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 413);
	assert_memory_equal(r.body, "big!", 4);
	assert_true(closed_by_proxy(c));
	free(body);
	response_reset(&r, false);
	client_close(c);
	assert_true(wait_active(f, 0, 0));
}

static void upgrade_refused_connection_stays_http(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /plain HTTP/1.1\r\nHost: svc\r\n"
					 "Connection: Upgrade\r\nUpgrade: echo\r\n\r\n"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	get_ok(c, "/after", "A");
	response_reset(&r, false);
	client_close(c);
}

static void connect_method_405(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "CONNECT svc:443 HTTP/1.1\r\nHost: svc:443\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 405);
	assert_true(closed_by_proxy(c));
	assert_int_equal(f->pick_calls, 0);
	response_reset(&r, false);
	client_close(c);
}

static void restart_fixture(void **state, const struct proxy_ops *extra)
{
	struct fixture *f;

	teardown(state);
	f = calloc(1, sizeof(*f));
	*state = f;
	fixture_start(f, extra);
}

static void idle_client_closed_after_timeout(void **state)
{
	struct proxy_ops extra = {.client_idle_timeout_ms = 50};
	struct fixture *f;
	struct client *c;

	restart_fixture(state, &extra);
	f = *state;
	c = client_open(f);
	get_ok(c, "/hello", "A");
	/* Nothing more is sent: the proxy closes, which this read waits for. */
	assert_true(closed_by_proxy(c));
	client_close(c);
	assert_true(wait_active(f, 0, 0));
}

/* Waits until log() has been called @n times in all (bounded). */
static bool wait_logged(struct fixture *f, int n)
{
	for (int i = 0; i < 2000; i++) {
		struct timespec ts = {.tv_nsec = 1000 * 1000};

		if (__atomic_load_n(&f->log_calls, __ATOMIC_ACQUIRE) >= n)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static void connection_over_limit_gets_503_and_close(void **state)
{
	struct proxy_ops extra = {.max_connections = 2};
	struct client *c1, *c2, *c3;
	struct response r = {0};
	struct fixture *f;

	restart_fixture(state, &extra);
	f = *state;
	c1 = client_open(f);
	c2 = client_open(f);
	get_ok(c1, "/one", "A");
	get_ok(c2, "/two", "A");
	assert_true(wait_logged(f, 2));
	/* The third connection is over the limit: one 503 with Envoy's OM flag, then closed. */
	c3 = client_open(f);
	assert_int_equal(send_str(c3->fd, "GET /three HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c3, &r), 0);
	assert_int_equal(r.status, 503);
	assert_memory_equal(r.body, "overloaded\n", r.body_len);
	assert_false(r.keep_alive);
	assert_true(closed_by_proxy(c3));
	assert_true(wait_logged(f, 3));
	assert_int_equal(f->log_status, 503);
	assert_int_equal(f->log_flags, PROXY_RF_OM);
	client_close(c3);
	assert_int_equal(f->pick_calls, 2); /* never routed */
	assert_int_equal(stats(f).overload_connections, 1);
	assert_int_equal(stats(f).no_healthy_upstream, 0);
	/* The connections under the limit were not touched, and a freed slot serves again. */
	get_ok(c1, "/again", "A");
	client_close(c2);
	assert_true(wait_active(f, 1, 0));
	c3 = client_open(f);
	get_ok(c3, "/four", "A");
	response_reset(&r, false);
	client_close(c1);
	client_close(c3);
}

static void requests_over_limit_get_503_and_keep_the_connection(void **state)
{
	struct proxy_ops extra = {.max_requests = 1};
	struct response r = {0};
	struct client *c1, *c2;
	struct fixture *f;

	restart_fixture(state, &extra);
	f = *state;
	c1 = client_open(f);
	c2 = client_open(f);
	/* One request in flight: its body is still coming. */
	assert_int_equal(send_str(c1->fd, "POST /echo HTTP/1.1\r\nHost: svc\r\n"
					  "Content-Length: 100000\r\n\r\npartial"),
			 0);
	assert_true(wait_active(f, 2, 1));
	assert_int_equal(stats(f).requests_active, 1);
	assert_int_equal(send_str(c2->fd, "GET /second HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c2, &r), 0);
	assert_int_equal(r.status, 503);
	assert_memory_equal(r.body, "overloaded\n", r.body_len);
	assert_true(r.keep_alive);
	assert_true(wait_logged(f, 1));
	assert_int_equal(f->log_flags, PROXY_RF_OM);
	assert_int_equal(stats(f).overload_requests, 1);
	/* The one in flight ends (its client leaves): the next request goes through. */
	client_close(c1);
	assert_true(wait_active(f, 1, 0));
	assert_int_equal(stats(f).requests_active, 0);
	get_ok(c2, "/third", "A");
	/* done() may follow the last byte the client read: a gauge, polled (bounded). */
	for (int i = 0; i < 2000 && stats(f).requests_active; i++) {
		struct timespec ts = {.tv_nsec = 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(stats(f).requests_active, 0);
	response_reset(&r, false);
	client_close(c2);
}

static void idle_pooled_upstream_closed_after_timeout(void **state)
{
	struct proxy_ops extra = {.pool_idle_timeout_ms = 50};
	struct fixture *f;
	struct client *c;

	restart_fixture(state, &extra);
	f = *state;
	c = client_open(f);
	get_ok(c, "/hello", "A");
	client_close(c);
	/* Gauges only: poll, bounded. */
	for (int i = 0; i < 2000 && stats(f).upstream_active; i++) {
		struct timespec ts = {.tv_nsec = 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(stats(f).upstream_active, 0);
	assert_int_equal(stats(f).upstream_idle, 0);
}

/* SO_MARK of a socket, read back with sock_diag (INET_DIAG_MARK needs CAP_NET_ADMIN). */
static int sock_mark(const struct sockaddr_in *src, const struct sockaddr_in *dst, uint32_t *mark)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = {.nlmsg_len = sizeof(req),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST},
		.r = {.sdiag_family = AF_INET,
		      .sdiag_protocol = IPPROTO_TCP,
		      .idiag_states = ~0u,
		      .id = {.idiag_sport = src->sin_port,
			     .idiag_dport = dst->sin_port,
			     .idiag_src = {src->sin_addr.s_addr},
			     .idiag_dst = {dst->sin_addr.s_addr},
			     .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}},
	};
	char buf[8192];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	ssize_t n;
	int fd, err = -ENOENT;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	set_timeouts(fd);
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		close(fd);
		return -EIO;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n > 0 && NLMSG_OK(h, (size_t)n) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
		struct inet_diag_msg *m = NLMSG_DATA(h);
		struct rtattr *a = (struct rtattr *)(m + 1);
		int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));

		for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
			if (a->rta_type == INET_DIAG_MARK) {
				*mark = *(uint32_t *)RTA_DATA(a);
				err = 0;
			}
		}
	}
	close(fd);
	return err;
}

static void upstream_socket_carries_so_mark(void **state)
{
	struct fixture *f = *state;
	struct proxy_ops extra = {.upstream_mark = 0x5e4e0000u};
	struct client *c;
	struct sockaddr_in peer;
	uint32_t mark = 0, probe_mark = 1;
	int probe;

	probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (setsockopt(probe, SOL_SOCKET, SO_MARK, &probe_mark, sizeof(probe_mark))) {
		close(probe);
		skip(); /* not CAP_NET_ADMIN: SO_MARK (and reading it back) is not allowed */
	}
	close(probe);
	/* This test needs a proxy with a mark: replace the fixture's. */
	restart_fixture(state, &extra);
	f = *state;
	c = client_open(f);
	get_ok(c, "/marked", "A");
	pthread_mutex_lock(&srv_a.mu);
	peer = srv_a.last_peer;
	pthread_mutex_unlock(&srv_a.mu);
	/* The upstream socket is pooled now, still open: ask the kernel for its mark. */
	assert_int_equal(sock_mark(&peer, &srv_a.addr, &mark), 0);
	assert_int_equal(mark, 0x5e4e0000u);
	client_close(c);
}

static void pool_limit_evicts_oldest(void **state)
{
	struct fixture *f = *state;
	struct proxy_ops extra = {.pool_max_idle = 1};
	struct client *c;

	restart_fixture(state, &extra);
	f = *state;
	c = client_open(f);
	get_ok(c, "/a", "A");
	get_ok(c, "/b", "B"); /* pooling B's connection evicts A's */
	get_ok(c, "/a", "A");
	client_close(c);
	assert_int_equal(server_conns(&srv_a), 2);
	assert_int_equal(server_conns(&srv_b), 1);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_idle, 1);
}

/* Sends "GET @path" on a new connection and reads the response into @r. */
static void get(struct fixture *f, const char *path, struct response *r)
{
	struct client *c = client_open(f);
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: svc\r\n\r\n", path);
	assert_int_equal(send_str(c->fd, req), 0);
	assert_int_equal(read_response(c, r), 0);
	client_close(c);
}

static void retry_on_status_goes_to_the_other_endpoint(void **state)
{
	struct fixture *f = *state;
	struct response r = {0};

	get(f, "/fail-a", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.server, "B");
	/* B was told it is the second attempt; A's 503 never reached the client. */
	assert_non_null(memmem(r.body, r.body_len, "x-envoy-attempt-count: 2\n", 25));
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(f->repick_calls, 1);
	assert_int_equal(f->done_calls, 2);
	assert_int_equal(f->done_status[0], 503);
	assert_int_equal(f->done_status[1], 200);
	assert_int_equal(stats(f).upstream_retries, 1);
	assert_int_equal(stats(f).responses_5xx, 0);
	response_reset(&r, false);
}

static void retries_run_out_and_the_last_answer_goes_out(void **state)
{
	struct fixture *f = *state;
	struct response r = {0};

	get(f, "/fail-all", &r); /* one retry allowed, both answer 503 */
	assert_int_equal(r.status, 503);
	assert_string_equal(r.server, "B");
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(f->done_calls, 2);
	assert_int_equal(stats(f).upstream_retries, 1);
	response_reset(&r, false);
}

static void retry_after_connect_failure(void **state)
{
	struct fixture *f = *state;
	struct response r = {0};

	get(f, "/refused-retry", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.server, "A");
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(f->done_status[0], 0);
	assert_int_equal(stats(f).upstream_connect_failed, 1);
	response_reset(&r, false);
}

static void body_already_sent_is_not_retried(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "POST /fail-a HTTP/1.1\r\nHost: svc\r\n"
					 "Content-Length: 3\r\n\r\nxyz"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.server, "A");
	assert_int_equal(stats(f).upstream_retries, 0);
	response_reset(&r, false);
	client_close(c);
}

static void route_timeout_answers_504(void **state)
{
	struct fixture *f = *state;
	struct response r = {0};

	get(f, "/hang-all", &r); /* timeout 150 ms, nobody answers */
	assert_int_equal(r.status, 504);
	assert_memory_equal(r.body, "upstream request timeout", r.body_len);
	assert_true(wait_active(f, 0, 0));
	assert_int_equal(stats(f).upstream_timeouts, 1);
	assert_int_equal(f->done_status[0], 0);
	response_reset(&r, false);
}

static void per_try_timeout_retries_elsewhere(void **state)
{
	struct fixture *f = *state;
	struct response r = {0};

	get(f, "/hang-a", &r); /* A hangs past the 100 ms per-try timeout, B answers */
	assert_int_equal(r.status, 200);
	assert_string_equal(r.server, "B");
	assert_int_equal(stats(f).upstream_retries, 1);
	assert_int_equal(stats(f).upstream_timeouts, 0);
	response_reset(&r, false);
}

static void fault_delay_then_forward(void **state)
{
	struct fixture *f = *state;
	struct response r = {0};
	struct timespec t0, t1;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	get(f, "/delay", &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(r.status, 200);
	assert_string_equal(r.server, "A");
	assert_true(ms >= 150); /* behaviour, not speed: the request waited its delay */
	response_reset(&r, false);
}

static void fault_abort_after_delay(void **state)
{
	struct fixture *f = *state;
	struct response r = {0};

	get(f, "/fault-abort", &r);
	assert_int_equal(r.status, 418);
	assert_memory_equal(r.body, "fault filter abort", r.body_len);
	assert_int_equal(f->done_calls, 0); /* nothing was forwarded */
	response_reset(&r, false);
}

static void rewrite_and_header_edits_both_ways(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};

	assert_int_equal(send_str(c->fd, "GET /rw?x=1 HTTP/1.1\r\nHost: svc\r\nX-Drop: 1\r\n"
					 "X-Keep: 2\r\nX-Forwarded-For: 10.0.0.9\r\n"
					 "X-Request-Id: abc\r\n\r\n"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	/* Upstream: the rewritten target, Host replaced, X-Drop gone, the client's request id
	 * kept, its address appended to X-Forwarded-For, the received path kept aside. */
	assert_non_null(memmem(r.body, r.body_len, "X-Keep: 2\nX-Request-Id: abc\n", 28));
	assert_non_null(memmem(r.body, r.body_len, "host: new.example\nx-added: 1\n", 29));
	assert_null(memmem(r.body, r.body_len, "X-Drop", 6));
	assert_null(memmem(r.body, r.body_len, "Host: svc", 9));
	assert_null(memmem(r.body, r.body_len, "x-request-id", 12));
	assert_non_null(memmem(r.body, r.body_len, "x-forwarded-for: 10.0.0.9, 127.0.0.1\n", 37));
	assert_non_null(memmem(r.body, r.body_len, "x-envoy-original-path: /rw?x=1\n", 31));
	/* Downstream: X-Server dropped, x-rsp added, the upstream's time. */
	assert_null(strstr(r.hdrs, "X-Server"));
	assert_non_null(strstr(r.hdrs, "x-rsp: yes\n"));
	assert_non_null(strstr(r.hdrs, "x-envoy-upstream-service-time: "));
	assert_true(r.keep_alive);
	response_reset(&r, false);
	/* The next request on the connection has none of it. */
	assert_int_equal(send_str(c->fd, "GET /hdrs HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_string_equal(r.server, "A");
	assert_null(strstr(r.hdrs, "x-rsp"));
	response_reset(&r, false);
	client_close(c);
}

static void mirror_gets_a_copy_with_shadow_host(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	struct response r = {0};
	char seen[2048];

	assert_int_equal(send_str(c->fd, "POST /mirror HTTP/1.1\r\nHost: svc\r\n"
					 "Content-Length: 5\r\nX-Id: 7\r\n\r\nhello"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.server, "A"); /* the client's answer comes from the route */
	assert_int_equal(sem_wait_bounded(&srv_b.mirrored), 0);
	pthread_mutex_lock(&srv_b.mu);
	snprintf(seen, sizeof(seen), "%s", srv_b.mirror_seen);
	pthread_mutex_unlock(&srv_b.mu);
	assert_non_null(strstr(seen, "X-Id: 7\n"));
	assert_non_null(strstr(seen, "host: svc-shadow\n"));
	assert_null(strstr(seen, "Host: svc\n"));
	assert_non_null(strstr(seen, "body=hello"));
	response_reset(&r, false);
	/* A chunked body is not held back for a copy: that mirror is dropped, the request not. */
	assert_int_equal(send_str(c->fd, "POST /mirror HTTP/1.1\r\nHost: svc\r\n"
					 "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
			 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(stats(f).mirror_dropped, 1);
	response_reset(&r, false);
	/* With a Host rewrite: the copy has one Host, the shadow of the new one. */
	assert_int_equal(send_str(c->fd, "GET /mirror-rw HTTP/1.1\r\nHost: svc\r\n\r\n"), 0);
	assert_int_equal(read_response(c, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.hdrs, "x-only-added: yes\n"));
	assert_int_equal(sem_wait_bounded(&srv_b.mirrored), 0);
	pthread_mutex_lock(&srv_b.mu);
	snprintf(seen, sizeof(seen), "%s", srv_b.mirror_seen);
	pthread_mutex_unlock(&srv_b.mu);
	assert_non_null(strstr(seen, "x-a: 1\nx-b: 2\n"));
	assert_non_null(strstr(seen, "host: new-shadow\n"));
	assert_null(strstr(seen, "host: new\n"));
	assert_null(strstr(seen, "Host: svc"));
	response_reset(&r, false);
	client_close(c);
}

static void max_requests_per_connection_closes_the_upstream(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_open(f);
	int before, after;

	pthread_mutex_lock(&srv_a.mu);
	before = srv_a.conns;
	pthread_mutex_unlock(&srv_a.mu);
	get_ok(c, "/once", "A");
	get_ok(c, "/once", "A");
	pthread_mutex_lock(&srv_a.mu);
	after = srv_a.conns;
	pthread_mutex_unlock(&srv_a.mu);
	assert_int_equal(after - before, 2); /* a new connection for each request */
	assert_int_equal(stats(f).upstream_reused, 0);
	assert_int_equal(stats(f).upstream_idle, 0);
	get_ok(c, "/plain", "A"); /* without the limit the connection is pooled again */
	assert_true(wait_active(f, 1, 0));
	assert_int_equal(stats(f).upstream_idle, 1);
	client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(simple_get, setup, teardown),
		cmocka_unit_test_setup_teardown(keepalive_requests_alternate_between_backends,
						setup, teardown),
		cmocka_unit_test_setup_teardown(upstream_connection_reused_from_pool, setup,
						teardown),
		cmocka_unit_test_setup_teardown(chunked_request_and_chunked_response, setup,
						teardown),
		cmocka_unit_test_setup_teardown(big_request_body_streams_byte_exact, setup,
						teardown),
		cmocka_unit_test_setup_teardown(big_response_body_streams_byte_exact, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pipelined_requests_answered_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(head_response_has_length_but_no_body, setup,
						teardown),
		cmocka_unit_test_setup_teardown(expect_100_continue_is_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(interim_response_not_sent_to_http10_client, setup,
						teardown),
		cmocka_unit_test_setup_teardown(http10_request_closes_after_response, setup,
						teardown),
		cmocka_unit_test_setup_teardown(connection_close_request_closes_after_response,
						setup, teardown),
		cmocka_unit_test_setup_teardown(connection_close_response_closes_client, setup,
						teardown),
		cmocka_unit_test_setup_teardown(response_delimited_by_upstream_close, setup,
						teardown),
		cmocka_unit_test_setup_teardown(client_closes_mid_response, setup, teardown),
		cmocka_unit_test_setup_teardown(client_closes_mid_request_body, setup, teardown),
		cmocka_unit_test_setup_teardown(client_half_close_after_request_is_answered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			client_half_close_after_pipelined_requests_answers_each, setup, teardown),
		cmocka_unit_test_setup_teardown(
			client_half_close_behind_a_full_buffer_loses_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(client_half_close_after_big_body_is_answered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(client_half_close_mid_body_aborts, setup, teardown),
		cmocka_unit_test_setup_teardown(upstream_closes_mid_response, setup, teardown),
		cmocka_unit_test_setup_teardown(upstream_refuses_connection_503, setup, teardown),
		cmocka_unit_test_setup_teardown(upstream_refuses_post_with_body_503_then_drains,
						setup, teardown),
		cmocka_unit_test_setup_teardown(upstream_connect_timeout_503, setup, teardown),
		cmocka_unit_test_setup_teardown(done_reports_each_forwarded_request_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(retry_on_status_goes_to_the_other_endpoint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(retries_run_out_and_the_last_answer_goes_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(retry_after_connect_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(body_already_sent_is_not_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(route_timeout_answers_504, setup, teardown),
		cmocka_unit_test_setup_teardown(per_try_timeout_retries_elsewhere, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_delay_then_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(fault_abort_after_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(rewrite_and_header_edits_both_ways, setup,
						teardown),
		cmocka_unit_test_setup_teardown(mirror_gets_a_copy_with_shadow_host, setup,
						teardown),
		cmocka_unit_test_setup_teardown(max_requests_per_connection_closes_the_upstream,
						setup, teardown),
		cmocka_unit_test_setup_teardown(pick_answers_locally_404_503_and_301, setup,
						teardown),
		cmocka_unit_test_setup_teardown(orig_dst_unknown_404_on_first_request, setup,
						teardown),
		cmocka_unit_test_setup_teardown(malformed_request_400_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(smuggling_attempt_400, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_head_431, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_response_502, setup, teardown),
		cmocka_unit_test_setup_teardown(status_204_has_no_body, setup, teardown),
		cmocka_unit_test_setup_teardown(hop_by_hop_headers_stay_on_their_connection, setup,
						teardown),
		cmocka_unit_test_setup_teardown(request_head_reserialized_byte_exact, setup,
						teardown),
		cmocka_unit_test_setup_teardown(stale_pooled_connection_is_not_used, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pooled_connection_dying_unanswered_is_retried,
						setup, teardown),
		cmocka_unit_test_setup_teardown(upgrade_switches_to_tunnel, setup, teardown),
		cmocka_unit_test_setup_teardown(early_response_reaches_client_still_sending, setup,
						teardown),
		cmocka_unit_test_setup_teardown(upgrade_refused_connection_stays_http, setup,
						teardown),
		cmocka_unit_test_setup_teardown(connect_method_405, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_client_closed_after_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(connection_over_limit_gets_503_and_close, setup,
						teardown),
		cmocka_unit_test_setup_teardown(requests_over_limit_get_503_and_keep_the_connection,
						setup, teardown),
		cmocka_unit_test_setup_teardown(idle_pooled_upstream_closed_after_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(upstream_socket_carries_so_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(pool_limit_evicts_oldest, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
