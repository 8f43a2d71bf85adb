-- wrk script: unique ARI events, grouped in calls of 10 events, one or BATCH per request.
-- BATCH, AUTH and PATH come from the environment (set by benchmarks/ingest.py).
local batch = tonumber(os.getenv("BATCH") or "1")
local call_size = tonumber(os.getenv("CALL_SIZE") or "10")
local auth = os.getenv("AUTH")
local path = os.getenv("PATH_") or "/webhooks/asterisk/hanoi/ari"
local threads = {}
local tid = 0

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

local counter = 0
local run = os.time()
local types = {"ChannelCreated", "StasisStart", "ChannelStateChange", "ChannelDialplan", "ChannelDtmfReceived",
               "ChannelVarset", "ChannelCallerId", "ChannelConnectedLine", "ChannelHangupRequest", "ChannelDestroyed"}

local function event()
  counter = counter + 1
  local call = math.floor(counter / call_size)
  local linkedid = string.format("bench%d-%d.%d", run, tid, call)
  local etype = types[(counter % 10) + 1]
  local ms = counter % 1000
  local secs = math.floor(counter / 1000) % 60
  return string.format(
    '{"type":"%s","timestamp":"2026-11-01T10:%02d:%02d.%03d+0700","application":"hotline","asterisk_id":"00:16:3e:00:00:01",' ..
    '"channel":{"id":"%s","name":"PJSIP/trunk-%08d","state":"Up","caller":{"name":"","number":"09%08d"},' ..
    '"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"hotline","exten":"111","priority":1,' ..
    '"app_name":"Stasis","app_data":"hotline"},"creationtime":"2026-11-01T10:00:00.000+0700","language":"vi",' ..
    '"channelvars":{"CHANNEL(linkedid)":"%s"}},"cause":16,"variable":"IVR","value":"1","digit":"1"}',
    etype, secs % 60, secs, ms, linkedid, counter % 100000000, (call * 7919) % 100000000, linkedid)
end

request = function()
  local body
  if batch == 1 then
    body = event()
  else
    local parts = {}
    for i = 1, batch do parts[i] = event() end
    body = "[" .. table.concat(parts, ",") .. "]"
  end
  local headers = {["Content-Type"] = "application/json"}
  if auth then headers["Authorization"] = auth end
  return wrk.format("POST", path, headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d errors=%d duration_us=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))
end
