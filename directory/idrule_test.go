package directory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/directory"
)

func TestParseRuleErrors(t *testing.T) {
	tests := []struct {
		rule string
		want string // exact error; "" = parses
	}{
		{"{seq:1}", ""},
		{"{dept}{yyyy}{seq:3}", ""},
		{"{entity}-{yy}{mm}-{seq:9}", ""},
		{"E{seq:4}X", ""},
		{"", "empty rule: it needs at least a {seq:N} token"},
		{"{dept}{yyyy}", "no {seq:N} token: a rule needs exactly one so that IDs differ"},
		{"ABC", "no {seq:N} token: a rule needs exactly one so that IDs differ"},
		{"{seq:3}{seq:2}", "at offset 7: second {seq:N} token (the first is at offset 0); a rule has exactly one"},
		{"{seq}", "at offset 0: {seq} needs a width, as in {seq:3}"},
		{"{seq:0}", `at offset 0: seq width "0" must be one digit from 1 to 9, as in {seq:3}`},
		{"{seq:10}", `at offset 0: seq width "10" must be one digit from 1 to 9, as in {seq:3}`},
		{"{seq:x}", `at offset 0: seq width "x" must be one digit from 1 to 9, as in {seq:3}`},
		{"{seq:-1}", `at offset 0: seq width "-1" must be one digit from 1 to 9, as in {seq:3}`},
		{"{seq:}", `at offset 0: seq width "" must be one digit from 1 to 9, as in {seq:3}`},
		{"AB{year}{seq:3}", "at offset 2: unknown token {year}; known: {entity} {dept} {yyyy} {yy} {mm} {seq:N}"},
		{"{DEPT}{seq:3}", "at offset 0: unknown token {DEPT}; known: {entity} {dept} {yyyy} {yy} {mm} {seq:N}"},
		{"{}{seq:3}", "at offset 0: unknown token {}; known: {entity} {dept} {yyyy} {yy} {mm} {seq:N}"},
		{"{dept}{seq:3", `at offset 6: token "{seq:3" is not closed with '}'`},
		{"AB}{seq:3}", "at offset 2: '}' without an opening '{'"},
		{"ab{seq:3}", "at offset 0: lower-case letter 'a'; literal text is upper case (A-Z, 0-9, -)"},
		{"A_B{seq:3}", "at offset 1: character '_' is not allowed; literal text is A-Z, 0-9 and -"},
		{"A B{seq:3}", "at offset 1: character ' ' is not allowed; literal text is A-Z, 0-9 and -"},
		{"工{seq:3}", "at offset 0: character '工' is not allowed; literal text is A-Z, 0-9 and -"},
		{strings.Repeat("A", 130) + "{seq:3}", "rule is 137 bytes long, at most 128 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			r, err := directory.ParseRule(tt.rule)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseRule(%q) = %v, want success", tt.rule, err)
				}
				if r.String() != tt.rule {
					t.Errorf("String() = %q, want %q", r.String(), tt.rule)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRule(%q) succeeded, want error %q", tt.rule, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("ParseRule(%q) error\n got %q\nwant %q", tt.rule, err, tt.want)
			}
		})
	}
}

func TestRuleFormat(t *testing.T) {
	v := directory.RuleVars{Entity: "ACME", Dept: "HR01", Date: time.Date(2023, time.March, 5, 0, 0, 0, 0, time.UTC)}
	tests := []struct {
		rule    string
		seq     int64
		want    string
		wantKey string
		maxSeq  int64
	}{
		{"{dept}{yyyy}{seq:3}", 1, "HR012023001", "ACME/HR012023", 999},
		{"{dept}{yyyy}{seq:3}", 42, "HR012023042", "ACME/HR012023", 999},
		{"{entity}{seq:5}", 7, "ACME00007", "ACME/ACME", 99999},
		{"{yy}{mm}{seq:2}", 3, "230303", "ACME/2303", 99},
		{"E-{yyyy}-{seq:1}", 9, "E-2023-9", "ACME/E-2023-", 9},
		{"{seq:4}{dept}", 12, "0012HR01", "ACME/HR01", 9999},
		{"X{seq:9}", 1, "X000000001", "ACME/X", 999999999},
		// Wider than the width: written in full (Onboard refuses it first).
		{"{seq:2}", 123, "123", "ACME/", 99},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			r, err := directory.ParseRule(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Format(v, tt.seq); got != tt.want {
				t.Errorf("Format(%d) = %q, want %q", tt.seq, got, tt.want)
			}
			if got := r.SequenceKey(v); got != tt.wantKey {
				t.Errorf("SequenceKey = %q, want %q", got, tt.wantKey)
			}
			if got := r.MaxSeq(); got != tt.maxSeq {
				t.Errorf("MaxSeq = %d, want %d", got, tt.maxSeq)
			}
		})
	}
}

func TestRuleDateIsInItsOwnLocation(t *testing.T) {
	r, err := directory.ParseRule("{yyyy}{mm}{seq:1}")
	if err != nil {
		t.Fatal(err)
	}
	// 1 January 2024, 00:30 in Shanghai is still 2023-12 in UTC: the rule
	// follows the date as the caller gave it.
	sh := time.FixedZone("CST", 8*3600)
	v := directory.RuleVars{Date: time.Date(2024, time.January, 1, 0, 30, 0, 0, sh)}
	if got, want := r.Format(v, 1), "2024011"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
}

func TestRuleSequenceKeyPerPrefix(t *testing.T) {
	r, err := directory.ParseRule("{dept}{yyyy}{seq:3}")
	if err != nil {
		t.Fatal(err)
	}
	d23 := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	d24 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	keys := map[string]bool{}
	for _, v := range []directory.RuleVars{
		{Entity: "ACME", Dept: "HR01", Date: d23},
		{Entity: "ACME", Dept: "HR01", Date: d24},
		{Entity: "ACME", Dept: "IT01", Date: d23},
		{Entity: "BETA", Dept: "HR01", Date: d23}, // same rendering, other entity
	} {
		keys[r.SequenceKey(v)] = true
	}
	if len(keys) != 4 {
		t.Errorf("got %d distinct sequence keys %v, want 4", len(keys), keys)
	}
}

func TestRuleMatch(t *testing.T) {
	v := directory.RuleVars{Entity: "ACME", Dept: "HR01", Date: time.Date(2023, 3, 5, 0, 0, 0, 0, time.UTC)}
	r, err := directory.ParseRule("{dept}{yyyy}{seq:3}")
	if err != nil {
		t.Fatal(err)
	}
	const mismatch = `does not match rule {dept}{yyyy}{seq:3}: want HR012023###, # being a digit`
	tests := []struct {
		id      string
		wantErr bool
	}{
		{"HR012023001", false},
		{"HR012023999", false},
		{"HR012023000", false},
		{"HR01202301", true},   // too short
		{"HR0120230001", true}, // too long
		{"HR012024001", true},  // other year
		{"IT012023001", true},  // other department
		{"HR0120230A1", true},  // not digits
		{"hr012023001", true},  // not canonical
		{"", true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			err := r.Match(tt.id, v)
			if !tt.wantErr {
				if err != nil {
					t.Errorf("Match(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Match(%q) = nil, want an error", tt.id)
			}
			if want := `"` + tt.id + `" ` + mismatch; err.Error() != want {
				t.Errorf("Match(%q) error\n got %q\nwant %q", tt.id, err, want)
			}
		})
	}

	// The sequence in the middle, with a literal suffix.
	r2, err := directory.ParseRule("{entity}-{seq:2}-X")
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Match("ACME-07-X", v); err != nil {
		t.Errorf("Match(ACME-07-X) = %v", err)
	}
	if err := r2.Match("ACME-07-Y", v); err == nil {
		t.Error("Match(ACME-07-Y) = nil, want an error")
	}
}

// Every ID Format produces, Match accepts.
func TestRuleFormatMatchRoundTrip(t *testing.T) {
	v := directory.RuleVars{Entity: "ACME", Dept: "HR01", Date: time.Date(2023, 11, 5, 0, 0, 0, 0, time.UTC)}
	for _, rule := range []string{"{dept}{yyyy}{seq:3}", "{entity}{yy}{mm}{seq:4}", "{seq:2}{dept}", "A-{seq:1}-B"} {
		r, err := directory.ParseRule(rule)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int64{1, 5, r.MaxSeq()} {
			id := r.Format(v, n)
			if err := r.Match(id, v); err != nil {
				t.Errorf("rule %s: Match(Format(%d) = %q) = %v", rule, n, id, err)
			}
		}
	}
}
