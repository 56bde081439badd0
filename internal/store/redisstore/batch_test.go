package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/store/redisstore"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
)

// TestBatchedCallersGetTheirOwnResults: callers whose commands share
// pipelines each get the replies to their own, never a neighbour's.
func TestBatchedCallersGetTheirOwnResults(t *testing.T) {
	srv := redisserver.Start(t)
	s := open(t, redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix()})
	pv := s.Values().(store.PairedValues)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := strconv.Itoa(g) + "-" + strconv.Itoa(i)
				val := []byte("value of " + k)
				if err := s.Values().Set(ctx, "v"+k, val, time.Minute); err != nil {
					errs <- err
					return
				}
				got, found, added, err := pv.GetAdd(ctx, "v"+k, "c"+k, []byte("1"), time.Minute)
				if err != nil || !found || string(got) != string(val) || !added {
					errs <- errors.New(k + ": GetAdd gave " + string(got) + ", found " + strconv.FormatBool(found) + ", added " + strconv.FormatBool(added))
					return
				}
				if added, err := s.Values().Add(ctx, "c"+k, []byte("2"), time.Minute); err != nil || added {
					errs <- errors.New(k + ": a second Add of the claim won")
					return
				}
				if err := pv.SetDelete(ctx, "v"+k, []byte("answer "+k), time.Minute, "c"+k); err != nil {
					errs <- err
					return
				}
				got, found, err = s.Values().Get(ctx, "v"+k)
				if err != nil || !found || string(got) != "answer "+k {
					errs <- errors.New(k + ": Get after SetDelete gave " + string(got))
					return
				}
				if _, found, err := s.Values().Get(ctx, "c"+k); err != nil || found {
					errs <- errors.New(k + ": the claim outlived SetDelete")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestClosedStoreRefusesAtOnce: after Close, a batched operation fails
// with ErrUnavailable rather than waiting for its deadline.
func TestClosedStoreRefusesAtOnce(t *testing.T) {
	srv := redisserver.Start(t)
	s, err := redisstore.New(redisstore.Options{URL: srv.URL(), KeyPrefix: freshPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Values().Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if _, _, err := s.Values().Get(context.Background(), "k"); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Get after Close: %v", err)
	}
	if took := time.Since(began); took > 100*time.Millisecond {
		t.Fatalf("Get after Close took %v", took)
	}
}
