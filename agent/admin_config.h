/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The admin API's config endpoints, read from the snapshot the workers
 * serve (acquired per request, so a reload meanwhile is harmless):
 *   /config_dump[?resource=NAME[,NAME]]    the active snapshot as JSON (dump.h)
 *   /routes[?host=H[&port=P]]              routes per host and port, in evaluation order
 *   /explain?host=H[&port=P][&path=P][&method=M][&header=K:V]...
 *           [&source=IP | &source_labels=K=V,...][&source_namespace=NS]
 *                                          what the router does with such a request
 *   /logging[?level=debug|info|warn|error] the log level: GET reports it, POST sets it
 */
#ifndef SHUNT_ADMIN_CONFIG_H
#define SHUNT_ADMIN_CONFIG_H

struct admin;
struct snapshot_store;

/* Registers those handlers on @adm, reading @st (which must outlive @adm). 0 or -errno. */
int admin_config_register(struct admin *adm, struct snapshot_store *st);

#endif /* SHUNT_ADMIN_CONFIG_H */
