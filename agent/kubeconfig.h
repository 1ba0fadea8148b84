/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where the Kubernetes API is and how to authenticate to it: in a cluster,
 * from the pod's service account (KUBERNETES_SERVICE_HOST and _PORT, the
 * token and CA of /var/run/secrets/kubernetes.io/serviceaccount); out of
 * it, from a kubeconfig file (its current context's cluster and user).
 */
#ifndef SHUNT_KUBECONFIG_H
#define SHUNT_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Every string is owned (k8s_conn_release()); NULL: not given. */
struct k8s_conn {
	char *server;	  /* "https://host:port" (a path prefix allowed), no trailing '/' */
	char *ca_file;	  /* certificate-authority: PEM file */
	char *ca_pem;	  /* certificate-authority-data, decoded */
	size_t ca_len;	  /* of ca_pem */
	bool insecure;	  /* insecure-skip-tls-verify */
	char *token;	  /* a bearer token given inline */
	char *token_file; /* a bearer token read from this file at each connection (rotated) */
	char *cert_file, *key_file; /* client-certificate, client-key: PEM files */
	char *cert_pem, *key_pem;   /* client-certificate-data, client-key-data, decoded */
	size_t cert_len, key_len;
};

/*
 * Reads kubeconfig text @buf (@len bytes) of file @path: the cluster and user of its
 * current-context (relative file names are relative to @path's directory, as kubectl takes
 * them) into @out. Fields kubectl knows that shunt does not support (exec and auth-provider
 * plugins, proxy-url) are refused. 0, or -EINVAL with the reason in @why, or -ENOMEM. On
 * failure @out holds nothing.
 */
int kubeconfig_parse(const char *path, const char *buf, size_t len, struct k8s_conn *out, char *why,
		     size_t why_len);

/* The same, from the file @path. -errno when it cannot be read. */
int kubeconfig_load(const char *path, struct k8s_conn *out, char *why, size_t why_len);

/*
 * In a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT from the environment, the
 * token file and CA of @sa_dir (K8S_SA_DIR). 0, or -ENOENT / -EINVAL with the reason in @why.
 */
int k8s_conn_in_cluster(const char *sa_dir, struct k8s_conn *out, char *why, size_t why_len);

void k8s_conn_release(struct k8s_conn *c);

#endif /* SHUNT_KUBECONFIG_H */
