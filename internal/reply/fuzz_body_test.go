package reply_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/reply/replytest"
)

// FuzzDecodeJSON checks the body rule every endpoint uses: DecodeJSON
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
		err := reply.DecodeJSON(body, &v)
		dup, wellFormed := replytest.DuplicateKey(body)
		switch {
		case errors.Is(err, reply.ErrDuplicateField):
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
