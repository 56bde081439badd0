package caddymodule

import "context"

func withIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityCtxKey{}, id)
}

// identityFrom returns the identity wechat_auth verified for this request,
// or nil when the request did not pass the gate with a token.
func identityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityCtxKey{}).(*Identity)
	return id
}
