package caddymodule

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/flight"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// MiniProgram is one Mini Program's credentials.
type MiniProgram struct {
	// AppID is the Mini Program's appid: "wx" and 16 hex digits.
	AppID string `json:"appid"`

	// Secret is the AppSecret. Give it as a {env.*} or {file.*}
	// placeholder so that it never lands in the autosaved config or the
	// admin API; placeholders are expanded at provisioning.
	Secret string `json:"secret"`

	secret   string
	inflight chan struct{} // a slot per call to WeChat under way
}

// Acquire takes a slot for a call to WeChat without waiting.
func (mp *MiniProgram) Acquire() (release func(), ok bool) {
	select {
	case mp.inflight <- struct{}{}:
		return func() { <-mp.inflight }, true
	default:
		return nil, false
	}
}

// Program returns the Mini Program for appID; an empty appID picks the
// only one when exactly one is configured.
func (a *App) Program(appID string) (*MiniProgram, bool) {
	if appID == "" && len(a.Apps) == 1 {
		return a.Apps[0], true
	}
	mp, ok := a.byID[appID]
	return mp, ok
}

// Configured reports whether appID is one of the app's Mini Programs.
func (a *App) Configured(appID string) bool {
	_, ok := a.byID[appID]
	return ok
}

// Programs is the number of configured Mini Programs.
func (a *App) Programs() int { return len(a.Apps) }

// SecretCheck is what CheckSecret finds.
type SecretCheck int

// What CheckSecret finds.
const (
	SecretOK SecretCheck = iota
	UnknownApp
	WrongSecret
)

// CheckSecret compares secret with appID's in constant time, for the
// simulator, which must answer as WeChat does without ever being handed
// the secret itself.
func (a *App) CheckSecret(appID, secret string) SecretCheck {
	mp, ok := a.byID[appID]
	if !ok {
		return UnknownApp
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(mp.secret)) != 1 {
		return WrongSecret
	}
	return SecretOK
}

// Code2Session exchanges a login code for mp with WeChat, with mp's
// secret, which no handler ever holds.
func (a *App) Code2Session(ctx context.Context, mp *MiniProgram, code string) (*wechat.Session, error) {
	return a.client.Code2Session(ctx, mp.AppID, mp.secret, code)
}

// Keys is the set of keys session tokens are signed and verified with.
func (a *App) Keys() *token.KeySet { return a.keys }

// Verifier checks session tokens of the configured apps.
func (a *App) Verifier() *token.Verifier { return a.verifier }

// VerifiedCache remembers verified tokens for every gate of the config.
func (a *App) VerifiedCache() *token.Cache { return a.verified }

// TokenTTL is how long a minted session token is valid.
func (a *App) TokenTTL() time.Duration { return time.Duration(a.Token.TTL) }

// CallTimeout bounds one exchange with WeChat, retries included.
func (a *App) CallTimeout() time.Duration { return time.Duration(a.Timeout) }

// Client is the WeChat client every handler shares.
func (a *App) Client() *wechat.Client { return a.client }

// Store is where state every instance must share is kept.
func (a *App) Store() store.Store { return a.store }

// Revoked is the local copy of the revocations in force.
func (a *App) Revoked() *token.Revoked { return a.revoked }

// Flights makes concurrent calls for one key (a code) into one call,
// across every handler of this config.
func (a *App) Flights() *flight.Group { return a.flights }
