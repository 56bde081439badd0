package pay

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-wechat/caddy-wechat/internal/reply"
)

// endpoint is what wechatpay_api knows of a WeChat Pay API: its name for
// the metrics, and what it fills in or adds.
type endpoint struct {
	api        string // the metric label: jsapi, query, refund, …
	bodyMchID  bool   // the JSON body carries mchid
	bodyAppID  bool   // … and appid
	bodyNotify bool   // … and notify_url
	queryMchID bool   // the query carries mchid
	jsapi      bool   // the answer gains request_payment
	unsigned   bool   // the answer is a bill file, which WeChat Pay does not sign
}

// needsObject reports whether the body must be a JSON object, because
// something is filled into it.
func (e endpoint) needsObject() bool { return e.bodyMchID || e.bodyAppID || e.bodyNotify }

// classify names the API a request calls. Paths it does not know are
// relayed all the same, signed and verified, with nothing filled in.
func classify(method, path string) endpoint {
	rest, ok := strings.CutPrefix(path, "/v3/")
	if !ok {
		return endpoint{api: "other"}
	}
	seg := strings.Split(rest, "/")
	is := func(m string, parts ...string) bool {
		if method != m || len(seg) != len(parts) {
			return false
		}
		for i, p := range parts {
			if p == "*" {
				if seg[i] == "" {
					return false
				}
			} else if seg[i] != p {
				return false
			}
		}
		return true
	}
	prepay := endpoint{bodyMchID: true, bodyAppID: true, bodyNotify: true}
	switch {
	case is(http.MethodPost, "pay", "transactions", "jsapi"):
		prepay.api, prepay.jsapi = "jsapi", true
		return prepay
	case is(http.MethodPost, "pay", "transactions", "app"), is(http.MethodPost, "pay", "transactions", "h5"), is(http.MethodPost, "pay", "transactions", "native"):
		prepay.api = seg[2]
		return prepay
	case is(http.MethodGet, "pay", "transactions", "id", "*"), is(http.MethodGet, "pay", "transactions", "out-trade-no", "*"):
		return endpoint{api: "query", queryMchID: true}
	case is(http.MethodPost, "pay", "transactions", "out-trade-no", "*", "close"):
		return endpoint{api: "close", bodyMchID: true}
	case is(http.MethodPost, "refund", "domestic", "refunds"):
		return endpoint{api: "refund", bodyNotify: true}
	case is(http.MethodGet, "refund", "domestic", "refunds", "*"):
		return endpoint{api: "refund_query"}
	case is(http.MethodGet, "bill", "tradebill"), is(http.MethodGet, "bill", "fundflowbill"):
		return endpoint{api: "bill"}
	case is(http.MethodGet, "billdownload", "file"):
		return endpoint{api: "bill_download", unsigned: true}
	case is(http.MethodGet, "certificates"):
		return endpoint{api: "certificates"}
	}
	return endpoint{api: "other"}
}

// fillBody adds what the backend left out of a JSON object body (mchid,
// appid, notify_url) and checks what it gave, without re-serialising it:
// the fields go in after the opening brace, and the backend's own bytes
// follow unchanged. It returns the body to send and the appid the
// payment is for.
func fillBody(body []byte, m *Merchant, ep endpoint) ([]byte, string, *reply.Error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	var fields map[string]json.RawMessage
	if trimmed[0] != '{' {
		return nil, "", reply.BadRequest("the body must be a JSON object, as WeChat Pay takes it")
	}
	if err := reply.DecodeJSON(trimmed, &fields); err != nil {
		return nil, "", reply.BadRequest(reply.Problem(err, "the body must be a JSON object, as WeChat Pay takes it"))
	}
	// A field spelled in another case would sit next to the one filled
	// in, and which of the two counts would depend on the parser.
	for k := range fields {
		for _, ours := range []string{"mchid", "appid", "notify_url"} {
			if k != ours && strings.EqualFold(k, ours) {
				return nil, "", reply.BadRequest("the body spells " + ours + " as " + quote(k) + "; send it as " + ours)
			}
		}
	}
	var add []string
	str := func(name string) (string, bool, *reply.Error) {
		raw, ok := fields[name]
		if !ok {
			return "", false, nil
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", true, reply.BadRequest(name + " must be a string")
		}
		return s, true, nil
	}
	put := func(name, value string) {
		v, _ := json.Marshal(value)
		add = append(add, `"`+name+`":`+string(v))
	}

	if ep.bodyMchID {
		got, ok, e := str("mchid")
		switch {
		case e != nil:
			return nil, "", e
		case !ok:
			put("mchid", m.MchID)
		case got != m.MchID:
			return nil, "", reply.BadRequest("mchid " + quote(got) + " is not the merchant this listener signs for (" + m.MchID + "); leave mchid out and it is filled in")
		}
	}
	appID := ""
	if ep.bodyAppID {
		got, ok, e := str("appid")
		switch {
		case e != nil:
			return nil, "", e
		case ok && len(m.appids) > 0 && !m.appids[got]:
			return nil, "", reply.BadRequest("appid " + quote(got) + " is not one of merchant " + m.MchID + "'s apps (" + strings.Join(m.appidList, ", ") + ")")
		case ok:
			appID = got
		case len(m.appidList) == 1:
			appID = m.appidList[0]
			put("appid", appID)
		case len(m.appidList) == 0:
			return nil, "", reply.BadRequest("appid is missing, and merchant " + m.MchID + " has no appid configured to fill in; send it, or add 'appid <appid>' to the merchant block")
		default:
			return nil, "", reply.BadRequest("appid is missing, and merchant " + m.MchID + " takes payments for several apps (" + strings.Join(m.appidList, ", ") + "): send the one this payment is for")
		}
	}
	if ep.bodyNotify && m.notifyURL != "" {
		if _, ok := fields["notify_url"]; !ok {
			put("notify_url", m.notifyURL)
		}
	}
	if len(add) == 0 {
		return body, appID, nil
	}
	inner := bytes.TrimSpace(trimmed[1:]) // what follows the opening brace
	out := make([]byte, 0, len(trimmed)+64*len(add))
	out = append(out, '{')
	out = append(out, strings.Join(add, ",")...)
	if len(fields) > 0 {
		out = append(out, ',')
	}
	out = append(out, inner...)
	return out, appID, nil
}

// fillQuery adds mchid to a query that lacks it, keeping the rest of the
// query as the backend wrote it, and checks one it gave.
func fillQuery(rawQuery string, m *Merchant) (string, *reply.Error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", reply.BadRequest("the query does not parse")
	}
	switch vs := q["mchid"]; {
	case len(vs) > 1:
		return "", reply.BadRequest("mchid is given more than once")
	case len(vs) == 1 && vs[0] != m.MchID:
		return "", reply.BadRequest("mchid " + quote(vs[0]) + " is not the merchant this listener signs for (" + m.MchID + "); leave mchid out and it is filled in")
	case len(vs) == 1:
		return rawQuery, nil
	}
	if rawQuery == "" {
		return "mchid=" + m.MchID, nil
	}
	return rawQuery + "&mchid=" + m.MchID, nil
}

// addRequestPayment adds request_payment, the signed arguments of
// wx.requestPayment, to a verified JSAPI prepay answer, after WeChat
// Pay's own fields and without re-serialising them. An answer without a
// prepay_id is returned as it is.
func addRequestPayment(body []byte, m *Merchant, appID string) ([]byte, bool, error) {
	var ans struct {
		PrepayID string `json:"prepay_id"`
	}
	trimmed := bytes.TrimRight(body, " \t\r\n")
	if json.Unmarshal(trimmed, &ans) != nil || ans.PrepayID == "" || len(trimmed) < 2 || trimmed[len(trimmed)-1] != '}' {
		return body, false, nil
	}
	params, err := m.signer.RequestPayment(appID, ans.PrepayID)
	if err != nil {
		return nil, false, err
	}
	p, err := json.Marshal(params)
	if err != nil {
		return nil, false, err
	}
	out := make([]byte, 0, len(trimmed)+len(p)+24)
	out = append(out, trimmed[:len(trimmed)-1]...)
	out = append(out, `,"request_payment":`...)
	out = append(out, p...)
	return append(out, '}'), true, nil
}

// quote quotes a backend-chosen value for a message, cut short.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}
