package keys

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Policy defaults (ARCHITECTURE §6, research §4): a month per key, a day of
// pre-publication, JWKS cached for ten minutes by relying parties.
const (
	DefaultRotationPeriod = 30 * 24 * time.Hour
	DefaultPrePublication = 24 * time.Hour
	DefaultRetention      = 24 * time.Hour
	DefaultJWKSMaxAge     = 10 * time.Minute
	DefaultPollInterval   = 5 * time.Second
	DefaultRSABits        = 2048
)

// Policy is when keys are made, used and dropped. The zero value of any
// field means its default; Validate checks the whole.
type Policy struct {
	// Algorithms are the algorithms kept rotating and published, each with
	// its own active key. The first signs unless a client asked for
	// another (id_token_signed_response_alg). Default [RS256].
	Algorithms []string
	// RSABits is the modulus of generated RS256 keys: 2048 or 3072.
	RSABits int
	// RotationPeriod is how long a key signs before its successor takes
	// over.
	RotationPeriod time.Duration
	// PrePublication is how long a next key sits in the JWKS before it
	// signs; at least twice JWKSMaxAge, so every relying party that
	// honours Cache-Control has fetched it before it is used.
	PrePublication time.Duration
	// Retention is how long a retired key stays published after it last
	// signed; at least the longest token lifetime plus JWKSMaxAge.
	Retention time.Duration
	// JWKSMaxAge is the JWKS endpoint's Cache-Control max-age.
	JWKSMaxAge time.Duration
	// PollInterval is how often a Manager re-reads the key set from the
	// store, so changes made by another replica or the CLI are seen
	// within it (a Notifier store shortens that to at once).
	PollInterval time.Duration
}

// DefaultPolicy is the policy with every field at its default.
func DefaultPolicy() Policy { return Policy{}.withDefaults() }

func (p Policy) withDefaults() Policy {
	if len(p.Algorithms) == 0 {
		p.Algorithms = []string{RS256}
	} else {
		p.Algorithms = slices.Clone(p.Algorithms)
	}
	setDefault := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if p.RSABits == 0 {
		p.RSABits = DefaultRSABits
	}
	setDefault(&p.RotationPeriod, DefaultRotationPeriod)
	setDefault(&p.PrePublication, DefaultPrePublication)
	setDefault(&p.Retention, DefaultRetention)
	setDefault(&p.JWKSMaxAge, DefaultJWKSMaxAge)
	setDefault(&p.PollInterval, DefaultPollInterval)
	return p
}

// DefaultAlgorithm is the algorithm that signs when the client asked for
// none.
func (p Policy) DefaultAlgorithm() string {
	if len(p.Algorithms) == 0 {
		return RS256
	}
	return p.Algorithms[0]
}

// PolicyError is one problem with one policy field. Field is the setting's
// name under the configuration's keys section (rotation_period …).
type PolicyError struct {
	Field, Message string
}

func (e *PolicyError) Error() string { return "keys." + e.Field + ": " + e.Message }

// Bounds Validate enforces.
const (
	minRotationPeriod = time.Hour
	maxJWKSMaxAge     = 24 * time.Hour
	minPollInterval   = 100 * time.Millisecond
	maxPollInterval   = 5 * time.Minute
)

// Validate reports every problem with p (after defaults), each a
// *PolicyError, joined. longestToken is the longest lifetime of a token
// signed with these keys (ID tokens, JWT access tokens): a key must stay
// published until every token it signed has expired, and then for as long
// as a relying party may still hold a cached JWKS.
func (p Policy) Validate(longestToken time.Duration) error {
	p = p.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &PolicyError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	for i, a := range p.Algorithms {
		switch {
		case !slices.Contains(supported, a):
			bad(fmt.Sprintf("algorithms[%d]", i), "%q is not supported (want RS256, ES256 or EdDSA)", a)
		case slices.Index(p.Algorithms, a) != i:
			bad(fmt.Sprintf("algorithms[%d]", i), "%q is listed twice", a)
		}
	}
	if p.RSABits != 2048 && p.RSABits != 3072 {
		bad("rsa_bits", "must be 2048 or 3072, got %d", p.RSABits)
	}
	if p.JWKSMaxAge <= 0 || p.JWKSMaxAge > maxJWKSMaxAge {
		bad("jwks_max_age", "must be between 1s and %s, got %s", maxJWKSMaxAge, p.JWKSMaxAge)
	}
	if p.PrePublication < 2*p.JWKSMaxAge {
		bad("pre_publication", "must be at least twice keys.jwks_max_age (%s), so relying parties have fetched a key before it signs; got %s",
			2*p.JWKSMaxAge, p.PrePublication)
	}
	if p.RotationPeriod < minRotationPeriod {
		bad("rotation_period", "must be at least %s, got %s", minRotationPeriod, p.RotationPeriod)
	} else if p.RotationPeriod <= p.PrePublication {
		bad("rotation_period", "must be longer than keys.pre_publication (%s), got %s", p.PrePublication, p.RotationPeriod)
	}
	if need := longestToken + p.JWKSMaxAge; p.Retention < need {
		bad("retention", "must be at least the longest token lifetime (%s) plus keys.jwks_max_age (%s) = %s, so every token a retired key signed still verifies; got %s",
			longestToken, p.JWKSMaxAge, need, p.Retention)
	}
	if p.PollInterval < minPollInterval || p.PollInterval > maxPollInterval {
		bad("poll_interval", "must be between %s and %s, got %s", minPollInterval, maxPollInterval, p.PollInterval)
	}
	return errors.Join(errs...)
}

var supported = []string{RS256, ES256, EdDSA}
