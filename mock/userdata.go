package mock

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patrickmn/go-cache"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// The simulator's user data side: getuserphonenumber and checksession, as
// WeChat answers them, and two development-only routes that play the part
// of the WeChat client, which no test or demo has: /mock/encrypt makes
// encryptedData and /mock/sign a rawData signature, under the current
// session_key of a user who logged in through the simulator.
//
// Phone codes steer the answer like login codes: "err<N>..." answers
// errcode N, "otherapp..." answers with another app's watermark, and a
// code is single use. A used code answers 40029 "invalid code", which is
// what WeChat sends for a spent phone code (it uses 40163 only for login
// codes).

func init() {
	mockRoutes["/wxa/business/getuserphonenumber"] = (*Mock).phoneNumber
	mockRoutes["/wxa/checksession"] = (*Mock).checkSession
	mockRoutes["/mock/encrypt"] = (*Mock).encrypt
	mockRoutes["/mock/sign"] = (*Mock).sign
}

// mockOtherAppID is the appid an "otherapp" phone code's watermark names.
const mockOtherAppID = "wxffffffffffffffff"

func (m *Mock) phoneNumber(w http.ResponseWriter, r *http.Request) {
	appID, ok := m.tokenApp(w, r)
	if !ok {
		return
	}
	var req struct {
		Code   string `json:"code"`
		OpenID string `json:"openid"`
	}
	if !readMockJSON(w, r, &req) {
		return
	}
	code := req.Code
	switch {
	case code == "":
		mockAnswer(w, http.StatusOK, mockErr(41008, "missing code"))
		return
	case strings.HasPrefix(code, "err"):
		if n, err := strconv.Atoi(strings.SplitN(code[3:], ".", 2)[0]); err == nil {
			mockAnswer(w, http.StatusOK, mockErr(n, "simulated error"))
			return
		}
	}
	if m.state.used.Add("phone\x00"+appID+"\x00"+code, struct{}{}, cache.DefaultExpiration) != nil {
		mockAnswer(w, http.StatusOK, mockErr(40029, "invalid code"))
		return
	}
	watermark := appID
	if strings.HasPrefix(code, "otherapp") {
		watermark = mockOtherAppID
	}
	who := req.OpenID
	if who == "" {
		who, _, _ = strings.Cut(code, ".")
	}
	number := mockPhone(appID, who)
	mockAnswer(w, http.StatusOK, map[string]any{
		"errcode": 0,
		"errmsg":  "ok",
		"phone_info": map[string]any{
			"phoneNumber":     number,
			"purePhoneNumber": number,
			"countryCode":     "86",
			"watermark":       map[string]any{"timestamp": time.Now().Unix(), "appid": watermark},
		},
	})
}

// mockPhone makes a mainland mobile number, stable per app and user.
func mockPhone(appID, who string) string {
	sum := sha256.Sum256([]byte("caddy-wechat mock phone\x00" + appID + "\x00" + who))
	return fmt.Sprintf("13%09d", binary.BigEndian.Uint64(sum[:8])%1_000_000_000)
}

// checkSession answers 87009 unless signature is the HMAC of the empty
// message under the user's current session_key, so a key replaced by a
// later login fails as it does at WeChat.
func (m *Mock) checkSession(w http.ResponseWriter, r *http.Request) {
	appID, ok := m.tokenApp(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Get("sig_method") != "hmac_sha256" {
		mockAnswer(w, http.StatusOK, mockErr(87009, "invalid sig_method"))
		return
	}
	sk, found := m.state.sessions.Get(appID + "\x00" + q.Get("openid"))
	if !found || !hmac.Equal([]byte(wechat.SessionSignature(sk.(string), "")), []byte(strings.ToLower(q.Get("signature")))) {
		mockAnswer(w, http.StatusOK, mockErr(87009, "invalid signature"))
		return
	}
	mockAnswer(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok"})
}

// mockUserRequest names a user who logged in through the simulator: by
// openid, or by the user part of their login code ("alice" for
// "alice.1"). appid may be left out when one app is configured.
type mockUserRequest struct {
	AppID  string `json:"appid"`
	OpenID string `json:"openid"`
	User   string `json:"user"`
}

// session finds the user's current session_key, answering the error
// itself when there is none; ok is false when it did.
func (m *Mock) session(w http.ResponseWriter, u mockUserRequest) (appID, sessionKey string, ok bool) {
	mp, found := m.app.Program(u.AppID)
	if !found {
		mockAnswer(w, http.StatusBadRequest, mockErr(40013, "invalid appid"))
		return "", "", false
	}
	openID := u.OpenID
	if openID == "" && u.User != "" {
		openID = mockID(mp.AppID, u.User)
	}
	sk, found := m.state.sessions.Get(mp.AppID + "\x00" + openID)
	if openID == "" || !found {
		mockAnswer(w, http.StatusNotFound, mockErr(87009, "no session for this user: log in through the simulator first"))
		return "", "", false
	}
	return mp.AppID, sk.(string), true
}

// encrypt is development-only: POST {"appid", "openid" or "user",
// "data": {...}} answers {"encryptedData", "iv"}, data encrypted as WeChat
// would for that user, with watermark {appid, timestamp} added.
// "watermark_appid" names another app, to show the watermark check.
func (m *Mock) encrypt(w http.ResponseWriter, r *http.Request) {
	var req struct {
		mockUserRequest
		Data           json.RawMessage `json:"data"`
		WatermarkAppID string          `json:"watermark_appid"`
	}
	if !readMockJSON(w, r, &req) {
		return
	}
	appID, sk, ok := m.session(w, req.mockUserRequest)
	if !ok {
		return
	}
	data := map[string]any{}
	if len(req.Data) > 0 && string(req.Data) != "null" {
		dec := json.NewDecoder(bytes.NewReader(req.Data))
		dec.UseNumber() // keep large numbers (WeRun timestamps) exact
		if dec.Decode(&data) != nil || data == nil {
			mockAnswer(w, http.StatusBadRequest, mockErr(47001, "data must be a JSON object"))
			return
		}
	}
	wm := appID
	if req.WatermarkAppID != "" {
		wm = req.WatermarkAppID
	}
	data["watermark"] = map[string]any{"appid": wm, "timestamp": time.Now().Unix()}
	plain, err := json.Marshal(data)
	if err != nil {
		mockAnswer(w, http.StatusBadRequest, mockErr(47001, "data cannot be encoded"))
		return
	}
	iv := make([]byte, 16)
	_, _ = rand.Read(iv)
	enc, err := wechat.EncryptData(sk, plain, iv)
	if err != nil {
		mockAnswer(w, http.StatusInternalServerError, mockErr(-1, "system error"))
		return
	}
	mockAnswer(w, http.StatusOK, map[string]any{"encryptedData": enc, "iv": base64.StdEncoding.EncodeToString(iv)})
}

// sign is development-only: POST {"appid", "openid" or "user", "rawData"}
// answers {"signature"}, hex(sha1(rawData + session_key)) as
// wx.getUserInfo gives it.
func (m *Mock) sign(w http.ResponseWriter, r *http.Request) {
	var req struct {
		mockUserRequest
		RawData string `json:"rawData"`
	}
	if !readMockJSON(w, r, &req) {
		return
	}
	if req.RawData == "" {
		mockAnswer(w, http.StatusBadRequest, mockErr(47001, "rawData is required"))
		return
	}
	_, sk, ok := m.session(w, req.mockUserRequest)
	if !ok {
		return
	}
	sum := sha1.Sum([]byte(req.RawData + sk))
	mockAnswer(w, http.StatusOK, map[string]any{"signature": hex.EncodeToString(sum[:])})
}
