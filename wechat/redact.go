package wechat

import (
	"encoding/json"
	"net/url"
	"strings"
)

// minRedact is the shortest sent value that is scrubbed from error text;
// shorter ones (grant_type's fixed words aside) would blank out ordinary
// words without protecting anything.
const minRedact = 4

// redactSent removes every value sent in query or body from err's text.
// It runs only on the error path, so its cost does not matter.
func redactSent(err error, query url.Values, body any) error {
	var secrets []string
	for _, vs := range query {
		secrets = append(secrets, vs...)
	}
	if body != nil {
		if b, jerr := json.Marshal(body); jerr == nil {
			var v any
			if json.Unmarshal(b, &v) == nil {
				secrets = collectStrings(v, secrets)
			}
		}
	}
	var pairs []string
	for _, s := range secrets {
		if len(s) < minRedact {
			continue
		}
		pairs = append(pairs, s, "[redacted]")
		if esc := url.QueryEscape(s); esc != s {
			pairs = append(pairs, esc, "[redacted]")
		}
		if esc := url.PathEscape(s); esc != s {
			pairs = append(pairs, esc, "[redacted]")
		}
	}
	if len(pairs) == 0 {
		return err
	}
	r := strings.NewReplacer(pairs...)
	switch e := err.(type) {
	case *APIError:
		e.Message = r.Replace(e.Message)
	case *TransportError:
		e.Reason = r.Replace(e.Reason)
	}
	return err
}

func collectStrings(v any, into []string) []string {
	switch x := v.(type) {
	case string:
		into = append(into, x)
	case map[string]any:
		for _, e := range x {
			into = collectStrings(e, into)
		}
	case []any:
		for _, e := range x {
			into = collectStrings(e, into)
		}
	}
	return into
}
