package wechatpay

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// peerPython is Debian's interpreter, which has python3-cryptography;
// PyPI is not reachable here, so no virtualenv is assumed.
const peerPython = "/usr/bin/python3"

type peerRequest struct {
	Method        string `json:"method"`
	Path          string `json:"path"`
	BodyB64       string `json:"body_b64"`
	Authorization string `json:"authorization"`
	MchID         string `json:"mchid"`
	Serial        string `json:"serial"`
}

type peerPayment struct {
	AppID  string        `json:"appId"`
	Params PaymentParams `json:"params"`
}

type peerToSign struct {
	Timestamp string `json:"timestamp"`
	Nonce     string `json:"nonce"`
	BodyB64   string `json:"body_b64"`
}

type peerAnswer struct {
	Requests     []bool   `json:"requests"`
	Payments     []bool   `json:"payments"`
	Signatures   []string `json:"signatures"`
	Cryptography string   `json:"cryptography"`
}

// runPeer runs testdata/peer.py. It fails the test, never skips it,
// when the peer cannot run: an unchecked peer is an untested claim.
func runPeer(t *testing.T, in any) peerAnswer {
	t.Helper()
	if _, err := os.Stat(peerPython); err != nil {
		t.Fatalf("the Python peer needs %s with python3-cryptography: %v (install with: apt-get install -y python3 python3-cryptography)", peerPython, err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peerPython, "testdata/peer.py")
	cmd.Stdin = bytes.NewReader(b)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			t.Fatalf("the Python peer cannot import cryptography: %s(install with: apt-get install -y python3-cryptography)", stderr.String())
		}
		t.Fatalf("the Python peer failed: %v\n%s", err, stderr.String())
	}
	var out peerAnswer
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("the Python peer's answer is not JSON: %v\n%s", err, stdout.String())
	}
	t.Logf("peer: Python cryptography %s", out.Cryptography)
	return out
}

// TestPythonPeer: Python's cryptography library, with messages it builds
// itself from the documented formats, accepts our Authorization headers
// and paySigns and rejects altered ones; and our Verifier accepts answer
// signatures Python made, and only for the body Python signed.
func TestPythonPeer(t *testing.T) {
	m := testMerchant(t)
	b64 := base64.StdEncoding.EncodeToString
	type reqCase struct {
		method, path string
		body         []byte
		want         bool
		auth         string
	}
	sign := func(method, path string, body []byte) string {
		h, err := m.Authorization(method, path, body)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	unicodeBody := []byte(`{"description":"测试商品 – ünïcødé","amount":{"total":1}}`)
	reqs := []reqCase{
		{"POST", "/v3/pay/transactions/jsapi", []byte(vecJSAPIBody), true, vecJSAPIAuth},
		{"GET", vecGETPath, nil, true, ""},
		{"POST", "/v3/pay/transactions/jsapi", unicodeBody, true, ""},
		{"GET", "/v3/certificates", nil, true, ""},
		{"POST", "/v3/refund/domestic/refunds", []byte(`{"out_refund_no":"R1"}`), true, ""},
		// Negatives: the peer must notice.
		{"POST", "/v3/pay/transactions/jsapi", []byte(vecJSAPIBody + " "), false, vecJSAPIAuth},
		{"PUT", "/v3/pay/transactions/jsapi", []byte(vecJSAPIBody), false, vecJSAPIAuth},
		{"GET", "/v3/certificates?x=1", nil, false, sign("GET", "/v3/certificates", nil)},
	}
	var in struct {
		PublicKeyPEM  string        `json:"public_key_pem"`
		PrivateKeyPEM string        `json:"private_key_pem"`
		Requests      []peerRequest `json:"requests"`
		Payments      []peerPayment `json:"payments"`
		ToSign        []peerToSign  `json:"to_sign"`
	}
	in.PublicKeyPEM = string(readTestdata(t, "wechatpay_public_key.pem"))
	in.PrivateKeyPEM = string(testKeyPEM(t))
	for _, c := range reqs {
		auth := c.auth
		if auth == "" {
			if c.method == "GET" && c.path == vecGETPath {
				var err error
				if auth, err = m.AuthorizationAt("GET", vecGETPath, nil, vecTimestamp, vecNonce); err != nil {
					t.Fatal(err)
				}
			} else {
				auth = sign(c.method, c.path, c.body)
			}
		}
		in.Requests = append(in.Requests, peerRequest{c.method, c.path, b64(c.body), auth, testMchID, testMchSerial})
	}

	vecPay, err := m.RequestPaymentAt("wx8888888888888888", "wx201410272009395522657a690389285100", 1414561699, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
	if err != nil {
		t.Fatal(err)
	}
	freshPay, err := m.RequestPayment("wx4f4bc4dec97d474b", "wx26112221580621e9b071c00d9e093b0000")
	if err != nil {
		t.Fatal(err)
	}
	alteredPay := freshPay
	alteredPay.NonceStr = "00000000000000000000000000000000"
	wantPay := []bool{true, true, false, false}
	in.Payments = []peerPayment{
		{"wx8888888888888888", vecPay},
		{"wx4f4bc4dec97d474b", freshPay},
		{"wx4f4bc4dec97d474b", alteredPay},
		{"wx8888888888888888", freshPay}, // another appid
	}

	now := time.Now()
	bodies := [][]byte{[]byte(vecNotifyBody), []byte(`{"prepay_id":"wx201410272009395522657a690389285100"}`), nil}
	for i, body := range bodies {
		in.ToSign = append(in.ToSign, peerToSign{strconv.FormatInt(now.Unix(), 10), "PEERNONCE" + strconv.Itoa(i), b64(body)})
	}

	out := runPeer(t, in)

	if len(out.Requests) != len(reqs) || len(out.Payments) != len(wantPay) || len(out.Signatures) != len(bodies) {
		t.Fatalf("peer answered %d/%d/%d items", len(out.Requests), len(out.Payments), len(out.Signatures))
	}
	for i, c := range reqs {
		if out.Requests[i] != c.want {
			t.Errorf("peer says request %d (%s %s) verifies=%v, want %v", i, c.method, c.path, out.Requests[i], c.want)
		}
	}
	for i, want := range wantPay {
		if out.Payments[i] != want {
			t.Errorf("peer says payment %d verifies=%v, want %v", i, out.Payments[i], want)
		}
	}
	if vecPay.PaySign != vecPaySign {
		t.Errorf("paySign vector changed")
	}

	v := vecVerifier(t)
	for i, body := range bodies {
		h := http.Header{}
		h.Set(HeaderSerial, testPubKeyID)
		h.Set(HeaderTimestamp, in.ToSign[i].Timestamp)
		h.Set(HeaderNonce, in.ToSign[i].Nonce)
		h.Set(HeaderSignature, out.Signatures[i])
		if err := v.Verify(h, body, now); err != nil {
			t.Errorf("Python's signature %d refused: %v", i, err)
		}
		if r := reasonOf(v.Verify(h, append(bytes.Clone(body), 'x'), now)); r != ReasonBadSignature {
			t.Errorf("Python's signature %d verified another body: %v", i, r)
		}
		// PKCS#1 v1.5 is deterministic: Python and Go must agree exactly.
		goSig, err := Sign(m.Key, ResponseMessage(in.ToSign[i].Timestamp, in.ToSign[i].Nonce, body))
		if err != nil || goSig != out.Signatures[i] {
			t.Errorf("signature %d: Go %s, Python %s", i, goSig, out.Signatures[i])
		}
	}
}
