package integration

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// peerPython is Debian's interpreter with python3-cryptography, and
// peerScript the independent implementation the wechatpay package's own
// tests use (PyPI is not reachable here).
const (
	peerPython = "/usr/bin/python3"
	peerScript = "../wechatpay/testdata/peer.py"
)

// TestPayPeerChecksEdgeSignatures: Python's cryptography library, with
// messages it builds itself from WeChat Pay's documentation, accepts the
// Authorization headers the running edge sent to WeChat Pay (prepay,
// query with the filled-in mchid, refund, close) and the paySign it gave
// the backend, and rejects altered ones; a notification Python signs with
// WeChat Pay's key is accepted by the edge's notify route.
func TestPayPeerChecksEdgeSignatures(t *testing.T) {
	if _, err := os.Stat(peerPython); err != nil {
		t.Fatalf("the Python peer needs %s with python3-cryptography: %v (apt-get install -y python3 python3-cryptography)", peerPython, err)
	}
	wx := NewFakePay(t)
	backend := NewNotifyBackend(t)
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files, Backend: backend.URL}))

	st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, prepayBody)
	if st != 200 {
		t.Fatalf("prepay: %d %s", st, raw)
	}
	rp := jsonOf(t, raw)["request_payment"].(map[string]any)
	payCall(t, "GET", "/v3/pay/transactions/out-trade-no/ORDER0001", nil, "")
	payCall(t, "POST", "/v3/refund/domestic/refunds", nil, `{"out_trade_no":"ORDER0001","out_refund_no":"REFUND0001","amount":{"refund":1,"total":100,"currency":"CNY"}}`)
	payCall(t, "POST", "/v3/pay/transactions/out-trade-no/ORDER0001/close", nil, "")

	type request struct {
		Method        string `json:"method"`
		Path          string `json:"path"`
		BodyB64       string `json:"body_b64"`
		Authorization string `json:"authorization"`
		MchID         string `json:"mchid"`
		Serial        string `json:"serial"`
	}
	type payment struct {
		AppID  string         `json:"appId"`
		Params map[string]any `json:"params"`
	}
	type toSign struct {
		Timestamp string `json:"timestamp"`
		Nonce     string `json:"nonce"`
		BodyB64   string `json:"body_b64"`
	}
	var in struct {
		PublicKeyPEM  string    `json:"public_key_pem"`
		PrivateKeyPEM string    `json:"private_key_pem"`
		Requests      []request `json:"requests"`
		Payments      []payment `json:"payments"`
		ToSign        []toSign  `json:"to_sign"`
	}
	der, err := x509.MarshalPKIXPublicKey(&Keys(t).Merchant.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	in.PublicKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	wechatKey, err := os.ReadFile(files.WeChatKey)
	if err != nil {
		t.Fatal(err)
	}
	in.PrivateKeyPEM = string(wechatKey)
	b64 := base64.StdEncoding.EncodeToString
	var want []bool
	for _, r := range wx.Received() {
		in.Requests = append(in.Requests, request{r.Method, r.URI, b64(r.Body), r.Header.Get("Authorization"), PayMchID, PayMchSerial})
		want = append(want, true)
		// The same header over one byte more must not verify.
		in.Requests = append(in.Requests, request{r.Method, r.URI, b64(append(bytes.Clone(r.Body), ' ')), r.Header.Get("Authorization"), PayMchID, PayMchSerial})
		want = append(want, false)
	}
	if len(in.Requests) != 8 {
		t.Fatalf("%d requests recorded, want 4", len(in.Requests)/2)
	}
	altered := map[string]any{}
	for k, v := range rp {
		altered[k] = v
	}
	altered["package"] = "prepay_id=wx0000000000000000000000000000000000"
	in.Payments = []payment{{AppID, rp}, {AppID, altered}, {AppID2, rp}}
	wantPay := []bool{true, false, false}

	n := NewTransactionNotification(t, uniqueID("peer"), "ORDER0080")
	body := n.Body(t)
	in.ToSign = []toSign{{strconv.FormatInt(time.Now().Unix(), 10), RandomNonce(), b64(body)}}

	input, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerPython, peerScript)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			t.Fatalf("the Python peer cannot import cryptography: %s(apt-get install -y python3-cryptography)", stderr.String())
		}
		t.Fatalf("the Python peer failed: %v\n%s", err, stderr.String())
	}
	var out struct {
		Requests     []bool   `json:"requests"`
		Payments     []bool   `json:"payments"`
		Signatures   []string `json:"signatures"`
		Cryptography string   `json:"cryptography"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("the Python peer's answer is not JSON: %v\n%s", err, stdout.String())
	}
	t.Logf("peer: Python cryptography %s", out.Cryptography)
	for i, w := range want {
		if i >= len(out.Requests) || out.Requests[i] != w {
			t.Errorf("peer: request %d (%s %s) verifies=%v, want %v", i, in.Requests[i].Method, in.Requests[i].Path, out.Requests, w)
		}
	}
	for i, w := range wantPay {
		if i >= len(out.Payments) || out.Payments[i] != w {
			t.Errorf("peer: payment %d verifies=%v, want %v", i, out.Payments, w)
		}
	}
	if len(out.Signatures) != 1 {
		t.Fatalf("peer signed %d bodies", len(out.Signatures))
	}
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set("Wechatpay-Serial", PayPubKeyID)
	h.Set("Wechatpay-Timestamp", in.ToSign[0].Timestamp)
	h.Set("Wechatpay-Nonce", in.ToSign[0].Nonce)
	h.Set("Wechatpay-Signature", out.Signatures[0])
	if st, ans := notify(t, h, body); st != 204 {
		t.Fatalf("a notification signed by Python: %d %v", st, ans)
	}
	if calls := backend.WaitCalls(t, 1); !bytes.Equal(calls[0].Body, n.Plaintext(t)) {
		t.Fatalf("the backend got %s", calls[0].Body)
	}
}
