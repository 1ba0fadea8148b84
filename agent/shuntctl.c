// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntctl: the operator's view of a node. The map commands read the pinned
 * maps directly (they work whether or not shuntd runs); status, routes and
 * explain ask the agent's admin API, or read a config directory offline
 * (--config DIR) with the loader and router shuntd uses; validate needs no
 * agent. Text by default, JSON with -o json.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shuntctl [--pin-dir DIR] [--admin IP:PORT] [--config DIR] [-o text|json]\n"
		"                COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  status          is the agent up, config generation and last reload, programs\n"
		"                  attached, key counters (admin API and pinned maps)\n"
		"  validate DIR    load DIR as shuntd would: every problem as FILE:LINE:COL,\n"
		"                  exit 1 when invalid (no agent needed)\n"
		"  routes [HOST]   routes per host and port in evaluation order (istioctl\n"
		"                  proxy-config route); --port N narrows to one port\n"
		"  explain --host H [--path P] [--method M] [-H 'NAME: VALUE']... [--port N]\n"
		"          [--source IP | --source-labels K=V,...] [--source-namespace NS]\n"
		"                  which VirtualService rule matches, why earlier ones do not,\n"
		"                  the weighted destinations and their endpoints\n"
		"  maps            every pinned map: its fill level and its content, decoded\n"
		"  stats           kernel-path counters (name value)\n"
		"  services        the service VIPs the kernel captures\n"
		"  pairs           captured connections not yet taken by the agent\n"
		"  config          where captured connections are sent (shunt_cfg)\n"
		"\n"
		"routes and explain ask the admin API (--admin, default 127.0.0.1:15000), or,\n"
		"with --config DIR, compute the answer from DIR without an agent.\n"
		"maps prints, for each map, a fill line starting in column 0:\n"
		"  NAME  TYPE  ENTRIES/MAX  PCT%%      (socket storage: -/-  -)\n"
		"then its content, one record per line, indented, first word its kind:\n"
		"  svc VIP:PORT L7|L4 n_slots=N svc_id=N   be VIP:PORT BACKEND:PORT xSLOTS\n"
		"  slots N referenced=N stale=N            pair CLIENT:PORT -> AGENT:PORT orig=..\n"
		"  cfg listener=IP:PORT|none mark=0xN heartbeat_age_ms=N|none alive_ms=N "
		"agent=alive|down\n"
		"  stat NAME VALUE                         note TEXT\n"
		"Records are sorted; hash maps are walked, arrays always count as full.\n");
}

enum {
	OPT_PIN = 256,
	OPT_ADMIN,
	OPT_CONFIG,
	OPT_HOST,
	OPT_PATH,
	OPT_METHOD,
	OPT_PORT,
	OPT_SRC,
	OPT_SRC_LABELS,
	OPT_SRC_NS
};

/* One option into @o; false when it is not one (usage then). */
static bool take_opt(struct ctl_opts *o, int c, const char *arg)
{
	struct explain_query *q = &o->xq;

	switch (c) {
	case OPT_PIN:
		o->pin_dir = arg;
		return true;
	case OPT_ADMIN:
		o->admin = arg;
		return true;
	case OPT_CONFIG:
		o->config_dir = arg;
		return true;
	case 'o':
		o->json = !strcmp(arg, "json");
		return o->json || !strcmp(arg, "text");
	case OPT_HOST:
		q->host = arg;
		return true;
	case OPT_PATH:
		q->path = arg;
		return true;
	case OPT_METHOD:
		q->method = arg;
		return true;
	case OPT_PORT:
		q->port = (uint16_t)strtoul(arg, NULL, 10);
		return q->port != 0;
	case 'H':
		if (q->n_headers == EXPLAIN_HDRS_MAX)
			return false;
		q->headers[q->n_headers++] = arg;
		return true;
	case OPT_SRC:
		q->source_ip = arg;
		return true;
	case OPT_SRC_LABELS:
		q->source_labels = arg;
		return true;
	case OPT_SRC_NS:
		q->source_namespace = arg;
		return true;
	}
	return false;
}

static int dispatch(const struct ctl_opts *o, const char *cmd, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*plain)(const struct ctl_opts *o);
		int (*with_args)(const struct ctl_opts *o, int argc, char **argv);
	} cmds[] = {
		{"stats", ctl_stats, NULL},	  {"services", ctl_services, NULL},
		{"pairs", ctl_pairs, NULL},	  {"config", ctl_config, NULL},
		{"maps", ctl_maps, NULL},	  {"status", NULL, ctl_status},
		{"validate", NULL, ctl_validate}, {"routes", NULL, ctl_routes},
		{"explain", NULL, ctl_explain},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name))
			continue;
		if (cmds[i].plain && argc) {
			fprintf(stderr, "shuntctl %s: takes no arguments\n", cmd);
			return 2;
		}
		return cmds[i].plain ? cmds[i].plain(o) : cmds[i].with_args(o, argc, argv);
	}
	fprintf(stderr, "shuntctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"pin-dir", required_argument, NULL, OPT_PIN},
		{"admin", required_argument, NULL, OPT_ADMIN},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"output", required_argument, NULL, 'o'},
		{"host", required_argument, NULL, OPT_HOST},
		{"path", required_argument, NULL, OPT_PATH},
		{"method", required_argument, NULL, OPT_METHOD},
		{"port", required_argument, NULL, OPT_PORT},
		{"header", required_argument, NULL, 'H'},
		{"source", required_argument, NULL, OPT_SRC},
		{"source-labels", required_argument, NULL, OPT_SRC_LABELS},
		{"source-namespace", required_argument, NULL, OPT_SRC_NS},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct ctl_opts o = {.pin_dir = "/sys/fs/bpf/shunt", .admin = "127.0.0.1:15000"};
	int c;

	while ((c = getopt_long(argc, argv, "ho:H:", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (!take_opt(&o, c, optarg)) {
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	return dispatch(&o, argv[optind], argc - optind - 1, argv + optind + 1);
}
