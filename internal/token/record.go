package token

import (
	"math"
	"strings"
	"time"
)

// recordData bounds the bytes of one cached token: its signature (43
// characters for HS256, 86 for EdDSA) and the user's strings, about 200
// bytes for a WeChat openid, unionid, jti, sid and sealed session_key. A
// token that does not fit is verified on every request instead.
const recordData = 400

// The strings of a record, in the order its data holds them.
const (
	recSig = iota
	recOpenID
	recUnionID
	recJTI
	recSealed
	recSID
	recParts
)

// record is a cached token with no pointers in it, so that the garbage
// collector never looks inside: the appid and the kid, of which a config
// has a few, are numbers in the cache's table of names, and the rest of
// the strings are bytes in data.
type record struct {
	sum            uint64 // keyed hash of the whole token
	until          int64  // unix nanoseconds
	iat, exp, auth int64  // unix nanoseconds, or noTime
	size           uint32 // the token's length
	app, kid       uint8
	lens           [recParts]uint8
	data           [recordData]byte
}

// noTime stands for the zero time.Time, which unix nanoseconds cannot
// hold.
const noTime = math.MinInt64

// is reports whether r holds tok, whose keyed hash is sum, and is still
// within its time at now (unix nanoseconds).
func (r *record) is(sum uint64, tok string, now int64) bool {
	return int(r.size) == len(tok) && r.sum == sum && now < r.until && string(r.data[:r.lens[recSig]]) == signature(tok)
}

// fill makes r the record of tok and its identity id, unless they do not
// fit in one.
func (r *record) fill(names *interned, tok string, id *Identity, sum uint64, until int64) bool {
	parts := [recParts]string{signature(tok), id.OpenID, id.UnionID, id.ID, id.sealedKey, id.SID}
	at := 0
	for i, p := range parts {
		if len(p) > math.MaxUint8 || at+len(p) > recordData {
			return false
		}
		r.lens[i] = uint8(len(p))
		at += copy(r.data[at:], p)
	}
	var okApp, okKid, okIat, okExp, okAuth bool
	r.app, okApp = names.number(id.AppID)
	r.kid, okKid = names.number(id.keyID)
	r.iat, okIat = nanos(id.IssuedAt)
	r.exp, okExp = nanos(id.ExpiresAt)
	r.auth, okAuth = nanos(id.AuthTime)
	if !okApp || !okKid || !okIat || !okExp || !okAuth {
		return false
	}
	r.sum, r.until, r.size = sum, until, uint32(len(tok))
	return true
}

// identity makes the Identity that r holds: its strings cut from one
// allocation, its appid and kid shared with the cache's names.
func (r *record) identity(names *interned) *Identity {
	n := 0
	for _, l := range r.lens {
		n += int(l)
	}
	all := string(r.data[:n])
	var cut [recParts]string
	at := 0
	for i, l := range r.lens {
		cut[i] = all[at : at+int(l)]
		at += int(l)
	}
	app := names.list[r.app]
	return &Identity{
		OpenID:      cut[recOpenID],
		UnionID:     cut[recUnionID],
		AppID:       app.name,
		ID:          cut[recJTI],
		SID:         cut[recSID],
		sealedKey:   cut[recSealed],
		keyID:       names.list[r.kid].name,
		AuthTime:    fromNanos(r.auth),
		IssuedAt:    fromNanos(r.iat),
		ExpiresAt:   fromNanos(r.exp),
		ReplOpenID:  cut[recOpenID],
		ReplUnionID: cut[recUnionID],
		ReplAppID:   app.boxed,
		cached:      cacheRef{sig: cut[recSig], sum: r.sum, size: int(r.size), until: r.until},
	}
}

// nanos is t in unix nanoseconds, if they hold it exactly.
func nanos(t time.Time) (int64, bool) {
	if t.IsZero() {
		return noTime, true
	}
	n := t.UnixNano()
	return n, time.Unix(0, n).Equal(t)
}

func fromNanos(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// interned is the cache's table of the names that many tokens share.
type interned struct{ list []name }

type name struct {
	name  string
	boxed any // the placeholder value, boxed once
}

// number is name s's number in the table, added if it is new, unless the
// table is full.
func (t *interned) number(s string) (uint8, bool) {
	for i, n := range t.list {
		if n.name == s {
			return uint8(i), true
		}
	}
	if len(t.list) > math.MaxUint8 {
		return 0, false
	}
	s = strings.Clone(s)
	t.list = append(t.list, name{name: s, boxed: s})
	return uint8(len(t.list) - 1), true
}
