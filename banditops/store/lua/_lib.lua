-- Helpers prepended to every BanditOps store script (Redis scripts cannot include files).
-- ARGV[1] of every script is the namespace prefix; keys are derived from it (see redis_store.py).

-- Server time in seconds: one clock for every writer, whatever host the agent runs on.
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Shortest decimal text that reads back as the same double. HINCRBYFLOAT is not used for the
-- posterior because it rounds to 17 decimal PLACES (1e-20 becomes 0) and adds in long double,
-- so its sums differ from a Python float sum; Lua numbers are IEEE doubles like numpy's.
local function fmt(x)
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.16g', x) end
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end

-- Integer text (a bare Lua number would be sent as %.14g, i.e. 1e+15 past 14 digits).
local function int(x)
  return string.format('%d', x)
end

-- Caller's JSON object fields plus the store's own; the store's come last so they win
-- (JSON parsers keep the last of duplicate keys). The caller's JSON is never re-encoded,
-- so its floats keep every digit.
local function merge_json(user_json, system)
  local sys = cjson.encode(system)
  if user_json == nil or user_json == '' or user_json == '{}' then return sys end
  return string.sub(user_json, 1, -2) .. ',' .. string.sub(sys, 2)
end

local function add_event(p, maxlen, kind, fields_json)
  return redis.call('XADD', p .. ':events', 'MAXLEN', '~', maxlen, '*',
    'kind', kind, 'ts', string.format('%.6f', now_s()), 'fields', fields_json)
end

local function publish(p, what, epoch, mode)
  redis.call('PUBLISH', p .. ':changed', cjson.encode({what = what, epoch = epoch, mode = mode}))
end

-- Every key of the namespace (SCAN, so the server is never blocked by a KEYS over a big keyspace
-- shared with e.g. a Celery broker). Used by the snapshot (dump.lua) only: wiping is done in
-- chunks by BanditStore.wipe, never by one script.
local function namespace_keys(p)
  local keys, cursor = {}, '0'
  repeat
    local r = redis.call('SCAN', cursor, 'MATCH', p .. ':*', 'COUNT', 1000)
    cursor = r[1]
    for _, k in ipairs(r[2]) do keys[#keys + 1] = k end
  until cursor == '0'
  return keys
end
