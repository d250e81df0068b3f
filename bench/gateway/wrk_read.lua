-- wrk script: GET /api/v1/customers/<id>, cycling through the ids in CUSTOMER_IDS (comma-separated).
local ids = {}
for id in string.gmatch(os.getenv("CUSTOMER_IDS"), "[^,]+") do ids[#ids + 1] = id end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/v1/customers/" .. ids[(n % #ids) + 1])
end
