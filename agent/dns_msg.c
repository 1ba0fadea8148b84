// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* DNS message reading and writing shared by the agent's DNS code (dns_msg.h). */
#include <errno.h>
#include <string.h>

#include "dns_msg.h"

static char lower(uint8_t c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

bool dns_msg_question(const uint8_t *q, size_t len, char name[DNS_NAME_MAX + 1], uint16_t *type,
		      uint16_t *class, size_t *end)
{
	size_t p = DNS_HDR_LEN, n = 0;

	while (p < len && q[p]) {
		size_t l = q[p++];

		if (l > 63 || p + l > len || n + l + 1 > DNS_NAME_MAX)
			return false; /* compression in a question is not for us */
		if (n)
			name[n++] = '.';
		for (size_t i = 0; i < l; i++)
			name[n++] = lower(q[p + i]);
		p += l;
	}
	if (p + 5 > len)
		return false;
	name[n] = '\0';
	p++;
	*type = dns_get16(q + p);
	*class = dns_get16(q + p + 2);
	*end = p + 4;
	return true;
}

int dns_msg_name(const uint8_t *msg, size_t len, size_t off, char name[DNS_NAME_MAX + 1],
		 size_t *next)
{
	size_t p = off, n = 0;
	unsigned jumps = 0;
	bool jumped = false;

	for (;;) {
		size_t l;

		if (p >= len)
			return -EBADMSG;
		l = msg[p];
		if ((l & 0xc0) == 0xc0) { /* a pointer to an earlier name */
			if (p + 1 >= len || ++jumps > DNS_PTR_MAX)
				return -EBADMSG;
			if (!jumped)
				*next = p + 2;
			jumped = true;
			p = (l & 0x3f) << 8 | msg[p + 1];
			continue;
		}
		if (l & 0xc0)
			return -EBADMSG; /* the extended label types are not in use */
		p++;
		if (!l)
			break;
		if (p + l > len || n + l + 1 > DNS_NAME_MAX)
			return -EBADMSG;
		if (n)
			name[n++] = '.';
		for (size_t i = 0; i < l; i++)
			name[n++] = lower(msg[p + i]);
		p += l;
	}
	name[n] = '\0';
	if (!jumped)
		*next = p;
	return 0;
}

int dns_msg_put_name(uint8_t *out, size_t cap, size_t off, const char *name, size_t *next)
{
	size_t p = off, total = 0;
	const char *s = name;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		if (!l || l > 63 || (total += l + 1) > DNS_NAME_MAX)
			return -EINVAL;
		if (p + 1 + l > cap)
			return -ENOSPC;
		out[p++] = (uint8_t)l;
		memcpy(out + p, s, l);
		p += l;
		s += l + (dot ? 1 : 0);
		if (dot && !*s)
			break; /* a trailing dot: the root */
	}
	if (p >= cap)
		return -ENOSPC;
	out[p++] = 0;
	*next = p;
	return 0;
}

int dns_msg_query(uint16_t id, const char *name, uint16_t type, uint8_t *out, size_t cap,
		  size_t *len)
{
	size_t p;
	int err;

	if (cap < DNS_HDR_LEN)
		return -ENOSPC;
	memset(out, 0, DNS_HDR_LEN);
	dns_put16(out, id);
	out[2] = 0x01; /* RD */
	dns_put16(out + 4, 1);
	dns_put16(out + 10, 1); /* ARCOUNT: the OPT record */
	err = dns_msg_put_name(out, cap, DNS_HDR_LEN, name, &p);
	if (err)
		return err;
	if (p + 4 + 11 > cap)
		return -ENOSPC;
	p += dns_put16(out + p, type);
	p += dns_put16(out + p, DNS_C_IN);
	out[p++] = 0; /* OPT: the root name, our payload size, no extended flags, no data */
	p += dns_put16(out + p, DNS_T_OPT);
	p += dns_put16(out + p, DNS_MSG_MAX);
	memset(out + p, 0, 6);
	p += 6;
	*len = p;
	return 0;
}

int dns_msg_rr(const uint8_t *msg, size_t len, size_t off, struct dns_rr *rr, size_t *next)
{
	size_t p;

	if (dns_msg_name(msg, len, off, rr->name, &p) || p + 10 > len)
		return -EBADMSG;
	rr->type = dns_get16(msg + p);
	rr->class = dns_get16(msg + p + 2);
	rr->ttl = dns_get32(msg + p + 4);
	rr->rdlen = dns_get16(msg + p + 8);
	rr->rdata = p + 10;
	if (rr->rdata + rr->rdlen > len)
		return -EBADMSG;
	*next = rr->rdata + rr->rdlen;
	return 0;
}
