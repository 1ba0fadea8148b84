// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes source's HTTP: one libcurl easy handle per watcher thread,
 * blocking transfers over HTTP/1.1 and TLS (the kubeconfig's or the service
 * account's CA and credentials), the agent's mark on every socket, and a
 * progress callback that cuts a transfer within a second of k8s_stop().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "k8s_int.h"
#include "log.h"
#include "yaml_tree.h"

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct watcher *w = arg;

	return k8s_stopped(w->k) ? 1 : 0;
}

static int on_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct watcher *w = arg;
	uint32_t mark = w->k->o.mark;

	/* The agent's own connections are never captured (a kubernetes Service VIP is). */
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		log_debug("k8s: cannot mark a socket: %s", strerror(errno));
	return CURL_SOCKOPT_OK;
}

static int append_body(struct watcher *w, const char *data, size_t n)
{
	if (w->body_len + n + 1 > BODY_MAX)
		return -E2BIG;
	if (w->body_len + n + 1 > w->body_cap) {
		size_t cap = w->body_cap ? w->body_cap : 64 << 10;
		char *nb;

		while (cap < w->body_len + n + 1)
			cap *= 2;
		nb = realloc(w->body, cap);
		if (!nb)
			return -ENOMEM;
		w->body = nb;
		w->body_cap = cap;
	}
	memcpy(w->body + w->body_len, data, n);
	w->body_len += n;
	w->body[w->body_len] = '\0';
	return 0;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watcher *w = arg;
	size_t n = size * nmemb;
	long status = 0;
	int err;

	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (w->stream && status == 200)
		err = k8s_lines_feed(&w->lines, data, n, k8s_on_event_line, w);
	else
		err = append_body(w, data, n); /* a list, or a Status explaining an error */
	if (err) {
		w->aborted = true;
		return 0;
	}
	return n;
}

/* The bearer token: inline, or read again from its file at every request (rotated). */
static char *token(const struct k8s_conn *c)
{
	char *buf = NULL;
	size_t len = 0;

	if (c->token)
		return strdup(c->token);
	if (!c->token_file || yt_read_file(c->token_file, &buf, &len))
		return NULL;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	return buf;
}

static void set_tls(CURL *c, const struct k8s_conn *conn)
{
	struct curl_blob b;

	if (conn->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, conn->ca_file);
	if (conn->ca_pem) {
		b = (struct curl_blob){conn->ca_pem, conn->ca_len, CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
	}
	if (conn->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (conn->cert_file)
		curl_easy_setopt(c, CURLOPT_SSLCERT, conn->cert_file);
	if (conn->key_file)
		curl_easy_setopt(c, CURLOPT_SSLKEY, conn->key_file);
	if (conn->cert_pem) {
		b = (struct curl_blob){conn->cert_pem, conn->cert_len, CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (conn->key_pem) {
		b = (struct curl_blob){conn->key_pem, conn->key_len, CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

/* The handle's options that do not change between requests. 0 or -ENOMEM. */
int k8s_setup_curl(struct watcher *w)
{
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L); /* a dead peer of an idle watch */
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip lists, where the API does */
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, w);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "shuntd");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->error);
	set_tls(c, &w->k->o.conn);
	w->curl = c;
	return 0;
}

/*
 * GET @path (and query) of the API server; a watch (@stream) feeds its events to
 * on_event_line(). *@status: the HTTP status, 0 when there was no response. 0 when the
 * transfer ended normally, -EIO when it failed (logged at debug), -ECANCELED when stopped or
 * refused by the write callback.
 */
int k8s_get(struct watcher *w, const char *path, bool stream, long timeout_s, long *status)
{
	struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
	char url[2048], *auth = NULL, *tok = token(&w->k->o.conn);
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", w->k->o.conn.server, path);
	if (tok && asprintf(&auth, "Authorization: Bearer %s", tok) > 0)
		hdrs = curl_slist_append(hdrs, auth);
	w->stream = stream;
	w->body_len = 0;
	w->gone = w->aborted = false;
	w->error[0] = '\0';
	k8s_lines_reset(&w->lines);
	curl_easy_setopt(w->curl, CURLOPT_URL, url);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, timeout_s);
	rc = curl_easy_perform(w->curl);
	*status = 0;
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, status);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (auth)
		memset(auth, 0, strlen(auth));
	if (tok)
		memset(tok, 0, strlen(tok));
	free(auth);
	free(tok);
	if (rc == CURLE_OK)
		return 0;
	if (k8s_stopped(w->k) || w->aborted)
		return -ECANCELED;
	if (!w->error[0])
		snprintf(w->error, sizeof(w->error), "%s", curl_easy_strerror(rc));
	log_debug("k8s: GET %s: %s", path, w->error);
	return -EIO;
}

/* A request that failed: logged once per kind of failure, then at debug level. */
void k8s_report(struct watcher *w, const char *what, long status, int err)
{
	char msg[512];

	if (err == -EIO)
		snprintf(msg, sizeof(msg), "%s %s: %s", what, w->r->plural,
			 w->error[0] ? w->error : "no answer from the API server");
	else if (status && status != 200)
		snprintf(msg, sizeof(msg), "%s %s: HTTP %ld%s%.200s", what, w->r->plural, status,
			 w->body_len ? ": " : "", w->body_len ? w->body : "");
	else
		snprintf(msg, sizeof(msg), "%s %s: %s", what, w->r->plural, strerror(-err));
	if (status != w->last_status || !w->failures)
		log_warn("k8s: %s (retrying with backoff)%s", msg,
			 status == 401 || status == 403 ? "; see docs/kubernetes.md for the RBAC "
							  "shuntd needs"
							: "");
	else
		log_debug("k8s: %s", msg);
	w->last_status = status;
}
