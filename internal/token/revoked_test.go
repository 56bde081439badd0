package token

import (
	"testing"
	"time"
)

func TestRevoked(t *testing.T) {
	r := NewRevoked()
	now := time.Now()
	alice := &Identity{SID: "s1", AppID: "wx1", OpenID: "oA", AuthTime: now.Add(-time.Minute)}
	bob := &Identity{SID: "s2", AppID: "wx1", OpenID: "oB", AuthTime: now.Add(-time.Minute)}
	if r.Refuses(alice, now) {
		t.Fatal("an empty set refuses")
	}
	r.RevokeSession("s1", now.Add(time.Hour))
	if !r.Refuses(alice, now) || r.Refuses(bob, now) {
		t.Fatal("session revocation")
	}
	if r.Refuses(alice, now.Add(2*time.Hour)) {
		t.Fatal("a revocation outlived its until")
	}
	r.RevokeUser("wx1", "oB", now, now.Add(time.Hour))
	if !r.Refuses(bob, now) {
		t.Fatal("a session that began before the user's not-before passes")
	}
	later := &Identity{SID: "s3", AppID: "wx1", OpenID: "oB", AuthTime: now.Add(time.Second)}
	if r.Refuses(later, now.Add(2*time.Second)) {
		t.Fatal("a session that began after the user's not-before is refused")
	}
	other := &Identity{SID: "s4", AppID: "wx2", OpenID: "oB", AuthTime: now.Add(-time.Minute)}
	if r.Refuses(other, now) {
		t.Fatal("the same openid in another app is refused")
	}
	// An older, shorter revocation does not shorten a newer one.
	r.RevokeUser("wx1", "oB", now.Add(-time.Hour), now.Add(time.Minute))
	if !r.Refuses(bob, now.Add(30*time.Minute)) {
		t.Fatal("a later revocation was shortened by an earlier one")
	}
	r.Sweep(now.Add(3 * time.Hour))
	if r.Len() != 0 {
		t.Fatalf("%d entries after everything expired", r.Len())
	}
}

func TestRevokedRefusesWithoutAllocating(t *testing.T) {
	r := NewRevoked()
	now := time.Now()
	for i := range 1000 {
		r.RevokeSession(string(rune('a'+i%26))+time.Duration(i).String(), now.Add(time.Hour))
	}
	id := &Identity{SID: "nope", AppID: "wx1", OpenID: "oA", AuthTime: now}
	if n := testing.AllocsPerRun(1000, func() { r.Refuses(id, now) }); n != 0 {
		t.Fatalf("Refuses allocates %v times", n)
	}
}
