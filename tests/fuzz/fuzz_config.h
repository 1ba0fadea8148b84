/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The config the request-path and DNS harnesses route with: one service with
 * two versions, a DestinationRule, and a VirtualService whose rules exercise
 * every matcher (exact, prefix, regex, headers, method, query) and action
 * (rewrite, redirect, header edits, fault, mirror, weights).
 */
#ifndef SHUNT_FUZZ_CONFIG_H
#define SHUNT_FUZZ_CONFIG_H

static const char fuzz_config_yaml[] =
	"apiVersion: v1\n"
	"kind: Namespace\n"
	"metadata: {name: default, labels: {shunt.io/mesh: enabled}}\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: web, namespace: default}\n"
	"spec:\n"
	"  clusterIP: 10.96.0.10\n"
	"  selector: {app: web}\n"
	"  ports: [{port: 80, name: http}]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Pod\n"
	"metadata: {name: web-v1, namespace: default, labels: {app: web, version: v1}}\n"
	"status: {phase: Running, podIP: 10.77.0.11, conditions: [{type: Ready, status: "
	"\"True\"}]}\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Pod\n"
	"metadata: {name: web-v2, namespace: default, labels: {app: web, version: v2}}\n"
	"status: {phase: Running, podIP: 10.77.0.12, conditions: [{type: Ready, status: "
	"\"True\"}]}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata: {name: web, namespace: default}\n"
	"spec:\n"
	"  host: web\n"
	"  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n"
	"  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata: {name: web, namespace: default}\n"
	"spec:\n"
	"  hosts: [web, web.example.com]\n"
	"  http:\n"
	"  - match: [{headers: {user-agent: {regex: \".*Firefox.*\"}}}]\n"
	"    route: [{destination: {host: web, subset: v2}}]\n"
	"  - match: [{uri: {prefix: /api/}, method: {exact: POST}}]\n"
	"    rewrite: {uri: /v2/}\n"
	"    headers: {request: {set: {x-api: \"1\"}, remove: [cookie]}, response: {add: {x-r: "
	"a}}}\n"
	"    route: [{destination: {host: web, subset: v1}}]\n"
	"    mirror: {host: web, subset: v2}\n"
	"  - match: [{uri: {regex: \"/items/[0-9]+\"}, queryParams: {q: {exact: x}}}]\n"
	"    rewrite: {uriRegexRewrite: {match: \"/items/([0-9]+)\", rewrite: \"/i/\\\\1\"}}\n"
	"    route: [{destination: {host: web}}]\n"
	"  - match: [{uri: {exact: /old}}]\n"
	"    redirect: {uri: /new, redirectCode: 302}\n"
	"  - match: [{uri: {prefix: /fault}}]\n"
	"    fault: {abort: {httpStatus: 418, percentage: {value: 50}}}\n"
	"    route: [{destination: {host: web}}]\n"
	"  - route:\n"
	"    - {destination: {host: web, subset: v1}, weight: 90}\n"
	"    - {destination: {host: web, subset: v2}, weight: 10}\n"
	"    timeout: 2s\n"
	"    retries: {attempts: 2, retryOn: 5xx}\n";

#endif /* SHUNT_FUZZ_CONFIG_H */
