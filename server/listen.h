/*
 * The server's lifecycle on the loop: listen, then a graceful stop (no new connections,
 * in-flight requests finish, idle connections close).
 */
#ifndef VMSIM_SRV_LISTEN_H
#define VMSIM_SRV_LISTEN_H

#include <stddef.h>
#include <uv.h>

#include "server.h"

/* Binds and listens; the bound port is in srv->cfg.port afterwards. */
int srv_start(struct srv *s, uv_loop_t *loop, char *err, size_t len);
/* Graceful stop: no new connections, finish in-flight requests, close idle ones. */
void srv_stop(struct srv *s);

#endif
