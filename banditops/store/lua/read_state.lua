-- One consistent read of everything the loop decides with.
-- ARGV: prefix, epoch ('' = current), with_linear ('1': also the epoch's LinTS statistics)
local p = ARGV[1]
local state = redis.call('HGETALL', p .. ':state')
if #state == 0 then return {} end
local epoch = ARGV[2]
if epoch == '' then epoch = redis.call('HGET', p .. ':state', 'epoch') end
return {
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
