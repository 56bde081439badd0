package wechat

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Error codes that callers of this package act on. WeChat reports them in
// the errcode field of an HTTP 200 answer.
const (
	CodeBusy              = -1
	CodeInvalidCredential = 40001 // access_token invalid or not the latest
	CodeInvalidAppID      = 40013
	CodeInvalidToken      = 40014
	CodeInvalidCode       = 40029
	CodeInvalidSecret     = 40125
	CodeCodeUsed          = 40163
	CodeUserBlocked       = 40226
	CodeMissingAppID      = 41002
	CodeMissingCode       = 41008
	CodeTokenExpired      = 42001
	CodeQuota             = 45011
	CodeInvalidSession    = 87009 // checksession: stale or wrong session_key
)

// Kind groups failures by what the caller should do about them, so that
// the HTTP mapping lives in one place instead of in every handler.
type Kind int

const (
	KindUnknown     Kind = iota // an errcode we do not know: treat as an upstream fault
	KindInvalidCode             // the client's code is bad, expired or already used
	KindBlocked                 // WeChat refuses this user
	KindQuota                   // WeChat's rate limit
	KindBusy                    // WeChat asks us to retry later
	KindConfig                  // the operator's appid or secret is wrong
	KindToken                   // the access_token is stale; fetch a new one and retry
	KindTimeout                 // no answer in time
	KindUnreachable             // no connection
	KindBadResponse             // an answer that is not WeChat's JSON
)

var kindNames = [...]string{"unknown", "invalid_code", "blocked", "quota", "busy", "config", "token", "timeout", "unreachable", "bad_response"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// APIError is an errcode answer from WeChat. Its text carries the errcode
// and WeChat's request id but not errmsg, because errmsg is WeChat's free
// text and we do not control what it echoes.
type APIError struct {
	Op      string // the API, e.g. "jscode2session"
	Code    int
	Message string // WeChat's errmsg; keep out of client-facing bodies
}

var ridPattern = regexp.MustCompile(`rid:\s*([0-9a-zA-Z-]+)`)

// RID is WeChat's request id from errmsg, the value WeChat support asks for.
func (e *APIError) RID() string {
	if m := ridPattern.FindStringSubmatch(e.Message); m != nil {
		return m[1]
	}
	return ""
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("wechat %s: errcode %d", e.Op, e.Code)
	if rid := e.RID(); rid != "" {
		s += " (rid " + rid + ")"
	}
	return s
}

// Kind says how to react to this errcode.
func (e *APIError) Kind() Kind {
	switch e.Code {
	case CodeInvalidCode, CodeCodeUsed:
		return KindInvalidCode
	case CodeUserBlocked:
		return KindBlocked
	case CodeQuota:
		return KindQuota
	case CodeBusy:
		return KindBusy
	case CodeInvalidAppID, CodeInvalidSecret, CodeMissingAppID:
		return KindConfig
	case CodeInvalidCredential, CodeInvalidToken, CodeTokenExpired:
		return KindToken
	}
	return KindUnknown
}

// TransportError is a failure to get a usable answer at all. Its text never
// includes the request URL: for jscode2session that URL holds the app
// secret and the user's code.
type TransportError struct {
	Op     string
	Kind   Kind
	Reason string
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("wechat %s: %s: %s", e.Op, e.Kind, e.Reason)
}

// KindOf classifies any error this package returns. Errors from elsewhere
// are KindUnknown.
func KindOf(err error) Kind {
	var api *APIError
	if errors.As(err, &api) {
		return api.Kind()
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Kind
	}
	return KindUnknown
}

// ErrCode returns the WeChat errcode carried by err, and false when err is
// not an errcode answer.
func ErrCode(err error) (int, bool) {
	var api *APIError
	if errors.As(err, &api) {
		return api.Code, true
	}
	return 0, false
}
