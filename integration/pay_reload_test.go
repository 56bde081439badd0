package integration

import (
	"fmt"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestPayReloads reloads a pay config (both key modes, so a certificate
// refresher runs, and the simulator) 30 times with a whole payment in
// between: goroutines must not grow, so every refresher, transport and
// delivery of an old config has ended; and notifications acknowledged
// before a reload stay acknowledged after it.
func TestPayReloads(t *testing.T) {
	backend := NewNotifyBackend(t)
	backend.Config.SetKeepAlivesEnabled(false)
	files := WritePayFiles(t)
	config := func(i int) string {
		return PayConfig(PaySetup{APIBase: MockBase(), Files: files, Backend: backend.URL,
			Keys: []string{files.PublicKey(), PayCertMode}, NotifyTimeout: fmt.Sprintf("%ds", 1+i%2)})
	}
	var first map[string]any
	cycle := func(i int) {
		StartCaddy(t, config(i))
		awaitServing(NewClient(), PayAPI("/v3/x"))
		order := uniqueID(fmt.Sprintf("RL%d", i))
		rp := prepay(t, order, 1)
		st, paid := mockCall(t, "POST", "/mock/pay", rp)
		if st != 200 || paid["notify_status"] != float64(204) {
			t.Fatalf("reload %d: payment %d %v", i, st, paid)
		}
		if first == nil {
			first = paid
		}
		// The first payment's notification, sent again: still known.
		if st, again := mockCall(t, "POST", "/mock/pay/resend", map[string]any{"notification_id": first["notification_id"]}); st != 200 || again["notify_status"] != float64(204) {
			t.Fatalf("reload %d: resend %d %v", i, st, again)
		}
	}
	for i := range 5 { // warm up pools and connections
		cycle(i)
	}
	g0 := settledGoroutines(0)
	for i := 5; i < 35; i++ {
		cycle(i)
	}
	g1 := settledGoroutines(g0 + g0/10)
	t.Logf("after 30 reloads: goroutines %d -> %d", g0, g1)
	if g1 > g0+g0/10 {
		t.Errorf("goroutines grew from %d to %d over 30 reloads", g0, g1)
	}
	if n := len(backend.Calls()); n != 35 {
		t.Errorf("the backend saw %d notifications for 35 payments (and 35 resends)", n)
	}
}
