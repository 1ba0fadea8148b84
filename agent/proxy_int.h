/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Internals of the proxy, shared by its files and nothing else:
 *   proxy.c          the proxy object, accept, session lifecycle, socket I/O,
 *                    the event handlers and the state machine driver
 *   proxy_head.c     HEAD: a request head parsed, checked, routed, written for
 *                    the upstream
 *   proxy_exchange.c what the other states do with HTTP: forwarding, local
 *                    replies, retry, keep-alive
 *   proxy_pool.c     upstream connections: connect, close, the idle pool
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
 * Session states (sess_state_str() in proxy.c):
 *   HEAD     --head parsed, routed, pooled upstream--> EXCHANGE
 *   HEAD     --head parsed, routed, new upstream-----> CONNECT --connected--> EXCHANGE
 *   HEAD, CONNECT, EXCHANGE --no route, connect failure, bad message--> LOCAL
 *   HEAD     --a head begun, not whole in header_timeout_ms--> LOCAL (408, then closed)
 *   EXCHANGE --response sent, both keep-alive--> HEAD (upstream back to the pool)
 *   EXCHANGE --101 Switching Protocols--> TUNNEL (bytes both ways, half-closes passed on)
 *   LOCAL    --reply sent, request drained, keep-alive--> HEAD
 *   EXCHANGE, LOCAL --answered, not keep-alive, client still sending--> LINGER
 *   any      --close, abort, error--> CLOSED (freed after the batch)
 *
 * A raw connection (SF_L4, proxy_l4.c: a TLS port routed by SNI, a TCP port):
 *   PEEK --ClientHello read (TLS) or at once (TCP), routed--> CONNECT --connected--> TUNNEL
 *   PEEK, CONNECT --no route, connect failure--> CLOSED; TUNNEL --both sides closed--> CLOSED
 */
#ifndef SHUNT_PROXY_INT_H
#define SHUNT_PROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>

#include "buf.h"
#include "http1.h"
#include "loop.h"
#include "proxy.h"

struct ssl_st;
struct ssl_ctx_st;

#define POOL_BUCKETS 64 /* idle upstreams are found by ep hash */

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

static inline void dlist_init(struct dlist *h)
{
	h->prev = h->next = h;
}

static inline bool dlist_empty(const struct dlist *h)
{
	return h->next == h;
}

static inline void dlist_add(struct dlist *h, struct dlist *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void dlist_del(struct dlist *n)
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
	uint32_t n_requests;	  /* requests it carried (counted as each is sent) */
	uint32_t idle_timeout_ms; /* in the pool; 0: proxy_ops.pool_idle_timeout_ms */
	struct loop_timer timer;  /* connect timeout; idle timeout in the pool */
	struct sockaddr_in local; /* its own address, once the access log asked (port 0: not yet) */
	struct dlist bucket;	  /* pool: bucket of its ep hash, most recently used first */
	struct dlist lru;	  /* pool: every idle connection, most recently used first */
	struct upconn *next_dead;
};

enum sess_state {
	SESS_HEAD,     /* waiting for a request head (keep-alive idle included) */
	SESS_CONNECT,  /* request routed, upstream connect in progress */
	SESS_WAIT,     /* request routed, waiting on ttimer: a fault delay or a retry's backoff */
	SESS_EXCHANGE, /* request going up, response coming down */
	SESS_LOCAL,    /* sending a response the proxy made itself */
	SESS_TUNNEL,   /* after 101 Switching Protocols: raw bytes both ways */
	SESS_LINGER,   /* answered, write side shut: reading what the client still sends */
	SESS_PEEK,     /* raw TLS: reading the ClientHello for its SNI, before routing */
	SESS_CLOSED,   /* closed, freed after the batch */
};

/* Session flags. Those of the current request are cleared by px_sess_next_request(). */
#define SF_NO_ROUTE   (1u << 0) /* orig_dst unknown: every request is answered 404 */
#define SF_REQ_DONE   (1u << 1) /* the request was parsed to its end */
#define SF_REQ_KA     (1u << 2) /* the request lets the client connection live on */
#define SF_HEAD_REQ   (1u << 3) /* the request is HEAD: no response body */
#define SF_EXPECT     (1u << 4) /* Expect: 100-continue: the client may hold its body back */
#define SF_UPGRADE    (1u << 5) /* the request asks for a protocol switch */
#define SF_REUSED     (1u << 6) /* the upstream came from the pool: one retry if it dies unanswered */
#define SF_RSP_SEEN   (1u << 7)	 /* the upstream sent at least one byte */
#define SF_COMMITTED  (1u << 8)	 /* final response bytes went out: no local reply anymore */
#define SF_RSP_DONE   (1u << 9)	 /* the final response was parsed to its end */
#define SF_RSP_KA     (1u << 10) /* the final response lets both connections live on */
#define SF_DRAIN      (1u << 11) /* discard the rest of the request body */
#define SF_CLOSE      (1u << 12) /* close the client once rsp_fwd is flushed */
#define SF_CLIENT_EOF (1u << 13) /* the client closed or reset */
#define SF_UP_EOF     (1u << 14) /* the upstream closed or reset */
#define SF_UP_WERR    (1u << 15) /* writing upstream failed: request bytes are dropped */
#define SF_IDEMPOTENT (1u << 16) /* the method may be sent twice (RFC 9110 9.2.2) */
#define SF_HTTP10     (1u << 17) /* an HTTP/1.0 request: no interim response goes back */
#define SF_CLIENT_FIN (1u << 18) /* half-closed: the client sends no more, may still read */
#define SF_PICKED     (1u << 19) /* pick() forwarded this request: done() is owed */
#define SF_RSP_HEAD   (1u << 20) /* the final response's head was edited and may go out */
#define SF_TIMED_OUT  (1u << 21) /* the route timeout fired: 504 UT */
#define SF_GATEWAY    (1u << 22) /* accepted on a Gateway listener: routed by pick_gateway() */
#define SF_TLS_HS     (1u << 23) /* TLS Gateway port: the handshake is not done yet */
#define SF_TLS_WANT_W                                                                              \
	(1u << 24) /* TLS: the handshake or a read waits for the socket to take bytes */
#define SF_L4	      (1u << 25) /* raw connection (TLS by SNI, TCP): no HTTP, bytes both ways */
#define SF_L4_UP_SHUT (1u << 26) /* raw or 101: the client's FIN went on upstream (shutdown) */
#define SF_L4_CL_SHUT (1u << 27) /* raw or 101: the upstream's FIN went on to the client */
#define SF_OVERLOAD   (1u << 28) /* accepted over max_connections: one 503, then closed */
#define SF_HEAD_TIMER (1u << 29) /* a head begun and not whole: timer is its header timeout */
#define SF_CONN_FLAGS                                                                              \
	(SF_NO_ROUTE | SF_CLIENT_FIN | SF_GATEWAY | SF_TLS_HS | SF_TLS_WANT_W | SF_L4 |            \
	 SF_OVERLOAD) /* they outlive a request */

/* What the access log prints of a request (proxy_ops.log_strings): NUL-terminated strings. */
#define PX_RQSTR_MAX 4096
struct px_rqstr {
	uint16_t off[PROXY_RQ_N]; /* in buf; 0xffff: not set */
	uint16_t len;		  /* bytes of buf used */
	char buf[PX_RQSTR_MAX];
};

/* The record of the current request, for proxy_ops.log (proxy_log.c). */
struct px_rq {
	uint64_t t0_ns;		     /* monotonic, at the first byte of its head */
	int64_t t0_unix_us;	     /* the same on the wall clock (log_strings only) */
	uint64_t in, in_head;	     /* request bytes parsed, of which the head's */
	uint64_t out, out_head;	     /* response bytes written, of which heads (interim too) */
	int status;		     /* the status the client is getting; 0: none yet */
	uint32_t flags;		     /* PROXY_RF_* the proxy found (pick.flags are added) */
	int32_t upstream_ms;	     /* x-envoy-upstream-service-time; -1: none */
	const char *details;	     /* %RESPONSE_CODE_DETAILS%, static; NULL: none */
	struct sockaddr_in up_local; /* the upstream connection's own address */
	struct px_rqstr *str;	     /* log_strings: allocated once per session, reused */
	bool open;		     /* begun and not logged yet */
	bool routed;		     /* pick() decided it: s->pick is the router's */
	bool forwarded;		     /* sent (or meant to be sent) to s->ep */
	bool l4_opened;		     /* a raw connection's: reported open (connected) */
};

struct session {
	struct proxy *px;
	int fd;
	struct ssl_st *ssl;	     /* accepted on a TLS Gateway port; NULL: plain */
	struct loop_timer tls_timer; /* TLS: decrypted bytes wait in OpenSSL, not in the socket */
	enum sess_state state;
	uint32_t flags;		      /* SF_* */
	struct sockaddr_in peer;      /* the app's address */
	struct sockaddr_in orig;      /* the VIP:port it connected to */
	struct sockaddr_in ep;	      /* backend of the current request */
	struct proxy_pick pick;	      /* the router's decision for the current request */
	struct upconn *up;	      /* while connecting or exchanging */
	struct buf req;		      /* client to upstream */
	struct buf rsp;		      /* upstream (or the proxy) to client */
	struct buf hout;	      /* the request head as sent upstream, kept for a retry */
	uint32_t hout_sent;	      /* bytes of hout written */
	uint32_t req_parsed, req_fwd; /* req bytes parsed / ready to go upstream */
	uint32_t rsp_parsed, rsp_fwd; /* rsp bytes parsed / ready to go to the client */
	uint64_t body_sent;	      /* request body bytes written upstream (a retry needs none) */
	struct loop_timer timer;      /* client idle timeout */
	struct loop_timer rtimer;     /* the request's route timeout (pick.timeout_ms) */
	struct loop_timer ttimer;     /* per-try timeout, fault delay, retry backoff */
	char *local_hdrs;	      /* copy of pick.headers kept through a fault delay */
	char *rsp_drop;		      /* copies of pick.rsp_drop and rsp_add, one allocation */
	char *rsp_add;
	uint32_t rsp_add_len;
	uint32_t hout_attempt; /* offset of the x-envoy-attempt-count line in hout */
	uint16_t attempt;      /* of the current request, 1 for the first */
	uint64_t t_attempt;    /* loop ms the current attempt started */
	uint32_t peek_need;    /* SESS_PEEK: bytes of req the next ClientHello parse needs */
	struct dlist link;     /* proxy.sessions */
	struct session *next_dead;
	struct h1_req hreq;
	struct h1_rsp hrsp;
	struct px_rq rq;
};

struct proxy {
	struct loop *loop;
	int listen_fd;
	int listen_fd6;				 /* -1: none */
	int gw_fds[PROXY_GW_MAX];		 /* Gateway listeners */
	struct ssl_ctx_st *gw_tls[PROXY_GW_MAX]; /* their TLS contexts (not owned); NULL: plain */
	size_t n_gw_fds;
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
	uint64_t rng;			/* xorshift64* state: request ids, retry backoff jitter */
	char *scratch;			/* request heads' edit lists, built per request */
	size_t scratch_cap;
	struct dlist mirrors;	   /* mirror connections in flight (proxy_mirror.c) */
	struct dlist mirrors_dead; /* mirrors closed, freed after the batch */
	uint32_t n_mirrors;	   /* in flight, at most PROXY_MIRROR_MAX */
	bool mirror_reap_pending;  /* the reap of mirrors_dead is deferred */
};

/* proxy.c */

/* "ip:port" of @a in @out; returns @out. */
const char *px_addr_str(const struct sockaddr_in *a, char *out, size_t len);

/* Frees the closed connections after the batch (deferred once per batch). */
void px_schedule_reap(struct proxy *px);

/* Closes the client (and its upstream, never pooled) now; the memory goes after the batch. */
void px_sess_close(struct session *s);

/* px_sess_close() for a client that left (or broke HTTP) mid-request: counted as aborted. */
void px_sess_abort(struct session *s);

/* Tells the router the forwarded request is over (once; a no-op when nothing is owed). */
void px_pick_done(struct session *s, int status);

/*
 * Closes after a complete answer. If the client may still be sending, the
 * write side is shut and its bytes read and dropped until its FIN (state
 * LINGER), so that close() does not reset the answer out of its receive queue.
 */
void px_sess_finish(struct session *s);

/* Back to HEAD for the next request on the connection; pipelined bytes stay in req. */
void px_sess_next_request(struct session *s);

/* Runs the state machine and sets what epoll watches: after a timer acted on @s. */
void px_sess_kick(struct session *s);

/* Forgets the current request's policy: timers, copied response edits. */
void px_req_reset(struct session *s);

/* Writes rsp_fwd bytes of rsp to the client until done or EAGAIN. 0 or -errno. */
int px_client_flush(struct session *s);

/* Writes the rest of hout, then req_fwd bytes of req, upstream until done or EAGAIN. 0 or -errno.
 */
int px_up_flush(struct session *s);

/* The client timer (s->timer): idle, TLS handshake, linger; a head's header timeout. */
void px_on_client_timer(struct loop *loop, struct loop_timer *t, void *arg);

/* Handlers registered by px_up_connect(): upstream fd events and the connect timeout. */
void px_on_upstream(struct loop *loop, int fd, uint32_t events, void *arg);
void px_on_connect_timeout(struct loop *loop, struct loop_timer *t, void *arg);

/* Bytes waiting to go upstream. */
static inline uint32_t px_up_pending(const struct session *s)
{
	return s->hout.len - s->hout_sent + s->req_fwd;
}

/* proxy_head.c, proxy_exchange.c: one step of each state. They may change s->state; the driver
 * calls again. */

/* HEAD: parses the request head, routes it, starts the exchange or answers locally. */
void px_do_head(struct session *s);

/* The header timeout fired on a head begun in HEAD: 408, the connection closed after it. */
void px_head_timed_out(struct session *s);

/* The proxy's xorshift64* generator. */
uint64_t px_rand(struct proxy *px);
/* A new x-request-id (a version 4 UUID, as Envoy makes them) in @out. */
#define PX_REQUEST_ID_LEN 36
void px_request_id(struct proxy *px, char out[PX_REQUEST_ID_LEN + 1]);

#define PX_ATTEMPT_LINE_MAX 48 /* "x-envoy-attempt-count: N\r\n\r\n" */

/* The request's head is in hout, s->pick decided: waits for a fault delay, forwards it, or
 * answers it locally as the pick says. */
void px_request_routed(struct session *s);

/*
 * Answers the current request from the proxy with @status, @body and the
 * header lines @extra (NULL: none), dropping the upstream and what it sent;
 * the connection closes after the answer if @close, or if the request does
 * not let it live on. State LOCAL.
 */
void px_local_reply(struct session *s, int status, const char *body, const char *extra, bool close);

/*
 * Refuses the request with @status (400, 413, 414, 431, 501, 505), counted in
 * bad_requests, and closes the connection after the answer. @details: Envoy's
 * response code details; NULL for the one of @status.
 */
void px_bad_request(struct session *s, int status, const char *details);

/* Writes the attempt count (s->attempt) and the head's empty line at hout_attempt. */
void px_write_attempt(struct session *s);

/* EXCHANGE: request bytes up, response bytes down; ends, retries or answers locally. */
void px_do_exchange(struct session *s);

/* LOCAL: sends the proxy's own answer, drains the request body, then next request or close. */
void px_do_local(struct session *s);

/* LINGER: drops what the client still sends until it closes. */
void px_do_linger(struct session *s);

/* The upstream connect failed or timed out: retried, or 503 in Envoy's wording. */
void px_connect_failed(struct session *s, bool timed_out);

/* WAIT: nothing to do until ttimer fires; a client that leaves aborts. */
void px_do_wait(struct session *s);

/* proxy_pool.c */

/* Closes @up (taking it out of the pool if idle); the memory goes after the batch. */
void px_up_close(struct upconn *up);

/* The most recently pooled connection to @ep, taken out of the pool and busy; NULL if none. */
struct upconn *px_pool_take(struct proxy *px, const struct sockaddr_in *ep);

/*
 * Parks @up, which ended an exchange cleanly, watched for close and stray
 * bytes; the least recently used idle connection goes if the pool is full.
 * On failure @up is closed.
 */
void px_pool_put(struct proxy *px, struct upconn *up);

/*
 * Starts a non-blocking connect to s->ep (SO_MARK and TCP_NODELAY set
 * first) with the connect timeout armed; s->up is the new connection.
 * 0 or -errno (ECONNREFUSED may come at once on loopback).
 */
int px_up_connect(struct session *s);

/* proxy_tls.c: the client side of a session on a TLS Gateway port (s->ssl set). */

/* The server name the TLS client sent (SNI), or NULL: none, or a plain session. */
const char *px_tls_sni(const struct session *s);
/* Creates s->ssl from @ctx on s->fd, handshake pending (SF_TLS_HS). 0 or -ENOMEM. */
int px_tls_start(struct session *s, struct ssl_ctx_st *ctx);

/*
 * One step of the handshake: 0 when done (SF_TLS_HS cleared), -EAGAIN to wait
 * (SF_TLS_WANT_W: for EPOLLOUT, else EPOLLIN), another -errno when it failed
 * (counted in tls_handshake_failed, logged at debug): the caller closes.
 */
int px_tls_handshake(struct session *s);

/* recv() and send() through TLS, with their results and errno (EAGAIN, EPIPE, ...). A
 * recv() that must write first sets SF_TLS_WANT_W. */
ssize_t px_tls_recv(struct session *s, void *p, size_t len);
ssize_t px_tls_send(struct session *s, const void *p, size_t len);

/* Whether OpenSSL holds decrypted bytes the socket no longer signals. */
bool px_tls_pending(const struct session *s);

/* Sends close_notify if it can (the write side is shut next). */
void px_tls_shutdown(struct session *s);

/* Frees s->ssl. */
void px_tls_free(struct session *s);

/* proxy_l4.c: raw connections (SF_L4). */

/* Right after accept: asks ops.conn_mode(); a TLS connection goes to PEEK (with the peek timeout
 * armed), a TCP one is routed and connected at once; HTTP ones are left as they are. */
void px_l4_begin(struct session *s);
/* PEEK: parses the ClientHello read so far; routes the connection once it is whole (or not TLS). */
void px_do_peek(struct session *s);
/* The upstream connected: the bytes read so far go first, then TUNNEL. */
void px_l4_connected(struct session *s);
/* The upstream connect failed or timed out: counted, closed. */
void px_l4_connect_failed(struct session *s, bool timed_out);
/* TUNNEL (a raw connection, or HTTP after a 101): bytes both ways, each side's FIN passed on
 * once what came before it is through (half-close), closed when both are. */
void px_do_l4(struct session *s);

/* proxy_log.c: the record of the current request, for proxy_ops.log. */

/* The first byte of a request head was parsed: a new record, timed from now. */
void px_rq_begin(struct session *s);
/* The head is whole: its size and, with log_strings, its strings, and an x-request-id made
 * for it when it has none (the one it goes upstream with, as Envoy's). */
void px_rq_head(struct session *s, const struct http_req *req);
/* pick() decided (s->pick): keeps its route and cluster names, and a local reply's details. */
void px_rq_routed(struct session *s);
/* Keeps string @i (@len bytes of @v, cut to fit) unless it is set already (log_strings only). */
void px_rq_set_str(struct session *s, enum proxy_rq_str i, const char *v, size_t len);
/* String @i of the record, or NULL when it has none. */
const char *px_rq_str(const struct session *s, enum proxy_rq_str i);
/* The request is failing: response flags PROXY_RF_* and Envoy's details (static; NULL: kept). */
void px_rq_fail(struct session *s, uint32_t flags, const char *details);
/* The upstream's final response head (@status) goes to the client after @service_ms. */
void px_rq_upstream(struct session *s, int status, int64_t service_ms);
/* A raw connection (SF_L4) whose record began at routing connected: reported open. */
void px_rq_l4_opened(struct session *s);
/* The request (a raw connection: the connection) is over: proxy_ops.log(), once per record. */
void px_rq_end(struct session *s);
/* Frees the record's strings (the session goes). */
void px_rq_free(struct session *s);

/* proxy_mirror.c */

#define PROXY_MIRROR_TIMEOUT_MS 10000 /* proxy_ops.mirror_timeout_ms when 0 */
#define PROXY_MIRROR_MAX	256 /* mirrors in flight per proxy; beyond it copies are dropped */

/*
 * Sends a copy of a request to @ep: @head (a complete request head, ending in CRLF CRLF, with
 * the Host the copy must carry already in it) then @body (@body_len bytes: the whole body, or
 * 0). Fire and forget: the response is read and dropped, failures are only counted. The bytes
 * are copied; nothing the mirror does reaches the caller's exchange. Loop thread only.
 */
void px_mirror_send(struct proxy *px, const struct sockaddr_in *ep, const char *head,
		    size_t head_len, const char *body, size_t body_len);

/* Closes every mirror connection (from proxy_free()). */
void px_mirror_close_all(struct proxy *px);

#endif /* SHUNT_PROXY_INT_H */
