package pay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

// Merchant is one merchant account: who signs the requests, the APIv3
// key that opens notifications and certificates, WeChat Pay's keys that
// sign the answers, and what wechatpay_api fills in for the backend.
type Merchant struct {
	// MchID is the merchant id (商户号), digits.
	MchID string `json:"mchid"`

	// PrivateKey is the merchant API private key (apiclient_key.pem), in
	// PEM. Give it as a {file.*} placeholder so that it never lands in
	// the autosaved config or the admin API; it is expanded and parsed at
	// provisioning, and never logged.
	PrivateKey string `json:"private_key,omitempty"`

	// SerialNo is the serial number of the merchant API certificate
	// (apiclient_cert.pem) that goes with PrivateKey, in hex.
	SerialNo string `json:"serial_no,omitempty"`

	// APIv3Key is the APIv3 key set in the merchant platform: exactly 32
	// bytes. It opens notifications and downloaded certificates. Give it
	// as an {env.*} or {file.*} placeholder.
	APIv3Key string `json:"apiv3_key,omitempty"`

	// PublicKeys are WeChat Pay public keys (the key mode that replaces
	// platform certificates), by their PUB_KEY_ID_… id. Several may be
	// given while one replaces another.
	PublicKeys []*PublicKey `json:"public_keys,omitempty"`

	// PlatformCertificates downloads WeChat Pay's platform certificates
	// from /v3/certificates, opens them with the APIv3 key, and keeps them
	// fresh in the background. At least one of PublicKeys and
	// PlatformCertificates is required; with both, answers and
	// notifications signed under either are accepted, as WeChat Pay sends
	// either during its move from certificates to public keys.
	PlatformCertificates bool `json:"platform_certificates,omitempty"`

	// AppIDs are the apps (Mini Programs, official accounts) this merchant
	// takes payments for. A prepay's appid must be one of them; when the
	// backend leaves it out and there is exactly one, it is filled in.
	// Default: the apps of the wechat global option, when it is
	// configured; otherwise any appid is passed on, and none is filled in.
	AppIDs []string `json:"appids,omitempty"`

	// NotifyURL is filled into prepays and refunds that do not give a
	// notify_url: the public route of wechatpay_notify.
	NotifyURL string `json:"notify_url,omitempty"`

	signer    wechatpay.Merchant
	apiv3     []byte
	verifier  *wechatpay.Verifier
	appids    map[string]bool
	appidList []string
	notifyURL string
	certs     *refresher // nil without PlatformCertificates
	app       *App
}

// PublicKey is one WeChat Pay public key.
type PublicKey struct {
	// ID is the key's id as Wechatpay-Serial names it: PUB_KEY_ID_…
	ID string `json:"id"`

	// PEM is the public key (pub_key.pem) in PEM; a {file.*}
	// placeholder works.
	PEM string `json:"pem"`
}

// provision expands the merchant's placeholders and parses its keys.
// Errors name the merchant and the field, never a key's text.
func (m *Merchant) provision(a *App, repl *caddy.Replacer, wechatApp *caddymodule.App) error {
	m.app = a
	where := "wechatpay: merchant " + m.MchID + ": "
	if err := checkMchID(m.MchID); err != nil {
		return errors.New(where + err.Error())
	}
	pemText := repl.ReplaceKnown(m.PrivateKey, "")
	if pemText == "" {
		return errors.New(where + "private_key is missing or empty; set 'private_key {file./run/secrets/apiclient_key.pem}'")
	}
	key, err := wechatpay.ParsePrivateKey([]byte(pemText))
	if err != nil {
		return errors.New(where + "private_key: " + strings.TrimPrefix(err.Error(), "wechatpay: "))
	}
	serial := repl.ReplaceKnown(m.SerialNo, "")
	if err := checkSerialNo(serial); err != nil {
		return errors.New(where + err.Error())
	}
	m.signer = wechatpay.Merchant{MchID: m.MchID, Serial: strings.ToUpper(serial), Key: key}
	if err := m.signer.Validate(); err != nil {
		return errors.New(where + strings.TrimPrefix(err.Error(), "wechatpay: "))
	}

	m.apiv3 = []byte(repl.ReplaceKnown(m.APIv3Key, ""))
	if err := checkAPIv3Key(m.apiv3); err != nil {
		return errors.New(where + err.Error())
	}

	if len(m.PublicKeys) == 0 && !m.PlatformCertificates {
		return errors.New(where + "WeChat Pay's key is missing: add 'public_key PUB_KEY_ID_… {file./run/secrets/pub_key.pem}', or 'platform_certificates', or both")
	}
	m.verifier = new(wechatpay.Verifier)
	seen := map[string]bool{}
	for _, pk := range m.PublicKeys {
		if pk == nil {
			return errors.New(where + "empty public_key entry")
		}
		id := repl.ReplaceKnown(pk.ID, "")
		if seen[id] {
			return errors.New(where + "public_key " + id + " is given twice")
		}
		seen[id] = true
		pub, err := wechatpay.ParsePublicKey([]byte(repl.ReplaceKnown(pk.PEM, "")))
		if err != nil {
			return errors.New(where + "public_key " + id + ": " + strings.TrimPrefix(err.Error(), "wechatpay: "))
		}
		if err := m.verifier.AddPublicKey(id, pub); err != nil {
			return errors.New(where + "public_key: " + strings.TrimPrefix(err.Error(), "wechatpay: "))
		}
	}

	m.appids = map[string]bool{}
	ids := m.AppIDs
	if len(ids) == 0 && wechatApp != nil {
		for _, mp := range wechatApp.Apps {
			ids = append(ids, mp.AppID)
		}
	}
	for _, id := range ids {
		id = repl.ReplaceKnown(id, "")
		if err := caddymodule.CheckAppID(id); err != nil {
			return errors.New(where + strings.TrimPrefix(err.Error(), "wechat: "))
		}
		if !m.appids[id] {
			m.appids[id] = true
			m.appidList = append(m.appidList, id)
		}
	}

	m.notifyURL = repl.ReplaceKnown(m.NotifyURL, "")
	if m.notifyURL != "" {
		if err := checkNotifyURL(m.notifyURL); err != nil {
			return errors.New(where + err.Error())
		}
	}
	if m.PlatformCertificates {
		m.certs = newRefresher(m)
	}
	return nil
}

// refresh is the client's and the notify handler's answer to a serial
// nobody holds: download the certificates again, if this merchant uses
// them, at most once in a while.
func (m *Merchant) refresh(ctx context.Context, serial string) bool {
	if m.certs == nil {
		return false
	}
	return m.certs.refreshFor(ctx, serial)
}

// checkMchID reports whether s has the shape of a mchid.
func checkMchID(s string) error {
	if s == "" || len(s) > 32 || strings.Trim(s, "0123456789") != "" {
		return fmt.Errorf("mchid %q must be the merchant id: 1 to 32 digits", s)
	}
	return nil
}

// checkSerialNo reports whether s can be a certificate serial.
func checkSerialNo(s string) error {
	if s == "" || len(s) > 64 || strings.Trim(s, "0123456789ABCDEFabcdef") != "" {
		return fmt.Errorf("serial_no %q must be the merchant API certificate's serial: 1 to 64 hex digits (openssl x509 -noout -serial -in apiclient_cert.pem)", s)
	}
	return nil
}

// checkAPIv3Key says what is wrong with an APIv3 key, in words an
// operator can act on.
func checkAPIv3Key(key []byte) error {
	if len(key) != wechatpay.APIv3KeySize {
		return fmt.Errorf("apiv3_key is %d bytes; the APIv3 key must be exactly %d bytes, as set in the merchant platform (Account Center > API Security)", len(key), wechatpay.APIv3KeySize)
	}
	return nil
}

// checkNotifyURL reports whether s can be a notify_url: an absolute
// http(s) URL without a query, as WeChat Pay requires (it wants https in
// production; the simulator also calls http).
func checkNotifyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(s) > 256 {
		return fmt.Errorf("notify_url %q must be an absolute https:// URL of at most 256 characters, without a query", s)
	}
	return nil
}

// checkOrigin reports whether s is empty (the default) or an http(s)
// origin.
func checkOrigin(name, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || strings.TrimRight(u.Path, "/") != "" {
		return fmt.Errorf("wechatpay: %s %q must be an http:// or https:// origin, such as https://api.mch.weixin.qq.com", name, s)
	}
	return nil
}
