package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable Load reads.
const EnvPrefix = "GONGPAI_"

// envIgnored are GONGPAI_ variables that belong to something other than
// the server's configuration, so Load must not reject them: the test
// suites' backend switches (GONGPAI_TEST_POSTGRES_DSN …) and the CLI's
// config-file path.
func envIgnored(name string) bool {
	return strings.HasPrefix(name, EnvPrefix+"TEST_") || name == EnvPrefix+"CONFIG"
}

// Load builds the configuration: Default, then the YAML file at path
// (none if path is ""), then GONGPAI_* variables from environ (as from
// os.Environ), then key files are read, then Validate. An unknown YAML
// key or GONGPAI_ variable is an error naming it. Every problem found is
// reported, as *FieldError values joined with errors.Join.
func Load(path string, environ []string) (*Config, error) {
	c := Default()
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		doc, err := parseYAML(data)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		if doc != nil {
			errs = append(errs, decodeNode(doc, reflect.ValueOf(c).Elem(), "")...)
		}
	}
	errs = append(errs, applyEnv(c, environ)...)
	errs = append(errs, c.readKeyFiles()...)
	c.resolve()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// parseYAML returns the top-level mapping of a single-document file, nil
// for an empty file.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; want one")
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// Decoding walks the YAML tree and the Config struct together rather than
// using yaml.Decoder.KnownFields: that way every error carries the full
// path of the setting (store.driver, not "field driver not found in type
// config.Store"), all of them are reported at once, and the YAML and
// environment share one parser per type.

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

func decodeNode(n *yaml.Node, v reflect.Value, path string) []error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // "key:" with nothing after it keeps the default
	}
	at := func(msg string, args ...any) []error {
		return []error{&FieldError{Field: path, Message: fmt.Sprintf(msg, args...) + fmt.Sprintf(" (line %d)", n.Line)}}
	}
	if isLeaf(v.Type()) {
		switch {
		case n.Kind == yaml.ScalarNode:
			if err := setLeaf(v, n.Value); err != nil {
				return at("%s", err)
			}
		case n.Kind == yaml.SequenceNode && v.Type() == stringSliceType:
			list := make([]string, 0, len(n.Content))
			for _, item := range n.Content {
				if item.Kind != yaml.ScalarNode {
					return at("want a list of single values, got %s in it", kindName(item))
				}
				list = append(list, item.Value)
			}
			v.Set(reflect.ValueOf(list))
		case n.Kind == yaml.SequenceNode && v.Type() == keyListType:
			list := make([]string, 0, len(n.Content))
			for _, item := range n.Content {
				if item.Kind != yaml.ScalarNode || strings.Contains(item.Value, ",") {
					return at("want a list of base64 keys")
				}
				list = append(list, item.Value)
			}
			if err := setLeaf(v, strings.Join(list, ",")); err != nil {
				return at("%s", err)
			}
		default:
			return at("want a single value, got %s", kindName(n))
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return at("want a mapping, got %s", kindName(n))
	}
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		field, ok := fieldByYAML(v.Type(), key)
		switch {
		case !ok:
			errs = append(errs, &FieldError{Field: join(path, key), Message: fmt.Sprintf("unknown key (line %d); known keys here: %s", k.Line, strings.Join(yamlNames(v.Type()), ", "))})
		case seen[key]:
			errs = append(errs, &FieldError{Field: join(path, key), Message: fmt.Sprintf("set twice (line %d)", k.Line)})
		default:
			errs = append(errs, decodeNode(val, v.FieldByIndex(field.Index), join(path, key))...)
		}
		seen[key] = true
	}
	return errs
}

func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		names = append(names, yamlName(t.Field(i)))
	}
	return names
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	urlType         = reflect.TypeFor[*url.URL]()
	stringSliceType = reflect.TypeFor[[]string]()
	keyListType     = reflect.TypeFor[KeyList]()
	levelType       = reflect.TypeFor[slog.Level]()
	unmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// isLeaf reports whether t is set from one value rather than walked.
func isLeaf(t reflect.Type) bool {
	return t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType)
}

// setLeaf parses s into v by v's type. Errors describe the value only; the
// caller adds where it came from.
func setLeaf(v reflect.Value, s string) error {
	switch v.Type() {
	case durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 90s, 15m or 1h", s)
		}
		v.SetInt(int64(d))
		return nil
	case urlType:
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a URL", s)
		}
		v.Set(reflect.ValueOf(u))
		return nil
	case stringSliceType:
		// One value for a list (from the environment, or "a, b" in the
		// file) is comma-separated.
		var list []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
		return nil
	case levelType:
		var l slog.Level
		if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
			return fmt.Errorf("%q is not a level: debug, info, warn or error", s)
		}
		v.Set(reflect.ValueOf(l))
		return nil
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			if v.Type() == reflect.TypeFor[Key]() || v.Type() == keyListType {
				return err // never echo a secret
			}
			return fmt.Errorf("%q: %w", s, err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			bits := v.Type().Bits()
			return fmt.Errorf("%q is not a whole number from %d to %d", s, int64(-1)<<(bits-1), int64(^uint64(0)>>(65-bits)))
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number from 0 to %d", s, ^uint64(0)>>(64-v.Type().Bits()))
		}
		v.SetUint(n)
	default:
		// Only reachable if a field of a new type is added to Config
		// without teaching setLeaf about it; tests walk every field.
		return fmt.Errorf("settings of type %s are not supported", v.Type())
	}
	return nil
}

// envVar is one settable leaf and its variable name.
type envVar struct {
	path  string
	value reflect.Value
}

// envVars maps every GONGPAI_ variable name to its setting.
func envVars(c *Config) map[string]envVar {
	out := map[string]envVar{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if isLeaf(v.Type()) {
			name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
			out[name] = envVar{path: path, value: v}
			return
		}
		for i := range v.NumField() {
			walk(v.Field(i), join(path, yamlName(v.Type().Field(i))))
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

func applyEnv(c *Config, environ []string) []error {
	vars := envVars(c)
	var errs []error
	var unknown []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || envIgnored(name) {
			continue
		}
		ev, known := vars[name]
		if !known {
			unknown = append(unknown, name)
			continue
		}
		if err := setLeaf(ev.value, value); err != nil {
			errs = append(errs, &FieldError{Field: ev.path, Message: fmt.Sprintf("%s (from %s)", err, name)})
		}
	}
	slices.Sort(unknown)
	for _, name := range slices.Compact(unknown) {
		errs = append(errs, &FieldError{Field: name, Message: "unknown environment variable; GONGPAI_ variables are the YAML keys upper-cased, such as GONGPAI_STORE_DSN"})
	}
	return errs
}

// readKeyFiles loads master_key_file and crypto_key_file: base64 text, or
// exactly KeySize raw bytes.
func (c *Config) readKeyFiles() []error {
	var errs []error
	for _, k := range []struct {
		field, fileField string
		key              *Key
		file             string
	}{
		{"master_key", "master_key_file", &c.MasterKey, c.MasterKeyFile},
		{"crypto_key", "crypto_key_file", &c.CryptoKey, c.CryptoKeyFile},
	} {
		if k.file == "" {
			continue
		}
		if len(*k.key) != 0 {
			errs = append(errs, &FieldError{Field: k.fileField, Message: "set either " + k.field + " or " + k.fileField + ", not both"})
			continue
		}
		data, err := os.ReadFile(k.file)
		if err != nil {
			errs = append(errs, &FieldError{Field: k.fileField, Message: err.Error()})
			continue
		}
		if len(data) == KeySize {
			*k.key = data
			continue
		}
		if err := k.key.UnmarshalText(data); err != nil {
			errs = append(errs, &FieldError{Field: k.fileField, Message: fmt.Sprintf("%s holds neither %d raw bytes nor base64", k.file, KeySize)})
		}
	}
	return errs
}
