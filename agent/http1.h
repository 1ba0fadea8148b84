/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * HTTP/1.1 message framing for the proxy, on top of llhttp (built with
 * LLHTTP_STRICT_MODE, no lenient flag ever set). What llhttp still lets
 * through is refused here: obsolete line folding (a header value spanning
 * lines), in requests and in responses. The proxy keeps the bytes in its own buffers; this
 * module tells it where a request head ends (paused there so that routing
 * can run), where a message ends, and records the request head as spans of
 * the buffer so that it can be handed to pick() and re-serialized.
 */
#ifndef SHUNT_HTTP1_H
#define SHUNT_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <llhttp.h>

#include "buf.h"
#include "proxy.h"

#define H1_MAX_HDRS 100	  /* request header fields; one more is answered with 431 */
#define H1_HEAD_MAX 65535 /* spans are 16-bit offsets: a head never exceeds this */

/* What one h1_*_execute() call stopped at. */
enum h1_ev {
	H1_MORE = 0, /* every byte was parsed, the message goes on */
	H1_HEADERS,  /* a request head ends at *used; call again for the body */
	H1_MESSAGE,  /* a message ends at *used */
	H1_UPGRADE,  /* the bytes from *used on are another protocol (CONNECT, Upgrade) */
	H1_ERROR,    /* malformed at *used */
};

/* A byte range of the head, as offsets from its first byte. */
struct h1_span {
	uint16_t off;
	uint16_t len;
};

/* A request parser and the head it is parsing. */
struct h1_req {
	llhttp_t ll;
	const char *base; /* first byte of the head, during h1_req_execute() */
	uint8_t paused;	  /* enum h1_ev a callback paused for */
	bool in_name;	  /* a header name is being received */
	bool url_seen;	  /* url.off is set */
	bool too_many;	  /* more than H1_MAX_HDRS header fields: answer 431 */
	bool in_body;	  /* past the head: header callbacks are trailers, not recorded */
	uint16_t n_hdrs;
	uint64_t body_len; /* body bytes of the current message, chunk framing left out */
	struct h1_span url;
	struct h1_span name[H1_MAX_HDRS];
	struct h1_span value[H1_MAX_HDRS];
};

/* A response parser. */
struct h1_rsp {
	llhttp_t ll;
	uint8_t paused;	    /* enum h1_ev a callback paused for */
	bool no_body;	    /* set by the caller: the request was HEAD, no response has a body */
	bool head_done;	    /* the head of the current message was parsed */
	bool in_value;	    /* a header value is being received */
	bool name_seen;	    /* the field name being received has a byte */
	const char *data;   /* the bytes of the current h1_rsp_execute() call */
	uint64_t pos;	    /* bytes parsed before them, since h1_rsp_init() */
	uint64_t value_end; /* where the last piece of the value ended (same count) */
};

/* Readies @h for a new connection. */
void h1_req_init(struct h1_req *h);

/*
 * Parses @len bytes at @data, the head of the current message having begun
 * at @base (the head must stay in one buffer, at the same offset from
 * @base, until H1_HEADERS). Stops after the head (H1_HEADERS) and after the
 * message (H1_MESSAGE); *@used is how many bytes at @data belong to the
 * parts parsed. After H1_MESSAGE, call again to parse the next request.
 */
enum h1_ev h1_req_execute(struct h1_req *h, const char *base, const char *data, size_t len,
			  size_t *used);

/*
 * Describes the head just parsed (after H1_HEADERS, while the head is still
 * at @base) in @out, whose header array is @hdrs (H1_MAX_HDRS entries).
 */
void h1_req_view(const struct h1_req *h, const char *base, struct http_hdr *hdrs,
		 struct http_req *out);

/*
 * What the proxy refuses in a request head llhttp took (after H1_HEADERS,
 * @req from h1_req_view()): an HTTP version other than 1.0 and 1.1 (505), a
 * Transfer-Encoding in an HTTP/1.0 request or one not ending in chunked (400:
 * RFC 9112 6.1 and 6.3, the body's length cannot be known), one with another
 * coding before chunked (501, as Envoy: RFC 9112 6.1), no Host in
 * HTTP/1.1 or more than one Host (400: RFC
 * 9112 3.2, the router and the backend could see different ones). 0 when
 * none applies, else the status; *@details is Envoy's response code details.
 */
int h1_req_check(const struct h1_req *h, const struct http_req *req, const char **details);

/* After H1_UPGRADE from a request that was not switched: parse the next bytes as HTTP again. */
void h1_req_resume_http(struct h1_req *h);

/* True if the request asks for a protocol switch (Upgrade + Connection: upgrade) or is CONNECT. */
bool h1_req_upgrade(const struct h1_req *h);

/* Readies @r for a new upstream connection (or a new exchange). */
void h1_rsp_init(struct h1_rsp *r);

/*
 * Parses response bytes; stops after the head of a message with a body
 * (H1_HEADERS: *used ends at the head's empty line) and after each message
 * (H1_MESSAGE), including 1xx interim ones. Responses to HEAD, 1xx, 204 and
 * 304 never have a body: their H1_MESSAGE comes right after the head.
 */
enum h1_ev h1_rsp_execute(struct h1_rsp *r, const char *data, size_t len, size_t *used);

/* Tells the parser the upstream closed: H1_MESSAGE if that ended a message, else H1_MORE or
 * H1_ERROR. */
enum h1_ev h1_rsp_finish(struct h1_rsp *r);

/* How a request head is changed on its way upstream (all fields optional). */
struct h1_edit {
	const char *target; /* request-target instead of the received one */
	size_t target_len;
	const char *drop; /* header names left out: "name\n" entries, lower case */
	const char *add;  /* header lines appended ("name: value\r\n" each) */
	size_t add_len;
	bool open; /* leave out the final empty line: the caller appends more lines */
};

/* Whether header name @name (@len bytes, any case) is in @list ("name\n" entries, lower case). */
bool h1_name_listed(const char *list, const char *name, size_t len);

/* Bytes h1_req_write() needs for @req with @e (NULL: unchanged). */
size_t h1_req_size(const struct http_req *req, const struct h1_edit *e);

/*
 * Writes @req as an HTTP/1.x request head: "METHOD SP target SP HTTP/x.y",
 * then its headers as "name: value" in order, byte-exact, but those @e
 * drops, then @e's lines, then an empty line (unless @e->open). Hop-by-hop
 * headers (Connection, those it lists, Keep-Alive, Proxy-Connection) are
 * left out unless @upgrade. Returns the bytes written, at most h1_req_size().
 */
size_t h1_req_write(const struct http_req *req, bool upgrade, const struct h1_edit *e, char *out);

/*
 * Rewrites a complete response head (@len bytes at @head, status line to
 * the empty line) into @out: the header fields named in @drop left out
 * (with their obs-fold continuations), the @add_len bytes of lines @add
 * appended. @out needs @len + @add_len bytes. Returns the bytes written.
 */
size_t h1_head_edit(const char *head, size_t len, const char *drop, const char *add, size_t add_len,
		    char *out);

/*
 * Appends a complete local response to @b: status line, content-type
 * text/plain, content-length, the header lines in @extra (each ending in
 * CRLF; NULL for none), "connection: @connection" unless it is NULL ("close",
 * or "keep-alive" for an HTTP/1.0 client kept), then @body unless
 * @head_only. 0 or -ENOSPC.
 */
int h1_local_response(struct buf *b, int status, const char *body, const char *extra,
		      bool head_only, const char *connection);

/* The reason phrase the proxy uses for @status. */
const char *h1_reason(int status);

#endif /* SHUNT_HTTP1_H */
