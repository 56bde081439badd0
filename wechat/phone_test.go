package wechat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func TestPhoneInfoCountryCodeForms(t *testing.T) {
	for body, want := range map[string]string{
		`{"phoneNumber":"+8613800000000","purePhoneNumber":"13800000000","countryCode":"86","watermark":{"timestamp":1637744274,"appid":"wx1"}}`: "86",
		`{"phoneNumber":"+8613800000000","purePhoneNumber":"13800000000","countryCode":86,"watermark":{"timestamp":1637744274,"appid":"wx1"}}`:   "86",
		`{"phoneNumber":"+8613800000000","purePhoneNumber":"13800000000","countryCode":null}`:                                                    "",
		`{"phoneNumber":"+8613800000000","purePhoneNumber":"13800000000"}`:                                                                       "",
		`{"phoneNumber":"+18005550100","purePhoneNumber":"8005550100","countryCode":1}`:                                                          "1",
	} {
		var p PhoneInfo
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if p.CountryCode != want || p.PhoneNumber == "" || p.PurePhoneNumber == "" {
			t.Errorf("%s: %+v", body, p)
		}
		if strings.Contains(body, "watermark") && (p.Watermark.AppID != "wx1" || p.Watermark.Timestamp != 1637744274) {
			t.Errorf("watermark = %+v", p.Watermark)
		}
	}
	for _, bad := range []string{`{"countryCode":true}`, `{"countryCode":{}}`, `{"countryCode":["86"]}`, `{"phoneNumber":1}`} {
		var p PhoneInfo
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s: accepted as %+v", bad, p)
		}
	}
}

func TestPhoneNumberRequest(t *testing.T) {
	for _, openID := range []string{"", "oOPEN"} {
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/wxa/business/getuserphonenumber" {
				t.Errorf("got %s %s", r.Method, r.URL.Path)
			}
			if q := r.URL.Query(); len(q) != 1 || q.Get("access_token") != "AT+&=x" {
				t.Errorf("query = %v", q)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			raw, _ := io.ReadAll(r.Body)
			var body map[string]string
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Errorf("body %s: %v", raw, err)
			}
			want := map[string]string{"code": "PHONE&CODE"}
			if openID != "" {
				want["openid"] = openID
			}
			if len(body) != len(want) || body["code"] != want["code"] || body["openid"] != want["openid"] {
				t.Errorf("body = %s, want %v", raw, want)
			}
			answer(w, `{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+8613800000000","purePhoneNumber":"13800000000","countryCode":86,"watermark":{"timestamp":1637744274,"appid":"wx1"}}}`)
		})
		p, err := c.PhoneNumber(context.Background(), "AT+&=x", "PHONE&CODE", openID)
		if err != nil {
			t.Fatal(err)
		}
		if p.PhoneNumber != "+8613800000000" || p.PurePhoneNumber != "13800000000" || p.CountryCode != "86" || p.Watermark.AppID != "wx1" {
			t.Errorf("got %+v", *p)
		}
	}
}

func TestPhoneNumberErrors(t *testing.T) {
	for _, tc := range []struct {
		body string
		kind Kind
		code int
	}{
		{`{"errcode":40029,"errmsg":"invalid code"}`, KindInvalidCode, 40029},
		{`{"errcode":40001,"errmsg":"invalid credential"}`, KindToken, 40001},
		{`{"errcode":-1,"errmsg":"system error"}`, KindBusy, -1},
		{`{"errcode":45011,"errmsg":"api minute-quota reach limit"}`, KindQuota, 45011},
		{`{"errcode":0,"errmsg":"ok"}`, KindBadResponse, 0},
		{`{"errcode":0,"phone_info":{"countryCode":"86"}}`, KindBadResponse, 0},
		{`{"errcode":0,"phone_info":{"phoneNumber":"1","countryCode":true}}`, KindBadResponse, 0},
	} {
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { answer(w, tc.body) })
		p, err := c.PhoneNumber(context.Background(), "ACCESS-TOKEN-1", "PHONE-CODE-1", "")
		code, _ := ErrCode(err)
		if p != nil || KindOf(err) != tc.kind || code != tc.code {
			t.Errorf("%s: %v, %v", tc.body, p, err)
		}
		assertNoLeak(t, err, "ACCESS-TOKEN-1", "PHONE-CODE-1")
	}
}

// TestPhoneNumberThroughDo runs the real flow: the first access_token is
// stale, Do fetches a new one and the phone call succeeds with it.
func TestPhoneNumberThroughDo(t *testing.T) {
	s := &tokenServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/cgi-bin/stable_token", s.handle(t))
	var phoneCalls atomic.Int32
	mux.HandleFunc("/wxa/business/getuserphonenumber", func(w http.ResponseWriter, r *http.Request) {
		phoneCalls.Add(1)
		if r.URL.Query().Get("access_token") != "tok-2" {
			answer(w, `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest"}`)
			return
		}
		answer(w, `{"errcode":0,"phone_info":{"phoneNumber":"13800000000","purePhoneNumber":"13800000000","countryCode":"86"}}`)
	})
	c := newTestClient(t, mux.ServeHTTP)
	a := &AccessTokens{Client: c, AppID: testAppID, Secret: testSecret}
	var p *PhoneInfo
	err := a.Do(context.Background(), func(tok string) (err error) {
		p, err = c.PhoneNumber(context.Background(), tok, "code", "")
		return err
	})
	if err != nil || p.PhoneNumber != "13800000000" || phoneCalls.Load() != 2 || s.requests.Load() != 2 {
		t.Errorf("p = %v, err = %v, %d phone calls, %d token requests", p, err, phoneCalls.Load(), s.requests.Load())
	}
}
