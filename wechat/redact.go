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
	return redactError(err, secrets...)
}

// redacted replaces a secret wherever one is scrubbed out.
const redacted = "[redacted]"

// secretForms are the spellings of s that can appear in text: as sent,
// and escaped for a query or a path.
func secretForms(s string) []string {
	forms := []string{s}
	if esc := url.QueryEscape(s); esc != s {
		forms = append(forms, esc)
	}
	if esc := url.PathEscape(s); esc != s && esc != url.QueryEscape(s) {
		forms = append(forms, esc)
	}
	return forms
}

// newRedactor replaces every form of every secret of minRedact bytes or
// more.
func newRedactor(secrets ...string) *strings.Replacer {
	var pairs []string
	for _, s := range secrets {
		if len(s) < minRedact {
			continue
		}
		for _, f := range secretForms(s) {
			pairs = append(pairs, f, redacted)
		}
	}
	return strings.NewReplacer(pairs...)
}

// redactError scrubs the secrets from the text of an error of this
// package, in place.
func redactError(err error, secrets ...string) error {
	r := newRedactor(secrets...)
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
