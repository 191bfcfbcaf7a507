-- Every key of the namespace with its type, TTL and value, read atomically. ARGV: prefix
-- Returns a list of {key, type, expire_at_ms (-1: none), value}; a stream's value is its entries {id, {field, value, ...}}.
local p = ARGV[1]
local out = {}
for _, k in ipairs(namespace_keys(p)) do
  local t = redis.call('TYPE', k)['ok']
  local v
  if t == 'string' then v = redis.call('GET', k)
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'stream' then v = redis.call('XRANGE', k, '-', '+')
  else return redis.error_reply('cannot snapshot key ' .. k .. ' of type ' .. t) end
  out[#out + 1] = {k, t, redis.call('PEXPIRETIME', k), v}
end
return out
