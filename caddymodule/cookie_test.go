package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

// stripOracle is the plain reading of Strip for one line: a line without
// ours as it is; otherwise split on ';', drop the segments named ours,
// join the rest as they were; a pair that becomes the first loses the
// spaces before it.
func stripOracle(line, name string) string {
	var kept []string
	cut := false
	for _, seg := range strings.Split(line, ";") {
		if n, _, _ := strings.Cut(strings.TrimLeft(seg, " \t"), "="); n == name {
			cut = true
			continue
		}
		if len(kept) == 0 && cut {
			// What follows a cut first pair loses its leading spaces.
			seg = strings.TrimLeft(seg, " \t")
		}
		kept = append(kept, seg)
	}
	if !cut {
		return line
	}
	out := strings.Join(kept, ";")
	if strings.TrimSpace(out) == "" {
		return "" // nothing left: the line goes
	}
	return out
}

func FuzzCookieStrip(f *testing.F) {
	for _, seed := range []string{
		"wechat_session=x",
		"a=1; wechat_session=x; b=2",
		"wechat_session=x;a=1",
		"a=1;  b=\"two words\"; wechat_session=x",
		"wechat_session=x; wechat_session=y; a=1",
		"my_wechat_session=1; wechat_session2=2",
		"a=1;wechat_session=x;",
		";;wechat_session=x;;",
		" wechat_session=x",
		"wechat_session",
		"",
	} {
		f.Add(seed)
	}
	c := &CookieConfig{Name: defaultCookieName}
	f.Fuzz(func(t *testing.T, line string) {
		h := http.Header{"Cookie": {line, "other=1"}}
		c.Strip(h)
		want := stripOracle(line, c.Name)
		var got string
		if vals := h["Cookie"]; len(vals) == 2 {
			got = vals[0]
		} else if len(vals) != 1 || vals[0] != "other=1" {
			t.Fatalf("Strip(%q) left %q", line, vals)
		}
		if got != want {
			t.Fatalf("Strip(%q) = %q, want %q", line, got, want)
		}
		if h["Cookie"][len(h["Cookie"])-1] != "other=1" {
			t.Fatalf("Strip changed another line: %q", h["Cookie"])
		}
	})
}
