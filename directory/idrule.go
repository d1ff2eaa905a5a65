package directory

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// An employee-ID rule is a template such as "{dept}{yyyy}{seq:3}" that an
// entity uses to number its employees. Tokens:
//
//	{entity}  the legal-entity code
//	{dept}    the department code
//	{yyyy}    the four-digit year of the hire date
//	{yy}      its last two digits
//	{mm}      the two-digit month of the hire date
//	{seq:N}   the sequence number, zero-padded to N digits (N 1–9)
//
// Everything else is literal text from [A-Z0-9-]. Exactly one {seq:N} is
// required: it is what makes two IDs with the same other parts differ.

// RuleVars are the values a rule's tokens are rendered from. Year and
// month are read from Date's calendar fields in Date's own location, so
// the caller decides which time zone a hire date belongs to.
type RuleVars struct {
	Entity string
	Dept   string
	Date   time.Time
}

type partKind int

const (
	partLiteral partKind = iota
	partEntity
	partDept
	partYYYY
	partYY
	partMM
	partSeq
)

type rulePart struct {
	kind partKind
	lit  string // for partLiteral
}

// Rule is a parsed employee-ID rule. The zero value is not usable; get one
// from ParseRule.
type Rule struct {
	src      string
	parts    []rulePart
	seqWidth int
}

// maxRuleLen bounds a rule so that a stored rule cannot make every
// onboarding render something absurd.
const maxRuleLen = 128

// ParseRule parses an employee-ID rule. Errors say at which byte offset
// the rule went wrong and why.
func ParseRule(s string) (*Rule, error) {
	if s == "" {
		return nil, fmt.Errorf("empty rule: it needs at least a {seq:N} token")
	}
	if len(s) > maxRuleLen {
		return nil, fmt.Errorf("rule is %d bytes long, at most %d allowed", len(s), maxRuleLen)
	}
	r := &Rule{src: s}
	seqAt := -1
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			r.parts = append(r.parts, rulePart{kind: partLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("at offset %d: token %q is not closed with '}'", i, s[i:])
			}
			tok := s[i+1 : i+end]
			p, width, err := parseToken(tok)
			if err != nil {
				return nil, fmt.Errorf("at offset %d: %w", i, err)
			}
			if p == partSeq {
				if seqAt >= 0 {
					return nil, fmt.Errorf("at offset %d: second {seq:N} token (the first is at offset %d); a rule has exactly one", i, seqAt)
				}
				seqAt = i
				r.seqWidth = width
			}
			flush()
			r.parts = append(r.parts, rulePart{kind: p})
			i += end + 1
		case c == '}':
			return nil, fmt.Errorf("at offset %d: '}' without an opening '{'", i)
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			lit.WriteByte(c)
			i++
		case c >= 'a' && c <= 'z':
			return nil, fmt.Errorf("at offset %d: lower-case letter %q; literal text is upper case (A-Z, 0-9, -)", i, c)
		default:
			bad, _ := utf8.DecodeRuneInString(s[i:])
			return nil, fmt.Errorf("at offset %d: character %q is not allowed; literal text is A-Z, 0-9 and -", i, bad)
		}
	}
	flush()
	if seqAt < 0 {
		return nil, fmt.Errorf("no {seq:N} token: a rule needs exactly one so that IDs differ")
	}
	return r, nil
}

func parseToken(tok string) (partKind, int, error) {
	switch tok {
	case "entity":
		return partEntity, 0, nil
	case "dept":
		return partDept, 0, nil
	case "yyyy":
		return partYYYY, 0, nil
	case "yy":
		return partYY, 0, nil
	case "mm":
		return partMM, 0, nil
	}
	if w, ok := strings.CutPrefix(tok, "seq:"); ok {
		n, err := strconv.Atoi(w)
		if err != nil || len(w) != 1 || n < 1 || n > 9 {
			return 0, 0, fmt.Errorf("seq width %q must be one digit from 1 to 9, as in {seq:3}", w)
		}
		return partSeq, n, nil
	}
	if tok == "seq" {
		return 0, 0, fmt.Errorf("{seq} needs a width, as in {seq:3}")
	}
	return 0, 0, fmt.Errorf("unknown token {%s}; known: {entity} {dept} {yyyy} {yy} {mm} {seq:N}", tok)
}

// String returns the rule as it was written.
func (r *Rule) String() string { return r.src }

// SeqWidth is N of the rule's {seq:N}.
func (r *Rule) SeqWidth() int { return r.seqWidth }

// MaxSeq is the largest sequence number that fits the rule's width.
func (r *Rule) MaxSeq() int64 {
	m := int64(1)
	for range r.seqWidth {
		m *= 10
	}
	return m - 1
}

// render writes every part except the sequence, which it hands to seq.
func (r *Rule) render(v RuleVars, seq func(b *strings.Builder)) string {
	var b strings.Builder
	for _, p := range r.parts {
		switch p.kind {
		case partLiteral:
			b.WriteString(p.lit)
		case partEntity:
			b.WriteString(v.Entity)
		case partDept:
			b.WriteString(v.Dept)
		case partYYYY:
			fmt.Fprintf(&b, "%04d", v.Date.Year())
		case partYY:
			fmt.Fprintf(&b, "%02d", v.Date.Year()%100)
		case partMM:
			fmt.Fprintf(&b, "%02d", int(v.Date.Month()))
		case partSeq:
			seq(&b)
		}
	}
	return b.String()
}

// Format renders the ID with sequence number seq, zero-padded to the
// rule's width. A seq wider than the width is written in full: callers
// that must stay within the width check MaxSeq first (Onboard does).
func (r *Rule) Format(v RuleVars, seq int64) string {
	return r.render(v, func(b *strings.Builder) { fmt.Fprintf(b, "%0*d", r.seqWidth, seq) })
}

// SequenceKey names the sequence an ID is numbered from: the entity, then
// the rule rendered without its seq token. Every distinct prefix counts
// from 1 on its own, so HR012023 gives HR012023001, HR012023002… and
// HR012024 starts again at HR012024001.
func (r *Rule) SequenceKey(v RuleVars) string {
	return v.Entity + "/" + r.render(v, func(*strings.Builder) {})
}

// Match reports whether id is an ID this rule could have produced for v:
// the rendered parts around the sequence, and exactly SeqWidth digits in
// its place. The error explains the expected shape.
func (r *Rule) Match(id string, v RuleVars) error {
	const mark = "\x00"
	shape := r.render(v, func(b *strings.Builder) { b.WriteString(mark) })
	prefix, suffix, _ := strings.Cut(shape, mark)
	want := prefix + strings.Repeat("#", r.seqWidth) + suffix
	mismatch := fmt.Errorf("%q does not match rule %s: want %s, # being a digit", id, r.src, want)
	if len(id) != len(prefix)+r.seqWidth+len(suffix) ||
		!strings.HasPrefix(id, prefix) || !strings.HasSuffix(id, suffix) {
		return mismatch
	}
	for _, c := range []byte(id[len(prefix) : len(prefix)+r.seqWidth]) {
		if c < '0' || c > '9' {
			return mismatch
		}
	}
	return nil
}
