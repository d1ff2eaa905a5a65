// Package keys owns the token-signing keys: it generates them, seals their
// private halves at rest, picks the one that signs, publishes the public
// halves for the JWKS, and runs their lifecycle (docs/keys.md).
//
// Design. Every key has a stored state (next → active → retired →
// removed, or revoked) and an ActivatesAt instant. The signing key of an
// algorithm is not a flag flipped by one replica: it is the newest key of
// that algorithm whose ActivatesAt has passed. Every replica reading the
// same rows at the same time picks the same key, so a rotation needs no
// coordination beyond publishing the next key early enough (Policy:
// PrePublication at least twice the JWKS max-age). Time alone also
// retires the superseded key and, after the Retention, takes it out of the
// JWKS; the stored state follows when the rotation job records it. A
// revoked key is in no set from the moment a replica reads it.
//
// Writes are compare-and-swap. State changes go through UpdateSigningKey's
// version check. A new key's kid is derived from the rows that made the
// decision (the oldest kid and the number of keys of its algorithm), so two
// processes that decide the same thing insert the same kid and the store
// lets one win; the loser gets storage.ErrConflict, re-reads, and moves on.
// The rotation job (Manager.Run, one Tick per poll interval) maintains the
// set; a store that implements Locker (postgres advisory lock) lets one
// replica do it, and one that implements Notifier (LISTEN/NOTIFY) tells
// the others at once instead of at their next poll.
//
// A Manager keeps an immutable snapshot behind an atomic pointer. Private
// keys are unsealed once per key, never per signature, so Signer, Published
// and JWKS cost a pointer load; a token with an unknown kid makes the
// Manager re-read the store, at most once per interval.
package keys
