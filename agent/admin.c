// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "log.h"
#include "loop.h"

#define ADMIN_REQ_MAX	4096 /* an admin request head larger than this gets 431 */
#define ADMIN_RESP_MAX	16384
#define ADMIN_CONNS_MAX 64 /* the admin API is for operators, not load */

struct admin_conn {
	struct admin *adm;
	int fd;
	size_t len;
	char req[ADMIN_REQ_MAX];
	struct admin_conn *next;
};

struct admin {
	struct loop *loop;
	struct admin_ops ops;
	int listen_fd;
	unsigned n_conns;
	struct admin_conn *conns; /* every open connection, for admin_free() */
};

static void conn_free(void *arg)
{
	free(arg);
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
		free(c); /* defer failed: nothing else references c once it is unlinked */
}

static void respond(struct admin_conn *c, int status, const char *reason, const char *body,
		    size_t body_len)
{
	bool head = !strncmp(c->req, "HEAD ", 5);
	char hdr[256];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
		     "connection: close\r\n\r\n",
		     status, reason, body_len);
	/* Small, one shot, best effort: an admin client that cannot take 16 KiB at once is gone. */
	if (send(c->fd, hdr, (size_t)n, MSG_NOSIGNAL) == n && body_len && !head)
		(void)send(c->fd, body, body_len, MSG_NOSIGNAL);
}

/* Serves one complete request head in c->req. */
static void serve(struct admin_conn *c)
{
	struct admin *adm = c->adm;
	char path[256], method[16];
	char *body;
	int n;

	if (sscanf(c->req, "%15s %255s HTTP/1.", method, path) != 2) {
		respond(c, 400, "Bad Request", "bad request\n", 12);
		return;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		respond(c, 405, "Method Not Allowed", "GET only\n", 9);
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (!strcmp(path, "/ready")) {
		if (adm->ops.ready(adm->ops.ctx))
			respond(c, 200, "OK", "ready\n", 6);
		else
			respond(c, 503, "Service Unavailable", "not ready\n", 10);
	} else if (!strcmp(path, "/healthz")) {
		respond(c, 200, "OK", "ok\n", 3);
	} else if (!strcmp(path, "/stats")) {
		body = malloc(ADMIN_RESP_MAX);
		if (!body) {
			respond(c, 500, "Internal Server Error", "out of memory\n", 14);
			return;
		}
		n = adm->ops.stats(adm->ops.ctx, body, ADMIN_RESP_MAX);
		respond(c, 200, "OK", body, n > 0 ? (size_t)n : 0);
		free(body);
	} else {
		respond(c, 404, "Not Found", "not found: try /ready /healthz /stats\n", 38);
	}
}

static void on_conn(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct admin_conn *c = arg;
	ssize_t n;

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
		respond(c, 431, "Request Header Fields Too Large", "too large\n", 10);
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
		free(c);
	}
	loop_del(adm->loop, adm->listen_fd);
	close(adm->listen_fd);
	free(adm);
}
