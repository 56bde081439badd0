package caddymodule

import (
	"context"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/slot"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// What the session handlers (the gate's renewal, tickets, logout, admin
// revoke) share: the session's rules and its records in the store.

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
	return a.store.Revocations().Revoke(ctx, store.Revocation{SID: id.SID, Until: until})
}

// RevokeUser ends every session of a user that began before now, until
// the longest of them could have lived, and returns that instant.
func (a *App) RevokeUser(ctx context.Context, appID, openID string) (time.Time, error) {
	now := time.Now().Truncate(time.Second)
	err := a.store.Revocations().Revoke(ctx, store.Revocation{AppID: appID, OpenID: openID, NotBefore: now, Until: now.Add(a.SessionLifetime() + a.TokenTTL())})
	return now, err
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
