-- Retire an arm: never selected again, its statistics and its name kept (a retired name never
-- comes back as another arm). ARGV: prefix, name ('' when an index is given), index, events_maxlen
-- Returns {'ok'|'already'|'out_of_range'|'last_arm'|'unknown', n_arms, index, name}.
local p, name, arm, events_maxlen = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local st = p .. ':state'
local s = redis.call('HMGET', st, 'epoch', 'mode', 'n_arms')
if not s[1] then return {'not_initialized'} end
local n_arms = tonumber(s[3])
local arms = p .. ':arms'
local named = redis.call('EXISTS', arms) == 1
if name ~= '' then
  if named then
    arm = tonumber(redis.call('HGET', arms, name))
  elseif string.match(name, '^%d+$') and (name == '0' or string.sub(name, 1, 1) ~= '0') then
    arm = tonumber(name)  -- no table: a state written before names, whose arms are "0".."n-1"
  else
    arm = nil
  end
  if arm == nil or arm >= n_arms then return {'unknown', n_arms, -1, name} end
else
  if arm < 0 or arm >= n_arms then return {'out_of_range', n_arms, arm, ''} end
  name = int(arm)
  if named then
    local flat = redis.call('HGETALL', arms)
    for i = 2, #flat, 2 do
      if tonumber(flat[i]) == arm then name = flat[i - 1] end
    end
  end
end
local retired = p .. ':retired'
if redis.call('SISMEMBER', retired, arm) == 1 then return {'already', n_arms, arm, name} end
if redis.call('SCARD', retired) >= n_arms - 1 then return {'last_arm', n_arms, arm, name} end
redis.call('SADD', retired, arm)
add_event(p, events_maxlen, 'arm_retired', cjson.encode({arm = arm, name = name, epoch = tonumber(s[1])}))
publish(p, 'arms', tonumber(s[1]), s[2])
return {'ok', n_arms, arm, name}
