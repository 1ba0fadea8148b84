// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Request mirroring (VirtualService mirror/mirrors), the sending side: a copy
 * of a request goes to another endpoint over a connection of its own, its
 * response is parsed only to know where it ends and is dropped, and the
 * connection is closed. Fire and forget: a mirror shares nothing with the
 * exchange it copies (its own bytes, fd and timer), so whatever it meets,
 * failure, slowness or garbage, only shows in the mirror_* counters.
 *
 * Memory is bounded: at most PROXY_MIRROR_MAX copies are in flight per
 * proxy (beyond, a copy is dropped and counted), and each lives at most
 * mirror_timeout_ms, connect included.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy_int.h"

#define MIRROR_READ_CHUNK  4096	       /* response bytes read at a time, then dropped */
#define MIRROR_EVENT_BYTES (64 * 1024) /* bytes read per fd event before other fds get a turn */

enum mirror_state {
	MIRROR_CONNECTING, /* connect() in progress */
	MIRROR_EXCHANGE,   /* connected: the copy goes out, the response comes in */
	MIRROR_CLOSED,	   /* closed, freed after the batch */
};

/* How the response parser left the exchange. */
enum mirror_rsp {
	MIRROR_RSP_MORE, /* wait for more bytes */
	MIRROR_RSP_DONE, /* a final response ended: the copy was answered */
	MIRROR_RSP_FAIL, /* reset, closed early, malformed */
};

struct mirror {
	struct proxy *px;
	int fd;
	enum mirror_state state;
	struct sockaddr_in ep;
	size_t len;		 /* bytes of the copy at data: head then body */
	size_t sent;		 /* of which written */
	struct loop_timer timer; /* the whole life of the mirror */
	struct dlist link;	 /* proxy.mirrors, then proxy.mirrors_dead */
	struct h1_rsp hrsp;
	char data[]; /* the copy */
};

static const char *mirror_state_str(enum mirror_state state)
{
	static const char *const names[] = {
		[MIRROR_CONNECTING] = "connecting",
		[MIRROR_EXCHANGE] = "exchange",
		[MIRROR_CLOSED] = "closed",
	};

	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

static void mirror_reap(void *arg)
{
	struct proxy *px = arg;

	px->mirror_reap_pending = false;
	while (!dlist_empty(&px->mirrors_dead)) {
		struct mirror *m = container_of(px->mirrors_dead.next, struct mirror, link);

		dlist_del(&m->link);
		free(m);
	}
}

/*
 * Closes @m and counts how it ended; the memory goes after the batch (@m may
 * be in its own handler). If deferring fails, it waits for the next reap.
 */
static void mirror_end(struct mirror *m, bool answered, const char *why)
{
	struct proxy *px = m->px;
	char ep[32];

	if (m->state == MIRROR_CLOSED)
		return;
	if (!answered)
		log_debug("proxy: mirror to %s: %s while %s", px_addr_str(&m->ep, ep, sizeof(ep)),
			  why, mirror_state_str(m->state));
	loop_timer_cancel(px->loop, &m->timer);
	loop_del(px->loop, m->fd);
	close(m->fd);
	m->fd = -1;
	m->state = MIRROR_CLOSED;
	dlist_del(&m->link);
	dlist_add(&px->mirrors_dead, &m->link);
	px->n_mirrors--;
	STAT_DEC(px, mirror_active);
	if (answered)
		STAT_INC(px, mirror_sent);
	else
		STAT_INC(px, mirror_failed);
	if (!px->mirror_reap_pending && !loop_defer(px->loop, mirror_reap, px))
		px->mirror_reap_pending = true;
}

static void on_mirror_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	mirror_end(arg, false, "timed out");
}

/* Writes what is left of the copy until done or EAGAIN. 0 or -errno. */
static int mirror_write(struct mirror *m)
{
	while (m->sent < m->len) {
		ssize_t n = send(m->fd, m->data + m->sent, m->len - m->sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		m->sent += (size_t)n;
	}
	return 0;
}

/* Parses @n response bytes at @p: where the response stands. */
static enum mirror_rsp mirror_parse(struct mirror *m, const char *p, size_t n)
{
	size_t off = 0, used;
	bool again = false;

	/* After a head, llhttp runs once more even on no bytes: Content-Length: 0 ends there. */
	while (off < n || again) {
		enum h1_ev ev = h1_rsp_execute(&m->hrsp, p + off, n - off, &used);

		again = false;
		switch (ev) {
		case H1_MORE:
			return MIRROR_RSP_MORE;
		case H1_HEADERS:
			off += used;
			again = true;
			break;
		case H1_MESSAGE:
			/* An interim response (100 Continue, 103) is not the answer: go on. */
			if (m->hrsp.ll.status_code / 100 != 1)
				return MIRROR_RSP_DONE;
			if (!used)
				return MIRROR_RSP_FAIL; /* no progress: never loop on it */
			off += used;
			break;
		case H1_UPGRADE:
			return MIRROR_RSP_DONE; /* 101: the HTTP exchange is over for a copy */
		default:
			return MIRROR_RSP_FAIL;
		}
	}
	return MIRROR_RSP_MORE;
}

/* Reads and drops response bytes, up to MIRROR_EVENT_BYTES: where the response stands. */
static enum mirror_rsp mirror_read(struct mirror *m)
{
	char buf[MIRROR_READ_CHUNK];
	size_t budget = MIRROR_EVENT_BYTES;

	while (budget) {
		ssize_t n = recv(m->fd, buf, sizeof(buf), 0);
		enum mirror_rsp r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? MIRROR_RSP_MORE : MIRROR_RSP_FAIL;
		}
		if (n == 0) /* the peer closed: that may be how its response ends */
			return h1_rsp_finish(&m->hrsp) == H1_MESSAGE &&
					       m->hrsp.ll.status_code / 100 != 1
				       ? MIRROR_RSP_DONE
				       : MIRROR_RSP_FAIL;
		r = mirror_parse(m, buf, (size_t)n);
		if (r != MIRROR_RSP_MORE)
			return r;
		budget -= (size_t)n < budget ? (size_t)n : budget;
	}
	return MIRROR_RSP_MORE;
}

/* The connect finished: on success the copy starts going out. 0, or -errno when it failed. */
static int mirror_connected(struct mirror *m)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(m->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err)
		return -err;
	m->state = MIRROR_EXCHANGE;
	return 0;
}

static void on_mirror(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct mirror *m = arg;
	enum mirror_rsp r = MIRROR_RSP_MORE;
	uint32_t ev;
	int err;

	if (m->state == MIRROR_CONNECTING) {
		err = mirror_connected(m);
		if (err) {
			mirror_end(m, false, strerror(-err));
			return;
		}
	}
	if (m->state != MIRROR_EXCHANGE)
		return;
	err = mirror_write(m);
	if (err) {
		mirror_end(m, false, strerror(-err));
		return;
	}
	/* Read while still writing too: an early answer (413, ...) or a reset ends the copy. */
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		r = mirror_read(m);
	if (r != MIRROR_RSP_MORE) {
		mirror_end(m, r == MIRROR_RSP_DONE, "reset or bad response");
		return;
	}
	ev = EPOLLIN | EPOLLRDHUP;
	if (m->sent < m->len)
		ev |= EPOLLOUT;
	if (loop_mod(loop, fd, ev))
		mirror_end(m, false, "epoll failed");
}

/* A non-blocking socket for @m, marked so that the kernel never captures it. fd or -errno. */
static int mirror_socket(const struct proxy *px)
{
	int fd, one = 1, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (px->ops.upstream_mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &px->ops.upstream_mark,
						sizeof(px->ops.upstream_mark))) {
		err = -errno;
		log_every(LOG_WARN, LOG_EVERY_MS,
			  "proxy: cannot set SO_MARK 0x%x on a mirror socket: %s",
			  px->ops.upstream_mark, strerror(-err));
		goto close_fd;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		err = -errno;
		goto close_fd;
	}
	return fd;

close_fd:
	close(fd);
	return err;
}

/* Connects @m (non-blocking) and watches it, its timer armed. 0 or -errno. */
static int mirror_start(struct proxy *px, struct mirror *m)
{
	uint32_t timeout =
		px->ops.mirror_timeout_ms ? px->ops.mirror_timeout_ms : PROXY_MIRROR_TIMEOUT_MS;
	int err;

	m->fd = mirror_socket(px);
	if (m->fd < 0)
		return m->fd;
	/* Success at once is possible too: EPOLLOUT then reports it like a finished connect. */
	if (connect(m->fd, (const struct sockaddr *)&m->ep, sizeof(m->ep)) &&
	    errno != EINPROGRESS) {
		err = -errno;
		goto close_fd;
	}
	err = loop_add(px->loop, m->fd, EPOLLOUT, on_mirror, m);
	if (err)
		goto close_fd;
	err = loop_timer_arm(px->loop, &m->timer, timeout, on_mirror_timeout, m);
	if (err)
		goto del_fd;
	return 0;

del_fd:
	loop_del(px->loop, m->fd);
close_fd:
	close(m->fd);
	m->fd = -1;
	return err;
}

void px_mirror_send(struct proxy *px, const struct sockaddr_in *ep, const char *head,
		    size_t head_len, const char *body, size_t body_len)
{
	struct mirror *m;
	char addr[32];
	int err;

	if (px->n_mirrors >= PROXY_MIRROR_MAX || head_len > SIZE_MAX - sizeof(*m) ||
	    body_len > SIZE_MAX - sizeof(*m) - head_len) {
		STAT_INC(px, mirror_dropped);
		return;
	}
	m = malloc(sizeof(*m) + head_len + body_len);
	if (!m) {
		STAT_INC(px, mirror_dropped);
		return;
	}
	memset(m, 0, sizeof(*m));
	m->px = px;
	m->ep = *ep;
	m->len = head_len + body_len;
	memcpy(m->data, head, head_len);
	if (body_len)
		memcpy(m->data + head_len, body, body_len);
	h1_rsp_init(&m->hrsp);
	m->hrsp.no_body = head_len >= 5 && !memcmp(head, "HEAD ", 5);
	m->state = MIRROR_CONNECTING;
	err = mirror_start(px, m);
	if (err) {
		/* Refused at once (loopback), unreachable, out of fds: the copy failed. */
		log_debug("proxy: mirror to %s: %s", px_addr_str(ep, addr, sizeof(addr)),
			  strerror(-err));
		STAT_INC(px, mirror_failed);
		free(m);
		return;
	}
	dlist_add(&px->mirrors, &m->link);
	px->n_mirrors++;
	STAT_INC(px, mirror_active);
}

void px_mirror_close_all(struct proxy *px)
{
	while (!dlist_empty(&px->mirrors))
		mirror_end(container_of(px->mirrors.next, struct mirror, link), false,
			   "proxy freed");
	loop_defer_cancel(px->loop, mirror_reap, px);
	mirror_reap(px);
}
