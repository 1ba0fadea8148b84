/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The HTTP/1.1 proxy of one worker: accepts the connections the kernel
 * redirected to the agent, routes every request on its own (pick()), sends
 * it to a backend over a new or pooled upstream connection and streams the
 * response back. Everything runs on the worker's event loop; nothing is
 * shared between proxies except what the ops callbacks share.
 */
#ifndef SHUNT_PROXY_H
#define SHUNT_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct loop;
struct proxy;

#define PROXY_BUF_SIZE 16384 /* one buffer per direction and connection; also the head limit */
/* A request head may grow its buffer to proxy_ops.max_head_bytes, by default Envoy's 60 KiB. */
#define PROXY_HEAD_MAX_DEFAULT	 (60 * 1024)
#define PROXY_HEAD_MAX		 65535 /* the largest max_head_bytes: heads are 16-bit offsets */
#define PROXY_CONNECT_TIMEOUT_MS 10000 /* default upstream connect timeout: Istio's 10 s */
/* Connections over max_connections still answered 503 before new ones are closed unread. */
#define PROXY_OVERLOAD_SLACK(max) ((max) / 16 > 64 ? (max) / 16 : 64)
#define PROXY_POOL_MAX_IDLE	  256 /* default idle upstream connections kept per proxy */

/* One header field as received: name and value byte-exact, not NUL-terminated. */
struct http_hdr {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* A parsed request head, valid during the pick() call only. */
struct http_req {
	const char *method; /* "GET", ...: NUL-terminated, static */
	size_t method_len;
	const char *url; /* request-target as sent */
	size_t url_len;
	const struct http_hdr *hdrs; /* in the order received */
	size_t n_hdrs;
	uint8_t http_major, http_minor;
};

/* Retry conditions (Envoy's retry_on policies, as Istio's retryOn names them). */
#define PROXY_RETRY_CONNECT_FAILURE (1u << 0) /* connect-failure: refused, unreachable, timeout */
#define PROXY_RETRY_RESET	    (1u << 1) /* reset: the upstream closed or reset, no response */
#define PROXY_RETRY_5XX                                                                            \
	(1u << 2)			 /* 5xx: any 5xx, a reset, a connect failure, a            \
					    per-try timeout */
#define PROXY_RETRY_GATEWAY    (1u << 3) /* gateway-error: 502, 503, 504 */
#define PROXY_RETRY_STATUS     (1u << 4) /* retriable-status-codes: retry_status[] */
#define PROXY_RETRY_4XX	       (1u << 5) /* retriable-4xx: 409 */
#define PROXY_RETRY_STATUS_MAX 8	 /* retry_status[] entries */
#define PROXY_MIRRORS_MAX      4

/* A copy of a request sent elsewhere, fire and forget (VirtualService mirror). */
struct proxy_mirror {
	struct sockaddr_in ep;
	const char *authority; /* Host of the copy (Envoy's "<host>-shadow"); see proxy_pick */
};

/*
 * What the router decided for one request: forward it to @ep (status 0), or
 * answer it locally. Filled by proxy_ops.pick() (zeroed first); the proxy
 * keeps the struct until the last proxy_ops.done() of the request.
 *
 * Strings (target, req_*, rsp_*, headers, mirrors[].authority) need only
 * live until the pick() call's caller returns: the proxy copies what it
 * keeps. A header list (req_drop, rsp_drop) is lower-case names, each
 * followed by '\n' ("host\nx-debug\n"); header lines (req_add, rsp_add,
 * headers) are "name: value\r\n" each.
 */
struct proxy_pick {
	struct sockaddr_in ep; /* status 0: the backend to send the request to */
	int status;	       /* 0: forward; otherwise answer with this status */
	const char *body;      /* local reply body, static storage; NULL: empty */
	const char *flags;     /* Envoy response flags of the decision ("NR", "UH", "NC", "FI") */
	const char *headers; /* extra header lines of a local reply (location:, CORS), NULL: none */
	uint64_t token[4];   /* the router's own bookkeeping, handed back to done() */

	/* A forwarded request, as it goes upstream: */
	const char *target;   /* request-target instead of the received one (rewrite); NULL: as
				 received. x-envoy-original-path then carries the received path */
	const char *req_drop; /* request headers left out (set = drop + add) */
	const char *req_add;  /* request header lines added */
	const char *rsp_drop; /* response headers left out, when the response head arrives */
	const char *rsp_add;  /* response header lines added */

	/* Its policy: */
	uint32_t timeout_ms;	     /* the whole exchange, retries included; 0: none. 504 UT */
	uint32_t per_try_timeout_ms; /* each attempt; 0: none */
	uint32_t delay_ms;	     /* fault injection: wait this long before forwarding */
	uint32_t connect_timeout_ms; /* 0: proxy_ops.connect_timeout_ms */
	uint32_t retry_on;	     /* PROXY_RETRY_* */
	uint16_t retries;	     /* attempts after the first */
	uint16_t retry_status[PROXY_RETRY_STATUS_MAX]; /* PROXY_RETRY_STATUS codes */
	uint8_t n_retry_status;
	uint8_t n_mirrors;
	struct proxy_mirror mirrors[PROXY_MIRRORS_MAX];
	/* DestinationRule connectionPool.http, for the upstream connection: */
	uint32_t max_requests_per_conn; /* maxRequestsPerConnection: closed after this many; 0: no
					   limit */
	uint32_t idle_timeout_ms;	/* idleTimeout: an idle pooled connection closes after this
					   long; 0: proxy_ops.pool_idle_timeout_ms */

	/* For the metrics and the access log (proxy_ops.log): */
	uint32_t tags[3];	/* the router's label ids, handed back as they are; 0: none */
	const char *route_name; /* %ROUTE_NAME%; NULL: "-" */
	const char *cluster;	/* %UPSTREAM_CLUSTER_RAW%; NULL: "-" */
};

/*
 * Envoy's response flags (%RESPONSE_FLAGS%, Istio's response_flags label),
 * the ones the proxy can set, in the order Envoy prints them.
 */
#define PROXY_RF_UH	 (1u << 0)  /* no healthy upstream */
#define PROXY_RF_UT	 (1u << 1)  /* upstream request timeout */
#define PROXY_RF_UF	 (1u << 2)  /* upstream connection failure */
#define PROXY_RF_UC	 (1u << 3)  /* upstream connection termination */
#define PROXY_RF_UO	 (1u << 4)  /* upstream overflow: the circuit breaker */
#define PROXY_RF_NR	 (1u << 5)  /* no route */
#define PROXY_RF_DI	 (1u << 6)  /* delay injected */
#define PROXY_RF_FI	 (1u << 7)  /* fault injected: abort */
#define PROXY_RF_DC	 (1u << 8)  /* downstream connection termination */
#define PROXY_RF_URX	 (1u << 9)  /* upstream retry limit exceeded */
#define PROXY_RF_DPE	 (1u << 10) /* downstream protocol error */
#define PROXY_RF_UPE	 (1u << 11) /* upstream protocol error */
#define PROXY_RF_NC	 (1u << 12) /* no cluster */
#define PROXY_RF_OM	 (1u << 13) /* overload: the worker's connection or request limit */
#define PROXY_RF_STR_MAX 48	    /* "UH,UT,...": every flag, commas, NUL */

/* The flags named in @s ("DI,FI"; NULL or "" : none); names it does not know are ignored. */
uint32_t proxy_rflags_parse(const char *s);
/* @flags as Envoy prints them into @out (PROXY_RF_STR_MAX bytes): "-" for none. Returns @out. */
const char *proxy_rflags_str(uint32_t flags, char *out);

/* The strings of a request the access log prints, in struct proxy_reqinfo.str. */
enum proxy_rq_str {
	PROXY_RQ_METHOD,    /* %REQ(:METHOD)% */
	PROXY_RQ_PATH,	    /* %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%: the target as received */
	PROXY_RQ_PROTOCOL,  /* %PROTOCOL%: "HTTP/1.1" */
	PROXY_RQ_XFF,	    /* %REQ(X-FORWARDED-FOR)%, as received */
	PROXY_RQ_UA,	    /* %REQ(USER-AGENT)% */
	PROXY_RQ_ID,	    /* %REQ(X-REQUEST-ID)%: received, or the one the proxy added */
	PROXY_RQ_AUTHORITY, /* %REQ(:AUTHORITY)%: Host */
	PROXY_RQ_ROUTE,	    /* %ROUTE_NAME%: proxy_pick.route_name */
	PROXY_RQ_CLUSTER,   /* %UPSTREAM_CLUSTER_RAW%: proxy_pick.cluster */
	PROXY_RQ_SNI,	    /* %REQUESTED_SERVER_NAME% */
	PROXY_RQ_N,
};

/*
 * One request as it ended, for proxy_ops.log(): from the first byte of its
 * head to the last byte of its response (or until either side gave up).
 * Valid during the call only.
 */
struct proxy_reqinfo {
	const struct proxy_pick *pick; /* the router's decision; NULL: the request never reached
					  pick() (malformed, not captured, CONNECT) */
	struct sockaddr_in peer;       /* %DOWNSTREAM_REMOTE_ADDRESS%: the app */
	struct sockaddr_in orig;       /* %DOWNSTREAM_LOCAL_ADDRESS%: the VIP:port it called */
	struct sockaddr_in ep;	       /* %UPSTREAM_HOST%; port 0: never sent upstream */
	struct sockaddr_in up_local;   /* %UPSTREAM_LOCAL_ADDRESS%; port 0: none (or not kept) */
	int status;		       /* the status the client got; 0: none (it left first) */
	uint32_t flags;		       /* PROXY_RF_* */
	const char *details;	       /* %RESPONSE_CODE_DETAILS% (Envoy's words); NULL: "-" */
	uint64_t wire_in, wire_out;    /* request bytes read, response bytes written (heads too) */
	uint64_t body_in, body_out;    /* of which bodies: %BYTES_RECEIVED%, %BYTES_SENT% */
	uint64_t duration_us;	       /* %DURATION%, in microseconds */
	int64_t upstream_ms;	       /* %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%; -1: none */
	int64_t start_unix_us;	       /* %START_TIME%: wall clock at the first byte; 0: not kept */
	const char *str[PROXY_RQ_N];   /* with proxy_ops.log_strings; NULL or "": "-" */
	uint8_t l4; /* 0: an HTTP request; a raw connection's report: PROXY_L4_OPEN when it
		       connected, PROXY_L4_CLOSE when it ended (with OPEN if it never connected) */
};
#define PROXY_L4_OPEN  1
#define PROXY_L4_CLOSE 2

/* How a connection is served (proxy_ops.conn_mode). */
enum proxy_conn_mode {
	PROXY_CONN_HTTP = 0, /* HTTP/1.1, request by request (pick(), pick_gateway()) */
	PROXY_CONN_TLS,	     /* raw TLS: the ClientHello's SNI is read, then pick_l4() */
	PROXY_CONN_TCP,	     /* raw bytes: pick_l4() at once */
};

struct proxy_ops {
	/*
	 * Original destination of an accepted connection (the VIP:port the app
	 * connected to). 0, or -ENOENT when unknown (then every request on the
	 * connection is answered 404). Called once per accepted connection.
	 */
	int (*orig_dst)(void *ctx, int fd, const struct sockaddr_in *peer,
			const struct sockaddr_in *local, struct sockaddr_in *orig);
	/*
	 * The same for a connection accepted on the IPv6 listener: fills @orig
	 * and @peer4 with the IPv4 identities the rest of the proxy routes by
	 * (the service's IPv4 VIP, the client pod's IPv4 address: a dual-stack
	 * service and pod have both). NULL: IPv6 connections get 404.
	 */
	/*
	 * Routes one request of a connection accepted on a Gateway listener
	 * (proxy_listen_gateway()), @local being the address it was accepted on,
	 * @sni the server name of its TLS ClientHello (NULL: plain, or none sent).
	 * As pick() otherwise.
	 */
	int (*pick_gateway)(void *ctx, const struct sockaddr_in *peer,
			    const struct sockaddr_in *local, const char *sni,
			    const struct http_req *req, struct proxy_pick *out);
	int (*orig_dst6)(void *ctx, int fd, const struct sockaddr_in6 *peer,
			 const struct sockaddr_in6 *local, struct sockaddr_in *orig,
			 struct sockaddr_in *peer4);
	/*
	 * Routes one request from @peer on a connection to @orig: fills @out
	 * (zeroed by the caller). Returns 0, or -errno when routing itself failed
	 * (answered 503). Called per request: consecutive requests on one client
	 * connection may go to different backends.
	 */
	int (*pick)(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		    const struct http_req *req, struct proxy_pick *out);
	/*
	 * Optional. One attempt of a request pick() sent upstream is over:
	 * @status is the response status, 0 when the upstream failed (connect
	 * failure, reset, timeout, malformed response), -1 when the client went
	 * away first. Called once per attempt (a retry is another attempt), also
	 * when the proxy is freed.
	 */
	void (*done)(void *ctx, const struct proxy_pick *pick, int status);
	/*
	 * Optional (NULL: every connection is HTTP). How a connection from @peer to @orig is
	 * served, once, when it is accepted: @gateway says it came in on a Gateway listener
	 * without TLS termination (@orig is then the address it came in on).
	 */
	enum proxy_conn_mode (*conn_mode)(void *ctx, const struct sockaddr_in *peer,
					  const struct sockaddr_in *orig, bool gateway);
	/*
	 * Routes a raw connection conn_mode() did not call HTTP: fills @out (zeroed by the
	 * caller) with ep and status 0, or another status to close the connection. @sni is the
	 * ClientHello's server name, lowercased; NULL for TCP and for a TLS connection that sent
	 * none (not TLS, no server_name, malformed, or nothing within the peek timeout). The
	 * bytes read so far go to ep first, then both ways until both sides closed. done() is
	 * called once: 0 when the connect failed, -1 when the connection ends. 0 or -errno
	 * (closed).
	 */
	int (*pick_l4)(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		       bool gateway, const char *sni, struct proxy_pick *out);
	/*
	 * Optional. A retry is due: choose the endpoint of the next attempt in
	 * @pick (ep and token), another one than the last when the cluster has
	 * one (Envoy's previous-hosts predicate, which Istio configures). 0, or
	 * -errno to retry on the same endpoint. Called after done() of the
	 * previous attempt.
	 */
	int (*repick)(void *ctx, struct proxy_pick *pick);
	void *ctx;
	/*
	 * SO_MARK set on every upstream socket before connect(); 0 = none. The
	 * kernel program skips sockets with this mark so the agent's own
	 * connections are never captured. setsockopt failure fails the request (503).
	 */
	uint32_t upstream_mark;
	uint32_t connect_timeout_ms;   /* upstream connect timeout; 0 = PROXY_CONNECT_TIMEOUT_MS */
	uint32_t pool_max_idle;	       /* idle upstream connections kept; 0 = PROXY_POOL_MAX_IDLE */
	uint32_t pool_idle_timeout_ms; /* close a pooled connection idle this long; 0 = never */
	uint32_t client_idle_timeout_ms; /* close a client waiting this long for a request; 0 =
					    never */
	/*
	 * A request head must be whole this long after its first byte, or it is
	 * answered 408 and the connection closed (Envoy's request_headers_timeout,
	 * HAProxy's timeout http-request: a client trickling its head, slowloris,
	 * holds a connection this long at most); a new connection must begin its
	 * first request this long after it was accepted (after its TLS handshake),
	 * or it is closed without a word; 0 = no limit.
	 */
	uint32_t header_timeout_ms;
	/*
	 * The request line and header fields, at most, in bytes (Envoy's
	 * max_request_headers_kb): a head over it is answered 431, or 414 when the
	 * request line alone is; 0 = PROXY_HEAD_MAX_DEFAULT, at most PROXY_HEAD_MAX.
	 */
	uint32_t max_head_bytes;
	/*
	 * A request body over this many bytes is answered 413 and the connection
	 * closed: at once when its Content-Length says so, else when the chunks
	 * reach it (nothing of the response sent yet; the upstream is closed); 0 = no
	 * limit (Envoy has none without its buffer filter, HAProxy none by default).
	 */
	uint64_t max_body_bytes;
	uint32_t mirror_timeout_ms; /* a mirror copy's whole life (connect + exchange); 0 = 10 s */
	/*
	 * Overload limits of this proxy (one per worker thread); 0 = none. A
	 * connection accepted while max_connections are open gets one answer, a
	 * 503 with "connection: close" (a raw TLS/TCP one is closed at once);
	 * beyond max_connections + PROXY_OVERLOAD_SLACK() it is closed unread. A
	 * request that would make more than max_requests in flight upstream is
	 * answered 503 at once. Both carry Envoy's response flag OM.
	 */
	uint32_t max_connections;
	uint32_t max_requests;
	/*
	 * Optional. A request ended (struct proxy_reqinfo): called once per
	 * request whose head began, on the loop's thread; mirror copies are not
	 * requests. A raw connection is reported when it connects and when it
	 * ends (ri->l4). With @log_strings the proxy keeps what the access log prints
	 * (ri->str, start_unix_us, up_local); without it, only counts and times.
	 */
	void (*log)(void *ctx, const struct proxy_reqinfo *ri);
	bool log_strings;
};

/*
 * Counters of one proxy. Gauges are marked; everything else only grows.
 * Responses are counted once each, by the status the client got, whether
 * the backend or the proxy itself produced it.
 */
struct proxy_stats {
	uint64_t accepted;  /* client connections accepted */
	uint64_t active;    /* gauge: client connections open */
	uint64_t requests;  /* request heads parsed */
	uint64_t responses; /* final responses: parsed to their end from a backend, or made locally
			     */
	uint64_t responses_1xx; /* interim responses forwarded (100 Continue, ...) */
	uint64_t responses_2xx;
	uint64_t responses_3xx;
	uint64_t responses_4xx;
	uint64_t responses_5xx;
	uint64_t local_replies; /* responses the proxy made itself (400, 404, 502, 503, ...) */
	uint64_t bad_requests;	/* malformed or refused requests (400, 413, 414, 431, 501, 505) */
	uint64_t no_route;	/* 404: orig_dst unknown or pick() -ENOENT */
	uint64_t no_healthy_upstream;	    /* 503: pick() -EHOSTUNREACH or failed */
	uint64_t upstream_connects;	    /* upstream connections opened (connect() started) */
	uint64_t upstream_connect_failed;   /* refused, unreachable, timed out, setsockopt failed */
	uint64_t upstream_connect_timeouts; /* part of upstream_connect_failed */
	uint64_t upstream_reused;	    /* requests sent over a pooled connection */
	uint64_t upstream_retries;  /* attempts resent: by the route's retry policy, or because a
				       pooled connection died unanswered */
	uint64_t upstream_timeouts; /* route or per-try timeouts that ended a request (504 UT) */
	uint64_t upstream_active;   /* gauge: upstream connections open (busy and idle) */
	uint64_t upstream_idle;	    /* gauge: of which idle in the pool */
	uint64_t upstream_reset;    /* upstream closed or reset before the response ended */
	uint64_t upstream_bad_response; /* malformed responses (502, or cut if already streaming) */
	uint64_t client_aborted;	/* clients that closed before their response was complete */
	uint64_t bytes_from_client;	/* request bytes read */
	uint64_t bytes_to_client;	/* response bytes written */
	uint64_t mirror_sent;	 /* mirror copies answered: their response was read to its end */
	uint64_t mirror_failed;	 /* mirror copies that were not: connect failure, reset, timeout,
				    malformed response, closed by proxy_free() */
	uint64_t mirror_dropped; /* mirror copies never started: too many in flight, no memory */
	uint64_t mirror_active;	 /* gauge: mirror connections open */
	uint64_t tls_handshakes; /* TLS handshakes completed on Gateway ports */
	uint64_t tls_handshake_failed; /* TLS handshakes that failed (the connection was closed) */
	uint64_t l4_forwarded; /* raw (TLS by SNI, TCP) connections connected to their backend */
	uint64_t l4_refused;   /* raw connections closed unforwarded: no route, REGISTRY_ONLY,
				  no endpoint, a ClientHello over 16 KiB, a failed connect */
	uint64_t sni_read;     /* ClientHellos whose server name chose the route */
	uint64_t sni_none;     /* TLS-port connections routed without SNI: not TLS, no server_name,
				  malformed, or silent for the peek timeout */
	uint64_t requests_active;      /* gauge: HTTP requests forwarded, not answered yet */
	uint64_t overload_connections; /* connections over max_connections: a 503, or closed */
	uint64_t overload_requests;    /* requests over max_requests: a 503 */
	uint64_t header_timeouts;      /* request heads not whole in header_timeout_ms: a 408 */
};

/*
 * Creates a proxy serving @listen_fd (listening, non-blocking, owned by the
 * caller, who closes it after proxy_free()) on @loop. @ops is copied.
 * NULL on failure with errno set.
 */
struct proxy *proxy_new(struct loop *loop, int listen_fd, const struct proxy_ops *ops);

/*
 * Also serves @listen_fd6, an IPv6 listening socket (same ownership), whose
 * connections are routed through ops->orig_dst6. 0 or -errno.
 */
int proxy_listen6(struct proxy *px, int listen_fd6);

#define PROXY_GW_MAX 16 /* Gateway listeners per proxy */

struct ssl_ctx_st;

/*
 * Also serves @fd, a listening socket of a Gateway port (same ownership):
 * its connections are not captured ones; each request goes through
 * ops->pick_gateway. With @tls (an SSL_CTX that must outlive the listener's
 * handshakes),
 * each connection first does a TLS handshake from it and is then read and
 * written through TLS. 0 or -errno (-ENOSPC past PROXY_GW_MAX).
 */
int proxy_listen_gateway(struct proxy *px, int fd, struct ssl_ctx_st *tls);

/*
 * Stops accepting on Gateway listener @fd (the caller closes it); its
 * connections go on. 0, or -ENOENT when @fd is not one.
 */
int proxy_unlisten_gateway(struct proxy *px, int fd);

/*
 * Connections accepted on Gateway listener @fd from now on handshake with
 * @tls (NULL: plain); those already accepted keep theirs. 0 or -ENOENT.
 */
int proxy_gateway_set_tls(struct proxy *px, int fd, struct ssl_ctx_st *tls);

/*
 * Stops listening, closes every client and upstream connection the proxy
 * owns and frees it. Call from the loop's thread, or after loop_run()
 * returned. NULL is fine.
 */
void proxy_free(struct proxy *px);

/* A copy of the counters. Safe from any thread; values may be a little stale. */
void proxy_get_stats(const struct proxy *px, struct proxy_stats *out);

/* The name of counter @i of struct proxy_stats (declaration order), or NULL past the last. */
const char *proxy_stat_name(size_t i);
/* Whether counter @i is a gauge (it goes down too), not a count of events. */
bool proxy_stat_gauge(size_t i);
/* Counter @i of @st (see proxy_stat_name()). */
uint64_t proxy_stat_value(const struct proxy_stats *st, size_t i);

#endif /* SHUNT_PROXY_H */
