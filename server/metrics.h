/* Server counters for GET /metrics (Prometheus text exposition format 0.0.4). */
#ifndef VMSIM_SRV_METRICS_H
#define VMSIM_SRV_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define METRICS_MAX_SERIES 512
#define METRICS_NBUCKETS   12

struct srv_metrics {
	struct {
		const char *route; /* static string: RPC name, "static", "sse", "healthz", ... */
		int status;
		uint64_t count;
	} req[METRICS_MAX_SERIES];
	unsigned nreq;
	uint64_t bucket[METRICS_NBUCKETS + 1]; /* request latency histogram (+Inf last) */
	double latency_sum;
	uint64_t latency_count;
	uint64_t ops_applied;
	uint64_t conns_accepted, conns_rejected, sse_dropped;
	uint64_t bytes_in, bytes_out;
};

void metrics_request(struct srv_metrics *m, const char *route, int status, double seconds);
/* Renders every series; machines and open connections are gauges read at render time. */
void metrics_render(const struct srv_metrics *m, uint64_t machines, unsigned conns,
                    unsigned sse_clients, struct strbuf *out);

#endif
