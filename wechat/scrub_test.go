package wechat

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// TestScrubReaderMatchesWholeReplace: however the source splits the
// stream, scrubbing it as it flows gives what replacing in the whole
// would.
func TestScrubReaderMatchesWholeReplace(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	secret := "AT-0123456789abcdef-secret/part+x"
	for i := range 300 {
		var b strings.Builder
		for b.Len() < rng.IntN(200<<10) {
			switch rng.IntN(4) {
			case 0:
				b.WriteString(secret)
			case 1:
				b.WriteString(secret[:rng.IntN(len(secret))]) // a near miss
			default:
				b.WriteString(strings.Repeat("x", rng.IntN(5000)))
			}
		}
		in := b.String()
		want := newRedactor(secret).Replace(in)
		var src io.Reader = strings.NewReader(in)
		switch i % 3 {
		case 1:
			src = iotest.OneByteReader(src)
		case 2:
			src = iotest.HalfReader(src)
		}
		got, err := io.ReadAll(newScrubReader(io.NopCloser(src), secret))
		if err != nil || string(got) != want {
			t.Fatalf("case %d: err %v, %d bytes out, want %d; token left: %v", i, err, len(got), len(want), bytes.Contains(got, []byte(secret)))
		}
	}
}

// TestScrubReaderEscapedForms: the query- and path-escaped spellings of
// the secret go too.
func TestScrubReaderEscapedForms(t *testing.T) {
	secret := "tok/with+chars=="
	in := "a " + secret + " b tok%2Fwith%2Bchars%3D%3D c tok%2Fwith+chars==  d"
	got, _ := io.ReadAll(newScrubReader(io.NopCloser(iotest.OneByteReader(strings.NewReader(in))), secret))
	if strings.Count(string(got), redacted) != 3 || strings.Contains(string(got), "chars") {
		t.Fatalf("got %q", got)
	}
}

// TestScrubReaderPassesErrors: a source's error other than EOF reaches
// the reader after the bytes before it.
func TestScrubReaderPassesErrors(t *testing.T) {
	src := io.MultiReader(strings.NewReader("hello "), iotest.ErrReader(io.ErrUnexpectedEOF))
	got, err := io.ReadAll(newScrubReader(io.NopCloser(src), "secret-token"))
	if string(got) != "hello " || err != io.ErrUnexpectedEOF {
		t.Fatalf("got %q, %v", got, err)
	}
}
