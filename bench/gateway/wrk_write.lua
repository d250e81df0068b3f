-- wrk script: POST /api/v1/orders, one new order (unique external id and Idempotency-Key) per request,
-- for the partner references in CUSTOMER_REFS (comma-separated).
local refs = {}
for ref in string.gmatch(os.getenv("CUSTOMER_REFS"), "[^,]+") do refs[#refs + 1] = ref end
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
local run = tostring(os.time())
request = function()
  n = n + 1
  local ext = "GW-" .. run .. "-" .. tid .. "-" .. n
  local body = '{"external_id":"' .. ext .. '","customer":{"external_id":"' .. refs[(n % #refs) + 1] ..
    '"},"ordered_at":"2026-11-20T10:15:00Z","currency":"EUR","amount":"42.50","payment_method":"card",' ..
    '"channel":"web","lines":[{"sku":"TEA-01","quantity":"1","unit_price":"42.50"}]}'
  wrk.headers["Idempotency-Key"] = ext
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/v1/orders", wrk.headers, body)
end
