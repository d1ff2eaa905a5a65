package config_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/config"
)

// The signing-key policy (issue 4) is checked at load, each problem named
// by its setting.
func TestValidateKeys(t *testing.T) {
	key3 := bytes.Repeat([]byte{0x33}, 32)
	tests := []struct {
		name string
		mod  func(c *config.Config)
		want []string // nil = valid
	}{
		{"defaults", func(*config.Config) {}, nil},
		{"several algorithms", func(c *config.Config) { c.Keys.Algorithms = []string{"ES256", "RS256", "EdDSA"} }, nil},
		{"rsa 3072", func(c *config.Config) { c.Keys.RSABits = 3072 }, nil},
		{"unknown algorithm", func(c *config.Config) { c.Keys.Algorithms = []string{"RS256", "HS256"} }, []string{
			`keys.algorithms[1]: "HS256" is not supported (want RS256, ES256 or EdDSA)`,
		}},
		{"algorithm twice", func(c *config.Config) { c.Keys.Algorithms = []string{"ES256", "ES256"} }, []string{
			`keys.algorithms[1]: "ES256" is listed twice`,
		}},
		{"rsa 1024", func(c *config.Config) { c.Keys.RSABits = 1024 }, []string{"keys.rsa_bits: must be 2048 or 3072, got 1024"}},
		{"pre-publication shorter than twice max-age", func(c *config.Config) { c.Keys.PrePublication = 15 * time.Minute }, []string{
			"keys.pre_publication: must be at least twice keys.jwks_max_age (20m0s), so relying parties have fetched a key before it signs; got 15m0s",
		}},
		{"rotation not longer than pre-publication", func(c *config.Config) { c.Keys.RotationPeriod = 24 * time.Hour }, []string{
			"keys.rotation_period: must be longer than keys.pre_publication (24h0m0s), got 24h0m0s",
		}},
		{"rotation too fast", func(c *config.Config) { c.Keys.RotationPeriod = time.Minute }, []string{
			"keys.rotation_period: must be at least 1h0m0s, got 1m0s",
		}},
		{"retention shorter than tokens plus max-age", func(c *config.Config) {
			c.Tokens.IDTokenTTL = 12 * time.Hour
			c.Keys.Retention = 12 * time.Hour
		}, []string{
			"keys.retention: must be at least the longest token lifetime (12h0m0s) plus keys.jwks_max_age (10m0s) = 12h10m0s, so every token a retired key signed still verifies; got 12h0m0s",
		}},
		{"max-age zero", func(c *config.Config) { c.Keys.JWKSMaxAge = -time.Second }, []string{
			"keys.jwks_max_age: must be between 1s and 24h0m0s, got -1s",
		}},
		{"poll too often", func(c *config.Config) { c.Keys.PollInterval = time.Millisecond }, []string{
			"keys.poll_interval: must be between 100ms and 5m0s, got 1ms",
		}},
		{"previous master keys", func(c *config.Config) {
			c.MasterKey, c.CryptoKey = key1, key2
			c.PreviousMasterKeys = config.KeyList{key3}
			c.PreviousCryptoKeys = config.KeyList{key3}
		}, nil},
		{"previous key equals current, wrong size", func(c *config.Config) {
			c.MasterKey, c.CryptoKey = key1, key2
			c.PreviousMasterKeys = config.KeyList{key1, key3[:5]}
		}, []string{
			"previous_master_keys[0]: is the same as master_key; list only the other keys that must still open",
			"previous_master_keys[1]: must be 32 bytes, got 5",
		}},
		{"previous without current", func(c *config.Config) { c.PreviousCryptoKeys = config.KeyList{key3} }, []string{
			"previous_crypto_keys: needs crypto_key set explicitly: a previous key only makes sense beside the current one",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.mod(c)
			if got := problems(c.Validate()); !slices.Equal(got, tt.want) {
				t.Errorf("Validate()\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLoadKeys(t *testing.T) {
	key3 := bytes.Repeat([]byte{0x33}, 32)
	key4 := bytes.Repeat([]byte{0x44}, 32)
	path := writeFile(t, "gongpai.yaml", fmt.Sprintf(`
master_key: %s
crypto_key: %s
previous_master_keys:
  - %s
  - %s
keys:
  algorithms: [ES256, RS256]
  rotation_period: 720h
  pre_publication: 48h
  retention: 72h
  jwks_max_age: 5m
`, b64(key1), b64(key2), b64(key3), b64(key4)))
	c, err := config.Load(path, []string{"GONGPAI_PREVIOUS_CRYPTO_KEYS=" + b64(key3) + "," + b64(key4), "GONGPAI_KEYS_POLL_INTERVAL=2s"})
	if err != nil {
		t.Fatal(err)
	}
	p := c.KeyPolicy()
	if !slices.Equal(p.Algorithms, []string{"ES256", "RS256"}) || p.PrePublication != 48*time.Hour || p.Retention != 72*time.Hour ||
		p.JWKSMaxAge != 5*time.Minute || p.PollInterval != 2*time.Second || p.RotationPeriod != 720*time.Hour {
		t.Errorf("KeyPolicy() = %+v", p)
	}
	if len(c.PreviousMasterKeys) != 2 || !bytes.Equal(c.PreviousMasterKeys[1], key4) {
		t.Errorf("previous_master_keys not decoded from the YAML list")
	}
	if len(c.PreviousCryptoKeys) != 2 || !bytes.Equal(c.PreviousCryptoKeys[0], key3) {
		t.Errorf("previous_crypto_keys not decoded from the comma-separated variable")
	}
	red := c.Redacted()
	for _, k := range [][]byte{key3, key4} {
		if strings.Contains(red, b64(k)) || strings.Contains(fmt.Sprintf("%v %+v", c.PreviousMasterKeys, c), b64(k)) {
			t.Errorf("a previous key shows in the printed configuration")
		}
	}
	if !strings.Contains(red, "previous_master_keys: xxxxx\n") {
		t.Errorf("Redacted() lacks the redacted previous_master_keys line:\n%s", red)
	}

	// A bad key in the list is named, never echoed.
	_, err = config.Load("", []string{"GONGPAI_MASTER_KEY=" + b64(key1), "GONGPAI_PREVIOUS_MASTER_KEYS=" + b64(key3) + ",not*base64"})
	if got := problems(err); len(got) != 1 || !strings.HasPrefix(got[0], "previous_master_keys: item 1 is not valid base64") || strings.Contains(got[0], "not*base64") {
		t.Errorf("bad previous key: got %q", got)
	}
}
