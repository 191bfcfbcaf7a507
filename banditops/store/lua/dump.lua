-- Every key of the namespace with its type, TTL and value, read atomically. ARGV: prefix
-- Returns a list of {key, type, expire_at_ms (-1: none), value, stream_meta}; a stream's value is
-- its entries {id, {field, value, ...}} and its stream_meta {last_generated_id, {{group, last_delivered_id}, ...}}
-- (consumer groups such as the feedback folder's keep their position; pending entries are not kept).
local p = ARGV[1]
local out = {}
for _, k in ipairs(namespace_keys(p)) do
  local t = redis.call('TYPE', k)['ok']
  local v, meta = nil, {}
  if t == 'string' then v = redis.call('GET', k)
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'stream' then
    v = redis.call('XRANGE', k, '-', '+')
    local info = redis.call('XINFO', 'STREAM', k)
    local last_id = '0-0'
    for i = 1, #info, 2 do if info[i] == 'last-generated-id' then last_id = info[i + 1] end end
    local groups = {}
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', k)) do
      local name, delivered
      for i = 1, #g, 2 do
        if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then delivered = g[i + 1] end
      end
      groups[#groups + 1] = {name, delivered}
    end
    meta = {last_id, groups}
  else return redis.error_reply('cannot snapshot key ' .. k .. ' of type ' .. t) end
  out[#out + 1] = {k, t, redis.call('PEXPIRETIME', k), v, meta}
end
return out
