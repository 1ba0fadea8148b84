// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ClientHello peeking (RFC 8446 4.1.2 and 5.1, RFC 5246 6.2 and 7.4.1.2, RFC
 * 6066 3). The handshake bytes of the leading handshake records are gathered
 * into a buffer on the stack (records may fragment a handshake message
 * anywhere), then the ClientHello is walked field by field, each length
 * checked against what is left before it is used.
 */
#include <stdbool.h>
#include <string.h>

#include "sni.h"

#define REC_HEADER	5     /* type, version (2), length (2) */
#define REC_MAX		16384 /* TLSPlaintext.length must not exceed 2^14 */
#define REC_HANDSHAKE	22
#define HS_HEADER	4 /* msg_type, length (3) */
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define NAME_HOST	0

const char *sni_result_str(enum sni_result r)
{
	static const char *const names[] = {
		[SNI_FOUND] = "FOUND",	   [SNI_NONE] = "NONE",		  [SNI_MORE] = "MORE",
		[SNI_NOT_TLS] = "NOT_TLS", [SNI_MALFORMED] = "MALFORMED", [SNI_TOO_BIG] = "TOO_BIG",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* A read cursor over [p, end): every getter fails instead of reading past end. */
struct cur {
	const uint8_t *p, *end;
};

static bool take(struct cur *c, size_t n, const uint8_t **out)
{
	if ((size_t)(c->end - c->p) < n)
		return false;
	if (out)
		*out = c->p;
	c->p += n;
	return true;
}

static bool u8(struct cur *c, size_t *v)
{
	const uint8_t *b;

	if (!take(c, 1, &b))
		return false;
	*v = b[0];
	return true;
}

static bool u16(struct cur *c, size_t *v)
{
	const uint8_t *b;

	if (!take(c, 2, &b))
		return false;
	*v = (size_t)b[0] << 8 | b[1];
	return true;
}

/* A vector with a @width-byte length prefix: its contents as a sub-cursor. */
static bool vec(struct cur *c, int width, struct cur *out)
{
	size_t n;

	if (!(width == 1 ? u8(c, &n) : u16(c, &n)) || !take(c, n, &out->p))
		return false;
	out->end = out->p + n;
	return true;
}

/* A host name as RFC 6066 wants it: letters, digits, '-', '_' (seen in the wild), dots between
 * non-empty labels. Copied lowercased into @name. */
static bool host_name(const uint8_t *s, size_t n, char *name)
{
	if (!n || n > SNI_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s[i];

		if (ch == '.') {
			if (!i || i == n - 1 || s[i - 1] == '.')
				return false;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
			return false;
		}
		name[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
	}
	name[n] = '\0';
	return true;
}

/* The server_name extension's ServerNameList: its host_name into @name. */
static enum sni_result server_name(struct cur ext, char *name)
{
	struct cur list, nm;
	bool found = false;
	size_t type;

	if (!vec(&ext, 2, &list) || ext.p != ext.end || list.p == list.end)
		return SNI_MALFORMED;
	while (list.p < list.end) {
		if (!u8(&list, &type) || !vec(&list, 2, &nm))
			return SNI_MALFORMED;
		if (type != NAME_HOST)
			continue; /* a name type of the future: not ours to judge */
		if (found || !host_name(nm.p, (size_t)(nm.end - nm.p), name))
			return SNI_MALFORMED;
		found = true;
	}
	return found ? SNI_FOUND : SNI_NONE;
}

/* The body of a ClientHello (@n bytes, complete). */
static enum sni_result client_hello(const uint8_t *b, size_t n, char *name)
{
	struct cur c = {b, b + n}, v, exts, ext;
	enum sni_result res = SNI_NONE;
	bool seen = false;
	size_t type;

	/* legacy_version, random, legacy_session_id, cipher_suites, compression methods */
	if (!take(&c, 2 + 32, NULL) || !vec(&c, 1, &v) || v.end - v.p > 32 || !vec(&c, 2, &v) ||
	    v.p == v.end || (v.end - v.p) % 2 || !vec(&c, 1, &v) || v.p == v.end)
		return SNI_MALFORMED;
	if (c.p == c.end)
		return SNI_NONE; /* no extensions at all (an old TLS 1.0 client) */
	if (!vec(&c, 2, &exts) || c.p != c.end)
		return SNI_MALFORMED;
	while (exts.p < exts.end) {
		if (!u16(&exts, &type) || !vec(&exts, 2, &ext))
			return SNI_MALFORMED;
		if (type != EXT_SERVER_NAME)
			continue;
		if (seen)
			return SNI_MALFORMED; /* one extension of a type at most (RFC 8446 4.2) */
		seen = true;
		res = server_name(ext, name);
		if (res == SNI_MALFORMED)
			return res;
	}
	return res;
}

/* Whether the bytes so far could start a TLS handshake record: checked as soon as they come. */
static bool looks_tls(const uint8_t *p, size_t len)
{
	return !(len >= 1 && p[0] != REC_HANDSHAKE) && !(len >= 2 && p[1] != 3);
}

enum sni_result sni_parse(const uint8_t *p, size_t len, char *name, size_t *need)
{
	uint8_t hs[SNI_HELLO_MAX];
	size_t off = 0, hs_len = 0, msg_len = 0, rlen, have, rec, dummy;

	if (!need)
		need = &dummy;
	*need = REC_HEADER;
	if (!looks_tls(p, len))
		return SNI_NOT_TLS;
	while (off < len) {
		*need = off + REC_HEADER;
		if (len - off < REC_HEADER)
			return looks_tls(p + off, len - off) ? SNI_MORE : SNI_MALFORMED;
		if (p[off] != REC_HANDSHAKE || p[off + 1] != 3)
			return SNI_MALFORMED;
		rlen = (size_t)p[off + 3] << 8 | p[off + 4];
		if (!rlen || rlen > REC_MAX)
			return SNI_MALFORMED;
		if (off + REC_HEADER + rlen > SNI_HELLO_MAX)
			return SNI_TOO_BIG;
		*need = off + REC_HEADER + rlen;
		rec = off + REC_HEADER; /* where this record's payload starts, in @p */
		have = len - rec < rlen ? len - rec : rlen;
		memcpy(hs + hs_len, p + rec, have);
		hs_len += have;
		off += REC_HEADER + have;
		if (hs_len >= HS_HEADER) {
			if (hs[0] != HS_CLIENT_HELLO)
				return SNI_MALFORMED;
			msg_len = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
			if (HS_HEADER + msg_len > SNI_HELLO_MAX - REC_HEADER)
				return SNI_TOO_BIG;
			if (hs_len >= HS_HEADER + msg_len)
				return client_hello(hs + HS_HEADER, msg_len, name);
			/* The hello may end before its record does: then that is what to wait for.
			 */
			if (HS_HEADER + msg_len - (hs_len - have) < rlen)
				*need = rec + HS_HEADER + msg_len - (hs_len - have);
		} else if (HS_HEADER - (hs_len - have) < rlen) {
			/* Until the handshake header says how long the hello is, wait for it. */
			*need = rec + HS_HEADER - (hs_len - have);
		}
		if (off == *need) /* a whole record, the hello goes on in the next one */
			*need = off + REC_HEADER;
	}
	return SNI_MORE;
}
