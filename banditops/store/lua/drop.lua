-- Delete every key of the namespace (the experiment and its streams); ARGV: prefix. Returns the count.
-- For throwaway namespaces (the deployed-loop simulator's seeds): a live experiment is wiped by reset.
local keys = namespace_keys(ARGV[1])
for _, k in ipairs(keys) do redis.call('UNLINK', k) end
return #keys
