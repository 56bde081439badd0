package integration

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// metricValue reads one sample of /metrics, or -1 when it is absent.
func metricValue(t *testing.T, sample string) float64 {
	t.Helper()
	resp, err := NewClient().Get(AdminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(raw)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestSessionMetrics: renewals, logouts, tickets, CSRF refusals and the
// revocation set each count what happened, and a renewal counts once
// however many requests carried the token.
func TestSessionMetrics(t *testing.T) {
	_, c := sessionsEnv(t, "", "", "")
	samples := []string{
		"caddy_wechat_renewals_total",
		"caddy_wechat_logouts_total",
		`caddy_wechat_tickets_total{event="minted"}`,
		`caddy_wechat_tickets_total{event="redeemed"}`,
		`caddy_wechat_tickets_total{event="refused"}`,
		"caddy_wechat_csrf_rejected_total",
		"caddy_wechat_revocations",
	}
	before := map[string]float64{}
	for _, s := range samples {
		before[s] = max(metricValue(t, s), 0)
	}

	now := time.Now()
	near := SessionToken(t, "o-metrics", Unique("sid-metrics"), now.Add(-time.Hour), now.Add(-50*time.Minute), time.Hour)
	for range 3 {
		Do(t, c, "GET", At(SessPort, "/api/me"), Bearer(near), "")
	}
	tok, _ := LoginAt(t, c, SessPort, Unique("metrics"), AppID)
	tk := mintTicket(t, c, tok)
	st, h, _ := redeem(t, c, tk)
	ck := SessionCookie(h, "wechat_session")
	if st != 200 || ck == nil {
		t.Fatalf("redeem: %d", st)
	}
	redeem(t, c, tk)
	Do(t, c, "POST", At(SessPort, "/api/me"), http.Header{"Cookie": {"wechat_session=" + ck.Value}, "Origin": {OtherH5Origin}}, "")
	if st, _, _ := logout(t, c, Bearer(tok)); st != 204 {
		t.Fatalf("logout: %d", st)
	}

	want := map[string]float64{
		"caddy_wechat_renewals_total":                  1,
		"caddy_wechat_logouts_total":                   1,
		`caddy_wechat_tickets_total{event="minted"}`:   1,
		`caddy_wechat_tickets_total{event="redeemed"}`: 1,
		`caddy_wechat_tickets_total{event="refused"}`:  1,
		"caddy_wechat_csrf_rejected_total":             1,
		"caddy_wechat_revocations":                     1,
	}
	for _, s := range samples {
		if got := metricValue(t, s) - before[s]; got != want[s] {
			t.Errorf("%s went up by %v, want %v", s, got, want[s])
		}
	}
}
