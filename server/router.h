/* Routes a parsed HTTP request: Twirp RPC, SSE events, static files, /healthz, /metrics. */
#ifndef VMSIM_SRV_ROUTER_H
#define VMSIM_SRV_ROUTER_H

#include "http.h"

void router_handle(struct srv *s, struct srv_request *r);

#endif
