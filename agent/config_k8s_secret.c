// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * core/v1 Secret: only kubernetes.io/tls ones are kept, for the certificates
 * of Gateway servers (tls.credentialName). data values are base64 as the API
 * server stores them, stringData values plain text that wins over data's, as
 * the API server merges them. Key material is never logged: problems name the
 * field and the position, not the bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "istio.h"
#include "log.h"

#define TLS_SECRET_TYPE "kubernetes.io/tls"

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int k8s_base64_decode(const char *in, size_t len, char **out, size_t *out_len, size_t *bad)
{
	unsigned char *o = malloc(len / 4 * 3 + 4);
	size_t n = 0, quad = 0, pad = 0, i;
	uint32_t acc = 0;

	if (!o)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == '\n' || c == '\r')
			continue;
		if (c == '=' && quad >= 2) {
			pad++;
			v = 0;
		} else {
			v = pad ? -1 : b64_value(c);
		}
		if (v < 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		if (++quad < 4)
			continue;
		o[n++] = (unsigned char)(acc >> 16);
		if (pad < 2)
			o[n++] = (unsigned char)(acc >> 8);
		if (pad < 1)
			o[n++] = (unsigned char)acc;
		quad = 0;
		acc = 0;
		if (pad)
			break;
	}
	/* Nothing but line breaks may follow the padding; a quantum must be complete. */
	for (i = i < len ? i + 1 : i; i < len; i++)
		if (in[i] != '\n' && in[i] != '\r')
			goto bad;
	if (quad) {
		i = len;
		goto bad;
	}
	o[n] = '\0';
	*out = (char *)o;
	*out_len = n;
	return 0;
bad:
	*bad = i;
	free(o);
	return -EINVAL;
}

void k8s_secret_release(struct tls_secret *s)
{
	free(s->name);
	free(s->namespace);
	if (s->crt)
		memset(s->crt, 0, s->crt_len);
	if (s->key)
		memset(s->key, 0, s->key_len);
	free(s->crt);
	free(s->key);
}

static void meta(struct yt *t, yaml_node_t *obj, struct tls_secret *s)
{
	yaml_node_t *md;
	struct yt_frame f;

	if (yt_enter_map(t, obj, "metadata", 0, &f, &md)) {
		if (!yt_get(t, obj, "metadata", NULL))
			yt_error(t, t->owner, "metadata.name", "required field is missing");
		return;
	}
	if (!yt_str(t, md, "name", YT_REQUIRED, &s->name) && !*s->name)
		yt_error(t, yt_get(t, md, "name", NULL)->start_mark, "name", "must not be empty");
	yt_str(t, md, "namespace", 0, &s->namespace);
	if (!s->namespace || !*s->namespace) {
		free(s->namespace);
		s->namespace = strdup("default");
		t->oom |= !s->namespace;
	}
	yt_pop(t, &f);
}

/* Reads the keys tls.crt and tls.key of mapping @key (data: base64, else plain text). */
static void read_keys(struct yt *t, yaml_node_t *obj, const char *key, bool b64,
		      struct tls_secret *s)
{
	yaml_node_pair_t *p;
	yaml_node_t *map;
	struct yt_frame f;

	if (yt_enter_map(t, obj, key, 0, &f, &map))
		return;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yt_node(t, p->key), *v = yt_node(t, p->value);
		char *name = NULL, *val = NULL, *dec = NULL, **dst;
		size_t *dst_len, dec_len = 0, bad = 0;
		int err;

		if (yt_node_str(t, k, NULL, &name))
			continue;
		dst = !strcmp(name, "tls.crt")	 ? &s->crt
		      : !strcmp(name, "tls.key") ? &s->key
						 : NULL;
		dst_len = dst == &s->crt ? &s->crt_len : &s->key_len;
		if (!dst || yt_is_null(v) || yt_node_str(t, v, name, &val)) {
			free(name);
			continue;
		}
		if (b64) {
			err = k8s_base64_decode(val, strlen(val), &dec, &dec_len, &bad);
			if (err == -EINVAL)
				/* The offset, never the bytes: this is key material. */
				yt_error(t, v->start_mark, name,
					 "illegal base64 data at input byte %zu", bad);
			t->oom |= err == -ENOMEM;
			memset(val, 0, strlen(val));
			free(val);
		} else {
			dec = val;
			dec_len = strlen(val);
		}
		if (dec) {
			if (*dst)
				memset(*dst, 0, *dst_len);
			free(*dst);
			*dst = dec;
			*dst_len = dec_len;
		}
		free(name);
	}
	yt_pop(t, &f);
}

int k8s_parse_secret(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct tls_secret s = {.loc = config_loc_of(t, obj->start_mark)};
	unsigned errors = t->errors;
	char *type = NULL;

	meta(t, obj, &s);
	yt_str(t, obj, "type", 0, &type);
	if (!type || strcmp(type, TLS_SECRET_TYPE)) {
		if (!t->oom && t->errors == errors)
			config_report(ld, LOG_INFO,
				      "%s:%d:%d: Secret %s/%s: type %s is not " TLS_SECRET_TYPE
				      ", ignored",
				      s.loc.file, s.loc.line, s.loc.col,
				      s.namespace ? s.namespace : "?", s.name ? s.name : "?",
				      type ? type : "Opaque");
		free(type);
		goto drop;
	}
	free(type);
	read_keys(t, obj, "data", true, &s);
	read_keys(t, obj, "stringData", false, &s);
	if (t->errors == errors && !t->oom) {
		if (!s.crt)
			yt_error(t, obj->start_mark, "data",
				 "a " TLS_SECRET_TYPE " Secret must have tls.crt");
		if (!s.key)
			yt_error(t, obj->start_mark, "data",
				 "a " TLS_SECRET_TYPE " Secret must have tls.key");
	}
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ld->cfg->secrets, &ld->cfg->n_secrets, &ld->cap_secrets, &s,
			   sizeof(s)))
		return 0;
	t->oom = true;
drop:
	k8s_secret_release(&s);
	return t->oom ? -ENOMEM : 0;
}

const struct tls_secret *config_find_tls_secret(const struct config *cfg, const char *namespace,
						const char *name)
{
	for (size_t i = 0; i < cfg->n_secrets; i++)
		if (!strcmp(cfg->secrets[i].name, name) &&
		    !strcmp(cfg->secrets[i].namespace, namespace))
			return &cfg->secrets[i];
	return NULL;
}

void k8s_check_gateway_secrets(struct load *ld)
{
	const struct config *cfg = ld->cfg;
	const struct istio_config *ic = &cfg->istio;

	for (size_t i = 1; i < cfg->n_secrets; i++) {
		const struct tls_secret *s = &cfg->secrets[i];
		const struct tls_secret *first = config_find_tls_secret(cfg, s->namespace, s->name);

		if (first != s)
			config_report(ld, LOG_WARN,
				      "%s:%d:%d: Secret %s/%s: declared again (first at %s:%d:%d), "
				      "the first one is used",
				      s->loc.file, s->loc.line, s->loc.col, s->namespace, s->name,
				      first->loc.file, first->loc.line, first->loc.col);
	}
	for (size_t g = 0; g < ic->n_gws; g++) {
		const struct gateway *gw = &ic->gws[g];

		for (size_t k = 0; k < gw->n_servers; k++) {
			const struct gw_server *sv = &gw->servers[k];

			if (!sv->credential_name ||
			    config_find_tls_secret(cfg, gw->namespace, sv->credential_name))
				continue;
			config_report(ld, LOG_WARN,
				      "%s:%d:%d: tls.credentialName: no " TLS_SECRET_TYPE
				      " Secret %s/%s in the config: Gateway %s/%s port %u is not "
				      "served with it",
				      sv->loc.file, sv->loc.line, sv->loc.col, gw->namespace,
				      sv->credential_name, gw->namespace, gw->name, sv->port);
		}
	}
}
