package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fuzzDuplicateKey reports whether some object in the JSON text gives a
// key twice (case folded, as encoding/json matches fields) before any
// syntax error, and whether the text is well formed. It is written apart
// from checkUniqueKeys, recursively, to serve as its oracle.
func fuzzDuplicateKey(body []byte) (dup, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var value func() (bool, error)
	value = func() (bool, error) {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			found := false
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return found, err
				}
				key := strings.ToLower(k.(string))
				found = found || seen[key]
				seen[key] = true
				d, err := value()
				found = found || d
				if err != nil {
					return found, err
				}
			}
			_, err := dec.Token()
			return found, err
		case json.Delim('['):
			found := false
			for dec.More() {
				d, err := value()
				found = found || d
				if err != nil {
					return found, err
				}
			}
			_, err := dec.Token()
			return found, err
		}
		return false, nil
	}
	d, err := value()
	return d, err == nil
}

// FuzzDecodeJSON checks the body rule every endpoint uses: decodeJSON
// refuses exactly the well-formed bodies in which some object repeats a
// key, never panics, and what it accepts encoding/json accepts too.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"code":"a"}`, `{"code":"a","code":"b"}`, `{"code":"a","CODE":"b"}`,
		`{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":2}]}`, `{"a":[{"b":1,"B":2}]}`,
		`{"a":1,"b":{"a":1}}`, `{"encryptedData":"x","iv":"y","userInfo":{"nickName":"n","nickName":"m"}}`,
		`[1,{"x":1,"x":2}]`, `{"\u0063ode":"a","code":"b"}`, `{"k\u00e9y":1,"K\u00c9Y":2}`,
		`{`, `{"a":}`, `null`, ``, `{"a":1}{"a":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v any
		err := decodeJSON(body, &v)
		dup, wellFormed := fuzzDuplicateKey(body)
		switch {
		case errors.Is(err, errDuplicateField):
			if !dup {
				t.Fatalf("refused as a duplicate, but no object repeats a key: %q", body)
			}
		case err == nil:
			if dup {
				t.Fatalf("accepted a body that repeats a key: %q", body)
			}
			if json.Unmarshal(body, &v) != nil {
				t.Fatalf("accepted what encoding/json refuses: %q", body)
			}
		default:
			if wellFormed && dup && json.Valid(body) {
				t.Fatalf("a valid body with a duplicate refused for another reason (%v): %q", err, body)
			}
		}
	})
}
