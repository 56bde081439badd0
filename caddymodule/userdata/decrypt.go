package userdata

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(Decrypt{})
	httpcaddyfile.RegisterHandlerDirective("wechat_decrypt", parseDecrypt)
}

// maxDecryptBody caps the request: user info with a long nickname and a
// WeRun history of 30 days both stay well under this.
const maxDecryptBody = 64 << 10

// staleKeyHint is what a client is told when data does not open or verify.
// The cause is nearly always a session_key replaced by a later wx.login,
// and the fix is on the client, so the message says what to do.
const staleKeyHint = "this usually means wx.login ran again after you logged in, which replaced the session_key: log in again with the newest wx.login code, then get the data again and send it with the new token"

// Decrypt opens a user's open data with the session_key sealed in their
// token: encryptedData + iv (AES-128-CBC), or rawData + signature (SHA-1).
// It must run after wechat_auth. It answers with the verified JSON object,
// or, with Forward, passes that object on as the request body.
type Decrypt struct {
	// Forward passes the decrypted JSON object on to the next handler
	// (for example reverse_proxy) as the POST body, with Content-Type
	// application/json, instead of answering with it. The backend then
	// gets verified data without doing any crypto; requests that fail
	// never reach it.
	Forward bool `json:"forward,omitempty"`

	caddymodule.AppRef
}

// CaddyModule returns the Caddy module information.
func (Decrypt) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_decrypt",
		New: func() caddy.Module { return new(Decrypt) },
	}
}

// Provision finds the wechat app.
func (d *Decrypt) Provision(ctx caddy.Context) error {
	return d.ProvisionApp(ctx)
}

// decryptRate is how many well-formed decryption attempts one session (one
// token) may make: a real client decrypts a handful of times per login.
var decryptRate = struct {
	Requests int
	Window   time.Duration
}{60, time.Minute}

// decryptRequest takes pointers so that a missing field and an empty one
// are told apart in the error message. Other fields that wx APIs return
// (errMsg, userInfo, cloudID) are ignored, so a client may post the whole
// result object.
type decryptRequest struct {
	EncryptedData *string `json:"encryptedData"`
	IV            *string `json:"iv"`
	RawData       *string `json:"rawData"`
	Signature     *string `json:"signature"`
}

func (d *Decrypt) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	id := caddymodule.IdentityFrom(r.Context())
	if id == nil {
		return reply.NeedsLogin(w, r)
	}
	if r.Method != http.MethodPost {
		return reply.NotPost(w, r)
	}
	body, aerr := reply.Read(w, r, maxDecryptBody)
	if aerr != nil {
		return reply.Fail(w, r, aerr)
	}
	req, aerr := parseDecryptRequest(body)
	if aerr != nil {
		return reply.Fail(w, r, aerr)
	}
	sk, aerr := sessionKey(w, d.App, id)
	if aerr != nil {
		return reply.Fail(w, r, aerr)
	}
	// encryptedData has no MAC: bounding the attempts per session bounds
	// any oracle a client could build from our answers.
	ok, wait, err := d.App.Store().Counters().Allow(r.Context(), "decrypt\x00"+id.ID, decryptRate.Requests, decryptRate.Window)
	if err != nil {
		// Without the count there is no bound on the oracle: fail closed.
		if ce := d.Logger.Check(zapcore.WarnLevel, "wechat store failed counting a decryption attempt"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return reply.Fail(w, r, &reply.Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "decryption attempts cannot be counted right now; try again shortly", RetryAfter: "1"})
	}
	if !ok {
		metrics.RateLimited.WithLabelValues("decrypt").Inc()
		return reply.Fail(w, r, reply.RateLimited("too many decryption attempts for this session; try again later", wait))
	}

	out, aerr := d.open(req, sk, id)
	if aerr != nil {
		if ce := d.Logger.Check(zapcore.DebugLevel, "wechat open data refused"); ce != nil {
			ce.Write(zap.String("appid", id.AppID), zap.String("openid", id.OpenID), zap.String("error", aerr.Code), zap.String("reason", aerr.Message))
		}
		return reply.Fail(w, r, aerr)
	}
	// The data itself is personal and never logged.
	if ce := d.Logger.Check(zapcore.DebugLevel, "wechat open data opened"); ce != nil {
		ce.Write(zap.String("appid", id.AppID), zap.String("openid", id.OpenID), zap.Bool("forward", d.Forward))
	}
	if d.Forward {
		return forwardJSON(w, r, next, out)
	}
	reply.JSON(w, http.StatusOK, json.RawMessage(out))
	return nil
}

// parseDecryptRequest checks the request's shape; whether the data opens
// is checked later, under the session's key.
func parseDecryptRequest(body []byte) (*decryptRequest, *reply.Error) {
	var req decryptRequest
	if err := reply.DecodeJSON(body, &req); err != nil {
		return nil, reply.BadRequest(reply.Problem(err, `the body must be a JSON object {"encryptedData": "...", "iv": "..."} or {"rawData": "...", "signature": "..."} with string values`))
	}
	hasEnc := req.EncryptedData != nil || req.IV != nil
	hasRaw := req.RawData != nil || req.Signature != nil
	switch {
	case !hasEnc && !hasRaw:
		return nil, reply.BadRequest(`send {"encryptedData", "iv"} or {"rawData", "signature"} as returned by the wx API`)
	case hasEnc && (req.EncryptedData == nil || req.IV == nil):
		return nil, reply.BadRequest("encryptedData and iv must be sent together")
	case hasRaw && (req.RawData == nil || req.Signature == nil):
		return nil, reply.BadRequest("rawData and signature must be sent together")
	}
	if hasRaw {
		if !isJSONObject(*req.RawData) {
			return nil, reply.BadRequest("rawData must be the JSON object text exactly as the wx API returned it")
		}
		if s := *req.Signature; len(s) != 40 || !isHex(s) {
			return nil, reply.BadRequest("signature must be 40 hex digits (a SHA-1) exactly as the wx API returned it")
		}
	}
	if hasEnc {
		// Checked here, before the attempt is counted, so that the limit
		// counts only well-formed attempts. The wechat package's messages
		// name the field and the problem, never the content.
		if err := wechat.CheckEncrypted(*req.EncryptedData, *req.IV); err != nil {
			return nil, reply.BadRequest(strings.TrimPrefix(err.Error(), "wechat: "))
		}
	}
	return &req, nil
}

// open checks the signature and/or decrypts, and returns the JSON object
// to hand on. When a client sends all four fields (the whole result of
// wx.getUserInfo), both checks must pass and the decrypted object, which
// is the richer one, is returned.
//
// encryptedData has no MAC, so the first 16 bytes of what it decrypts to
// are the client's to choose (by flipping IV bits); the watermark and the
// openId lie further in and are checked, which binds the data to this app
// and this user, not its content to WeChat.
func (d *Decrypt) open(req *decryptRequest, sk string, id *token.Identity) ([]byte, *reply.Error) {
	appID := id.AppID
	if !wechat.ValidSessionKey(sk) {
		// Not the client's doing, but a new login is what fixes it.
		return nil, &reply.Error{Status: http.StatusUnprocessableEntity, Code: "decrypt_failed", Message: "the data cannot be checked with this session's key; " + staleKeyHint}
	}
	var out []byte
	if req.RawData != nil {
		if !wechat.VerifyRawData(*req.RawData, *req.Signature, sk) {
			return nil, &reply.Error{Status: http.StatusUnprocessableEntity, Code: "signature_mismatch", Message: "the signature does not match rawData under this session's key; " + staleKeyHint}
		}
		out = []byte(*req.RawData)
	}
	if req.EncryptedData != nil {
		plain, err := wechat.DecryptData(sk, *req.EncryptedData, *req.IV)
		switch {
		case errors.Is(err, wechat.ErrBadInput):
			// The wechat package's messages name the field and the
			// problem, never the content.
			return nil, reply.BadRequest(strings.TrimPrefix(err.Error(), "wechat: "))
		case err != nil:
			return nil, &reply.Error{Status: http.StatusUnprocessableEntity, Code: "decrypt_failed", Message: "encryptedData does not decrypt under this session's key; " + staleKeyHint}
		}
		if err := wechat.CheckWatermark(plain, appID); err != nil {
			return nil, &reply.Error{Status: http.StatusUnprocessableEntity, Code: "watermark_mismatch", Message: "the data was issued to another Mini Program (watermark.appid is not this session's appid)"}
		}
		if err := wechat.CheckOpenID(plain, id.OpenID); err != nil {
			return nil, &reply.Error{Status: http.StatusUnprocessableEntity, Code: "openid_mismatch", Message: "the data names another user (openId is not this session's openid)"}
		}
		out = plain
	}
	return out, nil
}

func isJSONObject(s string) bool {
	t := strings.TrimLeft(s, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid([]byte(t))
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Decrypt)(nil)
	_ caddyhttp.MiddlewareHandler = (*Decrypt)(nil)
)
