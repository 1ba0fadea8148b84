// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer: the YAML config loader and validator, then the route compiler
 * for what it accepts. Any input must either load or be refused with a
 * diagnostic; never crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_table *rt = NULL;
	struct config *cfg = NULL;

	log_level_cur = (enum log_level) - 1; /* silent: the diagnostics are not the point here */
	if (config_load_buf("fuzz.yaml", (const char *)data, size, &cfg))
		return 0;
	if (!route_table_build(cfg, &rt))
		route_table_free(rt);
	config_free(cfg);
	return 0;
}
