package caddymodule

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/slot"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// What the session handlers (the gate's renewal, tickets, logout, admin
// revoke) share: the session's rules and its records in the store.

// ErrRevoked is a token of a session that has been ended.
var ErrRevoked = errors.New("token revoked")

// Authenticate verifies a session token, through the cache of verified
// tokens, and refuses one whose session has ended: revocation is checked
// on every call, cache hit or miss.
func (a *App) Authenticate(tok string, now time.Time) (*token.Identity, error) {
	id := a.verified.Get(tok, now)
	if id == nil {
		var err error
		if id, err = a.verifier.Verify(tok); err != nil {
			return nil, err
		}
		id = a.verified.Put(tok, id, now)
	}
	if a.revoked.Refuses(id, now) {
		return nil, ErrRevoked
	}
	// A token from a longer session_lifetime than today's ends with the
	// session it would have today.
	if !now.Before(a.SessionEnd(id)) {
		return nil, ErrSessionOver
	}
	return id, nil
}

// ErrSessionOver is a token of a session past its session_lifetime.
var ErrSessionOver = errors.New("the session has reached its lifetime")

// SessionStart is the auth_time of a session that begins now. A user's
// revocation ends the sessions that began before its not_before, which is
// in whole seconds, as auth_time is, and rounded up; a login in that same
// second after the revocation begins at not_before, so that the user can
// log in again at once.
func (a *App) SessionStart(appID, openID string, now time.Time) time.Time {
	if nb := a.revoked.NotBefore(appID, openID, now); nb.After(now) {
		return nb
	}
	return now
}

// RenewWithin is how close to exp a token is renewed, or 0 for never.
func (a *App) RenewWithin() time.Duration { return time.Duration(*a.Token.RenewWithin) }

// SessionLifetime bounds a session from its login.
func (a *App) SessionLifetime() time.Duration { return time.Duration(a.Token.SessionLifetime) }

// SessionEnd is when the session of id ends at the latest.
func (a *App) SessionEnd(id *token.Identity) time.Time {
	return id.AuthTime.Add(a.SessionLifetime())
}

// MintInSession mints a token of id's session (the same sid, auth_time
// and sealed session_key) valid for the configured ttl, but never past
// the session's end. ok is false when the session has no time left to
// give a token.
func (a *App) MintInSession(s token.Session, now time.Time) (tok string, exp time.Time, ok bool, err error) {
	ttl := min(a.TokenTTL(), s.AuthTime.Add(a.SessionLifetime()).Sub(now))
	if ttl < time.Second {
		return "", time.Time{}, false, nil
	}
	tok, exp, err = a.keys.Mint(s, now, ttl)
	return tok, exp, err == nil, err
}

// RevokeSession ends id's session: every token of it, before and after
// renewals, until the last of them could expire.
func (a *App) RevokeSession(ctx context.Context, id *token.Identity) error {
	until := a.SessionEnd(id)
	if id.ExpiresAt.After(until) {
		until = id.ExpiresAt
	}
	return a.revoke(ctx, store.Revocation{SID: id.SID, Until: until})
}

// RevokeUser ends every session of a user that began before now, until
// the longest of them could have lived, and returns that instant. Tokens
// carry auth_time in whole seconds, so now is rounded up: a session begun
// in the same second as the revocation ends with it.
func (a *App) RevokeUser(ctx context.Context, appID, openID string) (time.Time, error) {
	now := time.Now().Add(time.Second - 1).Truncate(time.Second)
	return now, a.revoke(ctx, store.Revocation{AppID: appID, OpenID: openID, NotBefore: now, Until: now.Add(a.SessionLifetime() + a.TokenTTL())})
}

// revoke records r in the store and, once the store has it, in this
// instance's copy at once, without waiting for the store's subscription
// to bring it back.
func (a *App) revoke(ctx context.Context, r store.Revocation) error {
	if err := a.store.Revocations().Revoke(ctx, r); err != nil {
		return err
	}
	applyRevocation(a.revoked, r)
	metrics.Revocations.Set(float64(a.revoked.Len()))
	return nil
}

// MaxTicketTTL bounds how long a web-view ticket lives.
const MaxTicketTTL = 5 * time.Minute

// ticket is what a web-view ticket stands for, kept in the store sealed
// under the ticket itself.
type ticket struct {
	AppID     string `json:"appid"`
	OpenID    string `json:"openid"`
	UnionID   string `json:"unionid,omitempty"`
	SID       string `json:"sid"`
	AuthTime  int64  `json:"auth_time"`
	SealedKey string `json:"sk,omitempty"`
}

// MintTicket makes a single-use ticket for id's session, valid for ttl:
// 192 random bits, kept in the store so that any instance can redeem it.
func (a *App) MintTicket(ctx context.Context, id *token.Identity, ttl time.Duration) (string, error) {
	t, err := token.NewTicket()
	if err != nil {
		return "", err
	}
	s, err := slot.New("ticket", nil, t)
	if err != nil {
		return "", err
	}
	sess := id.Session()
	rec := ticket{AppID: sess.AppID, OpenID: sess.OpenID, UnionID: sess.UnionID, SID: sess.SID, AuthTime: sess.AuthTime.Unix(), SealedKey: sess.SealedKey}
	if err := s.Set(ctx, a.store.Values(), rec, ttl); err != nil {
		return "", err
	}
	return t, nil
}

// RedeemTicket takes a ticket's session out of the store, atomically:
// of concurrent redemptions, one gets it. ok is false for a ticket that
// is unknown, used or expired.
func (a *App) RedeemTicket(ctx context.Context, t string) (token.Session, bool, error) {
	s, err := slot.New("ticket", nil, t)
	if err != nil {
		return token.Session{}, false, err
	}
	var rec ticket
	ok, err := s.Take(ctx, a.store.Values(), &rec)
	if err != nil || !ok || !a.Configured(rec.AppID) {
		return token.Session{}, false, err
	}
	return token.Session{AppID: rec.AppID, OpenID: rec.OpenID, UnionID: rec.UnionID, SID: rec.SID, AuthTime: time.Unix(rec.AuthTime, 0), SealedKey: rec.SealedKey}, true, nil
}
