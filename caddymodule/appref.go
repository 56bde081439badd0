package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// appRef is what every wechat handler holds: the wechat app and its own
// logger.
type appRef struct {
	app    *App
	logger *zap.Logger
}

// provisionApp finds the wechat app for a handler.
func (h *appRef) provisionApp(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := wechatApp(ctx)
	h.app = app
	return err
}

// wechatApp returns the configured wechat app.
func wechatApp(ctx caddy.Context) (*App, error) {
	v, err := ctx.AppIfConfigured("wechat")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, errors.New("the wechat global option is missing: add a 'wechat { app <appid> { secret ... } }' block at the top of the Caddyfile")
	}
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}
