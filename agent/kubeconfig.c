// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * kubeconfig files and the in-cluster service account. A kubeconfig is read
 * with the config loader's YAML cursor, so that a problem is reported as
 * FILE:LINE:COL: FIELD: MESSAGE like any config file's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "kubeconfig.h"
#include "yaml_tree.h"

void k8s_conn_release(struct k8s_conn *c)
{
	free(c->server);
	free(c->ca_file);
	free(c->ca_pem);
	if (c->token)
		memset(c->token, 0, strlen(c->token));
	free(c->token);
	free(c->token_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_pem);
	if (c->key_pem)
		memset(c->key_pem, 0, c->key_len);
	free(c->key_pem);
	memset(c, 0, sizeof(*c));
}

struct kc_parse {
	const char *dir; /* of the kubeconfig, for relative file names */
	struct k8s_conn *out;
	char *why;
	size_t why_len;
	bool failed;
};

/* The first problem, for @why; the rest are in the log. */
static void kc_emit(void *arg, enum log_level level, const char *line)
{
	struct kc_parse *p = arg;

	if (level != LOG_ERROR || p->failed)
		return;
	snprintf(p->why, p->why_len, "%s", line);
	p->failed = true;
}

/* The item of list @key whose name is @name: its mapping @inner ("cluster", "user"). */
static yaml_node_t *named(struct yt *t, yaml_node_t *root, const char *key, const char *name,
			  const char *inner, struct yt_frame *f)
{
	yaml_node_t *seq, *item, *in = NULL;
	char *n = NULL;

	if (yt_seq(t, root, key, YT_REQUIRED, &seq))
		return NULL;
	for (size_t i = 0; i < yt_seq_len(seq); i++) {
		item = yt_seq_item(t, seq, i);
		if (item->type != YAML_MAPPING_NODE || yt_str(t, item, "name", 0, &n))
			continue;
		if (!strcmp(n, name)) {
			free(n);
			yt_push(t, f, key, (long)i, item->start_mark);
			if (yt_map(t, item, inner, YT_REQUIRED, &in)) {
				yt_pop(t, f);
				return NULL;
			}
			yt_push(t, &(struct yt_frame){0}, inner, -1, item->start_mark);
			return in;
		}
		free(n);
	}
	yt_error(t, seq->start_mark, key, "no entry named \"%s\" (the current context's)", name);
	return NULL;
}

/* A file name of the kubeconfig, made absolute against its directory. */
static void file_field(struct yt *t, struct kc_parse *p, yaml_node_t *map, const char *key,
		       char **out)
{
	char *s;

	if (yt_str(t, map, key, 0, &s))
		return;
	if (s[0] == '/' || !p->dir) {
		*out = s;
		return;
	}
	if (asprintf(out, "%s/%s", p->dir, s) < 0) {
		*out = NULL;
		t->oom = true;
	}
	free(s);
}

/* A *-data field: base64 of PEM text. */
static void data_field(struct yt *t, yaml_node_t *map, const char *key, char **out, size_t *len)
{
	yaml_node_t *n = yt_get(t, map, key, NULL);
	size_t bad;
	char *s;
	int err;

	if (!n || yt_node_str(t, n, key, &s))
		return;
	err = k8s_base64_decode(s, strlen(s), out, len, &bad);
	if (err == -EINVAL)
		yt_error(t, n->start_mark, key, "illegal base64 data at input byte %zu", bad);
	t->oom |= err == -ENOMEM;
	memset(s, 0, strlen(s));
	free(s);
}

static void refuse_fields(struct yt *t, yaml_node_t *map, const char *const *keys, const char *why)
{
	for (; *keys; keys++) {
		yaml_node_t *k;

		if (yt_get(t, map, *keys, &k))
			yt_error(t, k->start_mark, *keys, "%s", why);
	}
}

static void read_cluster(struct yt *t, struct kc_parse *p, yaml_node_t *c)
{
	static const char *const no[] = {"proxy-url", NULL};
	char *server = NULL;
	size_t n;

	if (!yt_str(t, c, "server", YT_REQUIRED, &server)) {
		n = strlen(server);
		while (n && server[n - 1] == '/')
			server[--n] = '\0';
		if (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))
			yt_error(t, yt_get(t, c, "server", NULL)->start_mark, "server",
				 "expected an https:// (or http://) URL, got \"%s\"", server);
		p->out->server = server;
	}
	file_field(t, p, c, "certificate-authority", &p->out->ca_file);
	data_field(t, c, "certificate-authority-data", &p->out->ca_pem, &p->out->ca_len);
	yt_bool(t, c, "insecure-skip-tls-verify", 0, &p->out->insecure);
	refuse_fields(t, c, no, "not supported by shunt");
}

static void read_user(struct yt *t, struct kc_parse *p, yaml_node_t *u)
{
	static const char *const no[] = {"exec", "auth-provider", "username", "password", NULL};

	yt_str(t, u, "token", 0, &p->out->token);
	file_field(t, p, u, "tokenFile", &p->out->token_file);
	file_field(t, p, u, "client-certificate", &p->out->cert_file);
	file_field(t, p, u, "client-key", &p->out->key_file);
	data_field(t, u, "client-certificate-data", &p->out->cert_pem, &p->out->cert_len);
	data_field(t, u, "client-key-data", &p->out->key_pem, &p->out->key_len);
	refuse_fields(t, u, no,
		      "not supported by shunt (use a token, tokenFile or a client certificate)");
}

/* The one document of a kubeconfig. */
static int read_doc(void *arg, struct yt *t)
{
	struct kc_parse *p = arg;
	yaml_node_t *root = yaml_document_get_root_node(t->doc), *ctx, *c;
	char *cur = NULL, *cluster = NULL, *user = NULL;
	struct yt_frame f, fc, fu;

	if (yt_check_map(t, root, NULL))
		return 0;
	if (yt_str(t, root, "current-context", YT_REQUIRED, &cur))
		return 0;
	ctx = named(t, root, "contexts", cur, "context", &f);
	if (ctx) {
		yt_str(t, ctx, "cluster", YT_REQUIRED, &cluster);
		yt_str(t, ctx, "user", 0, &user);
		yt_pop(t, &f);
	}
	if (cluster && (c = named(t, root, "clusters", cluster, "cluster", &fc))) {
		read_cluster(t, p, c);
		yt_pop(t, &fc);
	}
	if (user && (c = named(t, root, "users", user, "user", &fu))) {
		read_user(t, p, c);
		yt_pop(t, &fu);
	}
	free(cur);
	free(cluster);
	free(user);
	return 0;
}

int kubeconfig_parse(const char *path, const char *buf, size_t len, struct k8s_conn *out, char *why,
		     size_t why_len)
{
	struct kc_parse p = {.out = out, .why = why, .why_len = why_len};
	struct yt_sink sink = {.emit = kc_emit, .arg = &p};
	const char *slash = strrchr(path, '/');
	unsigned errors = 0;
	char *dir = NULL;
	int err;

	memset(out, 0, sizeof(*out));
	if (slash) {
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
		if (!dir)
			return -ENOMEM;
	}
	p.dir = dir;
	err = yt_load_stream(path, buf, len, &sink, read_doc, &p, &errors);
	free(dir);
	if (!err && !errors && !out->server) {
		snprintf(why, why_len, "%s: no current-context with a cluster server", path);
		errors++;
	}
	if (!err && !errors &&
	    ((out->cert_file || out->cert_pem) != (out->key_file || out->key_pem))) {
		snprintf(why, why_len,
			 "%s: a client certificate needs its key, and a key its "
			 "certificate",
			 path);
		errors++;
	}
	if (err || errors) {
		k8s_conn_release(out);
		return err ? err : -EINVAL;
	}
	return 0;
}

int kubeconfig_load(const char *path, struct k8s_conn *out, char *why, size_t why_len)
{
	char *buf = NULL;
	size_t len = 0;
	int err = yt_read_file(path, &buf, &len);

	if (err) {
		snprintf(why, why_len, "%s: cannot read: %s", path, strerror(-err));
		return err;
	}
	err = kubeconfig_parse(path, buf, len, out, why, why_len);
	free(buf);
	return err;
}

int k8s_conn_in_cluster(const char *sa_dir, struct k8s_conn *out, char *why, size_t why_len)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"),
		   *port = getenv("KUBERNETES_SERVICE_PORT");
	int n;

	memset(out, 0, sizeof(*out));
	if (!host || !*host || !port || !*port) {
		snprintf(why, why_len,
			 "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: not in "
			 "a pod (out of a cluster, give --kubeconfig)");
		return -ENOENT;
	}
	/* An IPv6 address is bracketed in a URL. */
	n = strchr(host, ':') ? asprintf(&out->server, "https://[%s]:%s", host, port)
			      : asprintf(&out->server, "https://%s:%s", host, port);
	if (n < 0 || asprintf(&out->ca_file, "%s/ca.crt", sa_dir) < 0 ||
	    asprintf(&out->token_file, "%s/token", sa_dir) < 0) {
		if (n < 0)
			out->server = NULL;
		k8s_conn_release(out);
		return -ENOMEM;
	}
	if (access(out->token_file, R_OK) || access(out->ca_file, R_OK)) {
		snprintf(why, why_len, "%s: cannot read the service account's token and ca.crt: %s",
			 sa_dir, strerror(errno));
		k8s_conn_release(out);
		return -ENOENT;
	}
	return 0;
}
