package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"
)

// The Lua scripts. Each touches exactly KEYS[1], so each is legal in
// cluster mode. Instants are unix microseconds passed in ARGV (the store's
// clock, not Redis's), TTLs are milliseconds. Every script that creates a
// key gives it a TTL in the same atomic step.

// createScript writes a new hash with a TTL; 0 when the key exists.
// ARGV: ttl, then field/value pairs.
var createScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

// setIfLiveScript sets one field of a live record, keeping its TTL; 0 when
// the record is missing or expired. ARGV: now, field, value.
var setIfLiveScript = goredis.NewScript(`
local exp = redis.call('HGET', KEYS[1], 'exp')
if not exp or tonumber(exp) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1`)

// bindCodeScript gives a live auth request its one code. 1 on success
// (or when it already has this very code: a retried call), 0 when it has
// another code, -1 when it is missing or expired. ARGV: now, code hash.
var bindCodeScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'exp', 'code')
if not v[1] or tonumber(v[1]) <= tonumber(ARGV[1]) then return -1 end
if v[2] then
	if v[2] == ARGV[2] then return 1 end
	return 0
end
redis.call('HSET', KEYS[1], 'code', ARGV[2])
return 1`)

// takeCodeScript marks an unexpired, untaken code taken and returns the ID
// of its auth request; nil otherwise. The taken mark stays until the key's
// TTL ends, so a taken code stays taken. ARGV: now.
var takeCodeScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'ar', 'exp', 'taken')
if not v[1] or v[3] or tonumber(v[2]) <= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'taken', '1')
return v[1]`)

// addClientScript records a client on a live session once, numbering
// clients in the order they were added; 0 when the session is missing or
// expired. ARGV: now, client ID.
var addClientScript = goredis.NewScript(`
local exp = redis.call('HGET', KEYS[1], 'exp')
if not exp or tonumber(exp) <= tonumber(ARGV[1]) then return 0 end
local f = 'c:' .. ARGV[2]
if redis.call('HEXISTS', KEYS[1], f) == 0 then
	redis.call('HSET', KEYS[1], f, redis.call('HINCRBY', KEYS[1], 'n', 1))
end
return 1`)

// indexAddScript adds a member to a per-employee or per-family index,
// scored by the member's expiry; prunes members already expired; and
// stretches the index's TTL to cover the new member.
// ARGV: member, expiry, now, ttl.
var indexAddScript = goredis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1`)

// takeIfOwnedScript deletes a record and returns its fields (HGETALL
// order) when its field ARGV[1] equals ARGV[2]; nil when the record is
// gone or belongs to someone else (an index member left by a failed
// create).
var takeIfOwnedScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return false end
local v = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return v`)

// hitScript counts one hit in a fixed window that starts at the first hit.
// ARGV: now, end of a window starting now, window as a TTL.
var hitScript = goredis.NewScript(`
local e = redis.call('HGET', KEYS[1], 'end')
if e and tonumber(e) > tonumber(ARGV[1]) then return redis.call('HINCRBY', KEYS[1], 'n', 1) end
redis.call('HSET', KEYS[1], 'end', ARGV[2], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// totpScript records a TOTP step when it is greater than the live
// recorded one; 0 when it is not. ARGV: step, now, expiry, ttl.
var totpScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'step', 'exp')
if v[1] and tonumber(v[2]) > tonumber(ARGV[2]) and tonumber(v[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'step', ARGV[1], 'exp', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`)

// scriptCall is one invocation in a pipelined batch.
type scriptCall struct {
	key  string
	args []any
}

// runAll runs script once per call in one pipeline (a cluster client
// splits it per node) and returns the commands in order. Calls refused
// with NOSCRIPT — the script cache was flushed, say by a restart — are
// sent again with EVAL. A transport failure is returned; replies,
// redis.Nil and script errors included, are left on the commands.
func (s *Store) runAll(ctx context.Context, script *goredis.Script, calls []scriptCall) ([]*goredis.Cmd, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.Cmd, len(calls))
	pipe := s.c.Pipeline()
	for i, c := range calls {
		cmds[i] = script.EvalSha(ctx, pipe, []string{c.key}, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	retry := s.c.Pipeline()
	for i, cmd := range cmds {
		if goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			cmds[i] = script.Eval(ctx, retry, []string{calls[i].key}, calls[i].args...)
		}
	}
	if retry.Len() > 0 {
		_, _ = retry.Exec(ctx)
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) && !isReply(err) {
			return nil, err
		}
	}
	return cmds, nil
}

// isReply reports whether err is an error reply from Redis rather than a
// failure to get one.
func isReply(err error) bool {
	var rerr goredis.Error
	return errors.As(err, &rerr)
}
