// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer: the request path from client bytes to upstream bytes, as a
 * session runs it: the bytes parsed by h1_req_execute() in pieces (the first
 * input byte picks the piece size, as reads would split them), each complete
 * head viewed, routed by route_select() and route_actions() against the
 * VirtualService of fuzz_config.h, and written upstream by h1_req_write()
 * with the route's rewrite and header edits, into exactly h1_req_size() bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http1.h"
#include "log.h"
#include "proxy.h"
#include "route.h"

#include "fuzz_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;
static struct route_table *rt;
static struct route_worker *rw;

static void setup_once(void)
{
	log_level_cur = (enum log_level) - 1;
	if (config_load_buf("fuzz.yaml", fuzz_config_yaml, sizeof(fuzz_config_yaml) - 1, &cfg) ||
	    route_table_build(cfg, &rt))
		abort();
	rw = route_worker_new(rt, 1);
	if (!rw)
		abort();
}

/* Routes one parsed head and writes it as it would go upstream. */
static void route_and_write(const struct http_req *req)
{
	struct route_req rq = {.req = req, .dst_port = 80};
	struct proxy_pick pick;
	struct route_result res;
	struct h1_edit e = {0};
	size_t need, wrote;
	char *out;

	rq.dst_ip.s_addr = htonl(0x0a60000a); /* 10.96.0.10 */
	rq.src_ip.s_addr = htonl(0x0a4d000a); /* 10.77.0.10, no pod: an unknown client */
	memset(&pick, 0, sizeof(pick));
	if (route_select(rt, rw, &rq, &res))
		return;
	if (res.verdict == RV_FORWARD && !route_actions(rt, rw, &rq, &res, &pick)) {
		e.target = pick.target;
		e.target_len = pick.target ? strlen(pick.target) : 0;
		e.drop = pick.req_drop;
		e.add = pick.req_add;
		e.add_len = pick.req_add ? strlen(pick.req_add) : 0;
	}
	if (res.lb_token)
		route_done_token(rw, res.lb_token, 200);
	need = h1_req_size(req, &e);
	out = malloc(need ? need : 1); /* exactly: ASan sees one byte too many */
	if (!out)
		return;
	wrote = h1_req_write(req, false, &e, out);
	if (wrote > need)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_hdr hdrs[H1_MAX_HDRS];
	struct http_req req;
	struct h1_req h;
	size_t step, off = 0, head = 0;
	char *buf;

	if (!cfg)
		setup_once();
	if (size < 1)
		return 0;
	step = 1 + data[0] % 64;
	data++;
	size--;
	buf = malloc(size ? size : 1); /* the session's buffer: reads beyond it are caught */
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	h1_req_init(&h);
	while (off < size) {
		size_t len = size - off < step ? size - off : step, used = 0;
		enum h1_ev ev = h1_req_execute(&h, buf + head, buf + off, len, &used);

		if (used > len)
			abort();
		off += used;
		if (ev == H1_ERROR || ev == H1_UPGRADE)
			break;
		if (ev == H1_HEADERS) {
			h1_req_view(&h, buf + head, hdrs, &req);
			route_and_write(&req);
		} else if (ev == H1_MESSAGE) {
			head = off; /* the next request's head starts here */
		} else if (!used) {
			break;
		}
	}
	free(buf);
	return 0;
}
