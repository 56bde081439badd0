package caddymodule

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// identityVar is the request variable that carries the verified identity
// from the gate to the handlers after it (decrypt, phone). A variable,
// unlike r.WithContext, costs no allocation per request; a value that is
// not an *token.Identity (an operator's own vars directive) reads as no
// identity.
const identityVar = "wechat_identity"

// SetIdentity records the user the gate verified for this request.
func SetIdentity(r *http.Request, id *token.Identity) {
	caddyhttp.SetVar(r.Context(), identityVar, id)
}

// IdentityFrom returns the identity wechat_auth verified for this
// request, or nil when the request did not pass the gate with a token.
func IdentityFrom(ctx context.Context) *token.Identity {
	id, _ := caddyhttp.GetVar(ctx, identityVar).(*token.Identity)
	return id
}
