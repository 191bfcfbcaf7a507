-- Accept one feedback at most once. KEYS: the feedback stream, legacy record ({ns}:decision:{id},
-- written by versions before the bucketed records; read until its TTL ends).
-- ARGV: bucket key prefix, bucket width, decision_id, reward, maxlen, arm ('' = unnamed),
-- position ('' = unnamed), experiment state key (only read, so not declared: a declared key must
-- be writable by the caller's ACL user).
-- The record "{epoch}:{slate}[:{ctx}[:{actx}]]" is compacted to "={reward}" in the same script that
-- appends the feedback entry (which carries everything the fold and the evaluation need, the
-- contextual decision's context included): a replay of the same reward is a duplicate, a different
-- one a conflict, until the bucket expires. The reward is validated against the experiment's kind
-- from the state hash. A slate's reward goes to the arm named (or at the position named); a one-arm
-- decision defaults to its arm.
local key, field, sec = decision_slot(ARGV[1], ARGV[3], tonumber(ARGV[2]))
local v = key and redis.call('HGET', key, field)
local epoch, slate_text, decided_ms, legacy, ctx, actx
if v then
  if string.sub(v, 1, 1) == '=' then return {'duplicate', string.sub(v, 2)} end
  epoch, slate_text, ctx, actx = string.match(v, '^([^:]*):([^:]*):?([^:]*):?(.*)$')
  decided_ms = string.format('%d', sec * 1000)
else
  local d = redis.call('HMGET', KEYS[2], 'arm', 'epoch', 'feedback', 'ts', 'slate', 'ctx', 'actx')
  if not d[1] then return {'unknown', ''} end
  if d[3] then return {'duplicate', d[3]} end
  epoch, slate_text, decided_ms, legacy, ctx, actx = d[2], d[5] or d[1], d[4], true, d[6], d[7]
end
local r = tonumber(ARGV[4])
local kind = redis.call('HGET', ARGV[8], 'kind') or ''
if kind == 'bernoulli' and r ~= 0 and r ~= 1 then return {'invalid', 'a bernoulli reward must be 0 or 1'} end
local slate = {}
for a in string.gmatch(slate_text, '[^,]+') do slate[#slate + 1] = a end
local arm, position = ARGV[6], tonumber(ARGV[7])
if position then
  if position >= #slate then
    return {'invalid', 'position must be 0..' .. (#slate - 1) .. ' (the slate has ' .. #slate .. ' arms)'}
  end
  if arm ~= '' and slate[position + 1] ~= arm then
    return {'invalid', 'arm ' .. arm .. ' is not at position ' .. position .. ' of the slate ' .. table.concat(slate, ',')}
  end
  arm = slate[position + 1]
elseif arm ~= '' then
  for i, a in ipairs(slate) do if a == arm then position = i - 1 end end
  if not position then return {'invalid', 'arm ' .. arm .. ' is not in the slate ' .. table.concat(slate, ',')} end
elseif #slate == 1 then
  arm, position = slate[1], 0
else
  return {'invalid', "the decision showed a slate of " .. #slate .. " arms (" .. table.concat(slate, ',') ..
    "): send 'arm' (the clicked arm) or 'position' (its 0-based slot) with the reward"}
end
local entry = {'decision_id', ARGV[3], 'arm', arm, 'epoch', epoch, 'reward', ARGV[4], 'decided_ms', decided_ms,
               'position', position}
-- A contextual decision's context (and the rewarded arm's features) travel with its reward to the fold.
if ctx and ctx ~= '' then
  entry[#entry + 1] = 'ctx'; entry[#entry + 1] = ctx
  if actx and actx ~= '' then
    local j = 0
    for z in string.gmatch(actx, '[^,]+') do
      if j == position then entry[#entry + 1] = 'actx'; entry[#entry + 1] = z end
      j = j + 1
    end
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', unpack(entry))
if legacy then
  redis.call('HSET', KEYS[2], 'feedback', ARGV[4], 'feedback_id', id)
else
  redis.call('HSET', key, field, '=' .. ARGV[4])
end
return {'accepted', id}
