-- Retire an arm: never selected again, its statistics kept. ARGV: prefix, arm, events_maxlen
-- Returns {'ok'|'already'|'out_of_range'|'last_arm', n_arms}.
local p, arm, events_maxlen = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local st = p .. ':state'
local s = redis.call('HMGET', st, 'epoch', 'mode', 'n_arms')
if not s[1] then return {'not_initialized'} end
local n_arms = tonumber(s[3])
if arm < 0 or arm >= n_arms then return {'out_of_range', n_arms} end
local retired = p .. ':retired'
if redis.call('SISMEMBER', retired, arm) == 1 then return {'already', n_arms} end
if redis.call('SCARD', retired) >= n_arms - 1 then return {'last_arm', n_arms} end
redis.call('SADD', retired, arm)
add_event(p, events_maxlen, 'arm_retired', cjson.encode({arm = arm, epoch = tonumber(s[1])}))
publish(p, 'arms', tonumber(s[1]), s[2])
return {'ok', n_arms}
