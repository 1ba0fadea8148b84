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

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct loop;
struct proxy;

#define PROXY_BUF_SIZE		 16384 /* one buffer per direction and connection; also the head limit */
#define PROXY_CONNECT_TIMEOUT_MS 5000 /* default upstream connect timeout */
#define PROXY_POOL_MAX_IDLE	 256  /* default idle upstream connections kept per proxy */

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

/*
 * What the router decided for one request: forward it to @ep (status 0), or
 * answer it locally. Filled by proxy_ops.pick(); the proxy keeps it until
 * proxy_ops.done() and touches only ep, status and body.
 */
struct proxy_pick {
	struct sockaddr_in ep; /* status 0: the backend to send the request to */
	int status;	       /* 0: forward; otherwise answer with this status */
	const char *body;      /* local reply body, static storage; NULL: empty */
	const char *flags;     /* Envoy response flags of the decision ("NR", "UH", "NC"), static */
	const char *headers;   /* extra header lines of a local reply ("location: ...\r\n"), NULL:
				  none; valid until the router's next pick() */
	uint64_t token[4];     /* the router's own bookkeeping, handed back to done() */
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
	 * Routes one request from @peer on a connection to @orig: fills @out
	 * (zeroed by the caller). Returns 0, or -errno when routing itself failed
	 * (answered 503). Called per request: consecutive requests on one client
	 * connection may go to different backends.
	 */
	int (*pick)(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		    const struct http_req *req, struct proxy_pick *out);
	/*
	 * Optional. The request a pick() sent upstream is over: @status is the
	 * final response status, 0 when the upstream failed (connect failure,
	 * reset, malformed response), -1 when the client went away first. Called
	 * once per forwarded request, also when the proxy is freed.
	 */
	void (*done)(void *ctx, const struct proxy_pick *pick, int status);
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
	uint64_t bad_requests;	/* malformed requests (400, 431) */
	uint64_t no_route;	/* 404: orig_dst unknown or pick() -ENOENT */
	uint64_t no_healthy_upstream;	    /* 503: pick() -EHOSTUNREACH or failed */
	uint64_t upstream_connects;	    /* upstream connections opened (connect() started) */
	uint64_t upstream_connect_failed;   /* refused, unreachable, timed out, setsockopt failed */
	uint64_t upstream_connect_timeouts; /* part of upstream_connect_failed */
	uint64_t upstream_reused;	    /* requests sent over a pooled connection */
	uint64_t upstream_retries; /* requests resent because a pooled connection died unanswered */
	uint64_t upstream_active;  /* gauge: upstream connections open (busy and idle) */
	uint64_t upstream_idle;	   /* gauge: of which idle in the pool */
	uint64_t upstream_reset;   /* upstream closed or reset before the response ended */
	uint64_t upstream_bad_response; /* malformed responses (502, or cut if already streaming) */
	uint64_t client_aborted;	/* clients that closed before their response was complete */
	uint64_t bytes_from_client;	/* request bytes read */
	uint64_t bytes_to_client;	/* response bytes written */
};

/*
 * Creates a proxy serving @listen_fd (listening, non-blocking, owned by the
 * caller, who closes it after proxy_free()) on @loop. @ops is copied.
 * NULL on failure with errno set.
 */
struct proxy *proxy_new(struct loop *loop, int listen_fd, const struct proxy_ops *ops);

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
/* Counter @i of @st (see proxy_stat_name()). */
uint64_t proxy_stat_value(const struct proxy_stats *st, size_t i);

#endif /* SHUNT_PROXY_H */
