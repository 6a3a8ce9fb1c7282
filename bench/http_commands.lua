-- wrk script of bench/http_commands: each connection (one per wrk thread) runs order lifecycles:
-- place order, add 3 items, confirm; every request carries the bearer token.
-- Arguments after `--`: <token> <run tag>.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  tag = args[2]
  step = 0
  order = 0
  failures = 0
  headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
end

local items = {"SKU-1", "SKU-2", "SKU-3"}

function request()
  local order_id = tag .. "-" .. id .. "-" .. order
  local path, body
  if step == 0 then
    path = "/orders"
    body = '{"order_id":"' .. order_id .. '","customer_id":"c-' .. id .. '","currency":"EUR"}'
  elseif step <= 3 then
    path = "/orders/" .. order_id .. "/items"
    body = '{"sku":"' .. items[step] .. '","quantity":2,"unit_price":{"amount":"9.90","currency":"EUR"}}'
  else
    path = "/orders/" .. order_id .. "/confirm"
    body = ""
  end
  return wrk.format("POST", path, headers, body)
end

-- The lifecycle advances on responses, not on request(): wrk calls request() once more than it
-- sends (to check the script), and one connection per thread keeps request/response paired.
function response(status, headers, body)
  if status >= 300 then
    failures = failures + 1
  end
  step = step + 1
  if step == 5 then
    step = 0
    order = order + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
  end
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"failures":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
