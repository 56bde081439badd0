package caddymodule

// provisionAccessTokens sets up one access_token manager per app.
// Placeholder until the session_key issue lands.
func (a *App) provisionAccessTokens() error { return nil }

func (a *App) releaseAccessTokens() error { return nil }
