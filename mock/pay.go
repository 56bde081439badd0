package mock

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-wechat/caddy-wechat/caddymodule/pay"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

func init() {
	caddy.RegisterModule(PayMock{})
	httpcaddyfile.RegisterHandlerDirective("wechatpay_mock", parsePayMock)
}

// defaultPayPublicKeyID is the simulator's WeChat Pay public key id when
// none is configured.
const defaultPayPublicKeyID = "PUB_KEY_ID_0100000000000000000000000000000001"

// wechatRetrySchedule is how WeChat Pay spaces its retries of a
// notification that got no 2xx: 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m,
// 30m, 60m, 3h, 3h, 3h, 6h, 6h (24 hours and 4 minutes in all).
var wechatRetrySchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// PayMock simulates WeChat Pay API v3 for the merchants of the wechatpay
// app, for development and tests only: never point a production
// api_base at it. Like WeChat Pay, it checks every request's signature
// with the merchant's certificate key and serial, signs every answer with
// its own key, serves that key as a PUB_KEY_ID_… public key and as a
// /v3/certificates certificate (sealed under the merchant's APIv3 key),
// issues prepay_ids, and keeps orders and refunds.
//
// It also stands in for the user paying: POST /mock/pay with
// {"out_trade_no"}, or with the request_payment object a prepay answer
// carried (its paySign is checked, as the WeChat client does), pays the
// order and sends a signed, encrypted TRANSACTION.SUCCESS notification
// to the order's notify_url, retrying on anything but a 2xx on WeChat
// Pay's schedule (or RetryIntervals). A refund sends REFUND.SUCCESS the
// same way. GET /mock/pay/notifications lists the deliveries and their
// attempts, and POST /mock/pay/resend {"notification_id"} sends one again,
// signed afresh, as WeChat Pay may send a notification it already had
// acknowledged.
type PayMock struct {
	// PrivateKey is the simulator's own signing key, RSA in PEM; a
	// {file.*} placeholder works. Its public half is what merchants
	// configure as public_key. Default: a key generated once per process,
	// which only platform_certificates mode can learn.
	PrivateKey string `json:"private_key,omitempty"`

	// PublicKeyID is the id the key goes by as a WeChat Pay public key.
	// Default: PUB_KEY_ID_0100000000000000000000000000000001.
	PublicKeyID string `json:"public_key_id,omitempty"`

	// SignWith chooses the Wechatpay-Serial of answers and notifications:
	// "public_key" (the PUB_KEY_ID_… id), "certificate" (the certificate's
	// serial), or "alternate" (one, then the other, as WeChat Pay may
	// during its migration). Default: public_key when the merchant has
	// this public key configured, certificate otherwise.
	SignWith string `json:"sign_with,omitempty"`

	// RetryIntervals are the waits between attempts at a notification
	// that got no 2xx. Default: WeChat Pay's schedule, 15s up to 6h over
	// 24 hours; tests use milliseconds.
	RetryIntervals []caddy.Duration `json:"retry_intervals,omitempty"`

	// NotifyTimeout bounds one attempt at a notification. Default: 5s,
	// as WeChat Pay waits.
	NotifyTimeout caddy.Duration `json:"notify_timeout,omitempty"`

	app     *pay.App
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	serial  string // the certificate's
	pubID   string
	retries []time.Duration
	timeout time.Duration
	state   *payState
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (PayMock) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechatpay_mock",
		New: func() caddy.Module { return new(PayMock) },
	}
}

// payPool keeps the simulator's orders and deliveries across reloads, as
// WeChat Pay's would: an order made before a reload can be paid after it.
var payPool = caddy.NewUsagePool()

const payPoolKey = "wechatpay_mock"

// Provision finds the wechatpay app, loads or generates the key and makes
// the certificate.
func (m *PayMock) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	app, err := pay.FromContext(ctx)
	if err != nil {
		return err
	}
	m.app = app
	st, _, err := payPool.LoadOrNew(payPoolKey, newPayState)
	if err != nil {
		return err
	}
	m.state = st.(*payState)

	repl := caddy.NewReplacer()
	if pemText := repl.ReplaceKnown(m.PrivateKey, ""); pemText != "" {
		k, err := wechatpay.ParsePrivateKey([]byte(pemText))
		if err != nil {
			return errors.New("wechatpay_mock: private_key: " + strings.TrimPrefix(err.Error(), "wechatpay: "))
		}
		m.key = k
	} else if m.key, err = m.state.generatedKey(); err != nil {
		return err
	}
	m.pubID = repl.ReplaceKnown(m.PublicKeyID, "")
	if m.pubID == "" {
		m.pubID = defaultPayPublicKeyID
	}
	if !strings.HasPrefix(m.pubID, wechatpay.PublicKeyIDPrefix) {
		return errors.New("wechatpay_mock: public_key_id must start with " + wechatpay.PublicKeyIDPrefix)
	}
	switch m.SignWith {
	case "", "public_key", "certificate", "alternate":
	default:
		return fmt.Errorf("wechatpay_mock: sign_with %q: expected public_key, certificate or alternate", m.SignWith)
	}
	m.retries = wechatRetrySchedule
	if len(m.RetryIntervals) > 0 {
		m.retries = make([]time.Duration, len(m.RetryIntervals))
		for i, d := range m.RetryIntervals {
			m.retries[i] = time.Duration(d)
		}
	}
	m.timeout = 5 * time.Second
	if m.NotifyTimeout > 0 {
		m.timeout = time.Duration(m.NotifyTimeout)
	}
	m.cert, err = certificateFor(m.key)
	if err != nil {
		return err
	}
	m.serial = wechatpay.CertificateSerial(m.cert)
	return nil
}

// Cleanup releases this config's hold on the simulator state.
func (m *PayMock) Cleanup() error {
	if m.state == nil {
		return nil
	}
	_, err := payPool.Delete(payPoolKey)
	return err
}

// certificateFor makes a platform certificate of key: self-signed, valid
// from an hour ago for five years, with a serial derived from the key so
// that a reload keeps it.
func certificateFor(key *rsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	sum[0] |= 0x40 // a leading zero byte would shorten the hex serial
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(sum[:20]),
		Subject:      pkix.Name{CommonName: "caddy-wechat wechatpay_mock platform certificate", Organization: []string{"caddy-wechat simulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	raw, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(raw)
}

// payRoutes maps a path to the simulator's answer; the /v3/ API is
// matched in serveAPI.
var payRoutes = map[string]func(m *PayMock, w http.ResponseWriter, r *http.Request){
	"/mock/pay":               (*PayMock).payOrder,
	"/mock/pay/notifications": (*PayMock).listNotifications,
	"/mock/pay/resend":        (*PayMock).resend,
	"/mock/pay/public_key":    (*PayMock).publicKey,
}

func (m *PayMock) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if route, ok := payRoutes[r.URL.Path]; ok {
		route(m, w, r)
		return nil
	}
	if strings.HasPrefix(r.URL.Path, "/v3/") {
		m.serveAPI(w, r)
		return nil
	}
	mockJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "wechatpay_mock serves /v3/… (WeChat Pay API v3), /mock/pay, /mock/pay/notifications, /mock/pay/resend and /mock/pay/public_key"})
	return nil
}

// serveAPI checks the merchant's signature and answers as WeChat Pay.
func (m *PayMock) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMockBody+1))
	if err != nil || len(body) > maxMockBody {
		m.unsigned(w, http.StatusBadRequest, "PARAM_ERROR", "body too large or unreadable")
		return
	}
	p, err := wechatpay.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		m.unsigned(w, http.StatusUnauthorized, "SIGN_ERROR", "Authorization is missing or malformed")
		return
	}
	serial, pub, ok := m.app.MerchantKey(p.MchID)
	if !ok {
		m.unsigned(w, http.StatusUnauthorized, "SIGN_ERROR", "mchid is not a merchant of the simulator's wechatpay app")
		return
	}
	call := &payCall{m: m, w: w, r: r, body: body, mchid: p.MchID}
	if !strings.EqualFold(p.Serial, serial) {
		call.fail(http.StatusUnauthorized, "SIGN_ERROR", "serial_no is not the merchant API certificate's serial")
		return
	}
	if _, err := wechatpay.VerifyRequest(pub, r, body, time.Now()); err != nil {
		var ve *wechatpay.VerifyError
		reason := "signature does not verify"
		if errors.As(err, &ve) {
			reason = ve.Reason.String()
		}
		call.fail(http.StatusUnauthorized, "SIGN_ERROR", "签名错误 (signature refused: "+reason+")")
		return
	}
	m.route(call)
}

// serialFor is the Wechatpay-Serial the simulator signs under for mchid.
func (m *PayMock) serialFor(mchid string) string {
	switch m.SignWith {
	case "public_key":
		return m.pubID
	case "certificate":
		return m.serial
	case "alternate":
		if m.state.alternate.Add(1)%2 == 0 {
			return m.serial
		}
		return m.pubID
	}
	if m.app.HasPublicKey(mchid, m.pubID) {
		return m.pubID
	}
	return m.serial
}

// payCall is one signed request to the simulated API.
type payCall struct {
	m     *PayMock
	w     http.ResponseWriter
	r     *http.Request
	body  []byte
	mchid string
}

// answer writes a signed JSON answer (no body for 204).
func (c *payCall) answer(status int, v any) {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			c.m.unsigned(c.w, http.StatusInternalServerError, "SYSTEM_ERROR", "the simulator could not encode its answer")
			return
		}
	}
	c.signed(status, "application/json; charset=utf-8", body, c.m.serialFor(c.mchid))
}

// signed writes body signed under serial.
func (c *payCall) signed(status int, contentType string, body []byte, serial string) {
	nonce, _ := wechatpay.NewNonce()
	if err := wechatpay.SignResponseHeaders(c.w.Header(), c.m.key, serial, body, time.Now().Unix(), nonce); err != nil {
		c.m.unsigned(c.w, http.StatusInternalServerError, "SYSTEM_ERROR", "the simulator could not sign")
		return
	}
	c.w.Header().Set("Request-ID", newRequestID())
	if len(body) > 0 {
		c.w.Header().Set("Content-Type", contentType)
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// fail writes WeChat Pay's signed error answer, {"code","message"}.
func (c *payCall) fail(status int, code, message string) {
	c.answer(status, map[string]string{"code": code, "message": message})
}

// unsigned writes an error answer without a signature, for requests the
// simulator cannot attribute to a merchant.
func (m *PayMock) unsigned(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Request-ID", newRequestID())
	mockJSON(w, status, map[string]string{"code": code, "message": message})
}

// publicKey serves the simulator's key, so that a developer can
// configure it as a merchant's public_key.
func (m *PayMock) publicKey(w http.ResponseWriter, r *http.Request) {
	der, err := x509.MarshalPKIXPublicKey(&m.key.PublicKey)
	if err != nil {
		mockJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal", "message": "cannot encode the key"})
		return
	}
	mockJSON(w, http.StatusOK, map[string]string{
		"public_key_id":      m.pubID,
		"public_key_pem":     string(pemBlock("PUBLIC KEY", der)),
		"certificate_serial": m.serial,
	})
}

// payState is the simulator's memory: orders, refunds, bills and
// notification deliveries, kept across reloads; Destruct ends the
// deliveries still retrying.
type payState struct {
	mu         sync.Mutex
	orders     map[string]*payOrder  // mchid \x00 out_trade_no
	byPrepay   map[string]*payOrder  // prepay_id
	byTxn      map[string]*payOrder  // mchid \x00 transaction_id
	refunds    map[string]*payRefund // mchid \x00 out_refund_no
	bills      map[string][]byte     // download token
	deliveries []*payDelivery        // newest last, at most maxDeliveries
	genKey     *rsa.PrivateKey       // made on first use
	genErr     error
	genOnce    sync.Once
	alternate  atomic.Uint64
	client     *http.Client
	ctx        context.Context
	cancel     context.CancelFunc
	running    sync.WaitGroup
}

// maxDeliveries bounds the deliveries kept for /mock/pay/notifications.
const maxDeliveries = 1000

func newPayState() (caddy.Destructor, error) {
	ctx, cancel := context.WithCancel(context.Background())
	return &payState{
		orders:   map[string]*payOrder{},
		byPrepay: map[string]*payOrder{},
		byTxn:    map[string]*payOrder{},
		refunds:  map[string]*payRefund{},
		bills:    map[string][]byte{},
		// A connection per notification: the state outlives reloads, and
		// a kept-alive connection to a server a reload is closing fails
		// the POST with EOF (net/http retries only idempotent requests).
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		ctx:    ctx,
		cancel: cancel,
	}, nil
}

// Destruct stops the deliveries when the last config using the simulator
// unloads.
func (s *payState) Destruct() error {
	s.cancel()
	s.running.Wait()
	s.client.CloseIdleConnections()
	return nil
}

// generatedKey is the process's simulator key when none is configured.
func (s *payState) generatedKey() (*rsa.PrivateKey, error) {
	s.genOnce.Do(func() {
		s.genKey, s.genErr = rsa.GenerateKey(rand.Reader, 2048)
	})
	return s.genKey, s.genErr
}

// Interface guards
var (
	_ caddy.Provisioner           = (*PayMock)(nil)
	_ caddy.CleanerUpper          = (*PayMock)(nil)
	_ caddyhttp.MiddlewareHandler = (*PayMock)(nil)
	_ caddy.Destructor            = (*payState)(nil)
)
