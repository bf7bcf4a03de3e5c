-- wrk script for bench/soak.py: a mix of small JSON RPCs spread over thousands of machines.
-- Each wrk thread keeps the blocks it allocated and frees them again (bounded: at most 64
-- outstanding per thread), so the machines' state stays bounded however long the run lasts.
-- Run it with as many threads as connections (wrk -tN -cN): a thread then has one connection,
-- so each response belongs to the request just sent and a freed pfn is always right.
--   wrk -tN -cN ... -s bench/soak.lua URL -- IDS_FILE
-- Mix per request: 40% AllocPages, 40% FreePages of an earlier block (when one is held),
-- 10% Kmalloc+Kfree pair halves, 10% Proc buddyinfo.

local ids = {}
local held = {}      -- {machine, pfn, order} waiting to be freed
local kheld = {}     -- {machine, addr} waiting for kfree
local pending = nil  -- what the in-flight request was, to read its response
local base = "/twirp/vmsim.v1.VmSim/"
local hdr = {["Content-Type"] = "application/json"}

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then ids[#ids + 1] = line end
  end
  f:close()
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

local function rpc(method, body)
  return wrk.format("POST", base .. method, hdr, body)
end

function request()
  local r = math.random(100)
  if (#held > 0 and r <= 40) or #held >= 64 then
    local b = table.remove(held)
    pending = nil
    return rpc("FreePages", string.format('{"machineId":"%s","pfn":"%d","order":%d}',
                                          b[1], b[2], b[3]))
  elseif r <= 80 then
    local m = ids[math.random(#ids)]
    local order = math.random(0, 2)
    pending = {"alloc", m, order}
    return rpc("AllocPages", string.format('{"machineId":"%s","order":%d}', m, order))
  elseif r <= 90 then
    if #kheld > 0 then
      local k = table.remove(kheld)
      pending = nil
      return rpc("Kfree", string.format('{"machineId":"%s","addr":"%s"}', k[1], k[2]))
    end
    local m = ids[math.random(#ids)]
    pending = {"kmalloc", m}
    return rpc("Kmalloc", string.format('{"machineId":"%s","size":"%d"}', m, math.random(8, 2048)))
  else
    pending = nil
    return rpc("Proc", string.format('{"machineId":"%s","path":"buddyinfo"}',
                                     ids[math.random(#ids)]))
  end
end

function response(status, headers, body)
  if status ~= 200 or pending == nil then return end
  local v = body:match('"value":"(%d+)"')
  if v then
    if pending[1] == "alloc" and #held < 64 then
      held[#held + 1] = {pending[2], tonumber(v), pending[3]}
    elseif pending[1] == "kmalloc" and #kheld < 64 then
      kheld[#kheld + 1] = {pending[2], v}
    end
  end
  pending = nil
end

function done(summary, latency, requests)
  io.write(string.format("SOAK requests=%d duration_us=%d errors_connect=%d errors_read=%d " ..
                         "errors_write=%d errors_status=%d errors_timeout=%d " ..
                         "lat_p50_us=%d lat_p99_us=%d lat_max_us=%d\n",
                         summary.requests, summary.duration, summary.errors.connect,
                         summary.errors.read, summary.errors.write, summary.errors.status,
                         summary.errors.timeout, latency:percentile(50),
                         latency:percentile(99), latency.max))
end
