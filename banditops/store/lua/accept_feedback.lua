local d = redis.call('HMGET', KEYS[1], 'arm', 'epoch', 'kind', 'feedback', 'ts')
if not d[1] then return {'unknown', ''} end
if d[4] then return {'duplicate', d[4]} end
local r = tonumber(ARGV[2])
if d[3] == 'bernoulli' and r ~= 0 and r ~= 1 then return {'invalid', 'a bernoulli reward must be 0 or 1'} end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'decision_id', ARGV[1], 'arm', d[1],
                      'epoch', d[2], 'reward', ARGV[2], 'decided_ms', d[5])
redis.call('HSET', KEYS[1], 'feedback', ARGV[2], 'feedback_id', id)
return {'accepted', id}
