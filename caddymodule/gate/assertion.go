package gate

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// HeaderAssertion carries the signed statement of the identity, for
// backends that verify rather than trust their network.
const HeaderAssertion = "X-Wechat-Assertion"

// defaultAssertionTTL is short: an assertion proves the gate saw the
// user just now, and a copied one should die soon.
const defaultAssertionTTL = time.Minute

// AssertionOptions turn on X-Wechat-Assertion: a JWT signed with the
// wechat app's assertion key, which backends verify against wechat_jwks.
type AssertionOptions struct {
	// Audience is the aud claim, the backend's name for itself. Default:
	// the host the request was sent to.
	Audience string `json:"audience,omitempty"`

	// TTL is how long an assertion is valid, at most 5m. Default: 60s.
	TTL caddy.Duration `json:"ttl,omitempty"`
}

func (o *AssertionOptions) provision() error {
	if o.TTL == 0 {
		o.TTL = caddy.Duration(defaultAssertionTTL)
	}
	if ttl := time.Duration(o.TTL); ttl < time.Second || ttl > token.MaxAssertionTTL {
		return fmt.Errorf("wechat_auth: assertion ttl %v: must be between 1s and %v", ttl, token.MaxAssertionTTL)
	}
	return nil
}

// assertion is the X-Wechat-Assertion value for id on r: the one cached
// on the verified token while it is fresh, else a new one, minted once
// for the requests that want it at the same moment.
func (a *Auth) assertion(r *http.Request, id *token.Identity, now time.Time) ([]string, error) {
	aud := a.Assertion.Audience
	if aud == "" {
		aud = requestHost(r)
	}
	if cur := id.Assertion(aud, now); cur != nil {
		return cur.Header, nil
	}
	v, err := a.App.Flights().Do("assert\x00"+id.ID+"\x00"+aud, func() (any, error) {
		if cur := id.Assertion(aud, now); cur != nil {
			return cur, nil
		}
		as, err := token.MintAssertion(a.assertionKey, a.App.Keys().Issuer(), aud, id, now, time.Duration(a.Assertion.TTL))
		if err != nil {
			return nil, err
		}
		id.SetAssertion(as)
		return as, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*token.Assertion).Header, nil
}

// requestHost is the host r was sent to, without a port, in lower case.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.Trim(host, "[]"))
}
