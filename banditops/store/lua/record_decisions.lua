local ttl = tonumber(ARGV[2])
local maxlen = ARGV[3]
local decisions = cjson.decode(ARGV[4])
for _, d in ipairs(decisions) do
  local key = ARGV[1] .. d.decision_id
  local fallback = d.fallback and 1 or 0
  local ts = string.format('%d', d.ts_ms)
  redis.call('HSET', key, 'arm', d.arms[1], 'epoch', d.epoch, 'kind', d.reward_kind, 'fallback', fallback, 'ts', ts,
             'slate', table.concat(d.arms, ','))
  local entry = {'decision_id', d.decision_id, 'user_id', d.user_id,
             'arms', table.concat(d.arms, ','), 'arm', d.arms[1], 'propensity', string.format('%.6g', d.propensity),
             'epoch', d.epoch, 'fallback', fallback, 'ts', ts,
             'slate', table.concat(d.arms, ',')}
  -- Contextual decisions only (optional fields, absent otherwise): the encoded context the model saw,
  -- and each slate arm's encoded features (comma-joined, slate order).
  if d.context and d.context ~= '' then
    redis.call('HSET', key, 'ctx', d.context)
    entry[#entry + 1] = 'ctx'; entry[#entry + 1] = d.context
    if d.arm_context and d.arm_context ~= '' then
      redis.call('HSET', key, 'actx', d.arm_context)
      entry[#entry + 1] = 'actx'; entry[#entry + 1] = d.arm_context
    end
  end
  redis.call('EXPIRE', key, ttl)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(entry))
end
return #decisions
