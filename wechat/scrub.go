package wechat

import (
	"bytes"
	"io"
)

// scrubChunk is how much scrubReader reads from its source at a time.
const scrubChunk = 32 << 10

// scrubReader passes a stream on with every form of its secrets replaced,
// for answers too large to hold whole. It holds back the last
// (longest form − 1) bytes it has read, so that a secret split across two
// reads of the source is still found.
type scrubReader struct {
	src   io.ReadCloser
	forms [][]byte
	keep  int
	buf   []byte // read, not yet released
	out   []byte // released, not yet handed out
	err   error  // the source's error, once it has returned one
}

// newScrubReader scrubs secrets of minRedact bytes or more from src.
func newScrubReader(src io.ReadCloser, secrets ...string) *scrubReader {
	s := &scrubReader{src: src}
	for _, sec := range secrets {
		if len(sec) < minRedact {
			continue
		}
		for _, f := range secretForms(sec) {
			s.forms = append(s.forms, []byte(f))
			s.keep = max(s.keep, len(f)-1)
		}
	}
	return s
}

func (s *scrubReader) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			if len(s.buf) > 0 {
				s.release(true)
				continue
			}
			return 0, s.err
		}
		n := len(s.buf)
		if cap(s.buf)-n < scrubChunk {
			s.buf = append(make([]byte, 0, n+scrubChunk), s.buf...)
		}
		m, err := s.src.Read(s.buf[n : n+scrubChunk])
		s.buf = s.buf[:n+m]
		s.err = err
		s.release(err != nil)
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// release scrubs buf and moves what can no longer be the start of a
// secret to out; at the end of the stream that is everything.
func (s *scrubReader) release(final bool) {
	var out []byte
	pos := 0
	for {
		i, f := s.next(pos)
		if i < 0 {
			break
		}
		out = append(out, s.buf[pos:i]...)
		out = append(out, redacted...)
		pos = i + len(f)
	}
	end := len(s.buf)
	if !final {
		end = max(pos, len(s.buf)-s.keep)
	}
	out = append(out, s.buf[pos:end]...)
	s.buf = s.buf[:copy(s.buf, s.buf[end:])]
	s.out = out
}

// next finds the earliest form in buf at or after pos, the longest one
// when several start there.
func (s *scrubReader) next(pos int) (int, []byte) {
	best, bestForm := -1, []byte(nil)
	for _, f := range s.forms {
		i := bytes.Index(s.buf[pos:], f)
		if i < 0 {
			continue
		}
		i += pos
		if best < 0 || i < best || (i == best && len(f) > len(bestForm)) {
			best, bestForm = i, f
		}
	}
	return best, bestForm
}

func (s *scrubReader) Close() error { return s.src.Close() }
