// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Connections of the HTTP/1.1 proxy: the client side (struct session) and the
 * upstream side (struct upconn, busy with one session or idle in the pool).
 *
 * Bytes move through two fixed buffers per session: req (client to
 * upstream) and rsp (upstream or proxy to client). Each has two marks,
 * counted from its head: *_parsed (fed to llhttp) and *_fwd (allowed out).
 * A request head is parsed in req, routed, re-serialized into hout and
 * dropped from req; the body then goes out of req as received. A response
 * goes out of rsp as received, once its head parsed cleanly. A side whose
 * buffer is full is not read (backpressure); EPOLLOUT is watched only
 * while a write left bytes behind.
 *
 * Session states (sess_state_str()):
 *   HEAD     --head parsed, routed, pooled upstream--> EXCHANGE
 *   HEAD     --head parsed, routed, new upstream-----> CONNECT --connected--> EXCHANGE
 *   HEAD, CONNECT, EXCHANGE --no route, connect failure, bad message--> LOCAL
 *   EXCHANGE --response sent, both keep-alive--> HEAD (upstream back to the pool)
 *   EXCHANGE --101 Switching Protocols--> TUNNEL
 *   LOCAL    --reply sent, request drained, keep-alive--> HEAD
 *   any      --close, abort, error--> CLOSED (freed after the batch)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "http1.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"

_Static_assert(PROXY_BUF_SIZE <= H1_HEAD_MAX, "request head spans are 16-bit offsets");

#define ACCEPT_BATCH	64	    /* connections accepted per listener event */
#define EVENT_BYTES	(64 * 1024) /* bytes read per fd event before other fds get a turn */
#define ACCEPT_PAUSE_MS 100	    /* listener off after EMFILE and the like */
#define POOL_BUCKETS	64
#define PROCESS_ROUNDS	4096 /* state changes in one sess_process(): a bug if reached */

#define RESET_BEFORE_HEADERS "upstream connect error or disconnect/reset before headers. "
#define BODY_CONNECT_FAILURE RESET_BEFORE_HEADERS "reset reason: connection failure"
#define BODY_CONNECT_TIMEOUT RESET_BEFORE_HEADERS "reset reason: connection timeout"
#define BODY_TERMINATION     RESET_BEFORE_HEADERS "reset reason: connection termination"
#define BODY_PROTOCOL_ERROR  RESET_BEFORE_HEADERS "reset reason: protocol error"

/* Counters are written by the loop's thread only and read by any: relaxed atomics suffice. */
#define STAT_ADD(px, field, n)                                                                     \
	__atomic_store_n(&(px)->stats.field, (px)->stats.field + (uint64_t)(n), __ATOMIC_RELAXED)
#define STAT_INC(px, field) STAT_ADD(px, field, 1)
#define STAT_DEC(px, field) STAT_ADD(px, field, -1)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Intrusive doubly linked list; a head or unlinked node points at itself. */
struct dlist {
	struct dlist *prev, *next;
};

static void dlist_init(struct dlist *h)
{
	h->prev = h->next = h;
}

static bool dlist_empty(const struct dlist *h)
{
	return h->next == h;
}

static void dlist_add(struct dlist *h, struct dlist *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static void dlist_del(struct dlist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	dlist_init(n);
}

enum up_state {
	UP_CONNECTING, /* connect() in progress for its session */
	UP_BUSY,       /* carrying its session's exchange */
	UP_IDLE,       /* in the pool, watched for close or stray bytes */
	UP_CLOSED,     /* closed, freed after the batch */
};

struct upconn {
	struct proxy *px;
	struct session *s; /* owner while connecting or busy */
	int fd;
	enum up_state state;
	struct sockaddr_in ep;
	struct loop_timer timer; /* connect timeout; idle timeout in the pool */
	struct dlist bucket;	 /* pool: bucket of its ep hash, most recently used first */
	struct dlist lru;	 /* pool: every idle connection, most recently used first */
	struct upconn *next_dead;
};

enum sess_state {
	SESS_HEAD,     /* waiting for a request head (keep-alive idle included) */
	SESS_CONNECT,  /* request routed, upstream connect in progress */
	SESS_EXCHANGE, /* request going up, response coming down */
	SESS_LOCAL,    /* sending a response the proxy made itself */
	SESS_TUNNEL,   /* after 101 Switching Protocols: raw bytes both ways */
	SESS_CLOSED,   /* closed, freed after the batch */
};

/* Session flags. Those of the current request are cleared by sess_next_request(). */
#define SF_NO_ROUTE   (1u << 0) /* orig_dst unknown: every request is answered 404 */
#define SF_REQ_DONE   (1u << 1) /* the request was parsed to its end */
#define SF_REQ_KA     (1u << 2) /* the request lets the client connection live on */
#define SF_HEAD_REQ   (1u << 3) /* the request is HEAD: no response body */
#define SF_EXPECT     (1u << 4) /* Expect: 100-continue: the client may hold its body back */
#define SF_UPGRADE    (1u << 5) /* the request asks for a protocol switch */
#define SF_REUSED     (1u << 6) /* the upstream came from the pool: one retry if it dies unanswered */
#define SF_RSP_SEEN   (1u << 7)	    /* the upstream sent at least one byte */
#define SF_COMMITTED  (1u << 8)	    /* final response bytes went out: no local reply anymore */
#define SF_RSP_DONE   (1u << 9)	    /* the final response was parsed to its end */
#define SF_RSP_KA     (1u << 10)    /* the final response lets both connections live on */
#define SF_DRAIN      (1u << 11)    /* discard the rest of the request body */
#define SF_CLOSE      (1u << 12)    /* close the client once rsp_fwd is flushed */
#define SF_CLIENT_EOF (1u << 13)    /* the client closed or reset */
#define SF_UP_EOF     (1u << 14)    /* the upstream closed or reset */
#define SF_UP_WERR    (1u << 15)    /* writing upstream failed: request bytes are dropped */
#define SF_CONN_FLAGS (SF_NO_ROUTE) /* the flags that outlive a request */

struct session {
	struct proxy *px;
	int fd;
	enum sess_state state;
	uint32_t flags;		      /* SF_* */
	struct sockaddr_in peer;      /* the app's address */
	struct sockaddr_in orig;      /* the VIP:port it connected to */
	struct sockaddr_in ep;	      /* backend of the current request */
	struct upconn *up;	      /* while connecting or exchanging */
	struct buf req;		      /* client to upstream */
	struct buf rsp;		      /* upstream (or the proxy) to client */
	struct buf hout;	      /* the request head as sent upstream, kept for a retry */
	uint32_t hout_sent;	      /* bytes of hout written */
	uint32_t req_parsed, req_fwd; /* req bytes parsed / ready to go upstream */
	uint32_t rsp_parsed, rsp_fwd; /* rsp bytes parsed / ready to go to the client */
	uint64_t body_sent;	      /* request body bytes written upstream (a retry needs none) */
	struct loop_timer timer;      /* client idle timeout */
	struct dlist link;	      /* proxy.sessions */
	struct session *next_dead;
	struct h1_req hreq;
	struct h1_rsp hrsp;
};

struct proxy {
	struct loop *loop;
	int listen_fd;
	struct proxy_ops ops; /* with defaults filled in */
	struct proxy_stats stats;
	struct dlist sessions;		 /* every open session */
	struct dlist pool_lru;		 /* idle upstreams, most recently used first */
	struct dlist pool[POOL_BUCKETS]; /* idle upstreams by ep hash */
	uint32_t n_idle;
	struct session *dead_sessions; /* closed, freed by proxy_reap() */
	struct upconn *dead_ups;
	bool reap_pending;		/* proxy_reap() is deferred */
	struct loop_timer accept_timer; /* re-enables the listener after a pause */
};

static void sess_process(struct session *s);

static const char *sess_state_str(enum sess_state state)
{
	static const char *const names[] = {
		[SESS_HEAD] = "head",	[SESS_CONNECT] = "connect", [SESS_EXCHANGE] = "exchange",
		[SESS_LOCAL] = "local", [SESS_TUNNEL] = "tunnel",   [SESS_CLOSED] = "closed",
	};

	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

static const char *addr_str(const struct sockaddr_in *a, char *out, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
	return out;
}

/* Reaping: connections are closed at once but freed after the batch. */

static void proxy_reap(void *arg)
{
	struct proxy *px = arg;

	px->reap_pending = false;
	while (px->dead_sessions) {
		struct session *s = px->dead_sessions;

		px->dead_sessions = s->next_dead;
		buf_free(&s->req);
		buf_free(&s->rsp);
		buf_free(&s->hout);
		free(s);
	}
	while (px->dead_ups) {
		struct upconn *up = px->dead_ups;

		px->dead_ups = up->next_dead;
		free(up);
	}
}

/* If deferring fails, the dead stay listed until the next reap or proxy_free(). */
static void schedule_reap(struct proxy *px)
{
	if (!px->reap_pending && !loop_defer(px->loop, proxy_reap, px))
		px->reap_pending = true;
}

/* Upstream connections and the pool. */

static void up_close(struct upconn *up)
{
	struct proxy *px = up->px;

	if (up->state == UP_CLOSED)
		return;
	if (up->state == UP_IDLE) {
		dlist_del(&up->bucket);
		dlist_del(&up->lru);
		px->n_idle--;
		STAT_DEC(px, upstream_idle);
	}
	loop_timer_cancel(px->loop, &up->timer);
	loop_del(px->loop, up->fd);
	close(up->fd);
	up->state = UP_CLOSED;
	up->s = NULL;
	STAT_DEC(px, upstream_active);
	up->next_dead = px->dead_ups;
	px->dead_ups = up;
	schedule_reap(px);
}

static unsigned pool_hash(const struct sockaddr_in *ep)
{
	uint32_t h = (ep->sin_addr.s_addr ^ ((uint32_t)ep->sin_port << 16)) * 2654435761u;

	return (h >> 20) % POOL_BUCKETS;
}

/* The most recently pooled connection to @ep, taken out of the pool; NULL if none. */
static struct upconn *pool_take(struct proxy *px, const struct sockaddr_in *ep)
{
	struct dlist *h = &px->pool[pool_hash(ep)];

	for (struct dlist *n = h->next; n != h; n = n->next) {
		struct upconn *up = container_of(n, struct upconn, bucket);

		if (up->ep.sin_addr.s_addr != ep->sin_addr.s_addr ||
		    up->ep.sin_port != ep->sin_port)
			continue;
		dlist_del(&up->bucket);
		dlist_del(&up->lru);
		px->n_idle--;
		STAT_DEC(px, upstream_idle);
		loop_timer_cancel(px->loop, &up->timer);
		up->state = UP_BUSY;
		return up;
	}
	return NULL;
}

static void on_pool_idle_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	up_close(arg);
}

/* Parks @up, which finished an exchange cleanly; the least recently used goes if the pool is full.
 */
static void pool_put(struct proxy *px, struct upconn *up)
{
	if (px->n_idle >= px->ops.pool_max_idle)
		up_close(container_of(px->pool_lru.prev, struct upconn, lru));
	up->s = NULL;
	up->state = UP_IDLE;
	dlist_add(&px->pool[pool_hash(&up->ep)], &up->bucket);
	dlist_add(&px->pool_lru, &up->lru);
	px->n_idle++;
	STAT_INC(px, upstream_idle);
	/* Any event on an idle connection (bytes, FIN, RST) means it cannot carry a request. */
	if (loop_mod(px->loop, up->fd, EPOLLIN | EPOLLRDHUP) ||
	    (px->ops.pool_idle_timeout_ms &&
	     loop_timer_arm(px->loop, &up->timer, px->ops.pool_idle_timeout_ms,
			    on_pool_idle_timeout, up)))
		up_close(up);
}

static void on_connect_timeout(struct loop *loop, struct loop_timer *t, void *arg);
static void on_upstream(struct loop *loop, int fd, uint32_t events, void *arg);

/* Starts a non-blocking connect to s->ep, marked so that the kernel never captures it. */
static int up_connect(struct session *s)
{
	struct proxy *px = s->px;
	struct upconn *up;
	int fd, one = 1, err;

	up = calloc(1, sizeof(*up));
	if (!up)
		return -ENOMEM;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto free_up;
	}
	if (px->ops.upstream_mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &px->ops.upstream_mark,
						sizeof(px->ops.upstream_mark))) {
		err = -errno;
		log_warn("proxy: cannot set SO_MARK 0x%x on an upstream socket: %s",
			 px->ops.upstream_mark, strerror(-err));
		goto close_fd;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		err = -errno;
		goto close_fd;
	}
	if (connect(fd, (const struct sockaddr *)&s->ep, sizeof(s->ep)) && errno != EINPROGRESS) {
		err = -errno;
		goto close_fd;
	}
	up->px = px;
	up->s = s;
	up->fd = fd;
	up->ep = s->ep;
	up->state = UP_CONNECTING;
	dlist_init(&up->bucket);
	dlist_init(&up->lru);
	err = loop_add(px->loop, fd, EPOLLOUT, on_upstream, up);
	if (err)
		goto close_fd;
	err = loop_timer_arm(px->loop, &up->timer, px->ops.connect_timeout_ms, on_connect_timeout,
			     up);
	if (err)
		goto del_fd;
	s->up = up;
	STAT_INC(px, upstream_connects);
	STAT_INC(px, upstream_active);
	return 0;

del_fd:
	loop_del(px->loop, fd);
close_fd:
	close(fd);
free_up:
	free(up);
	return err;
}

/* Session teardown. */

static void sess_close(struct session *s)
{
	struct proxy *px = s->px;

	if (s->state == SESS_CLOSED)
		return;
	log_debug("proxy: fd %d closed in state %s", s->fd, sess_state_str(s->state));
	if (s->up) {
		up_close(s->up);
		s->up = NULL;
	}
	loop_timer_cancel(px->loop, &s->timer);
	loop_del(px->loop, s->fd);
	close(s->fd);
	s->state = SESS_CLOSED;
	dlist_del(&s->link);
	STAT_DEC(px, active);
	s->next_dead = px->dead_sessions;
	px->dead_sessions = s;
	schedule_reap(px);
}

/* The client went away (or broke the protocol) with a request in progress. */
static void sess_abort(struct session *s)
{
	STAT_INC(s->px, client_aborted);
	sess_close(s);
}

static void count_response(struct proxy *px, int status)
{
	STAT_INC(px, responses);
	switch (status / 100) {
	case 2:
		STAT_INC(px, responses_2xx);
		break;
	case 3:
		STAT_INC(px, responses_3xx);
		break;
	case 4:
		STAT_INC(px, responses_4xx);
		break;
	case 5:
		STAT_INC(px, responses_5xx);
		break;
	default:
		break;
	}
}

/*
 * Answers the current request from the proxy: drops the upstream and any
 * response bytes not yet committed to the client (interim responses already
 * let out stay ahead of the reply). The client connection stays open if the
 * request allows it and its body can be drained; otherwise it closes after
 * the reply.
 */
static void local_reply(struct session *s, int status, const char *body, bool close)
{
	struct proxy *px = s->px;
	bool keep;

	if (s->up) {
		up_close(s->up);
		s->up = NULL;
	}
	buf_free(&s->hout);
	keep = !close && (s->flags & SF_REQ_KA) && !(s->flags & SF_CLIENT_EOF) &&
	       ((s->flags & SF_REQ_DONE) || !(s->flags & SF_EXPECT));
	if (!keep)
		s->flags |= SF_CLOSE;
	else if (!(s->flags & SF_REQ_DONE))
		s->flags |= SF_DRAIN;
	buf_consume(&s->req, s->req_fwd);
	s->req_parsed -= s->req_fwd;
	s->req_fwd = 0;
	s->rsp.len = s->rsp_fwd;
	if (buf_alloc(&s->rsp, PROXY_BUF_SIZE) ||
	    h1_local_response(&s->rsp, status, body, s->flags & SF_HEAD_REQ, !keep)) {
		sess_close(s);
		return;
	}
	s->rsp_parsed = s->rsp_fwd = s->rsp.len;
	STAT_INC(px, local_replies);
	count_response(px, status);
	log_debug("proxy: fd %d: local reply %d (%s)", s->fd, status, body);
	s->state = SESS_LOCAL;
}

static void bad_request(struct session *s, int status)
{
	STAT_INC(s->px, bad_requests);
	local_reply(s, status,
		    status == 431 ? "request header fields too large\n" : "bad request\n", true);
}

static void on_client_idle_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct session *s = arg;

	if (s->state == SESS_HEAD)
		sess_close(s);
}

/* Readies the session for the next request on the connection (pipelined bytes stay in req). */
static void sess_next_request(struct session *s)
{
	struct proxy *px = s->px;

	s->state = SESS_HEAD;
	s->flags &= SF_CONN_FLAGS;
	buf_free(&s->hout);
	s->hout_sent = 0;
	s->body_sent = 0;
	buf_free(&s->rsp);
	s->rsp_parsed = s->rsp_fwd = 0;
	if (buf_empty(&s->req))
		buf_free(&s->req); /* an idle keep-alive connection holds no buffer */
	if (px->ops.client_idle_timeout_ms)
		(void)loop_timer_arm(px->loop, &s->timer, px->ops.client_idle_timeout_ms,
				     on_client_idle_timeout, s);
}

/* I/O. Each returns 0 or -errno; EAGAIN is 0. */

/* Reads once from the client into req. Bytes read, 0 for none (EOF is flagged). */
static size_t client_read(struct session *s)
{
	uint32_t room;
	ssize_t n;
	char *p;

	if (buf_alloc(&s->req, PROXY_BUF_SIZE)) {
		s->flags |= SF_CLIENT_EOF;
		return 0;
	}
	p = buf_tail(&s->req);
	room = buf_room(&s->req);
	if (!room)
		return 0;
	n = recv(s->fd, p, room, 0);
	if (n > 0) {
		buf_commit(&s->req, (uint32_t)n);
		STAT_ADD(s->px, bytes_from_client, n);
		return (size_t)n;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		s->flags |= SF_CLIENT_EOF;
	return 0;
}

static int client_flush(struct session *s)
{
	while (s->rsp_fwd) {
		ssize_t n = send(s->fd, buf_head(&s->rsp), s->rsp_fwd, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		buf_consume(&s->rsp, (uint32_t)n);
		s->rsp_fwd -= (uint32_t)n;
		s->rsp_parsed -= (uint32_t)n;
		STAT_ADD(s->px, bytes_to_client, n);
	}
	return 0;
}

/* Reads once from the upstream into rsp. Bytes read, 0 for none (EOF is flagged). */
static size_t up_read(struct session *s)
{
	uint32_t room;
	ssize_t n;
	char *p;

	if (!s->rsp.data)
		return 0;
	p = buf_tail(&s->rsp);
	room = buf_room(&s->rsp);
	if (!room)
		return 0;
	n = recv(s->up->fd, p, room, 0);
	if (n > 0) {
		buf_commit(&s->rsp, (uint32_t)n);
		s->flags |= SF_RSP_SEEN;
		return (size_t)n;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		s->flags |= SF_UP_EOF;
	return 0;
}

static uint32_t up_pending(const struct session *s)
{
	return s->hout.len - s->hout_sent + s->req_fwd;
}

/* Writes the request head, then the body bytes ready in req, in one sendmsg() when possible. */
static int up_flush(struct session *s)
{
	while (up_pending(s)) {
		uint32_t head_left = s->hout.len - s->hout_sent, k;
		struct iovec iov[2];
		struct msghdr mh = {.msg_iov = iov};
		ssize_t n;

		if (head_left)
			iov[mh.msg_iovlen++] =
				(struct iovec){s->hout.data + s->hout_sent, head_left};
		if (s->req_fwd)
			iov[mh.msg_iovlen++] = (struct iovec){buf_head(&s->req), s->req_fwd};
		n = sendmsg(s->up->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		k = (uint32_t)n < head_left ? (uint32_t)n : head_left;
		s->hout_sent += k;
		k = (uint32_t)n - k;
		buf_consume(&s->req, k);
		s->req_fwd -= k;
		s->req_parsed -= k;
		s->body_sent += k;
	}
	return 0;
}

/* Parsing. */

/* Parses request body bytes; marks them for the upstream, or drops them when draining. */
static int req_pump(struct session *s)
{
	enum h1_ev ev;
	size_t used;

	if (s->flags & SF_REQ_DONE)
		return 0;
	/* Runs at least once: a message without a body completes on zero bytes. */
	do {
		ev = h1_req_execute(&s->hreq, buf_head(&s->req), buf_head(&s->req) + s->req_parsed,
				    s->req.len - s->req_parsed, &used);
		s->req_parsed += (uint32_t)used;
		if (ev == H1_ERROR || ev == H1_HEADERS)
			return -EBADMSG;
		if (s->flags & SF_DRAIN) {
			buf_consume(&s->req, s->req_parsed);
			s->req_parsed = 0;
		}
		s->req_fwd = s->req_parsed;
		if (ev == H1_MESSAGE || ev == H1_UPGRADE)
			s->flags |= SF_REQ_DONE;
	} while (!(s->flags & SF_REQ_DONE) && s->req_parsed < s->req.len);
	return 0;
}

static void tunnel_enter(struct session *s)
{
	STAT_INC(s->px, responses_1xx);
	count_response(s->px, 101);
	s->flags |= SF_COMMITTED;
	s->state = SESS_TUNNEL;
	log_debug("proxy: fd %d: switched protocols, tunnelling", s->fd);
}

/* The upstream broke HTTP: 502 if the client saw nothing of the response, else cut it there. */
static void rsp_malformed(struct session *s)
{
	char ep[32];

	STAT_INC(s->px, upstream_bad_response);
	log_debug("proxy: malformed response from %s: %s", addr_str(&s->ep, ep, sizeof(ep)),
		  llhttp_get_error_reason(&s->hrsp.ll));
	if (!(s->flags & SF_COMMITTED)) {
		local_reply(s, 502, BODY_PROTOCOL_ERROR, false);
		return;
	}
	up_close(s->up);
	s->up = NULL;
	s->flags |= SF_CLOSE;
	s->rsp.len = s->rsp_fwd;
	s->rsp_parsed = s->rsp_fwd;
}

/* A whole message was parsed: an interim one goes out and the wait goes on; a final one ends. */
static void rsp_message(struct session *s)
{
	int status = s->hrsp.ll.status_code;

	if (status == 101) {
		if (s->flags & SF_UPGRADE)
			tunnel_enter(s);
		else
			rsp_malformed(s);
		return;
	}
	s->rsp_fwd = s->rsp_parsed;
	if (status / 100 == 1) {
		STAT_INC(s->px, responses_1xx);
		return;
	}
	s->flags |= SF_COMMITTED | SF_RSP_DONE;
	if (llhttp_should_keep_alive(&s->hrsp.ll))
		s->flags |= SF_RSP_KA;
	count_response(s->px, status);
}

/* Parses response bytes; lets them out once the head of a final response parsed cleanly. */
static void rsp_pump(struct session *s)
{
	enum h1_ev ev;
	size_t used;

	while (s->state == SESS_EXCHANGE && !(s->flags & SF_RSP_DONE) &&
	       s->rsp_parsed < s->rsp.len) {
		ev = h1_rsp_execute(&s->hrsp, buf_head(&s->rsp) + s->rsp_parsed,
				    s->rsp.len - s->rsp_parsed, &used);
		s->rsp_parsed += (uint32_t)used;
		if (ev == H1_MESSAGE) {
			rsp_message(s);
		} else if (ev == H1_MORE) {
			if (s->hrsp.head_done) {
				s->rsp_fwd = s->rsp_parsed;
				s->flags |= SF_COMMITTED;
			}
		} else {
			rsp_malformed(s);
		}
	}
	if (s->state == SESS_EXCHANGE && !(s->flags & SF_COMMITTED) && !s->rsp_fwd &&
	    !buf_room(&s->rsp))
		rsp_malformed(s); /* a response head larger than the buffer */
}

/* A pooled connection died before answering, having taken no body byte: send it all again. */
static bool can_retry(const struct session *s)
{
	return (s->flags & SF_REUSED) && !(s->flags & (SF_RSP_SEEN | SF_UP_WERR)) && !s->body_sent;
}

/* The upstream closed or reset; everything it sent is parsed. */
static void up_gone(struct session *s)
{
	struct proxy *px = s->px;
	int err;

	if (can_retry(s)) {
		/* The pooled connection was closed under us: the request can go again as is. */
		STAT_INC(px, upstream_retries);
		up_close(s->up);
		s->up = NULL;
		s->flags &= ~(SF_REUSED | SF_UP_EOF | SF_UP_WERR);
		s->hout_sent = 0;
		err = up_connect(s);
		if (err) {
			STAT_INC(px, upstream_connect_failed);
			local_reply(s, 503, BODY_CONNECT_FAILURE, false);
			return;
		}
		s->state = SESS_CONNECT;
		return;
	}
	if (!(s->flags & SF_COMMITTED)) {
		STAT_INC(px, upstream_reset);
		local_reply(s, 503, BODY_TERMINATION, false);
		return;
	}
	if (h1_rsp_finish(&s->hrsp) == H1_MESSAGE) {
		rsp_message(s); /* a response delimited by the close */
		return;
	}
	STAT_INC(px, upstream_reset);
	up_close(s->up);
	s->up = NULL;
	s->flags |= SF_CLOSE;
}

/* States. */

/* The response went out completely: pool the upstream and wait for the next request, or close. */
static void exchange_end(struct session *s)
{
	struct proxy *px = s->px;
	uint32_t both_ka = SF_REQ_DONE | SF_REQ_KA | SF_RSP_KA;
	bool reuse, keep;

	reuse = (s->flags & both_ka) == both_ka && !(s->flags & (SF_UP_EOF | SF_UP_WERR)) &&
		s->rsp_parsed == s->rsp.len && !up_pending(s);
	keep = (s->flags & both_ka) == both_ka && !(s->flags & (SF_CLOSE | SF_CLIENT_EOF));
	if (reuse)
		pool_put(px, s->up);
	else
		up_close(s->up);
	s->up = NULL;
	if (!keep) {
		sess_close(s);
		return;
	}
	sess_next_request(s);
}

static void do_exchange(struct session *s)
{
	if (req_pump(s)) {
		STAT_INC(s->px, bad_requests);
		if (s->flags & SF_COMMITTED)
			sess_abort(s);
		else
			bad_request(s, 400);
		return;
	}
	if (!(s->flags & SF_UP_WERR) && up_flush(s)) {
		if (can_retry(s)) {
			s->flags |= SF_UP_EOF; /* up_gone() sends the request again */
		} else {
			/* Keep reading: the upstream may have answered before it stopped reading.
			 */
			s->flags |= SF_UP_WERR | SF_DRAIN;
			s->hout_sent = s->hout.len;
			buf_consume(&s->req, s->req_fwd);
			s->req_parsed -= s->req_fwd;
			s->req_fwd = 0;
		}
	}
	rsp_pump(s);
	if (s->state != SESS_EXCHANGE)
		return;
	if ((s->flags & SF_UP_EOF) && s->up && !(s->flags & SF_RSP_DONE)) {
		up_gone(s);
		if (s->state != SESS_EXCHANGE)
			return;
	}
	if (client_flush(s)) {
		sess_abort(s);
		return;
	}
	if (s->rsp_fwd)
		return;
	if (s->flags & SF_CLOSE)
		sess_close(s);
	else if (s->flags & SF_RSP_DONE)
		exchange_end(s);
	else if (s->flags & SF_CLIENT_EOF)
		sess_abort(s);
}

static void do_local(struct session *s)
{
	if (req_pump(s))
		s->flags |= SF_CLOSE;
	if (client_flush(s)) {
		sess_close(s);
		return;
	}
	if (s->rsp_fwd && !(s->flags & SF_CLIENT_EOF))
		return;
	if (s->flags & (SF_CLOSE | SF_CLIENT_EOF))
		sess_close(s);
	else if (s->flags & SF_REQ_DONE)
		sess_next_request(s);
}

static void do_tunnel(struct session *s)
{
	s->req_parsed = s->req_fwd = s->req.len;
	s->rsp_parsed = s->rsp_fwd = s->rsp.len;
	if (up_flush(s) || client_flush(s) || (s->flags & SF_CLIENT_EOF) ||
	    ((s->flags & SF_UP_EOF) && !s->rsp_fwd))
		sess_close(s);
}

static bool has_expect_continue(const struct http_req *req)
{
	for (size_t i = 0; i < req->n_hdrs; i++) {
		const struct http_hdr *h = &req->hdrs[i];

		if (h->name_len == 6 && !strncasecmp(h->name, "expect", 6) && h->value_len == 12 &&
		    !strncasecmp(h->value, "100-continue", 12))
			return true;
	}
	return false;
}

/* Sends the routed request over a pooled connection to s->ep, or a new one. */
static void start_exchange(struct session *s)
{
	struct proxy *px = s->px;
	int err;

	h1_rsp_init(&s->hrsp);
	s->hrsp.no_body = s->flags & SF_HEAD_REQ;
	s->up = pool_take(px, &s->ep);
	if (s->up) {
		s->up->s = s;
		s->flags |= SF_REUSED;
		STAT_INC(px, upstream_reused);
		s->state = SESS_EXCHANGE;
		return;
	}
	err = up_connect(s);
	if (err) {
		char ep[32];

		STAT_INC(px, upstream_connect_failed);
		log_debug("proxy: connect to %s: %s", addr_str(&s->ep, ep, sizeof(ep)),
			  strerror(-err));
		local_reply(s, 503, BODY_CONNECT_FAILURE, false);
		return;
	}
	s->state = SESS_CONNECT;
}

/* Allocates hout and writes @req into it; makes sure rsp can take the response. */
static int write_head(struct session *s, const struct http_req *req)
{
	int err;

	err = buf_alloc(&s->hout, (uint32_t)h1_req_size(req));
	if (!err)
		err = buf_alloc(&s->rsp, PROXY_BUF_SIZE);
	if (!err)
		s->hout.len = (uint32_t)h1_req_write(req, s->hout.data);
	return err;
}

/* A request head is parsed (req_parsed bytes of req): route it and write it for the upstream. */
static void on_request_head(struct session *s)
{
	struct proxy *px = s->px;
	struct http_hdr hdrs[H1_MAX_HDRS];
	struct http_req req;
	int err;

	STAT_INC(px, requests);
	loop_timer_cancel(px->loop, &s->timer);
	h1_req_view(&s->hreq, buf_head(&s->req), hdrs, &req);
	if (llhttp_should_keep_alive(&s->hreq.ll))
		s->flags |= SF_REQ_KA;
	if (s->hreq.ll.method == HTTP_HEAD)
		s->flags |= SF_HEAD_REQ;
	if (has_expect_continue(&req))
		s->flags |= SF_EXPECT;
	if (h1_req_upgrade(&s->hreq))
		s->flags |= SF_UPGRADE;

	if (s->hreq.ll.method == HTTP_CONNECT)
		err = -EOPNOTSUPP;
	else if (s->flags & SF_NO_ROUTE)
		err = -ENOENT;
	else
		err = px->ops.pick(px->ops.ctx, &s->orig, &req, &s->ep);
	if (!err && write_head(s, &req)) {
		sess_close(s);
		return;
	}
	/* The head is in hout now (or answered locally): req holds the body and what follows. */
	buf_consume(&s->req, s->req_parsed);
	s->req_parsed = s->req_fwd = 0;

	if (err == -EOPNOTSUPP) {
		local_reply(s, 405, "CONNECT is not supported\n", true);
	} else if (err == -ENOENT) {
		STAT_INC(px, no_route);
		local_reply(s, 404, "no route to this destination\n", false);
	} else if (err) {
		STAT_INC(px, no_healthy_upstream);
		local_reply(s, 503, "no healthy upstream", false);
	} else {
		start_exchange(s);
	}
}

static void do_head(struct session *s)
{
	enum h1_ev ev;
	size_t used;

	while (s->req_parsed < s->req.len) {
		ev = h1_req_execute(&s->hreq, buf_head(&s->req), buf_head(&s->req) + s->req_parsed,
				    s->req.len - s->req_parsed, &used);
		s->req_parsed += (uint32_t)used;
		if (ev == H1_HEADERS) {
			on_request_head(s);
			return;
		}
		if (ev == H1_UPGRADE && !used) {
			/* The previous request asked for a switch that did not happen. */
			h1_req_resume_http(&s->hreq);
			continue;
		}
		if (ev != H1_MORE) {
			bad_request(s, s->hreq.too_many ? 431 : 400);
			return;
		}
	}
	if (s->flags & SF_CLIENT_EOF)
		sess_close(s);
	else if (s->req.data && !buf_room(&s->req))
		bad_request(s, 431); /* the head does not fit in the buffer */
}

/* Runs the state machine until it waits for I/O. */
static void sess_process(struct session *s)
{
	enum sess_state before;
	int rounds = 0;

	do {
		before = s->state;
		switch (s->state) {
		case SESS_HEAD:
			do_head(s);
			break;
		case SESS_CONNECT:
			if (s->flags & SF_CLIENT_EOF)
				sess_abort(s);
			break;
		case SESS_EXCHANGE:
			do_exchange(s);
			break;
		case SESS_LOCAL:
			do_local(s);
			break;
		case SESS_TUNNEL:
			do_tunnel(s);
			break;
		case SESS_CLOSED:
			return;
		}
	} while (s->state != before && ++rounds < PROCESS_ROUNDS);
	if (rounds == PROCESS_ROUNDS) {
		log_error("proxy: fd %d: no progress in state %s, closing", s->fd,
			  sess_state_str(s->state));
		sess_close(s);
	}
}

/* Sets what epoll watches on both fds from what the buffers can take and hold. */
static void sess_watch(struct session *s)
{
	struct proxy *px = s->px;
	uint32_t ev = EPOLLRDHUP;

	if (s->state == SESS_CLOSED)
		return;
	if (!s->req.data || buf_room(&s->req))
		ev |= EPOLLIN;
	if (s->rsp_fwd)
		ev |= EPOLLOUT;
	(void)loop_mod(px->loop, s->fd, ev);
	if (!s->up || s->up->state == UP_CONNECTING)
		return;
	ev = 0;
	if ((s->state == SESS_TUNNEL || !(s->flags & SF_RSP_DONE)) && !(s->flags & SF_UP_EOF) &&
	    buf_room(&s->rsp))
		ev |= EPOLLIN | EPOLLRDHUP;
	if (up_pending(s) && !(s->flags & SF_UP_WERR))
		ev |= EPOLLOUT;
	(void)loop_mod(px->loop, s->up->fd, ev);
}

/* Handlers. */

static void on_client(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct session *s = arg;
	size_t budget = EVENT_BYTES, n;

	if (events & (EPOLLERR | EPOLLHUP))
		s->flags |= SF_CLIENT_EOF;
	do {
		n = 0;
		if (events & (EPOLLIN | EPOLLRDHUP))
			n = client_read(s);
		sess_process(s);
		if (s->state == SESS_CLOSED)
			return;
		budget -= n < budget ? n : budget;
	} while (n && budget);
	/* A FIN behind a full buffer: nothing more will be read, take it as the close it is. */
	if ((events & EPOLLRDHUP) && !buf_room(&s->req)) {
		s->flags |= SF_CLIENT_EOF;
		sess_process(s);
	}
	sess_watch(s);
}

static void connect_failed(struct session *s, const char *body)
{
	STAT_INC(s->px, upstream_connect_failed);
	local_reply(s, 503, body, false);
	sess_process(s);
	sess_watch(s);
}

static void on_connect_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct upconn *up = arg;

	STAT_INC(up->px, upstream_connect_timeouts);
	connect_failed(up->s, BODY_CONNECT_TIMEOUT);
}

static void up_connected(struct upconn *up)
{
	struct session *s = up->s;
	socklen_t len = sizeof(int);
	int err = 0;

	loop_timer_cancel(up->px->loop, &up->timer);
	if (getsockopt(up->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err) {
		char ep[32];

		log_debug("proxy: connect to %s: %s", addr_str(&up->ep, ep, sizeof(ep)),
			  strerror(err));
		connect_failed(s, BODY_CONNECT_FAILURE);
		return;
	}
	up->state = UP_BUSY;
	s->state = SESS_EXCHANGE;
	sess_process(s);
	sess_watch(s);
}

static void on_upstream(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct upconn *up = arg;
	struct session *s = up->s;
	size_t budget = EVENT_BYTES, n;

	if (up->state == UP_IDLE) {
		up_close(up);
		return;
	}
	if (up->state == UP_CONNECTING) {
		up_connected(up);
		return;
	}
	if (up->state != UP_BUSY)
		return;
	do {
		n = 0;
		if (s->state == SESS_TUNNEL || !(s->flags & SF_RSP_DONE))
			n = up_read(s);
		sess_process(s);
		if (s->up != up)
			break;
		budget -= n < budget ? n : budget;
	} while (n && budget);
	/* RST or HUP behind a full buffer: epoll would report it forever, stop here. */
	if (s->up == up && (events & (EPOLLERR | EPOLLHUP)) && !buf_room(&s->rsp)) {
		s->flags |= SF_UP_EOF;
		sess_process(s);
	}
	sess_watch(s);
}

static void sess_new(struct proxy *px, int fd, const struct sockaddr_in *peer)
{
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	struct session *s;
	int one = 1;

	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return;
	}
	s->px = px;
	s->fd = fd;
	s->peer = *peer;
	s->state = SESS_HEAD;
	h1_req_init(&s->hreq);
	h1_rsp_init(&s->hrsp);
	/* Responses are written as they come: small writes must not wait for ACKs. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (getsockname(fd, (struct sockaddr *)&local, &len) ||
	    px->ops.orig_dst(px->ops.ctx, fd, peer, &local, &s->orig))
		s->flags |= SF_NO_ROUTE;
	if (loop_add(px->loop, fd, EPOLLIN | EPOLLRDHUP, on_client, s)) {
		close(fd);
		free(s);
		return;
	}
	dlist_add(&px->sessions, &s->link);
	STAT_INC(px, accepted);
	STAT_INC(px, active);
	if (px->ops.client_idle_timeout_ms)
		(void)loop_timer_arm(px->loop, &s->timer, px->ops.client_idle_timeout_ms,
				     on_client_idle_timeout, s);
}

static void on_accept_resume(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct proxy *px = arg;

	(void)loop_mod(loop, px->listen_fd, EPOLLIN);
}

static void on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct proxy *px = arg;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int cfd;

		cfd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			sess_new(px, cfd, &peer);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN)
			return;
		/* Out of fds or memory: the listener stays readable, stop watching it a while. */
		log_warn("proxy: accept: %s; pausing the listener %d ms", strerror(errno),
			 ACCEPT_PAUSE_MS);
		if (!loop_timer_arm(loop, &px->accept_timer, ACCEPT_PAUSE_MS, on_accept_resume, px))
			(void)loop_mod(loop, fd, 0);
		return;
	}
}

struct proxy *proxy_new(struct loop *loop, int listen_fd, const struct proxy_ops *ops)
{
	struct proxy *px;
	int err;

	if (!ops->orig_dst || !ops->pick) {
		errno = EINVAL;
		return NULL;
	}
	px = calloc(1, sizeof(*px));
	if (!px)
		return NULL;
	px->loop = loop;
	px->listen_fd = listen_fd;
	px->ops = *ops;
	if (!px->ops.connect_timeout_ms)
		px->ops.connect_timeout_ms = PROXY_CONNECT_TIMEOUT_MS;
	if (!px->ops.pool_max_idle)
		px->ops.pool_max_idle = PROXY_POOL_MAX_IDLE;
	dlist_init(&px->sessions);
	dlist_init(&px->pool_lru);
	for (int i = 0; i < POOL_BUCKETS; i++)
		dlist_init(&px->pool[i]);
	err = loop_add(loop, listen_fd, EPOLLIN, on_accept, px);
	if (err) {
		free(px);
		errno = -err;
		return NULL;
	}
	return px;
}

void proxy_free(struct proxy *px)
{
	if (!px)
		return;
	loop_timer_cancel(px->loop, &px->accept_timer);
	loop_del(px->loop, px->listen_fd);
	while (!dlist_empty(&px->sessions))
		sess_close(container_of(px->sessions.next, struct session, link));
	while (!dlist_empty(&px->pool_lru))
		up_close(container_of(px->pool_lru.next, struct upconn, lru));
	loop_defer_cancel(px->loop, proxy_reap, px);
	proxy_reap(px);
	free(px);
}

void proxy_get_stats(const struct proxy *px, struct proxy_stats *out)
{
	const uint64_t *src = (const uint64_t *)&px->stats;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
