-- Replace the namespace's keys with a snapshot's, atomically. ARGV: prefix, keys_json
-- keys_json: {"<suffix>": {"type": ..., "expire_at_ms": int, "value": ...}, ...} as built by snapshot();
-- streams also carry "last_id" and "groups" ([[name, last_delivered_id], ...]).
local p = ARGV[1]
local keys = cjson.decode(ARGV[2])
-- The namespace was wiped in chunks before this script (BanditStore.wipe); a key written since is
-- replaced whole here if the snapshot has it.
for suffix, _ in pairs(keys) do redis.call('UNLINK', p .. ':' .. suffix) end
for suffix, entry in pairs(keys) do
  local k = p .. ':' .. suffix
  local t, v = entry['type'], entry['value']
  if t == 'string' then redis.call('SET', k, v)
  elseif t == 'hash' then
    for f, x in pairs(v) do redis.call('HSET', k, f, x) end
  elseif t == 'set' then
    for _, x in ipairs(v) do redis.call('SADD', k, x) end
  elseif t == 'zset' then
    for _, pair in ipairs(v) do redis.call('ZADD', k, pair[2], pair[1]) end
  elseif t == 'list' then
    for _, x in ipairs(v) do redis.call('RPUSH', k, x) end
  elseif t == 'stream' then
    for _, e in ipairs(v) do
      local args = {'XADD', k, e[1]}
      for f, x in pairs(e[2]) do args[#args + 1] = f; args[#args + 1] = x end
      redis.call(unpack(args))
    end
    for _, g in ipairs(entry['groups'] or {}) do redis.call('XGROUP', 'CREATE', k, g[1], g[2], 'MKSTREAM') end
    if entry['last_id'] and redis.call('EXISTS', k) == 1 then redis.call('XSETID', k, entry['last_id']) end
  else return redis.error_reply('unknown key type ' .. tostring(t) .. ' for ' .. suffix) end
  -- Absolute expiry: a dedupe set restored after its window has passed is dropped at once.
  local at = tonumber(entry['expire_at_ms'])
  if at and at > 0 then redis.call('PEXPIREAT', k, at) end
end
publish(p, 'restore', tonumber(redis.call('HGET', p .. ':state', 'epoch')) or 0,
  redis.call('HGET', p .. ':state', 'mode') or '')
return 1
