-- One chunk of a fold's claim, in one round trip. KEYS: feedback stream, the fold's marker
-- ({ns}:fold:{batch_id}, shared by every chunk of the fold).
-- ARGV: group, consumer (the batch id for chunk 0, '{batch_id}#c{k}' for chunk k), max_entries
-- ('' = the pending claim only, never a new one), marker TTL (s), chunk index k, the fold call's token.
-- A consumer's pending claim comes first (a retry or an adopter sees the WHOLE earlier chunk: no
-- COUNT; a chunk is at most one call's max_entries, so that read is bounded too). Otherwise, new
-- entries are claimed only by the fold call that owns the batch id: chunk 0 sets the marker
-- ('{claim server ms}:{token}') with NX, so a batch id claims in one call of its life only; a later
-- chunk claims only while the marker carries this call's token. A round that found nothing leaves no
-- key behind. The chunk is answered as columns (space-joined text: ids, arms, epochs, rewards; then
-- the contextual fields as arrays, empty when no entry has a context): a numpy split on the client
-- instead of a RESP reply of a dozen bulk strings per entry. A value that is not a plain number
-- (or a missing field, or a trimmed entry) is sent as 'nan': the client re-reads that entry and
-- says exactly why it cannot be folded.
local stream, marker = KEYS[1], KEYS[2]
local group, consumer, max_entries, ttl, chunk, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local function entries_of(reply)
  if not reply or not reply[1] then return {} end
  return reply[1][2]
end
local function claim_new()
  return entries_of(redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max_entries,
                               'STREAMS', stream, '>'))
end
local entries = entries_of(redis.call('XREADGROUP', 'GROUP', group, consumer, 'STREAMS', stream, '0'))
if #entries == 0 and max_entries ~= '' then
  if chunk == '0' then
    local t = redis.call('TIME')
    local ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
    if redis.call('SET', marker, ms .. ':' .. token, 'NX', 'EX', ttl) then
      entries = claim_new()
      if #entries == 0 then redis.call('DEL', marker) end
    end
  else
    local owner = redis.call('GET', marker)
    if owner and string.sub(owner, -(#token + 1)) == ':' .. token then entries = claim_new() end
  end
end
local value = redis.call('GET', marker) or false
if #entries == 0 then
  redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)  -- an empty consumer carries no state
  return {value, '', '', '', '', {}, {}}
end
-- Memoised per column: a chunk holds a handful of distinct arms, epochs and (0/1) rewards.
local function checker(pattern)
  local seen = {}
  return function(v)
    if not v then return 'nan' end
    local out = seen[v]
    if not out then
      out = (string.match(v, pattern) and tonumber(v)) and v or 'nan'
      seen[v] = out
    end
    return out
  end
end
local int_text, number_text = checker('^%d+$'), checker('^[-+]?[%d.]+[eE]?[-+]?%d*$')
local ids, arms, epochs, rewards, ctx, actx = {}, {}, {}, {}, {}, {}
local contextual = false
for i, e in ipairs(entries) do
  local flat = e[2]
  local arm, epoch, reward, c, z
  local n = flat and #flat or 0
  if flat and n <= 16 and flat[3] == 'arm' and flat[5] == 'epoch' and flat[7] == 'reward'
      and (n <= 12 or flat[13] == 'ctx') and (n <= 14 or flat[15] == 'actx') then
    arm, epoch, reward = flat[4], flat[6], flat[8]  -- accept_feedback's field order: no table per entry
    if flat[13] == 'ctx' then c = flat[14] end
    if flat[15] == 'actx' then z = flat[16] end
  elseif flat then
    local f = {}
    for j = 1, #flat, 2 do f[flat[j]] = flat[j + 1] end
    arm, epoch, reward, c, z = f.arm, f.epoch, f.reward, f.ctx, f.actx
  end
  ids[i] = e[1]
  arms[i], epochs[i], rewards[i] = int_text(arm), int_text(epoch), number_text(reward)
  ctx[i], actx[i] = c or '', z or ''
  if ctx[i] ~= '' then contextual = true end
end
if not contextual then ctx, actx = {}, {} end
return {value, table.concat(ids, ' '), table.concat(arms, ' '), table.concat(epochs, ' '),
        table.concat(rewards, ' '), ctx, actx}
