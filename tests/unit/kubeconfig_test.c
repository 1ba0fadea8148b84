// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * kubeconfig files as kubectl reads them (the current context's cluster and
 * user, file names relative to the kubeconfig, *-data in base64) and the
 * in-cluster service account.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kubeconfig.h"
#include "log.h"

static const char two_contexts[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: prod\n"
	"contexts:\n"
	"  - name: dev\n"
	"    context: {cluster: dev, user: dev}\n"
	"  - name: prod\n"
	"    context: {cluster: prod, user: admin, namespace: shop}\n"
	"clusters:\n"
	"  - name: dev\n"
	"    cluster: {server: 'https://dev:6443', insecure-skip-tls-verify: true}\n"
	"  - name: prod\n"
	"    cluster:\n"
	"      server: https://10.0.0.1:6443/\n"
	"      certificate-authority: certs/ca.pem\n"
	"users:\n"
	"  - name: dev\n"
	"    user: {token: devtoken}\n"
	"  - name: admin\n"
	"    user:\n"
	"      client-certificate-data: Q0VSVA==\n" /* CERT */
	"      client-key: /etc/keys/admin.key\n";

static void current_context_chosen(void **state)
{
	struct k8s_conn c;
	char why[256] = "";

	assert_int_equal(kubeconfig_parse("/home/u/.kube/config", two_contexts,
					  strlen(two_contexts), &c, why, sizeof(why)),
			 0);
	assert_string_equal(c.server, "https://10.0.0.1:6443"); /* no trailing '/' */
	assert_string_equal(c.ca_file, "/home/u/.kube/certs/ca.pem");
	assert_false(c.insecure);
	assert_null(c.token);
	assert_int_equal(c.cert_len, 4);
	assert_memory_equal(c.cert_pem, "CERT", 4);
	assert_string_equal(c.key_file, "/etc/keys/admin.key");
	k8s_conn_release(&c);
}

static void token_and_insecure(void **state)
{
	char text[2048], why[256] = "";
	struct k8s_conn c;

	snprintf(text, sizeof(text), "%s", two_contexts);
	memcpy(strstr(text, "current-context: prod"), "current-context: dev ", 21);
	assert_int_equal(kubeconfig_parse("kc", text, strlen(text), &c, why, sizeof(why)), 0);
	assert_string_equal(c.server, "https://dev:6443");
	assert_true(c.insecure);
	assert_string_equal(c.token, "devtoken");
	assert_null(c.ca_file);
	k8s_conn_release(&c);
}

static void refused(const char *text, const char *want)
{
	char why[512] = "";
	struct k8s_conn c;

	assert_int_equal(kubeconfig_parse("kc", text, strlen(text), &c, why, sizeof(why)), -EINVAL);
	if (!strstr(why, want))
		fail_msg("why: %s\nwant: %s", why, want);
	assert_null(c.server);
}

static void problems_named(void **state)
{
	refused("current-context: x\ncontexts: []\nclusters: []\n",
		"kc:2:11: contexts: no entry named \"x\" (the current context's)");
	refused("contexts: []\n", "current-context: required field is missing");
	refused("current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
		"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
		"users: [{name: u, user: {exec: {command: aws}}}]\n",
		"users[0].user.exec: not supported by shunt");
	refused("current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
		"clusters: [{name: c, cluster: {server: 'x:6443'}}]\n",
		"clusters[0].cluster.server: expected an https:// (or http://) URL");
	refused("current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
		"clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
		"users: [{name: u, user: {client-certificate: c.pem}}]\n",
		"a client certificate needs its key");
	refused("current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
		"clusters: [{name: c, cluster: {server: 'https://x', "
		"certificate-authority-data: '!!'}}]\n",
		"certificate-authority-data: illegal base64 data at input byte 0");
}

static void in_cluster(void **state)
{
	char dir[] = "/tmp/shunt-sa.XXXXXX", path[128], why[256] = "";
	struct k8s_conn c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(k8s_conn_in_cluster(dir, &c, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "not in a pod"));
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(k8s_conn_in_cluster(dir, &c, why, sizeof(why)), -ENOENT); /* no files */
	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("tok\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(k8s_conn_in_cluster(dir, &c, why, sizeof(why)), 0);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	assert_string_equal(c.ca_file, path);
	k8s_conn_release(&c);
	unlink(path);
	snprintf(path, sizeof(path), "%s/token", dir);
	unlink(path);
	rmdir(dir);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(current_context_chosen),
		cmocka_unit_test(token_and_insecure),
		cmocka_unit_test(problems_named),
		cmocka_unit_test(in_cluster),
	};

	log_level_cur = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
