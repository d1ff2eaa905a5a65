package config

import (
	"strings"
	"testing"
)

// Every setting in Config can be set from the environment (and so from
// YAML, which shares setLeaf): adding a field of a type setLeaf does not
// know fails here, not at an operator's first use.
func TestEverySettingIsSettable(t *testing.T) {
	vars := envVars(Default())
	if len(vars) < 35 {
		t.Fatalf("only %d settings found", len(vars))
	}
	for name, v := range vars {
		if err := setLeaf(v.value, "1"); err != nil && strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s (%s): %v", name, v.path, err)
		}
		if !strings.HasPrefix(name, EnvPrefix) || strings.ContainsAny(name, ".-") || name != strings.ToUpper(name) {
			t.Errorf("bad variable name %q for %s", name, v.path)
		}
	}
	for _, want := range []string{"GONGPAI_ISSUER", "GONGPAI_STORE_DSN", "GONGPAI_TOKENS_ACCESS_TOKEN_TTL", "GONGPAI_MASTER_KEY", "GONGPAI_MASTER_KEY_FILE", "GONGPAI_EPHEMERAL_REDIS_MASTER_NAME", "GONGPAI_LOG_LEVEL"} {
		if _, ok := vars[want]; !ok {
			t.Errorf("no variable %s", want)
		}
	}
}
