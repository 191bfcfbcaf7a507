-- A new arm at runtime; it starts from the prior (no statistics yet). ARGV: prefix, events_maxlen
local p, events_maxlen = ARGV[1], ARGV[2]
local st = p .. ':state'
local s = redis.call('HMGET', st, 'epoch', 'mode')
if not s[1] then return {'not_initialized'} end
local n_arms = redis.call('HINCRBY', st, 'n_arms', 1)
add_event(p, events_maxlen, 'arm_added', cjson.encode({arm = n_arms - 1, n_arms = n_arms, epoch = tonumber(s[1])}))
publish(p, 'arms', tonumber(s[1]), s[2])
return {'ok', n_arms - 1}
