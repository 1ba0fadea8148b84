/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SHUNT_ADDR_H
#define SHUNT_ADDR_H

#include <stddef.h>
#include <netinet/in.h>

/* Parses "A.B.C.D:PORT" (port 1..65535) into @out. 0 or -EINVAL. */
int addr_parse_ipv4_port(const char *s, struct sockaddr_in *out);

/* Parses "[ADDR]:PORT" (an IPv6 address in brackets, port 1..65535). 0 or -EINVAL. */
int addr_parse_ipv6_port(const char *s, struct sockaddr_in6 *out);

/* Formats @a as "A.B.C.D:PORT" into @buf (at least 22 bytes). Returns @buf. */
char *addr_fmt(const struct sockaddr_in *a, char *buf, size_t len);

#endif /* SHUNT_ADDR_H */
