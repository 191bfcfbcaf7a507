-- Accept one feedback at most once. KEYS: decision record, feedback stream (both written).
-- ARGV: decision_id, reward, maxlen, arm ('' = unnamed), position ('' = unnamed), experiment state key
-- (only read, so not declared: a declared key must be writable by the caller's ACL user).
-- A decision recorded without a reward kind (a fallback made before the replica saw a posterior)
-- is validated against the experiment's current kind. A slate's reward goes to the arm named (or
-- at the position named); a one-arm decision defaults to its arm.
local d = redis.call('HMGET', KEYS[1], 'arm', 'epoch', 'kind', 'feedback', 'ts', 'slate', 'ctx', 'actx')
if not d[1] then return {'unknown', ''} end
if d[4] then return {'duplicate', d[4]} end
local r = tonumber(ARGV[2])
local kind = d[3]
if kind == '' or not kind then kind = redis.call('HGET', ARGV[6], 'kind') or '' end
if kind == 'bernoulli' and r ~= 0 and r ~= 1 then return {'invalid', 'a bernoulli reward must be 0 or 1'} end
local slate = {}
for a in string.gmatch(d[6] or d[1], '[^,]+') do slate[#slate + 1] = a end
local arm, position = ARGV[4], tonumber(ARGV[5])
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
local entry = {'decision_id', ARGV[1], 'arm', arm, 'epoch', d[2], 'reward', ARGV[2], 'decided_ms', d[5],
               'position', position}
-- A contextual decision's context (and the rewarded arm's features) travel with its reward to the fold.
if d[7] then
  entry[#entry + 1] = 'ctx'; entry[#entry + 1] = d[7]
  if d[8] then
    local j = 0
    for z in string.gmatch(d[8], '[^,]+') do
      if j == position then entry[#entry + 1] = 'actx'; entry[#entry + 1] = z end
      j = j + 1
    end
  end
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(entry))
redis.call('HSET', KEYS[1], 'feedback', ARGV[2], 'feedback_id', id)
return {'accepted', id}
