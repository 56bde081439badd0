package pay

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

// How the platform certificates are kept fresh. WeChat Pay publishes a
// new certificate well before the old one expires, and lists both while
// it rotates; its SDKs download them every 12 hours or so. A download
// that fails is tried again soon, then less and less often.
var (
	refreshEvery    = 12 * time.Hour
	retryFirst      = 500 * time.Millisecond
	retryMax        = 5 * time.Minute
	onDemandSpacing = 30 * time.Second // a serial nobody holds asks for at most one download per spacing
)

// refresher downloads one merchant's platform certificates into its
// Verifier. Downloads are one at a time, whether the background loop or a
// verification that met an unknown serial asked for them.
type refresher struct {
	m        *Merchant
	sem      chan struct{} // held during a download
	mu       sync.Mutex
	onDemand time.Time // when the last download asked for by a verification began
	ok       bool      // whether any download has succeeded
}

func newRefresher(m *Merchant) *refresher {
	return &refresher{m: m, sem: make(chan struct{}, 1)}
}

// run downloads at once and then every refreshEvery, retrying failures
// with a growing wait, until ctx ends.
func (r *refresher) run(ctx context.Context) {
	wait := retryFirst
	for {
		next := refreshEvery
		if err := r.download(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			next = wait
			wait = min(wait*2, retryMax)
		} else {
			wait = retryFirst
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refreshFor downloads the certificates again because serial was not
// known, unless another download is under way (then it waits for that
// one) or another download of this kind began less than onDemandSpacing
// ago: a forger choosing serials can cause at most one download per
// spacing. It reports whether serial is known afterwards.
func (r *refresher) refreshFor(ctx context.Context, serial string) bool {
	if !looksLikeCertSerial(serial) {
		return false
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-r.sem }()
	if _, ok := r.m.verifier.Lookup(serial); ok {
		return true // a download that ran while we waited brought it
	}
	r.mu.Lock()
	recent := time.Since(r.onDemand) < onDemandSpacing
	if !recent {
		r.onDemand = time.Now()
	}
	r.mu.Unlock()
	if recent {
		return false
	}
	_ = r.fetchLocked(ctx)
	_, ok := r.m.verifier.Lookup(serial)
	return ok
}

// download takes the download slot and fetches.
func (r *refresher) download(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.sem }()
	return r.fetchLocked(ctx)
}

// fetchLocked downloads, checks and installs the certificates; the caller
// holds the slot. The old set stays when a download fails.
func (r *refresher) fetchLocked(ctx context.Context) error {
	a := r.m.app
	ctx, cancel := context.WithTimeout(ctx, time.Duration(a.Timeout))
	defer cancel()
	certs, err := a.client(r.m).FetchCertificates(ctx, r.m.apiv3)
	if err == nil {
		err = r.m.verifier.SetCertificates(certs)
	}
	if err != nil {
		if ctx.Err() != nil && ctx.Err() != context.DeadlineExceeded {
			return err // shutting down: not worth a warning
		}
		metrics.PayCertificateRefreshes.WithLabelValues(r.m.MchID, "failed").Inc()
		r.mu.Lock()
		hadAny := r.ok
		r.mu.Unlock()
		level := zapcore.WarnLevel
		if !hadAny && len(r.m.PublicKeys) == 0 {
			// Nothing can be verified until a download succeeds.
			level = zapcore.ErrorLevel
		}
		if ce := a.logger.Check(level, "wechatpay platform certificates not downloaded"); ce != nil {
			ce.Write(zap.String("mchid", r.m.MchID), zap.String("error", err.Error()))
		}
		return err
	}
	r.mu.Lock()
	r.ok = true
	r.mu.Unlock()
	metrics.PayCertificateRefreshes.WithLabelValues(r.m.MchID, "ok").Inc()
	if ce := a.logger.Check(zapcore.InfoLevel, "wechatpay platform certificates downloaded"); ce != nil {
		serials := make([]string, 0, len(certs))
		var until []string
		for _, c := range certs {
			serials = append(serials, c.Serial)
			until = append(until, c.NotAfter.UTC().Format(time.RFC3339))
		}
		ce.Write(zap.String("mchid", r.m.MchID), zap.Strings("serials", serials), zap.Strings("not_after", until))
	}
	return nil
}

// looksLikeCertSerial reports whether serial could name a platform
// certificate: uppercase hex of a reasonable length, not a PUB_KEY_ID_
// id (public keys come from the configuration only).
func looksLikeCertSerial(serial string) bool {
	return serial != "" && len(serial) <= 64 && !strings.HasPrefix(serial, wechatpay.PublicKeyIDPrefix) &&
		strings.Trim(serial, "0123456789ABCDEF") == ""
}
