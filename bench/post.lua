-- wrk's side of the independent harness (bench/independent.py): every request a new
-- notification for one user, each with a request_id of its own so that none is a replay.
local user = os.getenv("HERALD_BENCH_USER")
local key = os.getenv("HERALD_BENCH_KEY")
local counter = 0
local thread_tag = ""

function setup(thread)
  thread:set("tag", tostring(math.random(1, 2 ^ 30)))
end

function init(args)
  thread_tag = tag or tostring(math.random(1, 2 ^ 30))
end

function request()
  counter = counter + 1
  local body = '{"notification_type":"email","user_id":"' .. user ..
    '","template_code":"welcome","variables":{"name":"Ada","link":"https://example.com/start"},' ..
    '"request_id":"wrk-' .. thread_tag .. '-' .. counter .. '","priority":5,"metadata":null}'
  return wrk.format("POST", "/api/v1/notifications/", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end
