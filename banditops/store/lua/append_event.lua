-- Append a lifecycle event (server timestamp) and tell listeners. ARGV: prefix, kind, fields_json, maxlen
local p = ARGV[1]
local id = add_event(p, ARGV[4], ARGV[2], ARGV[3])
local s = redis.call('HMGET', p .. ':state', 'epoch', 'mode')
publish(p, 'event', tonumber(s[1]) or 0, s[2] or '')
return id
