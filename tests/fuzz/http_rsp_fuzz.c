// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer: the response path: upstream bytes parsed by h1_rsp_execute() in
 * pieces (the first byte picks the size; the second says whether the request
 * was HEAD), and each complete head rewritten by h1_head_edit() with the
 * header edits a route asks for, into exactly the bytes it documents.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char drop[] = "server\nx-powered-by\nset-cookie\n";
static const char add[] = "x-shunt: 1\r\nvia: shunt\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h1_rsp r;
	size_t step, off = 0, head = 0;
	char *buf, *out;

	if (size < 2)
		return 0;
	step = 1 + data[0] % 64;
	h1_rsp_init(&r);
	r.no_body = data[1] & 1;
	data += 2;
	size -= 2;
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	while (off < size) {
		size_t len = size - off < step ? size - off : step, used = 0;
		enum h1_ev ev = h1_rsp_execute(&r, buf + off, len, &used);

		if (used > len)
			abort();
		off += used;
		if (ev == H1_ERROR)
			break;
		if ((ev == H1_HEADERS || ev == H1_MESSAGE) && !r.head_done)
			head = off;
		if (ev == H1_HEADERS && off > head) {
			out = malloc(off - head + sizeof(add) - 1);
			if (out) {
				if (h1_head_edit(buf + head, off - head, drop, add, sizeof(add) - 1,
						 out) > off - head + sizeof(add) - 1)
					abort();
				free(out);
			}
		}
		if (ev == H1_MESSAGE)
			head = off;
		if (ev == H1_MORE && !used)
			break;
	}
	(void)h1_rsp_finish(&r);
	free(buf);
	return 0;
}
