package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// AppRef is what every wechat handler embeds: the wechat app and the
// handler's own logger. Neither is configuration, so neither is in JSON.
type AppRef struct {
	App    *App        `json:"-"`
	Logger *zap.Logger `json:"-"`
}

// ProvisionApp finds the wechat app for a handler.
func (h *AppRef) ProvisionApp(ctx caddy.Context) error {
	h.Logger = ctx.Logger()
	app, err := FromContext(ctx)
	h.App = app
	return err
}
