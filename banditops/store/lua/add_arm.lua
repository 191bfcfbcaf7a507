-- A new arm at runtime, by name; it starts from the prior (no statistics yet).
-- ARGV: prefix, events_maxlen, name ('' = the default name: its index as text), metadata_json ('' = none)
-- Returns {'ok', index, name} or {'exists'|'retired', index, name} (nothing written).
-- The name table (ns:arms, name -> index) is written in the same script as n_arms, so a name and
-- its index can never disagree. A state written before names existed has no table: its arms are
-- the default names "0".."n-1", materialised here before the new name is checked against them.
local p, events_maxlen, name, meta = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local st = p .. ':state'
local s = redis.call('HMGET', st, 'epoch', 'mode', 'n_arms')
if not s[1] then return {'not_initialized'} end
local n_old = tonumber(s[3])
local arms = p .. ':arms'
if redis.call('EXISTS', arms) == 0 then
  for i = 0, n_old - 1 do redis.call('HSET', arms, int(i), int(i)) end
end
if name == '' then name = int(n_old) end
local existing = redis.call('HGET', arms, name)
if existing then
  if redis.call('SISMEMBER', p .. ':retired', existing) == 1 then return {'retired', tonumber(existing), name} end
  return {'exists', tonumber(existing), name}
end
local n_arms = redis.call('HINCRBY', st, 'n_arms', 1)
redis.call('HSET', arms, name, int(n_arms - 1))
if meta ~= '' then redis.call('HSET', p .. ':arm_meta', name, meta) end
add_event(p, events_maxlen, 'arm_added',
  cjson.encode({arm = n_arms - 1, name = name, n_arms = n_arms, epoch = tonumber(s[1])}))
publish(p, 'arms', tonumber(s[1]), s[2])
return {'ok', n_arms - 1, name}
