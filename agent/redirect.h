/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Location of a VirtualService HTTPRedirect, composed as Envoy composes
 * it from what Istio gives it (scheme_redirect, host_redirect,
 * port_redirect, path_redirect, response_code).
 */
#ifndef SHUNT_REDIRECT_H
#define SHUNT_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

#include "istio.h"
#include "proxy.h"

/*
 * Writes "location: URL\r\n" for @req redirected by @r into @out (@cap
 * bytes, NUL-terminated). @https: the request came over TLS (the scheme
 * kept when @r sets none).
 *
 *   scheme     r->scheme, else the request's
 *   authority  r->authority (as written, port included), else the Host
 *              header, else the request-target's authority
 *   port       r->port replaces the authority's port; derivePort
 *              FROM_PROTOCOL_DEFAULT puts the scheme's default; a port that is
 *              the final scheme's default is left out when the redirect
 *              changed the scheme or the port (http://h:80 -> http://h)
 *   path       r->uri (the whole path, whatever the match), else the
 *              request's; the request's query is kept unless r->uri has one
 *
 * 0, -EINVAL (no authority to redirect to), or -ENOSPC.
 */
int redirect_location(const struct http_redirect *r, const struct http_req *req, bool https,
		      char *out, size_t cap);

#endif /* SHUNT_REDIRECT_H */
