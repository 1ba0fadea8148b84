/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DNS messages (RFC 1035) as the agent reads and writes them: the pods'
 * resolver (dns.c), the resolver of ServiceEntry names (resolve.c) and the
 * test DNS server share these. Names are handled as lowercased dotted text
 * without the trailing dot; every read is bounded by the message length and
 * follows at most DNS_PTR_MAX compression pointers.
 */
#ifndef SHUNT_DNS_MSG_H
#define SHUNT_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_MSG_MAX  1232 /* the EDNS buffer size DNS flag day 2020 settled on */
#define DNS_HDR_LEN  12
#define DNS_NAME_MAX 255 /* a name as dotted text */
#define DNS_PTR_MAX  16	 /* compression pointers followed in one name */

#define DNS_T_A	    1
#define DNS_T_CNAME 5
#define DNS_T_SOA   6
#define DNS_T_AAAA  28
#define DNS_T_OPT   41
#define DNS_C_IN    1

#define DNS_RC_NOERROR	0
#define DNS_RC_FORMERR	1
#define DNS_RC_SERVFAIL 2
#define DNS_RC_NXDOMAIN 3
#define DNS_RC_NOTIMP	4
#define DNS_RC_REFUSED	5

static inline uint16_t dns_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t dns_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline size_t dns_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

/* One resource record of a message, as dns_msg_rr() read it. */
struct dns_rr {
	char name[DNS_NAME_MAX + 1]; /* lowercased, dotted */
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata; /* offset of the RDATA in the message */
	uint16_t rdlen;
};

/*
 * The question of query @q (@len bytes): its name (no compression allowed,
 * as in a stub resolver's query) into @name, its type and class, and where
 * the question ends (*@end). false when malformed.
 */
bool dns_msg_question(const uint8_t *q, size_t len, char name[DNS_NAME_MAX + 1], uint16_t *type,
		      uint16_t *class, size_t *end);

/*
 * The name at @off of @msg (@len bytes), compression pointers followed, into
 * @name; *@next is the offset after it where it is written (after the first
 * pointer). 0, or -EBADMSG when it runs past the message, loops or is too long.
 */
int dns_msg_name(const uint8_t *msg, size_t len, size_t off, char name[DNS_NAME_MAX + 1],
		 size_t *next);

/*
 * Writes dotted @name as labels at @off of @out (@cap bytes); *@next is the
 * offset after it. 0, -EINVAL (an empty or longer than 63 bytes label, too
 * long a name) or -ENOSPC.
 */
int dns_msg_put_name(uint8_t *out, size_t cap, size_t off, const char *name, size_t *next);

/*
 * A recursive query (RD) for @name of @type with id @id and an EDNS0 OPT
 * record offering DNS_MSG_MAX bytes, into @out (@cap bytes, *@len set).
 * 0, -EINVAL (a bad name) or -ENOSPC.
 */
int dns_msg_query(uint16_t id, const char *name, uint16_t type, uint8_t *out, size_t cap,
		  size_t *len);

/*
 * The resource record at @off of @msg into @rr; *@next is where the next one
 * starts. 0, or -EBADMSG.
 */
int dns_msg_rr(const uint8_t *msg, size_t len, size_t off, struct dns_rr *rr, size_t *next);

#endif /* SHUNT_DNS_MSG_H */
