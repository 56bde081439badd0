package reply

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Read reads the whole body, refusing more than limit bytes, so
// that a client cannot make the edge buffer an arbitrary amount.
func Read(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Message: "the body must be at most " + strconv.FormatInt(limit, 10) + " bytes"}
		}
		return nil, BadRequest("the body could not be read")
	}
	return body, nil
}

// ErrDuplicateField is a body that gives a field twice.
var ErrDuplicateField = errors.New("a field is given more than once")

// DecodeJSON unmarshals a JSON object into v, refusing a body that gives
// any field twice, at any depth. encoding/json would keep the last one
// (matching names case-insensitively), a form parser the first: which
// value a request "means" must never depend on who reads it.
func DecodeJSON(body []byte, v any) error {
	// Only well-formed text is checked for repeats: the token walk reads
	// past the first value, so "0{\"x\":0,\"x\"…" would otherwise be called
	// a duplicate rather than the syntax error it is.
	if !json.Valid(body) {
		return json.Unmarshal(body, v)
	}
	if err := checkUniqueKeys(body); err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// checkUniqueKeys walks the JSON text and fails on a repeated object key,
// compared as encoding/json matches them: case-insensitively.
func checkUniqueKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	type object struct {
		seen map[string]bool
		key  bool // the next string token is a key
	}
	var stack []*object
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.key {
			if s, ok := tok.(string); ok {
				k := strings.ToLower(s)
				if top.seen[k] {
					return ErrDuplicateField
				}
				top.seen[k] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &object{seen: map[string]bool{}, key: true})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		case json.Delim('['):
			stack = append(stack, nil)
			continue
		}
		// A value ended: in an object, a key comes next.
		if len(stack) > 0 && stack[len(stack)-1] != nil {
			stack[len(stack)-1].key = true
		}
	}
}

// ParseForm parses an application/x-www-form-urlencoded body, refusing a
// field given twice (see DecodeJSON).
func ParseForm(body []byte) (url.Values, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	for _, vs := range form {
		if len(vs) > 1 {
			return nil, ErrDuplicateField
		}
	}
	return form, nil
}

// IsForm reports whether a body labelled as a form should be read as
// one: curl -d labels JSON as a form too, and a form never starts with '{'.
func IsForm(r *http.Request, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	return mt == "application/x-www-form-urlencoded" && (len(trimmed) == 0 || trimmed[0] != '{')
}

// Problem is the message for a body that did not parse: the
// duplicate-field rule gets its own words, anything else the caller's.
func Problem(err error, otherwise string) string {
	if errors.Is(err, ErrDuplicateField) {
		return "a field is given more than once; send each field once"
	}
	return otherwise
}
