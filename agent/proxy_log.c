// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The record of a session's current request for proxy_ops.log(): when it
 * began, the bytes it moved, how it ended (status, Envoy's response flags and
 * details) and, with proxy_ops.log_strings, what the access log prints of
 * it. Envoy's response flags are named here too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "proxy_int.h"

#define RQ_NO_STR    0xffff /* px_rqstr.off of a string not set */
#define RQ_PATH_MAX  2048   /* a longer request-target is cut in the access log */
#define RQ_VALUE_MAX 512    /* and a longer header value or name */

static const char *const rflag_names[] = {"UH", "UT", "UF",  "UC",  "UO",  "NR", "DI",
					  "FI", "DC", "URX", "DPE", "UPE", "NC", "OM"};

uint32_t proxy_rflags_parse(const char *s)
{
	uint32_t flags = 0;

	while (s && *s) {
		size_t n = strcspn(s, ",");

		for (size_t i = 0; i < sizeof(rflag_names) / sizeof(rflag_names[0]); i++)
			if (strlen(rflag_names[i]) == n && !strncmp(s, rflag_names[i], n))
				flags |= 1u << i;
		s += n + (s[n] == ',');
	}
	return flags;
}

const char *proxy_rflags_str(uint32_t flags, char *out)
{
	char *p = out;

	for (size_t i = 0; i < sizeof(rflag_names) / sizeof(rflag_names[0]); i++) {
		if (!(flags & (1u << i)))
			continue;
		if (p != out)
			*p++ = ',';
		memcpy(p, rflag_names[i], strlen(rflag_names[i]));
		p += strlen(rflag_names[i]);
	}
	if (p == out)
		*p++ = '-';
	*p = '\0';
	return out;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void px_rq_begin(struct session *s)
{
	struct px_rq *rq = &s->rq;
	struct px_rqstr *str = rq->str;

	memset(rq, 0, sizeof(*rq));
	rq->str = str;
	rq->open = true;
	rq->upstream_ms = -1;
	rq->t0_ns = mono_ns();
	if (!s->px->ops.log_strings)
		return;
	if (!str) {
		str = rq->str = malloc(sizeof(*str));
		if (!str)
			return; /* logged without its strings */
	}
	memset(str->off, 0xff, sizeof(str->off));
	str->len = 0;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		rq->t0_unix_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
}

void px_rq_set_str(struct session *s, enum proxy_rq_str i, const char *v, size_t len)
{
	struct px_rqstr *str = s->rq.str;
	size_t cap = i == PROXY_RQ_PATH ? RQ_PATH_MAX : RQ_VALUE_MAX;

	if (!s->px->ops.log_strings || !str || !s->rq.open || !v || str->off[i] != RQ_NO_STR)
		return;
	if (len > cap)
		len = cap;
	if (str->len >= sizeof(str->buf))
		return; /* full: the rest prints as "-" */
	if (len > sizeof(str->buf) - str->len - 1)
		len = sizeof(str->buf) - str->len - 1;
	str->off[i] = str->len;
	memcpy(str->buf + str->len, v, len);
	str->buf[str->len + len] = '\0';
	str->len += (uint16_t)(len + 1);
}

const char *px_rq_str(const struct session *s, enum proxy_rq_str i)
{
	const struct px_rqstr *str = s->rq.str;

	return s->rq.open && str && str->off[i] != RQ_NO_STR ? str->buf + str->off[i] : NULL;
}

/* The first value of header @name (@n bytes, lower case) in @req, or NULL. */
static const struct http_hdr *header(const struct http_req *req, const char *name, size_t n)
{
	for (size_t i = 0; i < req->n_hdrs; i++)
		if (req->hdrs[i].name_len == n && !strncasecmp(req->hdrs[i].name, name, n))
			return &req->hdrs[i];
	return NULL;
}

static void set_hdr(struct session *s, enum proxy_rq_str i, const struct http_req *req,
		    const char *name)
{
	const struct http_hdr *h = header(req, name, strlen(name));

	if (h)
		px_rq_set_str(s, i, h->value, h->value_len);
}

void px_rq_head(struct session *s, const struct http_req *req)
{
	s->rq.in_head = s->rq.in;
	if (!s->px->ops.log_strings)
		return;
	px_rq_set_str(s, PROXY_RQ_METHOD, req->method, req->method_len);
	px_rq_set_str(s, PROXY_RQ_PATH, req->url, req->url_len);
	px_rq_set_str(s, PROXY_RQ_PROTOCOL, req->http_minor ? "HTTP/1.1" : "HTTP/1.0", 8);
	set_hdr(s, PROXY_RQ_XFF, req, "x-forwarded-for");
	set_hdr(s, PROXY_RQ_UA, req, "user-agent");
	set_hdr(s, PROXY_RQ_ID, req, "x-request-id");
	if (!px_rq_str(s, PROXY_RQ_ID)) {
		char id[PX_REQUEST_ID_LEN + 1];

		px_request_id(s->px, id);
		px_rq_set_str(s, PROXY_RQ_ID, id, PX_REQUEST_ID_LEN);
	}
	set_hdr(s, PROXY_RQ_AUTHORITY, req, "host");
	if (s->ssl) {
		const char *sni = px_tls_sni(s);

		if (sni)
			px_rq_set_str(s, PROXY_RQ_SNI, sni, strlen(sni));
	}
}

/* Envoy's %RESPONSE_CODE_DETAILS% of a reply the router made, by its response @flags. */
static const char *local_details(const char *flags)
{
	uint32_t f = proxy_rflags_parse(flags);

	return f & PROXY_RF_FI	 ? "fault_filter_abort"
	       : f & PROXY_RF_NR ? "route_not_found"
	       : f & PROXY_RF_UH ? "no_healthy_upstream"
	       : f & PROXY_RF_NC ? "cluster_not_found"
	       : f & PROXY_RF_UO ? "upstream_reset_before_response_started{overflow}"
				 : "direct_response";
}

void px_rq_routed(struct session *s)
{
	const struct proxy_pick *pk = &s->pick;

	s->rq.routed = true;
	s->rq.forwarded = !pk->status;
	if (pk->status)
		s->rq.details = local_details(pk->flags);
	if (pk->route_name)
		px_rq_set_str(s, PROXY_RQ_ROUTE, pk->route_name, strlen(pk->route_name));
	if (pk->cluster)
		px_rq_set_str(s, PROXY_RQ_CLUSTER, pk->cluster, strlen(pk->cluster));
}

void px_rq_fail(struct session *s, uint32_t flags, const char *details)
{
	s->rq.flags |= flags;
	if (details)
		s->rq.details = details;
}

/* The upstream connection's own address, for the access log. */
static void rq_up_local(struct session *s)
{
	struct upconn *up = s->up;
	socklen_t len = sizeof(up->local);

	if (!s->px->ops.log_strings || !up)
		return;
	if (!up->local.sin_port && getsockname(up->fd, (struct sockaddr *)&up->local, &len))
		memset(&up->local, 0, sizeof(up->local));
	s->rq.up_local = up->local;
}

void px_rq_upstream(struct session *s, int status, int64_t service_ms)
{
	s->rq.status = status;
	s->rq.upstream_ms = service_ms;
	s->rq.details = "via_upstream";
	rq_up_local(s);
}

/* The access log's strings of the record, in @ri. */
static void rq_strings(const struct px_rq *rq, struct proxy_reqinfo *ri)
{
	if (!rq->str)
		return;
	for (int i = 0; i < PROXY_RQ_N; i++)
		ri->str[i] = rq->str->off[i] == RQ_NO_STR ? NULL : rq->str->buf + rq->str->off[i];
}

/* What the record says so far, in @ri. */
static void rq_info(struct session *s, struct proxy_reqinfo *ri)
{
	struct px_rq *rq = &s->rq;

	ri->pick = rq->routed ? &s->pick : NULL;
	ri->peer = s->peer;
	ri->orig = s->orig;
	if (rq->forwarded)
		ri->ep = s->ep;
	ri->up_local = rq->up_local;
	ri->status = rq->status;
	ri->flags = rq->flags | (rq->routed ? proxy_rflags_parse(s->pick.flags) : 0);
	ri->details = rq->details;
	ri->wire_in = rq->in;
	ri->wire_out = rq->out;
	ri->body_in = rq->in - rq->in_head;
	ri->body_out = rq->out > rq->out_head ? rq->out - rq->out_head : 0;
	ri->duration_us = (mono_ns() - rq->t0_ns) / 1000;
	ri->upstream_ms = rq->upstream_ms;
	ri->start_unix_us = rq->t0_unix_us;
	if (s->px->ops.log_strings)
		rq_strings(rq, ri);
}

void px_rq_l4_opened(struct session *s)
{
	struct proxy_reqinfo ri = {0};
	struct proxy *px = s->px;

	if (!s->rq.open || s->rq.l4_opened || !px->ops.log)
		return;
	s->rq.l4_opened = true;
	rq_up_local(s);
	rq_info(s, &ri);
	ri.l4 = PROXY_L4_OPEN;
	px->ops.log(px->ops.ctx, &ri);
}

void px_rq_end(struct session *s)
{
	struct px_rq *rq = &s->rq;
	struct proxy_reqinfo ri = {0};
	struct proxy *px = s->px;

	if (!rq->open)
		return;
	rq->open = false;
	if (!px->ops.log)
		return;
	rq_info(s, &ri);
	if (s->flags & SF_L4) /* a raw connection that never connected was never reported open */
		ri.l4 = PROXY_L4_CLOSE | (rq->l4_opened ? 0 : PROXY_L4_OPEN);
	px->ops.log(px->ops.ctx, &ri);
}

void px_rq_free(struct session *s)
{
	free(s->rq.str);
	s->rq.str = NULL;
}
