// Package replytest holds test oracles for the body rules of package
// reply, written apart from it.
package replytest

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DuplicateKey reports whether some object in the JSON text gives a
// key twice (case folded, as encoding/json matches fields) before any
// syntax error, and whether the text is well formed. It is written apart
// from checkUniqueKeys, recursively, to serve as its oracle.
func DuplicateKey(body []byte) (dup, ok bool) {
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
