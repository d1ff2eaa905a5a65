// Package keys owns the token-signing keys: it generates them, seals their
// private halves at rest, picks the one that signs, and publishes the public
// halves for the JWKS.
//
// Design. Every key has a state (next → active → retired, or revoked) and an
// ActivatesAt instant. The signing key is not a flag flipped by one replica:
// it is the newest key in state next or active whose ActivatesAt has passed.
// Every replica reading the same rows at the same time picks the same key, so
// a rotation needs no coordination beyond publishing the next key early
// enough. The rotation policy (when to create a next key, when a retired key
// leaves the JWKS) is a later layer on top of Load; Load only guarantees that
// a usable signing key exists.
//
// A Manager keeps an immutable snapshot behind an atomic pointer. The private
// key is unsealed once per Load, never per signature, so Active and Published
// cost a pointer load.
package keys
