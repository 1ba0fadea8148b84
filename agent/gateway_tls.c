// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Gateway TLS contexts. Every server of a port gets its own SSL_CTX with the
 * same settings; sessions start from the first one and the servername
 * callback moves them to the server the SNI chooses, as Envoy picks a filter
 * chain by server_names. No session resumption: no tickets, no cache (a
 * handshake costs a full key exchange, and no state is shared across workers).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stdbool.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "gateway_tls.h"
#include "log.h"

struct gw_tls {
	struct gw_sni_server *sni; /* per server, in the order added */
	SSL_CTX **ctx;		   /* per server */
	size_t n;
};

int gw_tls_sni_choose(const struct gw_sni_server *v, size_t n, const char *sni)
{
	size_t sni_len, best_len = 0;
	int star = -1, best = -1;

	if (!sni || !*sni)
		return n ? 0 : -1;
	sni_len = strlen(sni);
	for (size_t i = 0; i < n; i++) {
		for (size_t h = 0; h < v[i].n_hosts; h++) {
			const char *host = v[i].hosts[h];
			size_t len = strlen(host);

			if (!strcasecmp(host, sni))
				return (int)i;
			if (!strcmp(host, "*")) {
				if (star < 0)
					star = (int)i;
				continue;
			}
			/* "*.x.dev" admits "a.x.dev" and "a.b.x.dev", not "x.dev". */
			if (len < 2 || host[0] != '*' || host[1] != '.' || sni_len < len ||
			    strcasecmp(sni + sni_len - (len - 1), host + 1) || len <= best_len)
				continue;
			best = (int)i;
			best_len = len;
		}
	}
	return best >= 0 ? best : star;
}

struct gw_tls *gw_tls_new(void)
{
	return calloc(1, sizeof(struct gw_tls));
}

size_t gw_tls_count(const struct gw_tls *t)
{
	return t->n;
}

struct ssl_ctx_st *gw_tls_ctx(const struct gw_tls *t)
{
	return t->n ? t->ctx[0] : NULL;
}

/* Whether two servers name the same hosts, in the same order. */
static bool sni_equal(const struct gw_sni_server *a, const struct gw_sni_server *b)
{
	if (a->n_hosts != b->n_hosts)
		return false;
	for (size_t h = 0; h < a->n_hosts; h++)
		if (strcmp(a->hosts[h], b->hosts[h]))
			return false;
	return true;
}

bool gw_tls_equal(const struct gw_tls *a, const struct gw_tls *b)
{
	if (!a || !b)
		return a == b;
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		X509 *ca = SSL_CTX_get0_certificate(a->ctx[i]);
		X509 *cb = SSL_CTX_get0_certificate(b->ctx[i]);
		EVP_PKEY *ka = SSL_CTX_get0_privatekey(a->ctx[i]);
		EVP_PKEY *kb = SSL_CTX_get0_privatekey(b->ctx[i]);

		if (!sni_equal(&a->sni[i], &b->sni[i]) || !ca || !cb || X509_cmp(ca, cb) || !ka ||
		    !kb || EVP_PKEY_eq(ka, kb) != 1)
			return false;
	}
	return true;
}

static void sni_release(struct gw_sni_server *s)
{
	for (size_t i = 0; i < s->n_hosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
}

void gw_tls_free(struct gw_tls *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		sni_release(&t->sni[i]);
		SSL_CTX_free(t->ctx[i]);
	}
	free(t->sni);
	free(t->ctx);
	free(t);
}

/* Runs in the handshake, on a worker: @arg is the port's gw_tls, read-only by then. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	const struct gw_tls *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	int i = gw_tls_sni_choose(t->sni, t->n, name);

	if (i < 0) {
		log_debug("gateway: TLS server name %s matches no server of the port", name);
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (SSL_get_SSL_CTX(ssl) != t->ctx[i] && !SSL_set_SSL_CTX(ssl, t->ctx[i])) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* HTTP/1.1 is all the proxy speaks: a client offering h2 and http/1.1 gets the latter. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *out_len,
		   const unsigned char *in, unsigned int in_len, void *arg)
{
	static const unsigned char h1[] = "\x08http/1.1";

	if (SSL_select_next_proto((unsigned char **)out, out_len, h1, sizeof(h1) - 1, in, in_len) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

/* An encrypted private key is refused, never prompted for. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* The first OpenSSL error as text (reasons only: no key bytes ever appear in them). */
static const char *ssl_err(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *ctx_new(struct gw_tls *t)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
					 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
	return ctx;
}

/* The certificate (then its chain) and the key from PEM text. 1 on success, as OpenSSL. */
static int use_pem(SSL_CTX *ctx, const struct tls_secret *s)
{
	BIO *b = BIO_new_mem_buf(s->crt, (int)s->crt_len);
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	int ok = 0;

	if (!b)
		return 0;
	x = PEM_read_bio_X509_AUX(b, NULL, no_password, NULL);
	if (!x || !SSL_CTX_use_certificate(ctx, x))
		goto free_bio;
	X509_free(x);
	while ((x = PEM_read_bio_X509(b, NULL, no_password, NULL)))
		if (!SSL_CTX_add0_chain_cert(ctx, x))
			goto free_bio; /* x is still ours */
	ERR_clear_error();	       /* the end of the chain reads as "no start line" */
	BIO_free(b);
	b = BIO_new_mem_buf(s->key, (int)s->key_len);
	if (!b)
		return 0;
	pk = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
	ok = pk && SSL_CTX_use_PrivateKey(ctx, pk);
	EVP_PKEY_free(pk);
	x = NULL;
free_bio:
	X509_free(x);
	BIO_free(b);
	return ok;
}

static int load_cert(SSL_CTX *ctx, const struct config *cfg, const struct gateway *gw,
		     const struct gw_server *sv, char *what, size_t what_len)
{
	const struct tls_secret *s;
	char err[256];
	int ok;

	if (sv->credential_name) {
		snprintf(what, what_len, "Secret %s/%s", gw->namespace, sv->credential_name);
		s = config_find_tls_secret(cfg, gw->namespace, sv->credential_name);
		if (!s) {
			log_warn("gateway: %s/%s port %u: no kubernetes.io/tls %s in the config: "
				 "server not served",
				 gw->namespace, gw->name, sv->port, what);
			return -ENOENT;
		}
		ok = use_pem(ctx, s);
	} else {
		snprintf(what, what_len, "%s and %s", sv->server_certificate, sv->private_key);
		ok = SSL_CTX_use_certificate_chain_file(ctx, sv->server_certificate) &&
		     SSL_CTX_use_PrivateKey_file(ctx, sv->private_key, SSL_FILETYPE_PEM);
	}
	if (ok)
		ok = SSL_CTX_check_private_key(ctx);
	if (!ok) {
		log_warn("gateway: %s/%s port %u: the certificate or key of %s is not usable (%s): "
			 "server not served",
			 gw->namespace, gw->name, sv->port, what, ssl_err(err, sizeof(err)));
		return -EINVAL;
	}
	return 0;
}

static int sni_copy(const struct gw_server *sv, struct gw_sni_server *out)
{
	out->n_hosts = 0;
	out->hosts = calloc(sv->n_hosts + 1, sizeof(*out->hosts));
	if (!out->hosts)
		return -ENOMEM;
	for (size_t i = 0; i < sv->n_hosts; i++) {
		const char *slash = strchr(sv->hosts[i], '/');

		out->hosts[i] = strdup(slash ? slash + 1 : sv->hosts[i]);
		if (!out->hosts[i]) {
			sni_release(out);
			return -ENOMEM;
		}
		out->n_hosts++;
	}
	return 0;
}

int gw_tls_add(struct gw_tls *t, const struct config *cfg, const struct gateway *gw,
	       const struct gw_server *sv)
{
	struct gw_sni_server sni, *nsni;
	SSL_CTX *ctx, **nctx;
	char what[512];
	int err;

	ctx = ctx_new(t);
	if (!ctx)
		return -ENOMEM;
	err = load_cert(ctx, cfg, gw, sv, what, sizeof(what));
	if (err)
		goto free_ctx;
	err = sni_copy(sv, &sni);
	if (err)
		goto free_ctx;
	nsni = realloc(t->sni, (t->n + 1) * sizeof(*t->sni));
	if (nsni)
		t->sni = nsni;
	nctx = nsni ? realloc(t->ctx, (t->n + 1) * sizeof(*t->ctx)) : NULL;
	if (!nctx) {
		err = -ENOMEM;
		goto free_sni;
	}
	t->ctx = nctx;
	t->sni[t->n] = sni;
	t->ctx[t->n++] = ctx;
	log_info("gateway: %s/%s port %u: TLS (SIMPLE) with %s", gw->namespace, gw->name, sv->port,
		 what);
	return 0;

free_sni:
	sni_release(&sni);
free_ctx:
	SSL_CTX_free(ctx);
	return err;
}
