-- Accept one feedback at most once. KEYS: decision record, feedback stream, experiment state.
-- ARGV: decision_id, reward, maxlen. A decision recorded without a reward kind (a fallback made
-- before the replica saw a posterior) is validated against the experiment's current kind.
local d = redis.call('HMGET', KEYS[1], 'arm', 'epoch', 'kind', 'feedback', 'ts')
if not d[1] then return {'unknown', ''} end
if d[4] then return {'duplicate', d[4]} end
local r = tonumber(ARGV[2])
local kind = d[3]
if kind == '' or not kind then kind = redis.call('HGET', KEYS[3], 'kind') or '' end
if kind == 'bernoulli' and r ~= 0 and r ~= 1 then return {'invalid', 'a bernoulli reward must be 0 or 1'} end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'decision_id', ARGV[1], 'arm', d[1],
                      'epoch', d[2], 'reward', ARGV[2], 'decided_ms', d[5])
redis.call('HSET', KEYS[1], 'feedback', ARGV[2], 'feedback_id', id)
return {'accepted', id}
