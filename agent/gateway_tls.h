/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TLS termination on a Gateway port (Istio's tls.mode SIMPLE): one SSL_CTX per
 * server of the port, with the certificate of its credentialName Secret or its
 * serverCertificate/privateKey files, TLS 1.2 and up; the ClientHello's SNI
 * chooses the server (gw_tls_sni_choose()). The proxy creates its sessions
 * from gw_tls_ctx(); the SNI callback switches them to the chosen server's.
 */
#ifndef SHUNT_GATEWAY_TLS_H
#define SHUNT_GATEWAY_TLS_H

#include <stdbool.h>

#include <stddef.h>

#include "config.h"
#include "istio.h"

struct gw_tls;
struct ssl_ctx_st;

/* The hosts of one server for the SNI choice: their dnsName part ("*", "*.x.dev", "a.dev"). */
struct gw_sni_server {
	char **hosts;
	size_t n_hosts;
};

/*
 * Which of the @n servers of a port (in Gateway order) serves the ClientHello's
 * server name @sni: an exact host first (case-insensitive), then the longest
 * matching "*.suffix", then "*"; with several, the first of them. @sni NULL or
 * "" (no SNI): server 0. Returns the index, or -1 when no server admits @sni.
 */
int gw_tls_sni_choose(const struct gw_sni_server *v, size_t n, const char *sni);

/* An empty TLS listener (no server yet). NULL on ENOMEM. */
struct gw_tls *gw_tls_new(void);

/*
 * Adds server @sv of Gateway @gw (protocol HTTPS, tls.mode SIMPLE) to @t: builds its
 * SSL_CTX from the kubernetes.io/tls Secret @gw's namespace/credentialName of @cfg,
 * or from the files serverCertificate and privateKey (read now). @cfg need not outlive
 * @t. 0, or -ENOENT (no such Secret), -EINVAL (unusable certificate or key), -ENOMEM;
 * failures are logged (never the key material) and leave @t as it was.
 */
int gw_tls_add(struct gw_tls *t, const struct config *cfg, const struct gateway *gw,
	       const struct gw_server *sv);

/* How many servers @t has. */
size_t gw_tls_count(const struct gw_tls *t);

/* The SSL_CTX new sessions of the port start from (its first server's); owned by @t. */
struct ssl_ctx_st *gw_tls_ctx(const struct gw_tls *t);

/*
 * Whether @a and @b serve the same: the same servers (hosts, in order) with
 * the same certificates and keys. NULL equals only NULL. For a reload, which
 * keeps a listener's contexts when its certificates did not change.
 */
bool gw_tls_equal(const struct gw_tls *a, const struct gw_tls *b);

/* Frees @t and its contexts (sessions hold their own references). NULL is fine. */
void gw_tls_free(struct gw_tls *t);

#endif /* SHUNT_GATEWAY_TLS_H */
