package pay

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// testMerchant is a merchant as provision leaves it, with the appids
// given.
func testMerchant(t testing.TB, appids ...string) *Merchant {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	m := &Merchant{MchID: "1900000001", appids: map[string]bool{}, notifyURL: "https://shop.example.com/pay/notify"}
	m.signer = wechatpay.Merchant{MchID: m.MchID, Serial: "3775B6A45ACD588826D15E583A95F5DD00000000", Key: testKey}
	for _, id := range appids {
		m.appids[id] = true
		m.appidList = append(m.appidList, id)
	}
	return m
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		method, path, api string
		want              endpoint
	}{
		{"POST", "/v3/pay/transactions/jsapi", "jsapi", endpoint{api: "jsapi", bodyMchID: true, bodyAppID: true, bodyNotify: true, jsapi: true}},
		{"POST", "/v3/pay/transactions/native", "native", endpoint{api: "native", bodyMchID: true, bodyAppID: true, bodyNotify: true}},
		{"GET", "/v3/pay/transactions/jsapi", "other", endpoint{api: "other"}},
		{"GET", "/v3/pay/transactions/out-trade-no/A1", "query", endpoint{api: "query", queryMchID: true}},
		{"GET", "/v3/pay/transactions/id/4200", "query", endpoint{api: "query", queryMchID: true}},
		{"GET", "/v3/pay/transactions/id/", "other", endpoint{api: "other"}},
		{"POST", "/v3/pay/transactions/out-trade-no/A1/close", "close", endpoint{api: "close", bodyMchID: true}},
		{"POST", "/v3/refund/domestic/refunds", "refund", endpoint{api: "refund", bodyNotify: true}},
		{"GET", "/v3/refund/domestic/refunds/R1", "refund_query", endpoint{api: "refund_query"}},
		{"GET", "/v3/bill/tradebill", "bill", endpoint{api: "bill"}},
		{"GET", "/v3/bill/fundflowbill", "bill", endpoint{api: "bill"}},
		{"GET", "/v3/billdownload/file", "bill_download", endpoint{api: "bill_download", unsigned: true}},
		{"POST", "/v3/billdownload/file", "other", endpoint{api: "other"}},
		{"GET", "/v3/certificates", "certificates", endpoint{api: "certificates"}},
		{"GET", "/v3/certificates/x", "other", endpoint{api: "other"}},
	} {
		if got := classify(c.method, c.path); got != c.want {
			t.Errorf("%s %s: %+v, want %+v", c.method, c.path, got, c.want)
		}
	}
}

func TestFillBody(t *testing.T) {
	prepay := classify("POST", "/v3/pay/transactions/jsapi")
	one := testMerchant(t, "wx0123456789abcdef")
	for _, c := range []struct {
		name    string
		m       *Merchant
		ep      endpoint
		in, out string
		appID   string
	}{
		{"all filled", one, prepay, `{"description":"d"}`, `{"mchid":"1900000001","appid":"wx0123456789abcdef","notify_url":"https://shop.example.com/pay/notify","description":"d"}`, "wx0123456789abcdef"},
		{"empty object", one, prepay, `{}`, `{"mchid":"1900000001","appid":"wx0123456789abcdef","notify_url":"https://shop.example.com/pay/notify"}`, "wx0123456789abcdef"},
		{"nothing to fill: the bytes as they came", one, prepay, " {\"mchid\":\"1900000001\", \"appid\":\"wx0123456789abcdef\",\"notify_url\":\"x\"}\n", " {\"mchid\":\"1900000001\", \"appid\":\"wx0123456789abcdef\",\"notify_url\":\"x\"}\n", "wx0123456789abcdef"},
		{"spaces kept after the insert", one, prepay, "\n{ \"a\" : [1, 2] }", `{"mchid":"1900000001","appid":"wx0123456789abcdef","notify_url":"https://shop.example.com/pay/notify","a" : [1, 2] }`, "wx0123456789abcdef"},
		{"close: an empty body", one, classify("POST", "/v3/pay/transactions/out-trade-no/A/close"), ``, `{"mchid":"1900000001"}`, ""},
		{"refund: notify_url only", one, classify("POST", "/v3/refund/domestic/refunds"), `{"out_refund_no":"R1"}`, `{"notify_url":"https://shop.example.com/pay/notify","out_refund_no":"R1"}`, ""},
		{"several apps, one given", testMerchant(t, "wx0123456789abcdef", "wx1111111111111111"), prepay, `{"appid":"wx1111111111111111"}`, `{"mchid":"1900000001","notify_url":"https://shop.example.com/pay/notify","appid":"wx1111111111111111"}`, "wx1111111111111111"},
		{"no apps configured: any passes", testMerchant(t), prepay, `{"appid":"wx2222222222222222"}`, `{"mchid":"1900000001","notify_url":"https://shop.example.com/pay/notify","appid":"wx2222222222222222"}`, "wx2222222222222222"},
		{"escapes in the notify_url", func() *Merchant { m := testMerchant(t, "wx0123456789abcdef"); m.notifyURL = `https://x/"<>`; return m }(), classify("POST", "/v3/refund/domestic/refunds"), `{}`, `{"notify_url":"https://x/\"\u003c\u003e"}`, ""},
	} {
		out, appID, e := fillBody([]byte(c.in), c.m, c.ep)
		if e != nil || string(out) != c.out || appID != c.appID {
			t.Errorf("%s: %q %q %v, want %q %q", c.name, out, appID, e, c.out, c.appID)
			continue
		}
		if !json.Valid(out) {
			t.Errorf("%s: %q is not JSON", c.name, out)
		}
	}
	for _, c := range []struct {
		name, in, says string
		m              *Merchant
	}{
		{"array", `[1]`, "JSON object", one},
		{"null", `null`, "JSON object", one},
		{"string", `"x"`, "JSON object", one},
		{"broken", `{"a":`, "JSON object", one},
		{"two objects", `{}{}`, "JSON object", one},
		{"duplicate", `{"a":1,"A":2}`, "more than once", one},
		{"nested duplicate", `{"amount":{"total":1,"total":2}}`, "more than once", one},
		{"another case", `{"MchId":"1900000001"}`, `spells mchid as "MchId"`, one},
		{"another mchid", `{"mchid":"1900000002"}`, `"1900000002"`, one},
		{"numeric mchid", `{"mchid":1900000001}`, "mchid must be a string", one},
		{"appid not a string", `{"appid":["wx0123456789abcdef"]}`, "appid must be a string", one},
		{"another app", `{"appid":"wx1111111111111111"}`, "not one of merchant 1900000001's apps (wx0123456789abcdef)", one},
		{"several apps, none given", `{}`, "several apps (wx0123456789abcdef, wx1111111111111111)", testMerchant(t, "wx0123456789abcdef", "wx1111111111111111")},
		{"no apps, none given", `{}`, "no appid configured", testMerchant(t)},
	} {
		if out, _, e := fillBody([]byte(c.in), c.m, classify("POST", "/v3/pay/transactions/jsapi")); e == nil || e.Status != 400 || !strings.Contains(e.Message, c.says) {
			t.Errorf("%s: %q %v, want a 400 saying %q", c.name, out, e, c.says)
		}
	}
}

func TestFillQuery(t *testing.T) {
	m := testMerchant(t)
	for in, want := range map[string]string{
		"":                   "mchid=1900000001",
		"a=1":                "a=1&mchid=1900000001",
		"mchid=1900000001":   "mchid=1900000001",
		"x=%20y&z":           "x=%20y&z&mchid=1900000001",
		"mchid=1900000001&x": "mchid=1900000001&x",
	} {
		if got, e := fillQuery(in, m); e != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, e, want)
		}
	}
	for _, in := range []string{"mchid=2", "mchid=1900000001&mchid=1900000001", "a=%zz"} {
		if _, e := fillQuery(in, m); e == nil || e.Status != 400 {
			t.Errorf("%q: %v, want a 400", in, e)
		}
	}
}

func TestAddRequestPayment(t *testing.T) {
	m := testMerchant(t, "wx0123456789abcdef")
	answer := []byte("{\"prepay_id\": \"wx201410272009395522657a690389285100\"}\n")
	out, added, err := addRequestPayment(answer, m, "wx0123456789abcdef")
	if err != nil || !added {
		t.Fatal(added, err)
	}
	if !bytes.HasPrefix(out, []byte(`{"prepay_id": "wx201410272009395522657a690389285100","request_payment":{"timeStamp":"`)) {
		t.Fatalf("%s", out)
	}
	var got struct {
		RP map[string]string `json:"request_payment"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.RP) != 5 {
		t.Fatalf("%s: %v", out, err)
	}
	rp := got.RP
	msg := "wx0123456789abcdef\n" + rp["timeStamp"] + "\n" + rp["nonceStr"] + "\n" + rp["package"] + "\n"
	sig, _ := base64.StdEncoding.DecodeString(rp["paySign"])
	sum := sha256.Sum256([]byte(msg))
	if rp["package"] != "prepay_id=wx201410272009395522657a690389285100" || rp["signType"] != "RSA" || rsa.VerifyPKCS1v15(&testKey.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		t.Fatalf("request_payment %v does not verify", rp)
	}
	for _, a := range []string{`{}`, `{"code":"PARAM_ERROR"}`, `{"prepay_id":""}`, `not json`, `{"prepay_id":7}`} {
		if out, added, err := addRequestPayment([]byte(a), m, "wx0123456789abcdef"); err != nil || added || string(out) != a {
			t.Errorf("%s: %s %v %v, want it unchanged", a, out, added, err)
		}
	}
	if _, _, err := addRequestPayment([]byte(`{"prepay_id":"a\nb"}`), m, "wx0123456789abcdef"); err == nil {
		t.Error("a prepay_id with a newline was signed")
	}
}

func TestHasDotSegment(t *testing.T) {
	for p, want := range map[string]bool{
		"/v3/pay": false, "/v3/../x": true, "/v3/./x": true, "/v3/%2E%2e/x": true, "/v3/.%2e/x": true, "/v3/%2e/x": true,
		"/v3/..x/y": false, "/v3/x..": false, "/v3/pay/transactions/out-trade-no/a.b": false,
	} {
		if hasDotSegment(p) != want {
			t.Errorf("%s: %v", p, !want)
		}
	}
}

// FuzzFillBody: whatever the backend sends, filling never panics; what
// it accepts ends with the backend's bytes after the first brace, is
// valid JSON when the input was, and carries this merchant's mchid.
func FuzzFillBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"description":"d"}`, ` {"a":[1,{"b":null}]} `, `{"mchid":"1900000001"}`, `{"appid":"wx0123456789abcdef","x":1}`, `[]`, `{"a":1,"a":2}`, `{"\u006dchid":"2"}`, ``, `{"notify_url":null}`} {
		f.Add([]byte(s))
	}
	m := testMerchant(f, "wx0123456789abcdef")
	ep := classify("POST", "/v3/pay/transactions/jsapi")
	f.Fuzz(func(t *testing.T, body []byte) {
		out, appID, e := fillBody(body, m, ep)
		if e != nil {
			if e.Status != 400 {
				t.Fatalf("status %d", e.Status)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("accepted %q and made %q, which is not JSON", body, out)
		}
		var v struct {
			MchID string `json:"mchid"`
			AppID string `json:"appid"`
		}
		if err := json.Unmarshal(out, &v); err != nil || v.MchID != m.MchID || v.AppID != appID || appID != "wx0123456789abcdef" {
			t.Fatalf("%q → %q: mchid %q appid %q/%q", body, out, v.MchID, v.AppID, appID)
		}
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) > 0 && !bytes.Equal(out, body) && !bytes.HasSuffix(out, bytes.TrimSpace(trimmed[1:])) {
			t.Fatalf("%q → %q: the backend's bytes were rewritten", body, out)
		}
	})
}
