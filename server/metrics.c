/*
 * Request counters by route and status, a latency histogram and a few totals, rendered in
 * the Prometheus text format. Series are found by linear scan: there are a few dozen.
 */
#include "metrics.h"

#include <string.h>

static const double bounds[METRICS_NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                0.01,   0.025,   0.05,   0.1,   0.5,    1.0};

void metrics_request(struct srv_metrics *m, const char *route, int status, double seconds)
{
	unsigned i;
	for (i = 0; i < m->nreq; i++)
		if (m->req[i].status == status &&
		    (m->req[i].route == route || !strcmp(m->req[i].route, route)))
			break;
	if (i == m->nreq && m->nreq < METRICS_MAX_SERIES) {
		m->req[i].route = route;
		m->req[i].status = status;
		m->req[i].count = 0;
		m->nreq++;
	}
	if (i < m->nreq)
		m->req[i].count++;
	unsigned b = 0;
	while (b < METRICS_NBUCKETS && seconds > bounds[b])
		b++;
	m->bucket[b]++;
	m->latency_sum += seconds;
	m->latency_count++;
}

void metrics_render(const struct srv_metrics *m, uint64_t machines, unsigned conns,
                    unsigned sse_clients, struct strbuf *out)
{
	strbuf_adds(out, "# HELP vmsim_requests_total HTTP requests by route and status.\n"
	                 "# TYPE vmsim_requests_total counter\n");
	for (unsigned i = 0; i < m->nreq; i++)
		strbuf_addf(out, "vmsim_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
		            m->req[i].route, m->req[i].status, (unsigned long long)m->req[i].count);
	strbuf_adds(out, "# HELP vmsim_request_duration_seconds Time from a request's last byte "
	                 "to its response.\n"
	                 "# TYPE vmsim_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (unsigned b = 0; b < METRICS_NBUCKETS; b++) {
		cum += m->bucket[b];
		strbuf_addf(out, "vmsim_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
		            bounds[b], (unsigned long long)cum);
	}
	cum += m->bucket[METRICS_NBUCKETS];
	strbuf_addf(out, "vmsim_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	            (unsigned long long)cum);
	strbuf_addf(out, "vmsim_request_duration_seconds_sum %.6f\n", m->latency_sum);
	strbuf_addf(out, "vmsim_request_duration_seconds_count %llu\n",
	            (unsigned long long)m->latency_count);
	strbuf_addf(out,
	            "# HELP vmsim_machines Machines hosted.\n# TYPE vmsim_machines gauge\n"
	            "vmsim_machines %llu\n"
	            "# HELP vmsim_ops_applied_total Simulator ops applied.\n"
	            "# TYPE vmsim_ops_applied_total counter\nvmsim_ops_applied_total %llu\n"
	            "# HELP vmsim_connections Open HTTP connections.\n"
	            "# TYPE vmsim_connections gauge\nvmsim_connections %u\n"
	            "# HELP vmsim_connections_accepted_total Connections accepted.\n"
	            "# TYPE vmsim_connections_accepted_total counter\n"
	            "vmsim_connections_accepted_total %llu\n"
	            "# HELP vmsim_connections_rejected_total Connections refused (over the "
	            "limit).\n# TYPE vmsim_connections_rejected_total counter\n"
	            "vmsim_connections_rejected_total %llu\n"
	            "# HELP vmsim_sse_clients Live event streams.\n"
	            "# TYPE vmsim_sse_clients gauge\nvmsim_sse_clients %u\n"
	            "# HELP vmsim_sse_dropped_total Event streams dropped for reading too slowly.\n"
	            "# TYPE vmsim_sse_dropped_total counter\nvmsim_sse_dropped_total %llu\n",
	            (unsigned long long)machines, (unsigned long long)m->ops_applied, conns,
	            (unsigned long long)m->conns_accepted, (unsigned long long)m->conns_rejected,
	            sse_clients, (unsigned long long)m->sse_dropped);
}
