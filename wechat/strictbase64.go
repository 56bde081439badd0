package wechat

import (
	"encoding/base64"
	"fmt"
)

// decodeField decodes one open data field as padded standard base64 and,
// when want > 0, checks its decoded length. encoding/base64 alone is not
// strict enough: it silently skips '\r' and '\n', and its error for a
// space or a URL-safe '-' does not tell the operator what went wrong.
// Errors name the field, never its content (session_key is a secret).
func decodeField(name, s string, want int) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: %s is empty", ErrBadInput, name)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			return nil, fmt.Errorf("%w (in %s)", ErrPlusAsSpace, name)
		case c == '-' || c == '_':
			return nil, fmt.Errorf("%w: %s uses the URL-safe base64 alphabet, standard base64 expected", ErrBadInput, name)
		case !isStdBase64Byte(c):
			return nil, fmt.Errorf("%w: %s is not standard base64", ErrBadInput, name)
		}
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not valid padded base64", ErrBadInput, name)
	}
	if want > 0 && len(b) != want {
		return nil, fmt.Errorf("%w: %s must decode to %d bytes, got %d", ErrBadInput, name, want, len(b))
	}
	return b, nil
}

func isStdBase64Byte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}
