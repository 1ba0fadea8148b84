// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "http1.h"
#include "log.h"
#include "loop.h"

#define ADMIN_REQ_MAX	4096	    /* an admin request head larger than this gets 431 */
#define ADMIN_STATS_MAX 16384	    /* what admin_ops.stats() may write */
#define ADMIN_RESP_MAX	(64u << 20) /* a body larger than this is a 500, not an OOM */
#define ADMIN_CONNS_MAX 64	    /* the admin API is for operators, not load */

struct admin_conn {
	struct admin *adm;
	int fd;
	size_t len;
	char req[ADMIN_REQ_MAX];
	char *out; /* the whole answer, head and body, once served */
	size_t out_len, out_off;
	struct admin_conn *next;
};

struct admin_route {
	char path[64];
	const char *help;
	admin_handler fn;
	void *ctx;
};

struct admin {
	struct loop *loop;
	struct admin_ops ops;
	int listen_fd;
	unsigned n_conns;
	struct admin_conn *conns; /* every open connection, for admin_free() */
	struct admin_route routes[ADMIN_HANDLERS_MAX];
	unsigned n_routes;
};

void admin_write(struct admin_resp *r, const char *data, size_t len)
{
	if (r->oom)
		return;
	if (r->len + len + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *p;

		while (cap < r->len + len + 1)
			cap *= 2;
		p = cap <= ADMIN_RESP_MAX ? realloc(r->body, cap) : NULL;
		if (!p) {
			r->oom = true;
			return;
		}
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
}

static void admin_vprintf(struct admin_resp *r, const char *fmt, va_list ap)
{
	char small[512], *big;
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0) {
		va_end(ap2);
		return;
	}
	if ((size_t)n < sizeof(small)) {
		admin_write(r, small, (size_t)n);
	} else if (vasprintf(&big, fmt, ap2) >= 0) {
		admin_write(r, big, (size_t)n);
		free(big);
	} else {
		r->oom = true;
	}
	va_end(ap2);
}

void admin_printf(struct admin_resp *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	admin_vprintf(r, fmt, ap);
	va_end(ap);
}

void admin_json_str(struct admin_resp *r, const char *s)
{
	const char *p;

	if (!s) {
		admin_write(r, "null", 4);
		return;
	}
	admin_write(r, "\"", 1);
	for (p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '"' || ch == '\\') {
			char esc[2] = {'\\', (char)ch};

			admin_write(r, esc, 2);
		} else if (ch < 0x20) {
			admin_printf(r, "\\u%04x", ch);
		} else {
			admin_write(r, p, 1);
		}
	}
	admin_write(r, "\"", 1);
}

void admin_error(struct admin_resp *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	r->content_type = "text/plain";
	r->len = 0;
	if (r->body)
		r->body[0] = '\0';
	va_start(ap, fmt);
	admin_vprintf(r, fmt, ap);
	va_end(ap);
	admin_write(r, "\n", 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool admin_query_get(const char *query, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	const char *p = query;

	while (p && *p) {
		const char *end = p + strcspn(p, "&");

		if (!strncmp(p, key, klen) && (p[klen] == '=' || p + klen == end)) {
			const char *v = p + klen + (p[klen] == '=');
			size_t o = 0;

			while (v < end && o + 1 < len) {
				if (*v == '%' && v + 2 < end + 1 && hexval(v[1]) >= 0 &&
				    hexval(v[2]) >= 0) {
					out[o++] = (char)(hexval(v[1]) * 16 + hexval(v[2]));
					v += 3;
				} else {
					out[o++] = *v == '+' ? ' ' : *v;
					v++;
				}
			}
			out[o] = '\0';
			return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

int admin_handle(struct admin *adm, const char *path, const char *help, admin_handler fn, void *ctx)
{
	struct admin_route *rt;

	if (adm->n_routes == ADMIN_HANDLERS_MAX || strlen(path) >= sizeof(rt->path))
		return -ENOSPC;
	for (unsigned i = 0; i < adm->n_routes; i++)
		if (!strcmp(adm->routes[i].path, path))
			return -EEXIST;
	rt = &adm->routes[adm->n_routes++];
	snprintf(rt->path, sizeof(rt->path), "%s", path);
	rt->help = help;
	rt->fn = fn;
	rt->ctx = ctx;
	return 0;
}

static void conn_free(void *arg)
{
	struct admin_conn *c = arg;

	free(c->out);
	free(c);
}

/* Unlinks and closes @c; the memory goes after the current batch of handlers. */
static void conn_close(struct admin_conn *c)
{
	struct admin_conn **pp;

	for (pp = &c->adm->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->adm->n_conns--;
	loop_del(c->adm->loop, c->fd);
	close(c->fd);
	if (loop_defer(c->adm->loop, conn_free, c))
		conn_free(c); /* defer failed: nothing else references c once it is unlinked */
}

/* Makes the answer c->out; on_conn() writes it. */
static void respond(struct admin_conn *c, int status, const char *ctype, const char *body,
		    size_t body_len)
{
	bool head = !strncmp(c->req, "HEAD ", 5);
	char hdr[256];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
		     "connection: close\r\n\r\n",
		     status, h1_reason(status), ctype, body_len);
	if (head)
		body_len = 0;
	c->out = malloc((size_t)n + body_len);
	if (!c->out)
		return; /* closed without an answer: the client sees a reset, the agent goes on */
	memcpy(c->out, hdr, (size_t)n);
	if (body_len)
		memcpy(c->out + n, body, body_len);
	c->out_len = (size_t)n + body_len;
	c->out_off = 0;
}

static void respond_text(struct admin_conn *c, int status, const char *text)
{
	respond(c, status, "text/plain", text, strlen(text));
}

static void index_page(struct admin_conn *c)
{
	struct admin_resp r = {0};

	admin_printf(&r, "shuntd admin API\n  /ready\n  /healthz\n  /stats\n");
	for (unsigned i = 0; i < c->adm->n_routes; i++)
		admin_printf(&r, "  %-18s %s\n", c->adm->routes[i].path,
			     c->adm->routes[i].help ? c->adm->routes[i].help : "");
	if (r.oom)
		respond_text(c, 500, "out of memory\n");
	else
		respond(c, 200, "text/plain", r.body, r.len);
	free(r.body);
}

/* Serves one complete request head in c->req. */
static void serve(struct admin_conn *c)
{
	struct admin *adm = c->adm;
	char path[1024], method[16], *query;
	struct admin_req req;
	char *body;
	int n;

	if (sscanf(c->req, "%15s %1023s HTTP/1.", method, path) != 2) {
		respond_text(c, 400, "bad request\n");
		return;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "POST")) {
		respond_text(c, 405, "GET, HEAD or POST\n");
		return;
	}
	query = strchr(path, '?');
	if (query)
		*query++ = '\0';
	req = (struct admin_req){.method = method, .path = path, .query = query ? query : ""};
	for (unsigned i = 0; i < adm->n_routes; i++) {
		struct admin_resp r = {.status = 200, .content_type = "text/plain"};

		if (strcmp(path, adm->routes[i].path))
			continue;
		adm->routes[i].fn(adm->routes[i].ctx, &req, &r);
		if (r.oom)
			respond_text(c, 500, "out of memory\n");
		else
			respond(c, r.status, r.content_type, r.body ? r.body : "", r.len);
		free(r.body);
		return;
	}
	if (!strcmp(method, "POST")) {
		respond_text(c, 405, "GET or HEAD\n");
	} else if (!strcmp(path, "/ready")) {
		if (adm->ops.ready(adm->ops.ctx))
			respond_text(c, 200, "ready\n");
		else
			respond_text(c, 503, "not ready\n");
	} else if (!strcmp(path, "/healthz")) {
		respond_text(c, 200, "ok\n");
	} else if (!strcmp(path, "/stats") && adm->ops.stats) {
		body = malloc(ADMIN_STATS_MAX);
		if (!body) {
			respond_text(c, 500, "out of memory\n");
			return;
		}
		n = adm->ops.stats(adm->ops.ctx, body, ADMIN_STATS_MAX);
		respond(c, 200, "text/plain", body, n > 0 ? (size_t)n : 0);
		free(body);
	} else if (!strcmp(path, "/")) {
		index_page(c);
	} else {
		respond_text(c, 404, "not found: GET / lists what there is\n");
	}
}

/* Writes what the client takes of the answer; true when all of it is gone (or the client is). */
static bool flush_out(struct admin_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0)
			return true;
		c->out_off += (size_t)n;
	}
	return true;
}

static void on_conn(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct admin_conn *c = arg;
	ssize_t n;

	if (c->out) { /* writing the answer */
		if (flush_out(c) || (events & (EPOLLERR | EPOLLHUP)))
			conn_close(c);
		return;
	}
	n = recv(fd, c->req + c->len, sizeof(c->req) - 1 - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (strstr(c->req, "\r\n\r\n"))
		serve(c);
	else if (c->len < sizeof(c->req) - 1)
		return; /* head not complete yet */
	else
		respond_text(c, 431, "too large\n");
	if (!c->out || flush_out(c) || loop_mod(loop, fd, EPOLLOUT | EPOLLRDHUP))
		conn_close(c);
}

static void on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct admin *adm = arg;

	for (int i = 0; i < 16; i++) {
		struct admin_conn *c;
		int cfd;

		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("admin: accept: %s", strerror(errno));
			return;
		}
		c = adm->n_conns < ADMIN_CONNS_MAX ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			close(cfd);
			continue;
		}
		c->adm = adm;
		c->fd = cfd;
		if (loop_add(loop, cfd, EPOLLIN | EPOLLRDHUP, on_conn, c)) {
			close(cfd);
			free(c);
			continue;
		}
		c->next = adm->conns;
		adm->conns = c;
		adm->n_conns++;
	}
}

int admin_new(struct loop *loop, const struct sockaddr_in *addr, const struct admin_ops *ops,
	      struct admin **out)
{
	struct admin *adm;
	int one = 1, err;

	adm = calloc(1, sizeof(*adm));
	if (!adm)
		return -ENOMEM;
	adm->loop = loop;
	adm->ops = *ops;
	adm->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (adm->listen_fd < 0) {
		err = -errno;
		goto free_adm;
	}
	if (setsockopt(adm->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(adm->listen_fd, (const struct sockaddr *)addr, sizeof(*addr)) ||
	    listen(adm->listen_fd, 64)) {
		err = -errno;
		goto close_fd;
	}
	err = loop_add(loop, adm->listen_fd, EPOLLIN, on_accept, adm);
	if (err)
		goto close_fd;
	*out = adm;
	return 0;

close_fd:
	close(adm->listen_fd);
free_adm:
	free(adm);
	return err;
}

int admin_listen_fd(const struct admin *adm)
{
	return adm->listen_fd;
}

void admin_free(struct admin *adm)
{
	if (!adm)
		return;
	while (adm->conns) {
		struct admin_conn *c = adm->conns;

		adm->conns = c->next;
		loop_del(adm->loop, c->fd);
		close(c->fd);
		conn_free(c);
	}
	loop_del(adm->loop, adm->listen_fd);
	close(adm->listen_fd);
	free(adm);
}
