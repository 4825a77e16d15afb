-- wrk script for the Graph webhook figure (BENCHMARKS.md, "Microsoft 365 webhook ingestion").
--
-- POSTs Graph change notifications to a daemon started by `webhook-load --serve FILE`, each for a
-- distinct message (so every 202 must become one persisted job), and counts the 202 answers.
-- The target comes from the environment that FILE sets:
--   set -a; . target/webhook-serve.env; set +a
--   wrk -t2 -c64 -d10s --latency -s tests/load/webhook.lua "$WEBHOOK_URL"
-- Optional environment:
--   WEBHOOK_RATE, WEBHOOK_CONNECTIONS  offer about RATE requests/s in all (each connection waits
--                                      CONNECTIONS/RATE s before its next request; wrk is closed
--                                      loop, so the rate reached is wrk's "Requests/sec")
--   WEBHOOK_ACCEPTED_FILE              where to write the number of 202 answers (for --check)

local subscription = os.getenv("WEBHOOK_SUBSCRIPTION_ID")
local client_state = os.getenv("WEBHOOK_CLIENT_STATE")
local tenant = os.getenv("WEBHOOK_TENANT_ID") or "tenant"
if not subscription or not client_state then
  error("WEBHOOK_SUBSCRIPTION_ID / WEBHOOK_CLIENT_STATE unset: run `set -a; . FILE; set +a` with the file webhook-load --serve wrote")
end

local threads = {}
-- Distinguishes the message ids of this run from an earlier run against the same daemon.
local run = tostring(os.time())

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
  thread:set("run", run)
end

function init(args)
  counter = 0
  accepted = 0
  other = 0
  local rate = tonumber(os.getenv("WEBHOOK_RATE") or "")
  local connections = tonumber(os.getenv("WEBHOOK_CONNECTIONS") or "")
  if rate and connections and rate > 0 then
    wait_ms = math.floor(connections * 1000 / rate)
  end
end

if os.getenv("WEBHOOK_RATE") then
  function delay()
    return wait_ms or 0
  end
end

local headers = { ["Content-Type"] = "application/json" }
local template = '{"value":[{"subscriptionId":"%s","subscriptionExpirationDateTime":"2030-01-01T00:00:00Z",'
  .. '"clientState":"%s","changeType":"created","resource":"Users/load@%s/Messages/%s","tenantId":"%s",'
  .. '"resourceData":{"@odata.type":"#Microsoft.Graph.Message","@odata.id":"Users/load/Messages/%s","id":"%s"}}]}'

function request()
  counter = counter + 1
  local id = string.format("AAMkWrk%s-%d-%d", run, tid, counter)
  local body = string.format(template, subscription, client_state, tenant, id, tenant, id, id)
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("accepted")
    bad = bad + thread:get("other")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("webhook: answered 202: %d, other status: %d, socket errors: connect %d read %d write %d timeout %d\n",
    ok, bad, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  io.write(string.format("webhook: %.0f answered 202 per second over %.2f s\n", ok / seconds, seconds))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("webhook: time to answer p%s %.2f ms\n", p, latency:percentile(p) / 1000))
  end
  local path = os.getenv("WEBHOOK_ACCEPTED_FILE")
  if path then
    local file = assert(io.open(path, "w"))
    file:write(tostring(ok), "\n")
    file:close()
  end
end
