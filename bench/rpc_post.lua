-- wrk script for rpc_bench: POST one small JSON RPC (method and body from the environment).
wrk.method = "POST"
wrk.path = "/twirp/vmsim.v1.VmSim/" .. os.getenv("RPC_METHOD")
wrk.body = os.getenv("RPC_BODY")
wrk.headers["Content-Type"] = "application/json"

-- One line the driver can parse: requests/s, p50 and p99 in microseconds, errors.
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
                 summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50),
    latency:percentile(99), errors, summary.requests))
  io.write(string.format("ERRORS status %d connect %d read %d write %d timeout %d\n",
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
