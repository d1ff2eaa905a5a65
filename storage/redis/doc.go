// Package redis is gongpai's production ephemeral store: auth requests,
// auth codes, SSO sessions, opaque access tokens, rate-limit windows and
// TOTP last-used steps, kept in Redis (standalone, sentinel or cluster,
// through go-redis's UniversalClient) so that any replica serves any step
// of any flow.
//
// # Expiry
//
// Every record carries its own expiry (field "exp", unix microseconds) and
// every read compares it with Options.Now, so a record is ErrNotFound the
// instant it expires by the store's clock. Every key also gets a real Redis
// TTL of (expiry − now), at least one second, set in the same atomic step
// that creates the key, so nothing outlives its use; no key is ever written
// without one.
//
// # Atomicity
//
// Each write is one Lua script (EVALSHA, falling back to EVAL after a
// script-cache flush) or one command, and each script touches exactly one
// key, so every script is valid in cluster mode without hash-tag tricks.
// Operations that span keys (an auth code and its request, a record and its
// per-employee index) are ordered so that a crash between the steps leaves
// nothing exploitable: indexes are written before the records they point
// to, and a code is only honoured when its request names it.
//
// # Key layout
//
// With P the key prefix (default "gongpai:"):
//
//	P ar:<id>                 hash  exp, v (JSON), res (JSON AuthResult once completed), code (sha256 of its code)
//	P code:<sha256(code)>     hash  ar, exp, taken
//	P sess:<id>               hash  exp, sub, v (JSON), n, c:<client> (clients added later, value = order)
//	P {sub:<subject>}:sess    zset  session IDs scored by expiry
//	P at:<sha256(id)>         hash  exp, sub, fam, v (JSON, ID left out)
//	P {sub:<subject>}:at      zset  sha256(token ID) scored by expiry
//	P {fam:<family>}:at       zset  sha256(token ID) scored by expiry
//	P hit:<key>               hash  end (window end), n
//	P {sub:<subject>}:totp    hash  step, exp
//
// Codes and opaque access-token IDs are bearer secrets: only their SHA-256
// appears in Redis. The per-employee and per-family indexes let
// DeleteSessionsOfSubject and DeleteAccessTokensOf* touch only the records
// involved — the store never runs KEYS or SCAN. Index members whose record
// is gone, or belongs to someone else, are dropped lazily; members past
// their expiry are pruned whenever the index is written. A key prefix
// containing a {hash tag} would put every key in one cluster slot; don't.
package redis
