/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The server name of a TLS ClientHello (RFC 6066 server_name), read from the
 * first bytes a client sends, without terminating TLS: the proxy buffers what
 * arrived, calls sni_parse() on all of it after each read, and decides on the
 * connection once the answer is not SNI_MORE. The ClientHello may span several
 * TLS records (fragmented) and several reads; it must fit in SNI_HELLO_MAX
 * bytes, records included.
 */
#ifndef SHUNT_SNI_H
#define SHUNT_SNI_H

#include <stddef.h>
#include <stdint.h>

#define SNI_HELLO_MAX 16384 /* bytes of records a ClientHello may take; beyond: SNI_TOO_BIG */
#define SNI_NAME_MAX  255   /* a host_name is at most 255 bytes (RFC 6066 3) */

enum sni_result {
	SNI_FOUND,     /* a complete ClientHello with a host_name: in @name */
	SNI_NONE,      /* a complete ClientHello without server_name (an IP address URL) */
	SNI_MORE,      /* a ClientHello so far: read more and call again */
	SNI_NOT_TLS,   /* the bytes are no TLS handshake (plain HTTP, SSLv2, anything else) */
	SNI_MALFORMED, /* a TLS handshake record, but no valid ClientHello */
	SNI_TOO_BIG,   /* the ClientHello does not fit in SNI_HELLO_MAX bytes */
};

/* "FOUND", "NONE", ... */
const char *sni_result_str(enum sni_result r);

/*
 * Looks for the ClientHello's server name in the first @len bytes a client
 * sent (@p). On SNI_FOUND, @name (SNI_NAME_MAX + 1 bytes) holds it lowercased
 * and NUL-terminated; it is a valid host name ([a-z0-9-_.], no empty label).
 * A server_name extension with no host_name entry is SNI_NONE; one whose name
 * is not a host name, or repeated, is SNI_MALFORMED. On SNI_MORE, *@need
 * (when @need is not NULL) is how many bytes a name (or SNI_NONE) takes at
 * least: the end of the record being read, of the ClientHello (or of its
 * handshake header, which says where the hello ends) if that comes first, or
 * of the next record header. Called again with fewer, it says
 * SNI_MORE or rejects (bytes that cannot be a ClientHello are refused as soon
 * as they come), so a client trickling bytes costs one parse per record, not
 * one per byte, and waiting for @need delays no routing decision. Reads
 * nothing beyond @len; never allocates.
 */
enum sni_result sni_parse(const uint8_t *p, size_t len, char *name, size_t *need);

#endif /* SHUNT_SNI_H */
