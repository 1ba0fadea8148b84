// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What each session state does with HTTP once a request is routed
 * (proxy_head.c routes it): forward the request and the response, answer
 * locally (400, 404, 502, 503, ...), retry on a fresh connection when a pooled
 * one died unanswered, keep the connections alive or close them as HTTP says.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proxy_int.h"

/* Envoy's wording, so that operators and tests recognise them. */
#define RESET_BEFORE_HEADERS "upstream connect error or disconnect/reset before headers. "
#define BODY_CONNECT_FAILURE RESET_BEFORE_HEADERS "reset reason: connection failure"
#define BODY_CONNECT_TIMEOUT RESET_BEFORE_HEADERS "reset reason: connection timeout"
#define BODY_TERMINATION     RESET_BEFORE_HEADERS "reset reason: connection termination"
#define BODY_PROTOCOL_ERROR  RESET_BEFORE_HEADERS "reset reason: protocol error"
#define BODY_TIMEOUT	     "upstream request timeout"

#define RETRY_BACKOFF_BASE_MS 25  /* Envoy's default base interval */
#define RETRY_BACKOFF_MAX_MS  250 /* and its default cap, 10 times the base */

static void start_exchange(struct session *s);
static void on_route_timeout(struct loop *loop, struct loop_timer *t, void *arg);
static void on_try_timeout(struct loop *loop, struct loop_timer *t, void *arg);

uint64_t px_rand(struct proxy *px)
{
	px->rng ^= px->rng >> 12;
	px->rng ^= px->rng << 25;
	px->rng ^= px->rng >> 27;
	return px->rng * 0x2545f4914f6cdd1dull;
}

void px_request_id(struct proxy *px, char out[PX_REQUEST_ID_LEN + 1])
{
	uint64_t a = px_rand(px), b = px_rand(px);

	/* A version 4 UUID, as Envoy generates. */
	snprintf(out, PX_REQUEST_ID_LEN + 1, "%08llx-%04llx-4%03llx-%04llx-%012llx",
		 (unsigned long long)(a >> 32), (unsigned long long)(a >> 16 & 0xffff),
		 (unsigned long long)(a & 0xfff), (unsigned long long)(0x8000 | (b >> 48 & 0x3fff)),
		 (unsigned long long)(b & 0xffffffffffffull));
}

void px_req_reset(struct session *s)
{
	loop_timer_cancel(s->px->loop, &s->rtimer);
	loop_timer_cancel(s->px->loop, &s->ttimer);
	free(s->rsp_drop ? s->rsp_drop : s->rsp_add); /* one block: see write_head() */
	s->rsp_drop = s->rsp_add = NULL;
	free(s->local_hdrs);
	s->local_hdrs = NULL;
	s->rsp_add_len = 0;
	s->attempt = 0;
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
/* Answers the client with @status, @body and the header lines @extra (NULL: none). */
void px_local_reply(struct session *s, int status, const char *body, const char *extra, bool close)
{
	struct proxy *px = s->px;
	bool keep;

	loop_timer_cancel(px->loop, &s->rtimer);
	loop_timer_cancel(px->loop, &s->ttimer);
	if (s->up) {
		px_up_close(s->up);
		s->up = NULL;
	}
	buf_free(&s->hout);
	keep = !close && (s->flags & SF_REQ_KA) && !(s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN)) &&
	       ((s->flags & SF_REQ_DONE) || !(s->flags & SF_EXPECT));
	if (!keep)
		s->flags |= SF_CLOSE;
	else if (!(s->flags & SF_REQ_DONE))
		s->flags |= SF_DRAIN;
	buf_consume(&s->req, s->req_fwd);
	s->req_parsed -= s->req_fwd;
	s->req_fwd = 0;
	s->rsp.len = s->rsp_fwd;
	/* An HTTP/1.0 client is told when its connection stays (it would assume it closes). */
	if (buf_alloc(&s->rsp, PROXY_BUF_SIZE) ||
	    h1_local_response(&s->rsp, status, body, extra, s->flags & SF_HEAD_REQ,
			      !keep		     ? "close"
			      : s->flags & SF_HTTP10 ? "keep-alive"
						     : NULL)) {
		px_sess_close(s);
		return;
	}
	s->rq.status = status;
	s->rq.out_head += s->rsp.len - s->rsp_fwd - (s->flags & SF_HEAD_REQ ? 0 : strlen(body));
	s->rsp_parsed = s->rsp_fwd = s->rsp.len;
	STAT_INC(px, local_replies);
	count_response(px, status);
	log_debug("proxy: fd %d: local reply %d (%s)", s->fd, status, body);
	s->state = SESS_LOCAL;
}

static void local_reply(struct session *s, int status, const char *body, bool close)
{
	px_local_reply(s, status, body, NULL, close);
}

/*
 * Refuses the request with @status (400, 413, 414, 431, 501, 505) and closes the
 * connection after the answer. @details: Envoy's response code details; NULL
 * for the one of @status.
 */
void px_bad_request(struct session *s, int status, const char *details)
{
	const char *body = "bad request\n";

	switch (status) {
	case 413:
		body = "payload too large\n";
		break;
	case 414:
		body = "uri too long\n";
		break;
	case 431:
		body = "request header fields too large\n";
		break;
	case 501:
		body = "transfer coding not implemented\n";
		break;
	case 505:
		body = "http version not supported\n";
		break;
	default:
		break;
	}
	if (!details)
		details = status == 414 || status == 431 ? "http1.headers_too_large"
			  : status == 413		 ? "request_payload_too_large"
							 : "http1.codec_error";
	STAT_INC(s->px, bad_requests);
	/* A body over the limit is no protocol error (Envoy's buffer filter sets no flag). */
	px_rq_fail(s, status == 413 ? 0 : PROXY_RF_DPE, details);
	local_reply(s, status, body, true);
}

/*
 * Parses request body bytes; marks them for the upstream, or drops them when
 * draining. 0, -EBADMSG (broken framing) or -EMSGSIZE (over max_body_bytes).
 */
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
		s->rq.in += used;
		if (ev == H1_ERROR || ev == H1_HEADERS)
			return -EBADMSG;
		if (s->px->ops.max_body_bytes && s->hreq.body_len > s->px->ops.max_body_bytes)
			return -EMSGSIZE; /* chunked: a Content-Length over it was refused already
					   */
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
	px_pick_done(s, 101); /* a tunnel is no longer a request */
	px_rq_upstream(s, 101, -1);
	s->rq.out_head += s->rsp_parsed - s->rsp_fwd;
	loop_timer_cancel(s->px->loop, &s->rtimer);
	loop_timer_cancel(s->px->loop, &s->ttimer);
	s->flags |= SF_COMMITTED;
	s->state = SESS_TUNNEL;
	log_debug("proxy: fd %d: switched protocols, tunnelling", s->fd);
}

/* Whether the request's retry policy covers a failure of kind @mask, and a retry is possible. */
static bool retry_allowed(const struct session *s, uint32_t mask)
{
	return (s->pick.retry_on & mask) && s->attempt <= s->pick.retries &&
	       !(s->flags & (SF_COMMITTED | SF_UPGRADE | SF_CLIENT_EOF | SF_TIMED_OUT)) &&
	       !s->body_sent; /* a body already streamed upstream is not kept: it cannot go again */
}

/* The retry policies that cover a response with @status (0: none). */
static uint32_t retry_status_mask(const struct session *s, int status)
{
	uint32_t on = s->pick.retry_on, mask = 0;

	if (status >= 500 && status <= 599)
		mask |= on & PROXY_RETRY_5XX;
	if (status == 502 || status == 503 || status == 504)
		mask |= on & PROXY_RETRY_GATEWAY;
	if (status == 409)
		mask |= on & PROXY_RETRY_4XX;
	if (on & PROXY_RETRY_STATUS)
		for (uint8_t i = 0; i < s->pick.n_retry_status; i++)
			if (s->pick.retry_status[i] == status)
				mask |= PROXY_RETRY_STATUS;
	return mask;
}

/* PROXY_RF_URX when the policy covers a failure of kind @mask but the retries are spent. */
static uint32_t retry_spent(const struct session *s, uint32_t mask)
{
	return (s->pick.retry_on & mask) && s->pick.retries && s->attempt > s->pick.retries
		       ? PROXY_RF_URX
		       : 0;
}

void px_write_attempt(struct session *s)
{
	int n = snprintf(s->hout.data + s->hout_attempt, PX_ATTEMPT_LINE_MAX,
			 "x-envoy-attempt-count: %u\r\n\r\n", (unsigned)s->attempt);

	s->hout.len = s->hout_attempt + (uint32_t)n;
	s->hout_sent = 0;
}

/* Starts an attempt: the route timeout with the first one, the per-try timeout with each. */
static void attempt_begin(struct session *s)
{
	struct proxy *px = s->px;

	s->t_attempt = loop_now_ms(px->loop);
	if (s->attempt == 1 && s->pick.timeout_ms && !loop_timer_armed(&s->rtimer))
		(void)loop_timer_arm(px->loop, &s->rtimer, s->pick.timeout_ms, on_route_timeout, s);
	if (s->pick.per_try_timeout_ms)
		(void)loop_timer_arm(px->loop, &s->ttimer, s->pick.per_try_timeout_ms,
				     on_try_timeout, s);
	start_exchange(s);
}

static void on_wait_over(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct session *s = arg;

	(void)loop;
	(void)t;
	if (s->state != SESS_WAIT)
		return;
	if (s->pick.status) /* a fault abort after its delay */
		px_local_reply(s, s->pick.status, s->pick.body ? s->pick.body : "", s->pick.headers,
			       false);
	else
		attempt_begin(s);
	px_sess_kick(s);
}

/*
 * The attempt failed in a way the retry policy covers (@status: the response
 * status, 0 for a connect failure, reset or per-try timeout): tell the router,
 * drop the upstream and what it sent, choose the next endpoint and send the
 * request again after Envoy's jittered exponential backoff.
 */
static void retry_start(struct session *s, int status)
{
	struct proxy *px = s->px;
	uint64_t cap;

	px_pick_done(s, status);
	loop_timer_cancel(px->loop, &s->ttimer);
	if (s->up) {
		px_up_close(s->up);
		s->up = NULL;
	}
	s->rsp.len = s->rsp_fwd;
	s->rsp_parsed = s->rsp_fwd;
	s->flags &= ~(SF_RSP_SEEN | SF_UP_EOF | SF_UP_WERR | SF_REUSED | SF_RSP_DONE | SF_RSP_KA |
		      SF_RSP_HEAD | SF_DRAIN);
	if (px->ops.repick && !px->ops.repick(px->ops.ctx, &s->pick))
		s->ep = s->pick.ep;
	s->flags |= SF_PICKED;
	STAT_INC(px, requests_active);
	s->attempt++;
	px_write_attempt(s);
	STAT_INC(px, upstream_retries);
	cap = (uint64_t)RETRY_BACKOFF_BASE_MS *
	      ((1ull << (s->attempt - 1 < 8 ? s->attempt - 1 : 8)) - 1);
	if (cap > RETRY_BACKOFF_MAX_MS)
		cap = RETRY_BACKOFF_MAX_MS;
	if (cap < RETRY_BACKOFF_BASE_MS)
		cap = RETRY_BACKOFF_BASE_MS;
	s->state = SESS_WAIT;
	if (loop_timer_arm(px->loop, &s->ttimer, px_rand(px) % (cap + 1), on_wait_over, s)) {
		s->state = SESS_EXCHANGE;
		px_pick_done(s, 0);
		px_rq_fail(s, PROXY_RF_UF,
			   "upstream_reset_before_response_started{connection_failure}");
		local_reply(s, 503, BODY_CONNECT_FAILURE, false);
	}
}

/* 504 with Envoy's body if nothing went out yet; otherwise the response is cut. */
static void timed_out(struct session *s)
{
	STAT_INC(s->px, upstream_timeouts);
	if (s->flags & SF_TIMED_OUT)
		px_rq_fail(s, PROXY_RF_UT, "upstream_response_timeout");
	else
		px_rq_fail(s, PROXY_RF_UT | retry_spent(s, PROXY_RETRY_5XX | PROXY_RETRY_GATEWAY),
			   "upstream_per_try_timeout");
	/* During a retry's backoff the next endpoint was never tried: do not blame it. */
	px_pick_done(s, s->state == SESS_WAIT ? -1 : 0);
	if (!(s->flags & SF_COMMITTED)) {
		local_reply(s, 504, BODY_TIMEOUT, false);
		return;
	}
	px_sess_abort(s);
}

static void on_route_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct session *s = arg;

	(void)loop;
	(void)t;
	if (s->state != SESS_CONNECT && s->state != SESS_EXCHANGE && s->state != SESS_WAIT)
		return;
	s->flags |= SF_TIMED_OUT;
	timed_out(s);
	px_sess_kick(s);
}

static void on_try_timeout(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct session *s = arg;

	(void)loop;
	(void)t;
	if (s->state != SESS_CONNECT && s->state != SESS_EXCHANGE)
		return;
	/* Envoy retries a per-try timeout under the policies that cover a 504. */
	if (retry_allowed(s, PROXY_RETRY_5XX | PROXY_RETRY_GATEWAY | PROXY_RETRY_RESET))
		retry_start(s, 0);
	else
		timed_out(s);
	px_sess_kick(s);
}

/*
 * The head of the final response is complete at [rsp_fwd, rsp_parsed): add
 * x-envoy-upstream-service-time and the route's response header edits, in
 * place. 0, or -ENOMEM.
 */
static int rsp_edit_head(struct session *s)
{
	struct proxy *px = s->px;
	struct buf *b = &s->rsp;
	uint32_t start = s->rsp_fwd, hlen = s->rsp_parsed - start, tail = b->len - s->rsp_parsed;
	char line[96];
	uint32_t llen, add, nlen;
	char *head;

	/* An answer before the request's end (the upstream did not wait for the body) ends
	 * the connection, as in Envoy: what is left of the body is read and dropped. */
	if (!(s->flags & SF_REQ_DONE))
		s->flags &= ~SF_REQ_KA;
	/* A client that asked to close is told so (RFC 9112 9.6): the upstream never saw its
	 * Connection header, and a client that reads keep-alive would send its next request
	 * into the close. An HTTP/1.0 client kept alive is told so, or it would wait for the
	 * close. */
	llen = (uint32_t)snprintf(line, sizeof(line),
				  "x-envoy-upstream-service-time: %" PRIu64 "\r\n%s",
				  loop_now_ms(px->loop) - s->t_attempt,
				  !(s->flags & SF_REQ_KA) ? "connection: close\r\n"
				  : (s->flags & SF_HTTP10) && llhttp_should_keep_alive(&s->hrsp.ll)
					  ? "connection: keep-alive\r\n"
					  : "");
	add = llen + s->rsp_add_len;
	if (b->head + b->len + add > b->size) {
		/* Move to the front, and grow if that is not enough (a head near the limit). */
		memmove(b->data, b->data + b->head, b->len);
		b->head = 0;
		if (b->len + add > b->size) {
			char *d = realloc(b->data, b->len + add);

			if (!d)
				return -ENOMEM;
			b->data = d;
			b->size = b->len + add;
		}
	}
	head = buf_head(b) + start;
	if (!s->rsp_drop) {
		/* The common case: insert before the empty line. */
		memmove(head + hlen - 2 + add, head + hlen - 2, tail + 2);
		memcpy(head + hlen - 2, line, llen);
		if (s->rsp_add_len)
			memcpy(head + hlen - 2 + llen, s->rsp_add, s->rsp_add_len);
		nlen = hlen + add;
	} else {
		char *tmp = malloc(hlen + add), *adds = malloc(add);

		if (!tmp || !adds) {
			free(tmp);
			free(adds);
			return -ENOMEM;
		}
		memcpy(adds, line, llen);
		memcpy(adds + llen, s->rsp_add, s->rsp_add_len);
		nlen = (uint32_t)h1_head_edit(head, hlen, s->rsp_drop, adds, add, tmp);
		memmove(head + nlen, head + hlen, tail);
		memcpy(head, tmp, nlen);
		free(tmp);
		free(adds);
	}
	b->len = b->len - hlen + nlen;
	s->rsp_parsed = s->rsp_parsed - hlen + nlen;
	s->rq.out_head += nlen;
	return 0;
}

/*
 * The head of a final response arrived, nothing of it is out yet: retry if
 * the policy says so, otherwise edit it and let it out. False when the
 * response is not going to the client (retried, or failed).
 */
static bool rsp_final_head(struct session *s)
{
	int status = s->hrsp.ll.status_code;
	uint32_t mask = retry_status_mask(s, status);

	if (mask && retry_allowed(s, mask)) {
		retry_start(s, status);
		return false;
	}
	px_rq_fail(s, mask ? retry_spent(s, mask) : 0, NULL);
	px_rq_upstream(s, status, (int64_t)(loop_now_ms(s->px->loop) - s->t_attempt));
	loop_timer_cancel(s->px->loop, &s->ttimer); /* a per-try timeout ends with the head */
	if (rsp_edit_head(s)) {
		px_sess_close(s);
		return false;
	}
	s->flags |= SF_RSP_HEAD;
	return true;
}

/* The upstream broke HTTP: 502 if the client saw nothing of the response, else cut it there. */
static void rsp_malformed(struct session *s)
{
	char ep[32];

	STAT_INC(s->px, upstream_bad_response);
	log_debug("proxy: malformed response from %s: %s", px_addr_str(&s->ep, ep, sizeof(ep)),
		  llhttp_get_error_reason(&s->hrsp.ll));
	px_pick_done(s, 0);
	if (!(s->flags & SF_COMMITTED)) {
		px_rq_fail(s, PROXY_RF_UPE,
			   "upstream_reset_before_response_started{protocol_error}");
		local_reply(s, 502, BODY_PROTOCOL_ERROR, false);
		return;
	}
	px_rq_fail(s, PROXY_RF_UPE, "upstream_reset_after_response_started{protocol_error}");
	px_up_close(s->up);
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
	if (status / 100 == 1 && (s->flags & SF_HTTP10)) {
		/* HTTP/1.0 has no 1xx (RFC 9110 15.2): its client would take it for the answer.
		 * Nothing is let out before the final response, so the interim one is at the head.
		 */
		buf_consume(&s->rsp, s->rsp_parsed);
		s->rsp_parsed = s->rsp_fwd = 0;
		return;
	}
	if (status / 100 == 1) {
		s->rq.out_head += s->rsp_parsed - s->rsp_fwd;
		s->rsp_fwd = s->rsp_parsed;
		STAT_INC(s->px, responses_1xx);
		return;
	}
	/* A final response without a body ends with its head: that head is not edited yet. */
	if (!(s->flags & SF_RSP_HEAD) && !rsp_final_head(s))
		return;
	s->rsp_fwd = s->rsp_parsed;
	s->flags |= SF_COMMITTED | SF_RSP_DONE;
	loop_timer_cancel(s->px->loop, &s->rtimer);
	if (llhttp_should_keep_alive(&s->hrsp.ll))
		s->flags |= SF_RSP_KA;
	count_response(s->px, status);
}

/* Parses response bytes; lets them out once the head of a final response is edited. */
static void rsp_pump(struct session *s)
{
	bool again = false;
	enum h1_ev ev;
	size_t used;

	/* After a head, llhttp is called once more even on no bytes: Content-Length: 0 ends there.
	 */
	while (s->state == SESS_EXCHANGE && !(s->flags & SF_RSP_DONE) &&
	       (s->rsp_parsed < s->rsp.len || again)) {
		again = false;
		ev = h1_rsp_execute(&s->hrsp, buf_head(&s->rsp) + s->rsp_parsed,
				    s->rsp.len - s->rsp_parsed, &used);
		s->rsp_parsed += (uint32_t)used;
		if (ev == H1_MESSAGE) {
			rsp_message(s);
		} else if (ev == H1_HEADERS) {
			if (!rsp_final_head(s))
				return;
			s->rsp_fwd = s->rsp_parsed;
			s->flags |= SF_COMMITTED;
			again = true;
		} else if (ev == H1_MORE) {
			if (s->flags & SF_RSP_HEAD)
				s->rsp_fwd = s->rsp_parsed;
		} else {
			rsp_malformed(s);
		}
	}
	if (s->state == SESS_EXCHANGE && !(s->flags & SF_COMMITTED) && !s->rsp_fwd &&
	    !buf_room(&s->rsp))
		rsp_malformed(s); /* a response head larger than the buffer */
}

/*
 * A pooled connection died before answering (the backend closed it as we
 * sent): an idempotent request that took no body byte can go again as is.
 */
static bool can_retry(const struct session *s)
{
	return (s->flags & (SF_REUSED | SF_IDEMPOTENT)) == (SF_REUSED | SF_IDEMPOTENT) &&
	       !(s->flags & (SF_RSP_SEEN | SF_UP_WERR)) && !s->body_sent;
}

/* The upstream closed or reset; everything it sent is parsed. */
static void up_gone(struct session *s)
{
	struct proxy *px = s->px;
	int err;

	if (can_retry(s)) {
		/* The pooled connection was closed under us: the request can go again as is. */
		STAT_INC(px, upstream_retries);
		px_up_close(s->up);
		s->up = NULL;
		s->flags &= ~(SF_REUSED | SF_UP_EOF | SF_UP_WERR);
		s->hout_sent = 0;
		err = px_up_connect(s);
		if (err) {
			STAT_INC(px, upstream_connect_failed);
			px_pick_done(s, 0);
			px_rq_fail(s, PROXY_RF_UF,
				   "upstream_reset_before_response_started{connection_failure}");
			local_reply(s, 503, BODY_CONNECT_FAILURE, false);
			return;
		}
		s->state = SESS_CONNECT;
		return;
	}
	if (!(s->flags & SF_COMMITTED)) {
		STAT_INC(px, upstream_reset);
		if (retry_allowed(s, PROXY_RETRY_RESET | PROXY_RETRY_5XX | PROXY_RETRY_GATEWAY)) {
			retry_start(s, 0);
			return;
		}
		px_pick_done(s, 0);
		px_rq_fail(s,
			   PROXY_RF_UC | retry_spent(s, PROXY_RETRY_RESET | PROXY_RETRY_5XX |
								PROXY_RETRY_GATEWAY),
			   "upstream_reset_before_response_started{connection_termination}");
		local_reply(s, 503, BODY_TERMINATION, false);
		return;
	}
	if (h1_rsp_finish(&s->hrsp) == H1_MESSAGE) {
		rsp_message(s); /* a response delimited by the close */
		return;
	}
	STAT_INC(px, upstream_reset);
	px_pick_done(s, 0); /* cut mid-response: a failure of that endpoint */
	px_rq_fail(s, PROXY_RF_UC, "upstream_reset_after_response_started{connection_termination}");
	px_up_close(s->up);
	s->up = NULL;
	s->flags |= SF_CLOSE;
}

/* The response went out completely: pool the upstream and wait for the next request, or close. */
static void exchange_end(struct session *s)
{
	struct proxy *px = s->px;
	uint32_t both_ka = SF_REQ_DONE | SF_REQ_KA | SF_RSP_KA;
	bool reuse, keep;

	px_pick_done(s, s->hrsp.ll.status_code);
	/* The upstream never saw the client's Connection header: its own answer decides. */
	reuse = (s->flags & (SF_REQ_DONE | SF_RSP_KA)) == (SF_REQ_DONE | SF_RSP_KA) &&
		!(s->flags & (SF_UP_EOF | SF_UP_WERR)) && s->rsp_parsed == s->rsp.len &&
		!px_up_pending(s);
	keep = (s->flags & both_ka) == both_ka && !(s->flags & (SF_CLOSE | SF_CLIENT_EOF)) &&
	       !((s->flags & SF_CLIENT_FIN) && buf_empty(&s->req)); /* pipelined ones still count */
	if (s->pick.max_requests_per_conn && s->up->n_requests >= s->pick.max_requests_per_conn)
		reuse = false; /* maxRequestsPerConnection: it has carried its share */
	if (reuse) {
		s->up->idle_timeout_ms = s->pick.idle_timeout_ms;
		px_pool_put(px, s->up);
	} else {
		px_up_close(s->up);
	}
	s->up = NULL;
	if (!keep) {
		px_sess_finish(s);
		return;
	}
	px_sess_next_request(s);
}

/* The client half-closed before its request was whole: it never will be. */
static bool req_cut_short(const struct session *s)
{
	return (s->flags & SF_CLIENT_FIN) && !(s->flags & SF_REQ_DONE) &&
	       s->req_parsed == s->req.len;
}

void px_do_exchange(struct session *s)
{
	int err = req_pump(s);

	if (err) {
		/* Broken framing, or a body over the limit: the upstream has part of it, it
		 * cannot be reused. */
		if (s->flags & SF_COMMITTED) {
			STAT_INC(s->px, bad_requests);
			px_rq_fail(s, err == -EMSGSIZE ? 0 : PROXY_RF_DPE,
				   err == -EMSGSIZE ? "request_payload_too_large"
						    : "http1.codec_error");
			px_sess_abort(s);
		} else {
			px_bad_request(s, err == -EMSGSIZE ? 413 : 400, NULL);
		}
		return;
	}
	if (!(s->flags & SF_UP_WERR) && px_up_flush(s)) {
		if (can_retry(s)) {
			s->flags |= SF_UP_EOF; /* up_gone() sends the request again */
		} else {
			/* Keep reading: the upstream may have answered before it stopped reading.
			 */
			s->flags |= SF_UP_WERR | SF_DRAIN;
			s->hout_sent = s->hout.len;
			/* Dropped is as good as sent: this request cannot go again whole. */
			s->body_sent += s->req_fwd;
			buf_consume(&s->req, s->req_fwd);
			s->req_parsed -= s->req_fwd;
			s->req_fwd = 0;
		}
	}
	if (req_cut_short(s) && !(s->flags & SF_DRAIN)) {
		px_sess_abort(s);
		return;
	}
	rsp_pump(s);
	if (s->state != SESS_EXCHANGE)
		return;
	if ((s->flags & SF_UP_EOF) && s->up && !(s->flags & SF_RSP_DONE)) {
		up_gone(s);
		if (s->state != SESS_EXCHANGE)
			return;
	}
	if (px_client_flush(s)) {
		px_sess_abort(s);
		return;
	}
	if (s->rsp_fwd)
		return;
	if (s->flags & SF_CLOSE)
		px_sess_finish(s);
	else if (s->flags & SF_RSP_DONE)
		exchange_end(s);
	else if (s->flags & SF_CLIENT_EOF)
		px_sess_abort(s);
}

void px_do_local(struct session *s)
{
	if (req_pump(s))
		s->flags |= SF_CLOSE;
	if (px_client_flush(s)) {
		px_sess_close(s);
		return;
	}
	if (s->rsp_fwd && !(s->flags & SF_CLIENT_EOF))
		return;
	if (s->flags & (SF_CLOSE | SF_CLIENT_EOF | SF_CLIENT_FIN))
		px_sess_finish(s);
	else if (s->flags & SF_REQ_DONE)
		px_sess_next_request(s);
}

void px_do_linger(struct session *s)
{
	buf_consume(&s->req, s->req.len);
	s->req_parsed = s->req_fwd = 0;
	if (s->flags & (SF_CLIENT_EOF | SF_CLIENT_FIN))
		px_sess_close(s);
}

/* Sends the routed request over a pooled connection to s->ep, or a new one. */
static void start_exchange(struct session *s)
{
	struct proxy *px = s->px;
	int err;

	h1_rsp_init(&s->hrsp);
	s->hrsp.no_body = s->flags & SF_HEAD_REQ;
	s->up = px_pool_take(px, &s->ep);
	if (s->up) {
		s->up->s = s;
		s->up->n_requests++;
		s->flags |= SF_REUSED;
		STAT_INC(px, upstream_reused);
		s->state = SESS_EXCHANGE;
		return;
	}
	err = px_up_connect(s);
	if (err) {
		char ep[32];

		log_debug("proxy: connect to %s: %s", px_addr_str(&s->ep, ep, sizeof(ep)),
			  strerror(-err));
		s->state = SESS_CONNECT;
		px_connect_failed(s, false);
		return;
	}
	s->state = SESS_CONNECT;
}

void px_request_routed(struct session *s)
{
	struct proxy *px = s->px;

	if (s->pick.delay_ms) {
		/* Fault injection: the request waits, then goes on (or is aborted). The local
		 * reply's header lines are the router's until its next pick(): keep a copy. */
		if (s->pick.headers) {
			s->local_hdrs = strdup(s->pick.headers);
			s->pick.headers = s->local_hdrs;
		}
		s->state = SESS_WAIT;
		if (!loop_timer_arm(px->loop, &s->ttimer, s->pick.delay_ms, on_wait_over, s))
			return;
		s->state = SESS_HEAD;
	}
	if (!s->pick.status) {
		attempt_begin(s);
		return;
	}
	if (s->pick.status == 404)
		STAT_INC(px, no_route);
	else if (s->pick.status == 503 && !(s->rq.flags & PROXY_RF_OM))
		STAT_INC(px, no_healthy_upstream);
	px_local_reply(s, s->pick.status, s->pick.body ? s->pick.body : "", s->pick.headers,
		       s->pick.status == 405 || (s->flags & SF_OVERLOAD));
}

void px_connect_failed(struct session *s, bool timed_out)
{
	STAT_INC(s->px, upstream_connect_failed);
	if (timed_out)
		STAT_INC(s->px, upstream_connect_timeouts);
	if (retry_allowed(s, PROXY_RETRY_CONNECT_FAILURE | PROXY_RETRY_RESET | PROXY_RETRY_5XX |
				     PROXY_RETRY_GATEWAY)) {
		retry_start(s, 0);
		return;
	}
	px_pick_done(s, 0);
	px_rq_fail(s,
		   PROXY_RF_UF | retry_spent(s, PROXY_RETRY_CONNECT_FAILURE | PROXY_RETRY_RESET |
							PROXY_RETRY_5XX | PROXY_RETRY_GATEWAY),
		   timed_out ? "upstream_reset_before_response_started{connection_timeout}"
			     : "upstream_reset_before_response_started{connection_failure}");
	local_reply(s, 503, timed_out ? BODY_CONNECT_TIMEOUT : BODY_CONNECT_FAILURE, false);
}

void px_do_wait(struct session *s)
{
	if (s->flags & SF_CLIENT_EOF)
		px_sess_abort(s);
}
