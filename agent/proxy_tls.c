// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The client side of a session accepted on a TLS Gateway port: the
 * non-blocking handshake, then recv()/send() replaced by SSL_read()/
 * SSL_write() with the same results (bytes, 0 for the peer's end, -1 with
 * errno), so that proxy.c's I/O logic is the same for both. Plain sessions
 * never get here.
 */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "proxy_int.h"

int px_tls_start(struct session *s, struct ssl_ctx_st *ctx)
{
	s->ssl = SSL_new(ctx);
	if (!s->ssl)
		return -ENOMEM;
	if (!SSL_set_fd(s->ssl, s->fd)) {
		SSL_free(s->ssl);
		s->ssl = NULL;
		return -ENOMEM;
	}
	SSL_set_accept_state(s->ssl);
	s->flags |= SF_TLS_HS;
	return 0;
}

/* What an SSL_* call that returned @ret <= 0 means, as errno (EAGAIN: wait for the socket). */
static int tls_errno(struct session *s, int ret, bool *want_write)
{
	int e = SSL_get_error(s->ssl, ret);

	*want_write = e == SSL_ERROR_WANT_WRITE;
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		return errno ? errno : ECONNRESET;
	default:
		return EPROTO;
	}
}

int px_tls_handshake(struct session *s)
{
	int ret = SSL_do_handshake(s->ssl), e;
	bool ww;
	char why[160];

	if (ret == 1) {
		s->flags &= ~(SF_TLS_HS | SF_TLS_WANT_W);
		STAT_INC(s->px, tls_handshakes);
		log_debug("proxy: fd %d: TLS handshake done (%s, %s)", s->fd,
			  SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl));
		return 0;
	}
	e = tls_errno(s, ret, &ww);
	s->flags = ww ? s->flags | SF_TLS_WANT_W : s->flags & ~SF_TLS_WANT_W;
	if (e == EAGAIN)
		return -EAGAIN;
	ERR_error_string_n(ERR_peek_error(), why, sizeof(why));
	ERR_clear_error();
	STAT_INC(s->px, tls_handshake_failed);
	log_debug("proxy: fd %d: TLS handshake failed: %s", s->fd,
		  e == EPROTO ? why
		  : e	      ? strerror(e)
			      : "the client closed");
	return e ? -e : -ECONNRESET;
}

ssize_t px_tls_recv(struct session *s, void *p, size_t len)
{
	int ret, e;
	bool ww;

	ERR_clear_error();
	s->flags &= ~SF_TLS_WANT_W;
	ret = SSL_read(s->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	e = tls_errno(s, ret, &ww);
	if (ww)
		s->flags |=
			SF_TLS_WANT_W; /* a reply the read owes (a key update) waits on EPOLLOUT */
	ERR_clear_error();
	if (!e)
		return 0;
	errno = e;
	return -1;
}

ssize_t px_tls_send(struct session *s, const void *p, size_t len)
{
	int ret, e;
	bool ww;

	ERR_clear_error();
	ret = SSL_write(s->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	e = tls_errno(s, ret, &ww);
	ERR_clear_error();
	errno = e ? e : EPIPE;
	return -1;
}

bool px_tls_pending(const struct session *s)
{
	return SSL_pending(s->ssl) > 0;
}

void px_tls_shutdown(struct session *s)
{
	/* Best effort: close_notify goes out if the socket takes it; the answer is complete. */
	if (!(s->flags & SF_TLS_HS) && !SSL_in_init(s->ssl))
		(void)SSL_shutdown(s->ssl);
	ERR_clear_error();
}

void px_tls_free(struct session *s)
{
	SSL_free(s->ssl);
	s->ssl = NULL;
}

const char *px_tls_sni(const struct session *s)
{
	return s->ssl ? SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}
