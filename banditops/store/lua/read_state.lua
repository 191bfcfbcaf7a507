-- One consistent read of everything the loop decides with.
-- ARGV: prefix, epoch ('' = current), with_linear ('1': also the epoch's LinTS statistics),
--       with_streams ('1': also each arm's reward stream and the policy's control state of that
--       epoch: what an agent's round rebuilds its policy from)
local p = ARGV[1]
local state = redis.call('HGETALL', p .. ':state')
if #state == 0 then return {} end
local epoch = ARGV[2]
if epoch == '' then epoch = redis.call('HGET', p .. ':state', 'epoch') end
local reply = {
  state,
  redis.call('HGETALL', p .. ':counters'),
  redis.call('GET', p .. ':config'),
  redis.call('HGETALL', p .. ':epoch:' .. epoch),
  redis.call('HGETALL', p .. ':posterior:' .. epoch),
  redis.call('HGETALL', p .. ':last_pulled:' .. epoch),
  redis.call('SMEMBERS', p .. ':retired'),
  ARGV[3] == '1' and redis.call('HGETALL', p .. ':linear:' .. epoch) or {},
  redis.call('HGETALL', p .. ':arms'),
  redis.call('HGETALL', p .. ':arm_meta'),
}
if ARGV[4] == '1' then
  local n_arms = tonumber(redis.call('HGET', p .. ':state', 'n_arms'))
  local streams = {}
  for arm = 0, n_arms - 1 do
    streams[#streams + 1] = redis.call('GET', p .. ':stream:' .. epoch .. ':' .. arm) or ''
  end
  reply[#reply + 1] = streams
  reply[#reply + 1] = redis.call('GET', p .. ':policy:' .. epoch) or ''
end
return reply
