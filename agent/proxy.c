// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The proxy object: accepts client connections, owns them (struct session)
 * and their upstreams, does the socket I/O, and drives each session's state
 * machine (proxy_exchange.c) from the event handlers. See proxy_int.h for
 * the buffers and the states.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "proxy_int.h"

#define ACCEPT_BATCH	 64	     /* connections accepted per listener event */
#define EVENT_BYTES	 (64 * 1024) /* bytes read per fd event before other fds get a turn */
#define ACCEPT_PAUSE_MS	 100	     /* listener off after EMFILE and the like */
#define PROCESS_ROUNDS	 4096	     /* state changes in one sess_process(): a bug if reached */
#define LINGER_MS	 2000	     /* how long a closing client may go on sending */
#define TLS_HANDSHAKE_MS 10000	     /* a TLS client must finish its handshake in this long */

static const char *sess_state_str(enum sess_state state)
{
	static const char *const names[] = {
		[SESS_HEAD] = "head",	      [SESS_CONNECT] = "connect", [SESS_WAIT] = "wait",
		[SESS_EXCHANGE] = "exchange", [SESS_LOCAL] = "local",	  [SESS_TUNNEL] = "tunnel",
		[SESS_LINGER] = "linger",     [SESS_PEEK] = "peek",	  [SESS_CLOSED] = "closed",
	};

	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

const char *px_addr_str(const struct sockaddr_in *a, char *out, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
	return out;
}

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
		px_rq_free(s);
		free(s);
	}
	while (px->dead_ups) {
		struct upconn *up = px->dead_ups;

		px->dead_ups = up->next_dead;
		free(up);
	}
}

/* If deferring fails, the dead stay listed until the next reap or proxy_free(). */
void px_schedule_reap(struct proxy *px)
{
	if (!px->reap_pending && !loop_defer(px->loop, proxy_reap, px))
		px->reap_pending = true;
}

void px_sess_close(struct session *s)
{
	struct proxy *px = s->px;

	if (s->state == SESS_CLOSED)
		return;
	log_debug("proxy: fd %d closed in state %s", s->fd, sess_state_str(s->state));
	px_rq_end(s);
	px_pick_done(s, -1); /* the client went first */
	if (s->up) {
		px_up_close(s->up);
		s->up = NULL;
	}
	loop_timer_cancel(px->loop, &s->timer);
	px_req_reset(s);
	loop_del(px->loop, s->fd);
	if (s->ssl) {
		loop_timer_cancel(px->loop, &s->tls_timer);
		px_tls_free(s);
	}
	close(s->fd);
	s->state = SESS_CLOSED;
	dlist_del(&s->link);
	STAT_DEC(px, active);
	s->next_dead = px->dead_sessions;
	px->dead_sessions = s;
	px_schedule_reap(px);
}

void px_pick_done(struct session *s, int status)
{
	struct proxy *px = s->px;

	if (!(s->flags & SF_PICKED))
		return;
	s->flags &= ~SF_PICKED;
	if (!(s->flags & SF_L4))
		STAT_DEC(px, requests_active);
	if (px->ops.done)
		px->ops.done(px->ops.ctx, &s->pick, status);
}

/* The client went away (or broke the protocol) with a request in progress. */
void px_sess_abort(struct session *s)
{
	if (!(s->rq.flags & (PROXY_RF_UT | PROXY_RF_DPE)))
		px_rq_fail(s, PROXY_RF_DC, "downstream_remote_disconnect");
	STAT_INC(s->px, client_aborted);
	px_sess_close(s);
}

void px_on_client_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct session *s = arg;

	if (s->flags & SF_TLS_HS) {
		STAT_INC(s->px, tls_handshake_failed);
		log_debug("proxy: fd %d: TLS handshake not finished in time", s->fd);
	}
	if (s->state == SESS_HEAD && (s->flags & SF_HEAD_TIMER)) {
		px_head_timed_out(s); /* a head begun and not finished in time: 408 */
		px_sess_kick(s);
	} else if (s->state == SESS_HEAD || s->state == SESS_LINGER) {
		px_sess_close(s); /* idle between requests, or lingering: closed without a word */
	}
}

/*
 * Closes after a complete answer. If the client may still be sending, a
 * close() now would reset the connection and could destroy the answer in
 * the client's receive queue: shut the write side and read until its FIN
 * (or LINGER_MS) first.
 */
void px_sess_finish(struct session *s)
{
	struct proxy *px = s->px;

	px_rq_end(s); /* answered: what follows is no request's */
	if (s->ssl)
		px_tls_shutdown(s);
	if ((s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN)) ||
	    ((s->flags & SF_REQ_DONE) && buf_empty(&s->req)) || shutdown(s->fd, SHUT_WR) ||
	    loop_timer_arm(px->loop, &s->timer, LINGER_MS, px_on_client_timer, s)) {
		px_sess_close(s);
		return;
	}
	if (s->up) {
		px_up_close(s->up);
		s->up = NULL;
	}
	s->state = SESS_LINGER;
}

/* Readies the session for the next request on the connection (pipelined bytes stay in req). */
void px_sess_next_request(struct session *s)
{
	struct proxy *px = s->px;

	px_rq_end(s);
	s->state = SESS_HEAD;
	s->flags &= SF_CONN_FLAGS;
	px_req_reset(s);
	/* Body bytes of the last request that never went out (its upstream answered and is gone)
	 * would sit in front of the next head. */
	buf_consume(&s->req, s->req_fwd);
	s->req_parsed -= s->req_fwd;
	s->req_fwd = 0;
	buf_free(&s->hout);
	s->hout_sent = 0;
	s->body_sent = 0;
	buf_free(&s->rsp);
	s->rsp_parsed = s->rsp_fwd = 0;
	if (buf_empty(&s->req))
		buf_free(&s->req); /* an idle keep-alive connection holds no buffer */
	if (px->ops.client_idle_timeout_ms)
		(void)loop_timer_arm(px->loop, &s->timer, px->ops.client_idle_timeout_ms,
				     px_on_client_timer, s);
}

/*
 * Reads once from the client into req. Bytes read, 0 for none. A FIN is
 * flagged SF_CLIENT_FIN: HTTP/1.1 lets a client half-close after its request
 * (printf ... | nc -N does), and what it already sent is still answered. A
 * reset or error is SF_CLIENT_EOF: nobody is left to answer.
 */
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
	n = s->ssl ? px_tls_recv(s, p, room) : recv(s->fd, p, room, 0);
	if (n > 0) {
		buf_commit(&s->req, (uint32_t)n);
		STAT_ADD(s->px, bytes_from_client, n);
		return (size_t)n;
	}
	if (n == 0)
		s->flags |= SF_CLIENT_FIN;
	else if (errno != EAGAIN && errno != EINTR)
		s->flags |= SF_CLIENT_EOF;
	return 0;
}

int px_client_flush(struct session *s)
{
	while (s->rsp_fwd) {
		ssize_t n = s->ssl ? px_tls_send(s, buf_head(&s->rsp), s->rsp_fwd)
				   : send(s->fd, buf_head(&s->rsp), s->rsp_fwd, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		buf_consume(&s->rsp, (uint32_t)n);
		s->rsp_fwd -= (uint32_t)n;
		s->rsp_parsed -= (uint32_t)n;
		s->rq.out += (uint64_t)n;
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

/* Writes the request head, then the body bytes ready in req, in one sendmsg() when possible. */
int px_up_flush(struct session *s)
{
	while (px_up_pending(s)) {
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

/* Runs the state machine until it waits for I/O. */
static void sess_process(struct session *s)
{
	enum sess_state before;
	int rounds = 0;

	do {
		before = s->state;
		switch (s->state) {
		case SESS_HEAD:
			px_do_head(s);
			break;
		case SESS_CONNECT:
			if (s->flags & SF_CLIENT_EOF)
				px_sess_abort(s);
			break;
		case SESS_WAIT:
			px_do_wait(s);
			break;
		case SESS_EXCHANGE:
			px_do_exchange(s);
			break;
		case SESS_LOCAL:
			px_do_local(s);
			break;
		case SESS_TUNNEL:
			px_do_l4(s); /* raw, or switched after a 101: the same bytes both ways */
			break;
		case SESS_PEEK:
			px_do_peek(s);
			break;
		case SESS_LINGER:
			px_do_linger(s);
			break;
		case SESS_CLOSED:
			return;
		}
	} while (s->state != before && ++rounds < PROCESS_ROUNDS);
	if (rounds == PROCESS_ROUNDS) {
		log_error("proxy: fd %d: no progress in state %s, closing", s->fd,
			  sess_state_str(s->state));
		px_sess_close(s);
	}
}

static void sess_watch(struct session *s);
static void on_client(struct loop *loop, int fd, uint32_t events, void *arg);

/*
 * How long a new connection may take to begin its first request: the header
 * timeout when there is one (HAProxy's timeout http-request counts from the
 * accept too: a connection that sends nothing is no idle keep-alive one), else
 * the idle timeout; 0: no limit. Closed without an answer, as when idle.
 */
static uint32_t first_wait_ms(const struct proxy *px)
{
	return px->ops.header_timeout_ms ? px->ops.header_timeout_ms
					 : px->ops.client_idle_timeout_ms;
}

/* TLS: bytes OpenSSL decrypted ahead are read as if the socket signalled them. */
static void on_tls_pending(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct session *s = arg;

	on_client(loop, s->fd, EPOLLIN, s);
}

/* The client side of sess_watch() for a TLS session. True when it set everything. */
static bool tls_watch(struct session *s, uint32_t *ev)
{
	struct proxy *px = s->px;

	if (s->flags & SF_TLS_HS) {
		(void)loop_mod(px->loop, s->fd,
			       s->flags & SF_TLS_WANT_W ? EPOLLOUT : EPOLLIN | EPOLLRDHUP);
		return true;
	}
	if (s->flags & SF_TLS_WANT_W)
		*ev |= EPOLLOUT;
	if ((*ev & EPOLLIN) && px_tls_pending(s) && !loop_timer_armed(&s->tls_timer))
		(void)loop_timer_arm(px->loop, &s->tls_timer, 0, on_tls_pending, s);
	return false;
}

void px_sess_kick(struct session *s)
{
	sess_process(s);
	sess_watch(s);
}

/* Sets what epoll watches on both fds from what the buffers can take and hold. */
static void sess_watch(struct session *s)
{
	struct proxy *px = s->px;
	uint32_t ev = 0;

	if (s->state == SESS_CLOSED)
		return;
	/*
	 * Input is watched only while there is room for it. RDHUP says a FIN is
	 * queued, not that every byte before it was read: it is armed with EPOLLIN
	 * and the FIN is taken when recv() returns 0. After that, nothing is watched:
	 * RDHUP would fire forever.
	 */
	if (!(s->flags & SF_CLIENT_FIN) && (!s->req.data || buf_room(&s->req)))
		ev |= EPOLLIN | EPOLLRDHUP;
	if (s->rsp_fwd)
		ev |= EPOLLOUT;
	if (s->ssl && tls_watch(s, &ev))
		return;
	(void)loop_mod(px->loop, s->fd, ev);
	if (!s->up || s->up->state == UP_CONNECTING)
		return;
	ev = 0;
	if ((s->state == SESS_TUNNEL || !(s->flags & SF_RSP_DONE)) && !(s->flags & SF_UP_EOF) &&
	    buf_room(&s->rsp))
		ev |= EPOLLIN | EPOLLRDHUP;
	if (px_up_pending(s) && !(s->flags & SF_UP_WERR))
		ev |= EPOLLOUT;
	(void)loop_mod(px->loop, s->up->fd, ev);
}

static void on_client(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct session *s = arg;
	size_t budget = EVENT_BYTES, n;

	if (events & (EPOLLERR | EPOLLHUP))
		s->flags |= SF_CLIENT_EOF;
	if (s->ssl && (s->flags & SF_TLS_HS)) {
		int err = px_tls_handshake(s);

		if (err == -EAGAIN && !(s->flags & SF_CLIENT_EOF)) {
			sess_watch(s);
			return;
		}
		if (err) {
			px_sess_close(s);
			return;
		}
		/* The handshake had TLS_HANDSHAKE_MS; the first request's wait starts now. */
		if (first_wait_ms(s->px))
			(void)loop_timer_arm(s->px->loop, &s->timer, first_wait_ms(s->px),
					     px_on_client_timer, s);
		else
			loop_timer_cancel(s->px->loop, &s->timer);
		events |= EPOLLIN; /* the request may have come with the handshake's end */
	}
	if (s->ssl && (s->flags & SF_TLS_WANT_W) && (events & EPOLLOUT))
		events |= EPOLLIN; /* the read that had to write first */
	do {
		n = 0;
		if (events & (EPOLLIN | EPOLLRDHUP))
			n = client_read(s);
		sess_process(s);
		if (s->state == SESS_CLOSED)
			return;
		budget -= n < budget ? n : budget;
	} while (n && budget);
	sess_watch(s);
}

/* A raw connection closes where an HTTP request gets its 503 (or a retry). */
static void connect_failed(struct session *s, bool timed_out)
{
	if (s->flags & SF_L4)
		px_l4_connect_failed(s, timed_out);
	else
		px_connect_failed(s, timed_out);
}

void px_on_connect_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct upconn *up = arg;
	struct session *s = up->s;

	connect_failed(s, true);
	sess_process(s);
	sess_watch(s);
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

		log_debug("proxy: connect to %s: %s", px_addr_str(&up->ep, ep, sizeof(ep)),
			  strerror(err));
		connect_failed(s, false);
		sess_process(s);
		sess_watch(s);
		return;
	}
	up->state = UP_BUSY;
	if (s->flags & SF_L4)
		px_l4_connected(s);
	else
		s->state = SESS_EXCHANGE;
	sess_process(s);
	sess_watch(s);
}

void px_on_upstream(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct upconn *up = arg;
	struct session *s = up->s;
	size_t budget = EVENT_BYTES, n;

	if (up->state == UP_IDLE) {
		px_up_close(up);
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

/* The original destination of @s (accepted from @peer, of either family): 0 or -errno. A
 * Gateway's connection is no captured one: its "destination" is the address it came in on. */
static int sess_orig(struct proxy *px, struct session *s, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	if (getsockname(s->fd, (struct sockaddr *)&local, &len))
		return -errno;
	if (s->flags & SF_GATEWAY) {
		if (local.ss_family != AF_INET || !px->ops.pick_gateway)
			return -ENOENT;
		s->orig = *(const struct sockaddr_in *)&local;
		return 0;
	}
	if (peer->ss_family == AF_INET6)
		return px->ops.orig_dst6 ? px->ops.orig_dst6(px->ops.ctx, s->fd,
							     (const struct sockaddr_in6 *)peer,
							     (const struct sockaddr_in6 *)&local,
							     &s->orig, &s->peer)
					 : -ENOENT;
	return px->ops.orig_dst(px->ops.ctx, s->fd, &s->peer, (const struct sockaddr_in *)&local,
				&s->orig);
}

static void sess_new(struct proxy *px, int fd, const struct sockaddr_storage *peer, bool gateway,
		     struct ssl_ctx_st *tls)
{
	char ep[INET6_ADDRSTRLEN + 8];
	int err;
	struct session *s;
	bool overload = false;
	int one = 1;

	if (px->ops.max_connections && px->stats.active >= px->ops.max_connections) {
		/* Over the limit: a plain HTTP connection still gets its 503 (a clear answer
		 * beats a reset), up to the slack; TLS would need a handshake first. */
		STAT_INC(px, overload_connections);
		log_every(LOG_WARN, LOG_EVERY_MS,
			  "proxy: %" PRIu64 " connections open, the limit is %u: answering 503",
			  px->stats.active, px->ops.max_connections);
		if (tls ||
		    px->stats.active >= px->ops.max_connections +
						PROXY_OVERLOAD_SLACK(px->ops.max_connections)) {
			close(fd);
			return;
		}
		overload = true;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return;
	}
	s->px = px;
	s->fd = fd;
	s->flags = (gateway ? SF_GATEWAY : 0) | (overload ? SF_OVERLOAD : 0);
	if (peer->ss_family == AF_INET)
		s->peer = *(const struct sockaddr_in *)peer;
	s->state = SESS_HEAD;
	h1_req_init(&s->hreq);
	h1_rsp_init(&s->hrsp);
	/* Responses are written as they come: small writes must not wait for ACKs. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	err = sess_orig(px, s, peer);
	if (err) {
		/* -ENOENT: not a captured connection. Anything else is a fault worth a line. */
		if (err != -ENOENT)
			log_every(
				LOG_WARN, LOG_EVERY_MS, "proxy: original destination of %s: %s",
				peer->ss_family == AF_INET6
					? inet_ntop(AF_INET6,
						    &((const struct sockaddr_in6 *)peer)->sin6_addr,
						    ep, sizeof(ep))
					: px_addr_str(&s->peer, ep, sizeof(ep)),
				strerror(-err));
		s->flags |= SF_NO_ROUTE;
	}
	if (tls && px_tls_start(s, tls)) {
		close(fd);
		free(s);
		return;
	}
	if (loop_add(px->loop, fd, EPOLLIN | EPOLLRDHUP, on_client, s)) {
		if (s->ssl)
			px_tls_free(s);
		close(fd);
		free(s);
		return;
	}
	dlist_add(&px->sessions, &s->link);
	STAT_INC(px, accepted);
	STAT_INC(px, active);
	/* A TLS handshake has TLS_HANDSHAKE_MS whatever the idle timeout (an hour by default). */
	if (first_wait_ms(px) || s->ssl)
		(void)loop_timer_arm(px->loop, &s->timer,
				     s->ssl ? TLS_HANDSHAKE_MS : first_wait_ms(px),
				     px_on_client_timer, s);
	if (!s->ssl && !(s->flags & SF_NO_ROUTE))
		px_l4_begin(s); /* a TLS or TCP port: raw, routed once */
}

static void on_accept_resume(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct proxy *px = arg;

	(void)loop_mod(loop, px->listen_fd, EPOLLIN);
	if (px->listen_fd6 >= 0)
		(void)loop_mod(loop, px->listen_fd6, EPOLLIN);
}

static void on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct proxy *px = arg;
	struct ssl_ctx_st *tls = NULL;
	bool gateway = false;

	for (size_t i = 0; i < px->n_gw_fds; i++)
		if (px->gw_fds[i] == fd) {
			gateway = true;
			tls = px->gw_tls[i];
		}

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int cfd;

		cfd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			sess_new(px, cfd, &peer, gateway, tls);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN)
			return;
		/* Out of fds or memory: the listener stays readable, stop watching it a while. */
		log_every(LOG_WARN, LOG_EVERY_MS, "proxy: accept: %s; pausing the listener %d ms",
			  strerror(errno), ACCEPT_PAUSE_MS);
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
	px->listen_fd6 = -1;
	px->ops = *ops;
	px->rng = ((uint64_t)(uintptr_t)px ^ loop_now_ms(loop) * 0x9e3779b97f4a7c15ull) | 1;
	if (!px->ops.connect_timeout_ms)
		px->ops.connect_timeout_ms = PROXY_CONNECT_TIMEOUT_MS;
	if (!px->ops.pool_max_idle)
		px->ops.pool_max_idle = PROXY_POOL_MAX_IDLE;
	if (!px->ops.max_head_bytes)
		px->ops.max_head_bytes = PROXY_HEAD_MAX_DEFAULT;
	if (px->ops.max_head_bytes > PROXY_HEAD_MAX)
		px->ops.max_head_bytes = PROXY_HEAD_MAX;
	dlist_init(&px->sessions);
	dlist_init(&px->pool_lru);
	for (int i = 0; i < POOL_BUCKETS; i++)
		dlist_init(&px->pool[i]);
	dlist_init(&px->mirrors);
	dlist_init(&px->mirrors_dead);
	err = loop_add(loop, listen_fd, EPOLLIN, on_accept, px);
	if (err) {
		free(px);
		errno = -err;
		return NULL;
	}
	return px;
}

int proxy_listen_gateway(struct proxy *px, int fd, struct ssl_ctx_st *tls)
{
	int err;

	if (px->n_gw_fds == PROXY_GW_MAX)
		return -ENOSPC;
	err = loop_add(px->loop, fd, EPOLLIN, on_accept, px);
	if (!err) {
		px->gw_tls[px->n_gw_fds] = tls;
		px->gw_fds[px->n_gw_fds++] = fd;
	}
	return err;
}

/* The index of Gateway listener @fd in px->gw_fds, or -1. */
static int gw_index(const struct proxy *px, int fd)
{
	for (size_t i = 0; i < px->n_gw_fds; i++)
		if (px->gw_fds[i] == fd)
			return (int)i;
	return -1;
}

int proxy_unlisten_gateway(struct proxy *px, int fd)
{
	int i = gw_index(px, fd);

	if (i < 0)
		return -ENOENT;
	loop_del(px->loop, fd);
	px->n_gw_fds--;
	px->gw_fds[i] = px->gw_fds[px->n_gw_fds];
	px->gw_tls[i] = px->gw_tls[px->n_gw_fds];
	return 0;
}

int proxy_gateway_set_tls(struct proxy *px, int fd, struct ssl_ctx_st *tls)
{
	int i = gw_index(px, fd);

	if (i < 0)
		return -ENOENT;
	px->gw_tls[i] = tls;
	return 0;
}

int proxy_listen6(struct proxy *px, int listen_fd6)
{
	int err = loop_add(px->loop, listen_fd6, EPOLLIN, on_accept, px);

	if (!err)
		px->listen_fd6 = listen_fd6;
	return err;
}

void proxy_free(struct proxy *px)
{
	if (!px)
		return;
	loop_timer_cancel(px->loop, &px->accept_timer);
	loop_del(px->loop, px->listen_fd);
	if (px->listen_fd6 >= 0)
		loop_del(px->loop, px->listen_fd6);
	for (size_t i = 0; i < px->n_gw_fds; i++)
		loop_del(px->loop, px->gw_fds[i]);
	while (!dlist_empty(&px->sessions))
		px_sess_close(container_of(px->sessions.next, struct session, link));
	while (!dlist_empty(&px->pool_lru))
		px_up_close(container_of(px->pool_lru.next, struct upconn, lru));
	px_mirror_close_all(px);
	loop_defer_cancel(px->loop, proxy_reap, px);
	proxy_reap(px);
	free(px->scratch);
	free(px);
}

void proxy_get_stats(const struct proxy *px, struct proxy_stats *out)
{
	const uint64_t *src = (const uint64_t *)&px->stats;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

#define STAT_NAME(f) [offsetof(struct proxy_stats, f) / sizeof(uint64_t)] = #f
static const char *const stat_names[sizeof(struct proxy_stats) / sizeof(uint64_t)] = {
	STAT_NAME(accepted),
	STAT_NAME(active),
	STAT_NAME(requests),
	STAT_NAME(responses),
	STAT_NAME(responses_1xx),
	STAT_NAME(responses_2xx),
	STAT_NAME(responses_3xx),
	STAT_NAME(responses_4xx),
	STAT_NAME(responses_5xx),
	STAT_NAME(local_replies),
	STAT_NAME(bad_requests),
	STAT_NAME(no_route),
	STAT_NAME(no_healthy_upstream),
	STAT_NAME(upstream_connects),
	STAT_NAME(upstream_connect_failed),
	STAT_NAME(upstream_connect_timeouts),
	STAT_NAME(upstream_reused),
	STAT_NAME(upstream_retries),
	STAT_NAME(upstream_timeouts),
	STAT_NAME(upstream_active),
	STAT_NAME(upstream_idle),
	STAT_NAME(upstream_reset),
	STAT_NAME(upstream_bad_response),
	STAT_NAME(client_aborted),
	STAT_NAME(bytes_from_client),
	STAT_NAME(bytes_to_client),
	STAT_NAME(mirror_sent),
	STAT_NAME(mirror_failed),
	STAT_NAME(mirror_dropped),
	STAT_NAME(mirror_active),
	STAT_NAME(tls_handshakes),
	STAT_NAME(tls_handshake_failed),
	STAT_NAME(l4_forwarded),
	STAT_NAME(l4_refused),
	STAT_NAME(sni_read),
	STAT_NAME(sni_none),
	STAT_NAME(requests_active),
	STAT_NAME(overload_connections),
	STAT_NAME(overload_requests),
	STAT_NAME(header_timeouts),
};

const char *proxy_stat_name(size_t i)
{
	return i < sizeof(stat_names) / sizeof(stat_names[0]) ? stat_names[i] : NULL;
}

bool proxy_stat_gauge(size_t i)
{
	const size_t word = sizeof(uint64_t);

	return i == offsetof(struct proxy_stats, active) / word ||
	       i == offsetof(struct proxy_stats, upstream_active) / word ||
	       i == offsetof(struct proxy_stats, upstream_idle) / word ||
	       i == offsetof(struct proxy_stats, mirror_active) / word ||
	       i == offsetof(struct proxy_stats, requests_active) / word;
}

uint64_t proxy_stat_value(const struct proxy_stats *st, size_t i)
{
	return ((const uint64_t *)st)[i];
}
