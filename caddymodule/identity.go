package caddymodule

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// identityVar is the request variable that carries the verified identity
// to the handlers after the gate (decrypt, phone). A variable, unlike
// r.WithContext, costs no allocation per request; a value that is not an
// *Identity (an operator's own vars directive) reads as no identity.
const identityVar = "wechat_identity"

func setIdentity(r *http.Request, id *Identity) {
	caddyhttp.SetVar(r.Context(), identityVar, id)
}

// identityFrom returns the identity wechat_auth verified for this request,
// or nil when the request did not pass the gate with a token.
func identityFrom(ctx context.Context) *Identity {
	id, _ := caddyhttp.GetVar(ctx, identityVar).(*Identity)
	return id
}
