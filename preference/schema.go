package preference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cf/identity/ent/schema"
	"github.com/cf/identity/validation"
)

// Service holds the JSON Schemas declared for preference keys and runs the
// operations that check values against them (Set). It is safe for
// concurrent use; the zero value has no schemas.
//
// The package-level functions and the GraphQL API use Default: a server
// declares its schemas there at start-up, before it serves.
type Service struct {
	mu      sync.RWMutex
	schemas map[string]*declared
}

type declared struct {
	source json.RawMessage
	schema *jsonschema.Schema
}

// NewService returns a Service without schemas.
func NewService() *Service { return &Service{} }

// Default is the Service of the package-level functions (Set, Delete,
// Get, Effective, Declare) and of the GraphQL API.
var Default = NewService()

// Declare declares the JSON Schema that values of key must satisfy on
// Default (see Service.Declare).
func Declare(key string, schemaJSON json.RawMessage) error {
	return Default.Declare(key, schemaJSON)
}

// Declare declares the JSON Schema that every value of key written from
// now on, at every level, must satisfy; it replaces an earlier schema of
// the key. Values stored before are not checked again.
//
// The schema is JSON Schema draft 2020-12 unless its $schema names
// another draft; formats ("email", "date-time", ...) are asserted; it may
// refer only to itself ("$ref": "#/$defs/..."), never to files or URLs.
// A schema that is not valid returns an error wrapping ErrInvalidSchema;
// a malformed key a *validation.Error.
//
// Each level's value is checked on its own, not the merged value that
// Effective returns: a schema of an object that narrower levels override
// in part should not require its properties.
func (s *Service) Declare(key string, schemaJSON json.RawMessage) error {
	k, err := normalizeKey("key", key)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return fmt.Errorf("%w for %q: not JSON: %w", ErrInvalidSchema, k, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	// No loader: a reference outside the schema is an error, never a read
	// of a file or a URL.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	loc := "urn:cf-identity:preference:" + k
	if err := c.AddResource(loc, doc); err != nil {
		return fmt.Errorf("%w for %q: %w", ErrInvalidSchema, k, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return fmt.Errorf("%w for %q: %w", ErrInvalidSchema, k, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schemas == nil {
		s.schemas = map[string]*declared{}
	}
	s.schemas[k] = &declared{source: bytes.Clone(schemaJSON), schema: sch}
	return nil
}

// Forget removes the schema of key, if any: its values are no longer
// checked.
func (s *Service) Forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.schemas, strings.ToLower(key))
}

// Schema returns the schema declared for key, as it was declared.
func (s *Service) Schema(key string) (json.RawMessage, bool) {
	d := s.lookup(strings.ToLower(key))
	if d == nil {
		return nil, false
	}
	return bytes.Clone(d.source), true
}

func (s *Service) lookup(key string) *declared {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.schemas[key]
}

// check validates raw as the value of key (normalized) and returns it as
// it is stored: re-encoded, object keys sorted. Refusals are
// *validation.Error for field "value".
func (s *Service) check(key string, raw json.RawMessage) ([]byte, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, validation.Errorf("value", "not a JSON value: %v", err)
	}
	if v == nil {
		return nil, validation.Errorf("value", "null is not a value: delete the key (deletePreference) to unset it")
	}
	if path, ok := nulAt(v, ""); ok {
		return nil, validation.Errorf("value", "a string at %q holds the character U+0000, which the database cannot store: remove it", path)
	}
	out, err := encode(v)
	if err != nil {
		return nil, validation.Errorf("value", "not encodable as JSON: %v", err)
	}
	if len(out) > schema.MaxJSONBytes {
		return nil, validation.Errorf("value", "%d bytes of JSON, over the limit of %d", len(out), schema.MaxJSONBytes)
	}
	if d := s.lookup(key); d != nil {
		if err := d.schema.Validate(v); err != nil {
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				return nil, fmt.Errorf("preference: checking the value of %q against its schema: %w", key, err)
			}
			return nil, validation.Wrap("value", &SchemaError{Key: key, Violations: violations(ve)})
		}
	}
	return out, nil
}

// violations lists the failing parts of a validation error: the leaves of
// its basic output.
func violations(ve *jsonschema.ValidationError) []Violation {
	var out []Violation
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		out = append(out, Violation{Location: u.InstanceLocation, Reason: u.Error.String()})
	}
	if len(out) == 0 {
		out = append(out, Violation{Location: "", Reason: ve.Error()})
	}
	return out
}

// decode reads exactly one JSON value, numbers kept as json.Number.
func decode(raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("empty")
	}
	if !json.Valid(raw) {
		return nil, errors.New("malformed JSON")
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
}

// encode writes v as compact JSON with sorted object keys, without HTML
// escaping.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// nulAt returns the JSON Pointer of the first string (or object key) of v
// that holds U+0000.
func nulAt(v any, at string) (string, bool) {
	switch v := v.(type) {
	case string:
		return at, strings.ContainsRune(v, 0)
	case []any:
		for i, e := range v {
			if p, ok := nulAt(e, fmt.Sprintf("%s/%d", at, i)); ok {
				return p, true
			}
		}
	case map[string]any:
		for k, e := range v {
			p := at + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
			if strings.ContainsRune(k, 0) {
				return p, true
			}
			if p, ok := nulAt(e, p); ok {
				return p, true
			}
		}
	}
	return "", false
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b []byte) bool {
	x, err1 := decode(a)
	y, err2 := decode(b)
	return err1 == nil && err2 == nil && equal(x, y)
}

func equal(x, y any) bool {
	switch x := x.(type) {
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := y.(json.Number)
		return ok && sameNumber(x, y)
	}
	return x == y
}

// sameNumber compares numbers by their text. PostgreSQL's jsonb may
// print a number otherwise than it was written (1e2 as 100): such a Set
// counts as a change, which is the safe side.
func sameNumber(a, b json.Number) bool { return a == b }

// jsonValue is a stored value for the data of an activity.
func jsonValue(v []byte) json.RawMessage { return json.RawMessage(bytes.Clone(v)) }
