-- Record a batch of decisions. KEYS[1]: the decision log stream.
-- ARGV: bucket key prefix, ttl_s, stream maxlen, decisions JSON, bucket width (s).
-- Each record is ONE hash field "{epoch}:{slate}" (contextual: ":{ctx}[:{actx}]" appended) in its time bucket (see _decisions.lua); the
-- bucket expires ttl_s after its last second, so records cost no key, no expiry entry and no field
-- names of their own. An id whose second is more than ttl_s in the past (already expired) or more
-- than an hour ahead of the server's clock is not recorded (feedback for it is refused as unknown);
-- the decision log entry is written for every decision. Returns the number of records written.
local prefix, ttl, maxlen, width = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[5])
local decisions = cjson.decode(ARGV[4])
local now = tonumber(redis.call('TIME')[1])
local written, expiry = 0, {}
for _, d in ipairs(decisions) do
  local slate = table.concat(d.arms, ',')
  local key, field, sec = decision_slot(prefix, d.decision_id, width)
  if key and sec + ttl >= now and sec <= now + 3600 then
    local value = d.epoch .. ':' .. slate
    if d.context and d.context ~= '' then
      -- base64 and commas only: ':' stays a safe separator ({epoch}:{slate}:{ctx}[:{actx}])
      value = value .. ':' .. d.context
      if d.arm_context and d.arm_context ~= '' then value = value .. ':' .. d.arm_context end
    end
    redis.call('HSET', key, field, value)
    expiry[key] = (math.floor(sec / width) + 1) * width + ttl
    written = written + 1
  end
  local fallback = d.fallback and 1 or 0
  local ts = string.format('%d', d.ts_ms)
  local entry = {'decision_id', d.decision_id, 'user_id', d.user_id,
             'arms', slate, 'arm', d.arms[1], 'propensity', string.format('%.6g', d.propensity),
             'epoch', d.epoch, 'fallback', fallback, 'ts', ts, 'slate', slate}
  -- Contextual decisions only (optional fields, absent otherwise): the encoded context the model saw,
  -- and each slate arm's encoded features (comma-joined, slate order).
  if d.context and d.context ~= '' then
    entry[#entry + 1] = 'ctx'; entry[#entry + 1] = d.context
    if d.arm_context and d.arm_context ~= '' then
      entry[#entry + 1] = 'actx'; entry[#entry + 1] = d.arm_context
    end
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(entry))
end
for key, at in pairs(expiry) do redis.call('EXPIREAT', key, string.format('%d', at)) end
return written
