/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A worker: one thread, one event loop, its own SO_REUSEPORT listener on the
 * capture address, its own proxy (connections, upstream pool, counters) and
 * its own round-robin positions. Workers share only the snapshot store and
 * the kernel handle, both read-only on the request path.
 */
#ifndef SHUNT_WORKER_H
#define SHUNT_WORKER_H

#include <stdint.h>
#include <netinet/in.h>

#include "proxy.h"

struct alog_sink;
struct gw_tls;
struct kern;
struct mx_table;
struct snapshot_store;
struct worker;

/* The HTTP timeouts and limits of every worker's proxy: proxy_ops' fields of the same names. */
struct worker_http {
	uint32_t header_timeout_ms; /* a request head must be whole this long after its start */
	uint32_t client_idle_timeout_ms; /* a client between requests; 0: none */
	uint32_t pool_idle_timeout_ms;	 /* a pooled upstream connection; 0: none */
	uint32_t max_head_bytes; /* request line and header fields; 0: the proxy's default */
	uint64_t max_body_bytes; /* a request body; 0: no limit */
};

struct worker_opts {
	unsigned id;		      /* for logs */
	struct sockaddr_in listen;    /* capture listener, shared by all workers via SO_REUSEPORT */
	struct sockaddr_in6 listen6;  /* the IPv6 one; sin6_port 0: none */
	const struct sockaddr_in *gw; /* Gateway listeners (SO_REUSEPORT too), @n_gw of them */
	struct gw_tls *const *gw_tls; /* per Gateway listener: its TLS contexts, NULL: plain */
	size_t n_gw;
	uint32_t mark;		      /* SO_MARK on upstream sockets: never captured */
	uint32_t max_connections;     /* proxy_ops.max_connections: per worker; 0: none */
	uint32_t max_requests;	      /* proxy_ops.max_requests: per worker; 0: none */
	struct worker_http http;      /* timeouts and limits of each request */
	struct kern *kern;	      /* original-destination lookups */
	struct snapshot_store *store; /* the active config */
	struct alog_sink *alog;	      /* the access log; NULL: off */
};

/*
 * Creates a worker and binds its listener (so the address is taken before
 * the kernel is told to send connections there), without starting it.
 * Stores it in *@out; returns 0 or -errno.
 */
int worker_new(const struct worker_opts *opts, struct worker **out);

/* Starts the worker's thread. 0 or -errno. */
int worker_start(struct worker *w);

/* Stops the thread (if started), closes every connection and frees the worker. NULL is fine. */
void worker_free(struct worker *w);

/*
 * Any thread: the worker moves to the store's current snapshot soon, on its
 * own thread, as a new request would make it: an idle worker would keep the
 * one it has (and its memory) until then. 0 or -ENOMEM.
 */
int worker_refresh_soon(struct worker *w);

/* A copy of the worker's proxy counters; safe from another thread (values may be a little stale).
 */
void worker_stats(struct worker *w, struct proxy_stats *out);

/*
 * Makes the worker serve exactly the @n Gateway listeners @gw, with the TLS
 * contexts @tls (NULL, or NULL entries: plain), which must outlive the
 * handshakes begun on them. Any thread: the change happens on the worker's
 * own, soon; a listener on an address it already serves stays open (new
 * connections get the new contexts), one no longer listed closes (its
 * connections go on), a new one opens (a failure is logged). 0 or -errno.
 */
int worker_set_gateways(struct worker *w, const struct sockaddr_in *gw, struct gw_tls *const *tls,
			size_t n);

/* The worker's metric table (metrics.h): written by its thread, read by any. */
struct mx_table *worker_metrics(const struct worker *w);

/* The worker's listening socket (owned by the worker). */
int worker_listen_fd(const struct worker *w);

/* Its IPv6 listening socket, or -1 without opts.listen6. */
int worker_listen_fd6(const struct worker *w);

#endif /* SHUNT_WORKER_H */
