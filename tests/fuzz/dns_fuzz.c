// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer: the pods' DNS responder: any datagram answered by dns_answer()
 * against the config of fuzz_config.h (a service, pods), within the answer
 * buffer it is given, or left to the upstream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "dns.h"
#include "log.h"

#include "fuzz_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[512];
	size_t olen = 0;

	if (!cfg) {
		log_level_cur = (enum log_level) - 1;
		if (config_load_buf("fuzz.yaml", fuzz_config_yaml, sizeof(fuzz_config_yaml) - 1,
				    &cfg))
			abort();
	}
	(void)dns_answer(cfg, data, size, out, sizeof(out), &olen);
	if (olen > sizeof(out))
		abort();
	return 0;
}
