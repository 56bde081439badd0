package token

import (
	"sync"
	"sync/atomic"
	"time"
)

// Revoked is a local copy of the revocations in force: ended sessions, and
// users whose tokens issued before a time are refused. The gate asks it on
// every request, so it answers from memory, without allocating, and at
// the cost of one atomic load while it is empty.
type Revoked struct {
	n        atomic.Int64 // entries, for the empty fast path
	mu       sync.RWMutex
	sessions map[string]time.Time // sid: until
	users    map[user]notBefore
}

type user struct{ appID, openID string }

type notBefore struct{ at, until time.Time }

// NewRevoked makes an empty set.
func NewRevoked() *Revoked {
	return &Revoked{sessions: map[string]time.Time{}, users: map[user]notBefore{}}
}

// RevokeSession refuses every token of session sid until until.
func (r *Revoked) RevokeSession(sid string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.sessions[sid]; !ok || until.After(old) {
		r.sessions[sid] = until
	}
	r.n.Store(int64(len(r.sessions) + len(r.users)))
}

// RevokeUser refuses, until until, every token of the user's sessions
// that began before at.
func (r *Revoked) RevokeUser(appID, openID string, at, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := user{appID, openID}
	old, ok := r.users[k]
	if !ok || at.After(old.at) {
		old.at = at
	}
	if until.After(old.until) {
		old.until = until
	}
	r.users[k] = old
	r.n.Store(int64(len(r.sessions) + len(r.users)))
}

// Refuses reports whether id's token is revoked at now.
func (r *Revoked) Refuses(id *Identity, now time.Time) bool {
	if r.n.Load() == 0 {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if until, ok := r.sessions[id.SID]; ok && now.Before(until) {
		return true
	}
	// A user's revocation ends the sessions that began before it, with
	// every token they renew into.
	nb, ok := r.users[user{id.AppID, id.OpenID}]
	return ok && now.Before(nb.until) && id.AuthTime.Before(nb.at)
}

// NotBefore is the instant before which the user's sessions are ended, or
// the zero time.
func (r *Revoked) NotBefore(appID, openID string, now time.Time) time.Time {
	if r.n.Load() == 0 {
		return time.Time{}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if nb, ok := r.users[user{appID, openID}]; ok && now.Before(nb.until) {
		return nb.at
	}
	return time.Time{}
}

// Len is the number of entries, expired ones not yet swept included.
func (r *Revoked) Len() int { return int(r.n.Load()) }

// Sweep drops what can no longer refuse anything.
func (r *Revoked) Sweep(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for sid, until := range r.sessions {
		if !now.Before(until) {
			delete(r.sessions, sid)
		}
	}
	for k, nb := range r.users {
		if !now.Before(nb.until) {
			delete(r.users, k)
		}
	}
	r.n.Store(int64(len(r.sessions) + len(r.users)))
}
