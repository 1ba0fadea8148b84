// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http1.h"

/* Offset of @at from the head's first byte. Heads are at most H1_HEAD_MAX bytes. */
static uint16_t head_off(const struct h1_req *h, const char *at)
{
	return (uint16_t)(at - h->base);
}

/*
 * A span may arrive in pieces over several execute calls; the pieces are
 * contiguous in the buffer, so the span runs from its first byte to the end
 * of the last piece.
 */
static void span_extend(const struct h1_req *h, struct h1_span *sp, const char *at, size_t len)
{
	sp->len = (uint16_t)(head_off(h, at) + len - sp->off);
}

static int req_on_message_begin(llhttp_t *ll)
{
	struct h1_req *h = ll->data;

	h->n_hdrs = 0;
	h->in_name = false;
	h->url_seen = false;
	h->too_many = false;
	h->in_body = false;
	h->body_len = 0;
	h->url.off = 0;
	h->url.len = 0;
	return 0;
}

static int req_on_url(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_req *h = ll->data;

	if (!h->url_seen) {
		h->url.off = head_off(h, at);
		h->url_seen = true;
	}
	span_extend(h, &h->url, at, len);
	return 0;
}

static int req_on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_req *h = ll->data;
	uint16_t i;

	if (h->in_body)
		return 0;
	if (!h->in_name) {
		if (h->n_hdrs == H1_MAX_HDRS) {
			h->too_many = true;
			return -1;
		}
		i = h->n_hdrs++;
		h->name[i].off = head_off(h, at);
		h->name[i].len = 0;
		h->in_name = true;
	}
	i = h->n_hdrs - 1;
	span_extend(h, &h->name[i], at, len);
	/* An empty value gets no on_header_value call: make it empty now. */
	h->value[i].off = h->name[i].off + h->name[i].len;
	h->value[i].len = 0;
	return 0;
}

/* llhttp takes a line starting with ':' as a field with an empty name: refused. */
static int req_on_header_field_complete(llhttp_t *ll)
{
	struct h1_req *h = ll->data;

	if (h->in_body)
		return 0;
	if (!h->in_name || !h->name[h->n_hdrs - 1].len)
		return -1;
	h->in_name = false;
	return 0;
}

/*
 * Obsolete line folding (RFC 9112 5.2), a field value going on after CRLF SP,
 * reaches llhttp's value callback as pieces with the line break between them:
 * refused, as Envoy does (400 for a request, 502 for a response), rather than
 * passed on for another parser to read as two fields. Pieces of one value
 * that only a read split are contiguous.
 */
static int req_on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_req *h = ll->data;
	struct h1_span *v;

	if (h->in_body || !h->n_hdrs)
		return 0;
	v = &h->value[h->n_hdrs - 1];
	if (!v->len)
		v->off = head_off(h, at);
	else if (head_off(h, at) != v->off + v->len)
		return -1; /* folded */
	span_extend(h, v, at, len);
	return 0;
}

static int req_on_headers_complete(llhttp_t *ll)
{
	struct h1_req *h = ll->data;

	h->in_body = true;
	h->paused = H1_HEADERS;
	return HPE_PAUSED;
}

static int req_on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_req *h = ll->data;

	h->body_len += len;
	return 0;
}

static int req_on_message_complete(llhttp_t *ll)
{
	struct h1_req *h = ll->data;

	h->paused = H1_MESSAGE;
	return HPE_PAUSED;
}

static const llhttp_settings_t req_settings = {
	.on_message_begin = req_on_message_begin,
	.on_url = req_on_url,
	.on_header_field = req_on_header_field,
	.on_header_field_complete = req_on_header_field_complete,
	.on_header_value = req_on_header_value,
	.on_headers_complete = req_on_headers_complete,
	.on_body = req_on_body,
	.on_message_complete = req_on_message_complete,
};

static int rsp_on_message_begin(llhttp_t *ll)
{
	struct h1_rsp *r = ll->data;

	r->head_done = false;
	return 0;
}

/*
 * A response with a body pauses after its head (H1_HEADERS) so that the head
 * can be edited in place; returning 1 tells llhttp the message has no body
 * whatever its headers say, and then the message ends right after the head.
 */
static int rsp_on_headers_complete(llhttp_t *ll)
{
	struct h1_rsp *r = ll->data;
	int status = ll->status_code;

	r->head_done = true;
	if (r->no_body || status / 100 == 1 || status == 204 || status == 304)
		return 1;
	r->paused = H1_HEADERS;
	return HPE_PAUSED;
}

static int rsp_on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_rsp *r = ll->data;

	r->name_seen |= len > 0;
	return 0;
}

/* An empty field name, as in requests. */
static int rsp_on_header_field_complete(llhttp_t *ll)
{
	struct h1_rsp *r = ll->data;

	if (!r->name_seen)
		return -1;
	r->name_seen = false;
	return 0;
}

/* The folding check of req_on_header_value() for responses, whose bytes may move between
 * calls: positions are counted from the connection's first response byte. */
static int rsp_on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct h1_rsp *r = ll->data;
	uint64_t pos = r->pos + (uint64_t)(at - r->data);

	if (r->in_value && pos != r->value_end)
		return -1; /* folded */
	r->in_value = true;
	r->value_end = pos + len;
	return 0;
}

static int rsp_on_header_value_complete(llhttp_t *ll)
{
	struct h1_rsp *r = ll->data;

	r->in_value = false;
	return 0;
}

static int rsp_on_message_complete(llhttp_t *ll)
{
	struct h1_rsp *r = ll->data;

	r->paused = H1_MESSAGE;
	return HPE_PAUSED;
}

static const llhttp_settings_t rsp_settings = {
	.on_message_begin = rsp_on_message_begin,
	.on_header_field = rsp_on_header_field,
	.on_header_field_complete = rsp_on_header_field_complete,
	.on_header_value = rsp_on_header_value,
	.on_header_value_complete = rsp_on_header_value_complete,
	.on_headers_complete = rsp_on_headers_complete,
	.on_message_complete = rsp_on_message_complete,
};

/* Runs llhttp and turns its result into an h1_ev; a pause is resumed at once. */
static enum h1_ev run(llhttp_t *ll, uint8_t *paused, const char *data, size_t len, size_t *used)
{
	const char *pos;
	llhttp_errno_t err;

	*paused = H1_MORE;
	err = llhttp_execute(ll, data, len);
	if (err == HPE_OK) {
		*used = len;
		return H1_MORE;
	}
	pos = llhttp_get_error_pos(ll);
	*used = pos && pos >= data && pos <= data + len ? (size_t)(pos - data) : 0;
	switch (err) {
	case HPE_PAUSED:
		llhttp_resume(ll);
		return *paused;
	case HPE_PAUSED_UPGRADE:
		return H1_UPGRADE;
	default:
		return H1_ERROR;
	}
}

void h1_req_init(struct h1_req *h)
{
	memset(h, 0, sizeof(*h));
	llhttp_init(&h->ll, HTTP_REQUEST, &req_settings);
	h->ll.data = h;
}

enum h1_ev h1_req_execute(struct h1_req *h, const char *base, const char *data, size_t len,
			  size_t *used)
{
	h->base = base;
	return run(&h->ll, &h->paused, data, len, used);
}

void h1_req_view(const struct h1_req *h, const char *base, struct http_hdr *hdrs,
		 struct http_req *out)
{
	const char *method = llhttp_method_name(h->ll.method);

	out->method = method;
	out->method_len = strlen(method);
	out->url = base + h->url.off;
	out->url_len = h->url.len;
	for (uint16_t i = 0; i < h->n_hdrs; i++) {
		hdrs[i].name = base + h->name[i].off;
		hdrs[i].name_len = h->name[i].len;
		hdrs[i].value = base + h->value[i].off;
		hdrs[i].value_len = h->value[i].len;
	}
	out->hdrs = hdrs;
	out->n_hdrs = h->n_hdrs;
	out->http_major = h->ll.http_major;
	out->http_minor = h->ll.http_minor;
}

/* Whether Transfer-Encoding value @v (@len bytes) is "chunked" alone, in any case. */
static bool chunked_only(const char *v, size_t len)
{
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	return len == 7 && !strncasecmp(v, "chunked", 7);
}

int h1_req_check(const struct h1_req *h, const struct http_req *req, const char **details)
{
	bool te = h->ll.flags & F_TRANSFER_ENCODING;
	unsigned hosts = 0;

	*details = "http1.codec_error";
	/* llhttp takes "HTTP/0.9" (and a request line without a version) and "HTTP/2.0". */
	if (req->http_major != 1 || req->http_minor > 1)
		return 505;
	/* A Transfer-Encoding in HTTP/1.0, or one whose last coding is not chunked: llhttp
	 * pauses for the head before it refuses the latter. */
	if (te && (req->http_minor == 0 || !(h->ll.flags & F_CHUNKED)))
		return 400;
	for (size_t i = 0; i < req->n_hdrs; i++) {
		const struct http_hdr *f = &req->hdrs[i];

		if (f->name_len == 4 && !strncasecmp(f->name, "host", 4))
			hosts++;
		/* Codings before chunked ("gzip, chunked"): a backend that knows only "chunked"
		 * would not see a chunked body. Envoy answers 501 too. */
		if (te && f->name_len == 17 && !strncasecmp(f->name, "transfer-encoding", 17) &&
		    !chunked_only(f->value, f->value_len)) {
			*details = "http1.invalid_transfer_encoding";
			return 501;
		}
	}
	if (hosts > 1 || (!hosts && req->http_minor == 1)) {
		if (!hosts)
			*details = "missing_host_header";
		return 400;
	}
	return 0;
}

void h1_req_resume_http(struct h1_req *h)
{
	llhttp_resume_after_upgrade(&h->ll);
}

bool h1_req_upgrade(const struct h1_req *h)
{
	return h->ll.upgrade;
}

void h1_rsp_init(struct h1_rsp *r)
{
	memset(r, 0, sizeof(*r));
	llhttp_init(&r->ll, HTTP_RESPONSE, &rsp_settings);
	r->ll.data = r;
}

enum h1_ev h1_rsp_execute(struct h1_rsp *r, const char *data, size_t len, size_t *used)
{
	enum h1_ev ev;

	r->data = data;
	ev = run(&r->ll, &r->paused, data, len, used);
	r->pos += *used;
	return ev;
}

enum h1_ev h1_rsp_finish(struct h1_rsp *r)
{
	llhttp_errno_t err;

	r->paused = H1_MORE;
	err = llhttp_finish(&r->ll);
	if (err == HPE_PAUSED || (err == HPE_OK && r->paused == H1_MESSAGE))
		return H1_MESSAGE;
	return err == HPE_OK ? H1_MORE : H1_ERROR;
}

/* Whether @name (@len bytes, any case) is in @list ("name\n" entries, lower case). */
bool h1_name_listed(const char *list, const char *name, size_t len)
{
	const char *p = list, *nl;

	if (!list)
		return false;
	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			return false;
		if ((size_t)(nl - p) == len && !strncasecmp(p, name, len))
			return true;
	}
	return false;
}

size_t h1_req_size(const struct http_req *req, const struct h1_edit *e)
{
	size_t url_len = e && e->target ? e->target_len : req->url_len;
	size_t n = req->method_len + 1 + url_len + sizeof(" HTTP/x.y\r\n") - 1 + 2;

	for (size_t i = 0; i < req->n_hdrs; i++)
		n += req->hdrs[i].name_len + 2 + req->hdrs[i].value_len + 2;
	if (e && e->add)
		n += e->add_len;
	return n;
}

static char *put(char *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static bool name_is(const struct http_hdr *h, const char *name, size_t len)
{
	return h->name_len == len && !strncasecmp(h->name, name, len);
}

/* Whether a Connection header of @req lists the header name @h as a token. */
static bool connection_lists(const struct http_req *req, const struct http_hdr *h)
{
	for (size_t i = 0; i < req->n_hdrs; i++) {
		const char *v = req->hdrs[i].value, *end = v + req->hdrs[i].value_len;

		if (!name_is(&req->hdrs[i], "connection", 10))
			continue;
		while (v < end) {
			const char *tok, *comma = memchr(v, ',', (size_t)(end - v));
			const char *stop = comma ? comma : end;

			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			tok = v;
			while (stop > tok && (stop[-1] == ' ' || stop[-1] == '\t'))
				stop--;
			if ((size_t)(stop - tok) == h->name_len &&
			    !strncasecmp(tok, h->name, h->name_len))
				return true;
			v = comma ? comma + 1 : end;
		}
	}
	return false;
}

/*
 * Hop-by-hop headers (RFC 9110 7.6.1) concern one connection, not the
 * request: the client's Connection: close must not close a pooled upstream.
 * Transfer-Encoding stays: the body goes upstream with its framing as is.
 */
static bool hop_by_hop(const struct http_req *req, const struct http_hdr *h)
{
	return name_is(h, "connection", 10) || name_is(h, "keep-alive", 10) ||
	       name_is(h, "proxy-connection", 16) || connection_lists(req, h);
}

size_t h1_req_write(const struct http_req *req, bool upgrade, const struct h1_edit *e, char *out)
{
	char version[] = " HTTP/x.y\r\n";
	char *p = out;

	version[6] = (char)('0' + req->http_major % 10);
	version[8] = (char)('0' + req->http_minor % 10);
	p = put(p, req->method, req->method_len);
	p = put(p, " ", 1);
	if (e && e->target)
		p = put(p, e->target, e->target_len);
	else
		p = put(p, req->url, req->url_len);
	p = put(p, version, sizeof(version) - 1);
	for (size_t i = 0; i < req->n_hdrs; i++) {
		const struct http_hdr *h = &req->hdrs[i];

		/* An upgrade keeps Connection and Upgrade: the switch is end to end. */
		if (!upgrade && hop_by_hop(req, h))
			continue;
		if (e && h1_name_listed(e->drop, h->name, h->name_len))
			continue;
		p = put(p, h->name, h->name_len);
		p = put(p, ": ", 2);
		p = put(p, h->value, h->value_len);
		p = put(p, "\r\n", 2);
	}
	if (e && e->add)
		p = put(p, e->add, e->add_len);
	if (!e || !e->open)
		p = put(p, "\r\n", 2);
	return (size_t)(p - out);
}

size_t h1_head_edit(const char *head, size_t len, const char *drop, const char *add, size_t add_len,
		    char *out)
{
	const char *p = head, *end = head + len - 2; /* the empty line's CRLF */
	const char *line_end;
	char *o = out;
	bool dropping = false;

	/* The status line stays. */
	line_end = memchr(p, '\n', (size_t)(end - p));
	line_end = line_end ? line_end + 1 : end;
	o = put(o, p, (size_t)(line_end - p));
	for (p = line_end; p < end; p = line_end) {
		const char *colon;

		line_end = memchr(p, '\n', (size_t)(end - p));
		line_end = line_end ? line_end + 1 : end;
		if (*p == ' ' || *p == '\t') {
			/* obs-fold: a continuation of the previous field. */
			if (!dropping)
				o = put(o, p, (size_t)(line_end - p));
			continue;
		}
		colon = memchr(p, ':', (size_t)(line_end - p));
		dropping = colon && h1_name_listed(drop, p, (size_t)(colon - p));
		if (!dropping)
			o = put(o, p, (size_t)(line_end - p));
	}
	if (add)
		o = put(o, add, add_len);
	o = put(o, "\r\n", 2);
	return (size_t)(o - out);
}

const char *h1_reason(int status)
{
	/* RFC 9110's phrases for what a local reply or the admin API can answer. */
	static const struct {
		int status;
		const char *reason;
	} phrases[] = {
		{200, "OK"},
		{202, "Accepted"},
		{204, "No Content"},
		{301, "Moved Permanently"},
		{302, "Found"},
		{303, "See Other"},
		{307, "Temporary Redirect"},
		{308, "Permanent Redirect"},
		{400, "Bad Request"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{408, "Request Timeout"},
		{413, "Content Too Large"},
		{414, "URI Too Long"},
		{429, "Too Many Requests"},
		{431, "Request Header Fields Too Large"},
		{500, "Internal Server Error"},
		{501, "Not Implemented"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
		{504, "Gateway Timeout"},
		{505, "HTTP Version Not Supported"},
	};

	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (phrases[i].status == status)
			return phrases[i].reason;
	return "Unknown";
}

int h1_local_response(struct buf *b, int status, const char *body, const char *extra,
		      bool head_only, const char *connection)
{
	size_t body_len = strlen(body);
	char head[2560];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: "
		     "%zu\r\n%s%s%s%s\r\n",
		     status, h1_reason(status), body_len, extra ? extra : "",
		     connection ? "connection: " : "", connection ? connection : "",
		     connection ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -ENOSPC;
	if (head_only)
		body_len = 0;
	if (buf_room(b) < (size_t)n + body_len)
		return -ENOSPC;
	buf_put(b, head, (uint32_t)n);
	buf_put(b, body, (uint32_t)body_len);
	return 0;
}
