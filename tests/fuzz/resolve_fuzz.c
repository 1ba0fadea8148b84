// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer: the answers the resolver of ServiceEntry names reads from the
 * upstream (resolve_parse_answer()): any datagram, taken as the answer to
 * the question it carries itself (so that the fuzzer gets past the question
 * check to the records, CNAME chains and negative TTLs), within the message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dns_msg.h"
#include "resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[DNS_NAME_MAX + 1] = "api.example.test";
	struct resolve_answer a;
	uint16_t type = DNS_T_A;
	size_t p;

	if (size > DNS_HDR_LEN && !dns_msg_name(data, size, DNS_HDR_LEN, name, &p) &&
	    p + 2 <= size && dns_get16(data + p) == DNS_T_AAAA)
		type = DNS_T_AAAA;
	resolve_parse_answer(data, size, name, type, &a);
	if (a.n > CONFIG_NAME_ADDRS_MAX || (a.why && a.n))
		abort();
	return 0;
}
