package caddymodule

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(Decrypt{})
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

	appRef
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
	return d.provisionApp(ctx)
}

// decryptRate is how many well-formed decryption attempts one session (one
// token) may make: a real client decrypts a handful of times per login.
var decryptRate = RateLimit{Requests: 60, Window: caddy.Duration(time.Minute)}

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
	id := requireUser(r)
	if id == nil {
		return refuseAnonymous(w, r)
	}
	if r.Method != http.MethodPost {
		return refuseNotPost(w, r)
	}
	body, aerr := readCapped(w, r, maxDecryptBody)
	if aerr != nil {
		return fail(w, r, aerr)
	}
	req, aerr := parseDecryptRequest(body)
	if aerr != nil {
		return fail(w, r, aerr)
	}
	sk, aerr := d.app.userSessionKey(w, id)
	if aerr != nil {
		return fail(w, r, aerr)
	}
	// encryptedData has no MAC: bounding the attempts per session bounds
	// any oracle a client could build from our answers.
	if ok, wait := d.app.rates.Take("decrypt\x00"+id.ID, decryptRate); !ok {
		metrics.rateLimited.WithLabelValues("decrypt").Inc()
		return fail(w, r, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many decryption attempts for this session; try again later", RetryAfter: retryAfter(wait)})
	}

	out, aerr := d.open(req, sk, id)
	if aerr != nil {
		if ce := d.logger.Check(zapcore.DebugLevel, "wechat open data refused"); ce != nil {
			ce.Write(zap.String("appid", id.AppID), zap.String("openid", id.OpenID), zap.String("error", aerr.Code), zap.String("reason", aerr.Message))
		}
		return fail(w, r, aerr)
	}
	// The data itself is personal and never logged.
	if ce := d.logger.Check(zapcore.DebugLevel, "wechat open data opened"); ce != nil {
		ce.Write(zap.String("appid", id.AppID), zap.String("openid", id.OpenID), zap.Bool("forward", d.Forward))
	}
	if d.Forward {
		return forwardJSON(w, r, next, out)
	}
	writeJSON(w, http.StatusOK, json.RawMessage(out))
	return nil
}

// parseDecryptRequest checks the request's shape; whether the data opens
// is checked later, under the session's key.
func parseDecryptRequest(body []byte) (*decryptRequest, *apiError) {
	var req decryptRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, badRequest(bodyProblem(err, `the body must be a JSON object {"encryptedData": "...", "iv": "..."} or {"rawData": "...", "signature": "..."} with string values`))
	}
	hasEnc := req.EncryptedData != nil || req.IV != nil
	hasRaw := req.RawData != nil || req.Signature != nil
	switch {
	case !hasEnc && !hasRaw:
		return nil, badRequest(`send {"encryptedData", "iv"} or {"rawData", "signature"} as returned by the wx API`)
	case hasEnc && (req.EncryptedData == nil || req.IV == nil):
		return nil, badRequest("encryptedData and iv must be sent together")
	case hasRaw && (req.RawData == nil || req.Signature == nil):
		return nil, badRequest("rawData and signature must be sent together")
	}
	if hasRaw {
		if !isJSONObject(*req.RawData) {
			return nil, badRequest("rawData must be the JSON object text exactly as the wx API returned it")
		}
		if s := *req.Signature; len(s) != 40 || !isHex(s) {
			return nil, badRequest("signature must be 40 hex digits (a SHA-1) exactly as the wx API returned it")
		}
	}
	if hasEnc {
		// Checked here, before the attempt is counted, so that the limit
		// counts only well-formed attempts. The wechat package's messages
		// name the field and the problem, never the content.
		if err := wechat.CheckEncrypted(*req.EncryptedData, *req.IV); err != nil {
			return nil, badRequest(strings.TrimPrefix(err.Error(), "wechat: "))
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
func (d *Decrypt) open(req *decryptRequest, sk string, id *Identity) ([]byte, *apiError) {
	appID := id.AppID
	if !wechat.ValidSessionKey(sk) {
		// Not the client's doing, but a new login is what fixes it.
		return nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "decrypt_failed", Message: "the data cannot be checked with this session's key; " + staleKeyHint}
	}
	var out []byte
	if req.RawData != nil {
		if !wechat.VerifyRawData(*req.RawData, *req.Signature, sk) {
			return nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "signature_mismatch", Message: "the signature does not match rawData under this session's key; " + staleKeyHint}
		}
		out = []byte(*req.RawData)
	}
	if req.EncryptedData != nil {
		plain, err := wechat.DecryptData(sk, *req.EncryptedData, *req.IV)
		switch {
		case errors.Is(err, wechat.ErrBadInput):
			// The wechat package's messages name the field and the
			// problem, never the content.
			return nil, badRequest(strings.TrimPrefix(err.Error(), "wechat: "))
		case err != nil:
			return nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "decrypt_failed", Message: "encryptedData does not decrypt under this session's key; " + staleKeyHint}
		}
		if err := wechat.CheckWatermark(plain, appID); err != nil {
			return nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "watermark_mismatch", Message: "the data was issued to another Mini Program (watermark.appid is not this session's appid)"}
		}
		if err := wechat.CheckOpenID(plain, id.OpenID); err != nil {
			return nil, &apiError{Status: http.StatusUnprocessableEntity, Code: "openid_mismatch", Message: "the data names another user (openId is not this session's openid)"}
		}
		out = plain
	}
	return out, nil
}

func badRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
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
