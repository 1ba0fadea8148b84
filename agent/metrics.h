/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Istio's standard metrics (istio_requests_total, the request duration and
 * size histograms, the TCP connection counters), kept per worker and merged
 * when /stats/prometheus is scraped.
 *
 * A series is one label set: the source and destination workloads, the
 * destination service (each an interned tuple of label values), the response
 * code and flags, the protocol. Label values are copied into the table the
 * first time they are seen, so series outlive the config snapshot that named
 * them; a table holds at most MX_SERIES_MAX series and MX_TUPLES_MAX tuples,
 * and what does not fit is counted in mx_overflow().
 *
 * Threads: a table is written by its worker only, without locks. Series and
 * tuples are appended and never move; each is published by a release store
 * of a count, so a reader (the admin thread) that loads the count (acquire)
 * sees every series below it with its labels. Counters have a single writer,
 * which stores old + n (relaxed); a reader loads them (relaxed) and may see a
 * request in one field and not yet in the next. A histogram's _count is the
 * sum of the buckets read, so it always equals its +Inf bucket.
 */
#ifndef SHUNT_METRICS_H
#define SHUNT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct admin_resp;
struct mx_table;

#define MX_SERIES_MAX 4096 /* label sets per worker */
#define MX_TUPLES_MAX 4096 /* workload and service tuples per worker */

/* Tuple ids. 0 names nothing; the two unknown tuples exist in every table. */
#define MX_NONE		0
#define MX_UNKNOWN_PEER 1 /* a workload the config does not know: "unknown" everywhere */
#define MX_UNKNOWN_SVC	2 /* a request that names no service */

/* The values of a workload tuple (source_* or destination_* labels), in this order. */
enum mx_peer_field {
	MX_P_WORKLOAD,
	MX_P_NAMESPACE,
	MX_P_PRINCIPAL,
	MX_P_APP,
	MX_P_VERSION,
	MX_P_CANON_SVC,
	MX_P_CANON_REV,
	MX_P_CLUSTER,
	MX_P_N,
};

/* The values of a service tuple (destination_service*). */
enum mx_svc_field {
	MX_S_HOST, /* destination_service */
	MX_S_NAME,
	MX_S_NAMESPACE,
	MX_S_N,
};

/* A series' labels that are tuples. */
struct mx_labels {
	uint32_t src, dst, svc;
};

enum mx_proto {
	MX_HTTP, /* request_protocol="http" */
	MX_GRPC, /* "grpc" */
	MX_TCP,	 /* "tcp": the istio_tcp_* families */
};

/* One HTTP request as the metrics see it. */
struct mx_http_obs {
	int status;	      /* response_code; 0: none */
	uint32_t flags;	      /* response_flags, PROXY_RF_* */
	enum mx_proto proto;  /* MX_HTTP or MX_GRPC */
	uint64_t duration_us; /* istio_request_duration_milliseconds, in microseconds */
	uint64_t req_bytes;   /* istio_request_bytes: wire bytes received (head and body) */
	uint64_t rsp_bytes;   /* istio_response_bytes: wire bytes sent */
};

/* What happened on one TCP connection since the last report of it. */
struct mx_tcp_obs {
	uint32_t flags;		 /* response_flags */
	bool opened, closed;	 /* count it in ..._opened_total, ..._closed_total */
	uint64_t sent, received; /* bytes to and from the client, since the last report */
};

/* A new table holding only the unknown tuples. NULL on ENOMEM. */
struct mx_table *mx_table_new(void);
/* Frees @t; no reader may be using it. NULL is fine. */
void mx_table_free(struct mx_table *t);

/*
 * The id of the tuple of @n values @v (a workload: MX_P_N, a service: MX_S_N;
 * NULL values read "unknown"), added if new. MX_NONE when the table is full.
 * Writer only.
 */
uint32_t mx_tuple(struct mx_table *t, const char *const *v, size_t n);

/*
 * A cache of tuple ids by the config object they came from (a pod, a
 * service), valid for one config @generation: a lookup with another one
 * empties it. MX_NONE when @obj is not cached. Writer only.
 */
uint32_t mx_cache_get(struct mx_table *t, uint64_t generation, const void *obj);
void mx_cache_put(struct mx_table *t, uint64_t generation, const void *obj, uint32_t id);

/* Counts one request in its series (added if new; counted in mx_overflow() if it cannot be). */
void mx_record_http(struct mx_table *t, const struct mx_labels *l, const struct mx_http_obs *o);
/* The same for a TCP connection's report. */
void mx_record_tcp(struct mx_table *t, const struct mx_labels *l, const struct mx_tcp_obs *o);

/* Requests and reports that found no room in @t (any thread). */
uint64_t mx_overflow(const struct mx_table *t);

/*
 * A label set costs about 60 KiB of text (a counter, three histograms of 22
 * lines, each with some 25 labels): a page renders the label sets that fit in
 * this many bytes, whole, and leaves the others out of every family.
 */
#define MX_RENDER_BUDGET (32u << 20)

/*
 * Renders the istio_* families of @n tables as Prometheus text into @r, the
 * series of equal labels summed across tables, as many label sets as fit in
 * @budget bytes (their number left out in *@left_out). Any thread,
 * concurrently with the writers. 0 or -ENOMEM.
 */
int mx_render(struct mx_table *const *tables, size_t n, size_t budget, struct admin_resp *r,
	      size_t *left_out);

#endif /* SHUNT_METRICS_H */
