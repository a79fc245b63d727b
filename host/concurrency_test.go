package host_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
)

// TestDecide_Hammer decides from 8 goroutines on one Host and requires every decision to
// equal the one the same Host returned sequentially. Run it with -race.
func TestDecide_Hammer(t *testing.T) {
	const goroutines = 8
	perGoroutine := 10000
	if testing.Short() {
		perGoroutine = 2000
	}
	f, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle, PoolSize: 4})
	ctx := context.Background()

	g := newRequestGenerator(t, f, 7)
	type item struct {
		req  core.Request
		now  time.Time
		want core.Decision
	}
	items := make([]item, 256)
	for i := range items {
		req, now := g.request()
		want, err := h.Decide(ctx, req, now)
		if err != nil {
			t.Fatal(err)
		}
		items[i] = item{req, now, want}
	}

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for w := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				it := items[(w*31+i)%len(items)]
				d, err := h.Decide(ctx, it.req, it.now)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d, call %d: %w", w, i, err)
					return
				}
				if d != it.want {
					errs <- fmt.Errorf("goroutine %d, call %d: %+v, want %+v", w, i, d, it.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSetBundle_ConcurrentDecide swaps between two bundles while 4 goroutines decide. Each
// decision must match one of the two bundles, no call may fail, and once SetBundle returns
// every new decision uses the new bundle.
func TestSetBundle_ConcurrentDecide(t *testing.T) {
	f, bundleA := loadCases(t)
	// Bundle B revokes tok_user, so its request is ok under A and revoked_token under B.
	revoked := f.Now.Add(-time.Hour)
	tokens := append([]core.Token(nil), f.Tokens...)
	for i := range tokens {
		if tokens[i].ID == "tok_user" {
			tokens[i].RevokedAt = revoked
		}
	}
	bundleB := encodeBundle(t, tokens)
	req := core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + f.Secrets["tok_user"]}},
	}
	h := newHost(t, host.Options{Bundle: bundleA, PoolSize: 3})
	ctx := context.Background()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := h.Decide(ctx, req, f.Now)
				if err != nil {
					errs <- err
					return
				}
				if d.Reason != core.ReasonOK && d.Reason != core.ReasonRevokedToken {
					errs <- fmt.Errorf("reason %s, want ok or revoked_token", d.Reason)
					return
				}
			}
		})
	}
	swaps := 200
	if testing.Short() {
		swaps = 50
	}
	for i := range swaps {
		bundle, want := bundleA, core.ReasonOK
		if i%2 == 0 {
			bundle, want = bundleB, core.ReasonRevokedToken
		}
		if err := h.SetBundle(bundle); err != nil {
			t.Fatal(err)
		}
		d, err := h.Decide(ctx, req, f.Now)
		if err != nil {
			t.Fatal(err)
		}
		if d.Reason != want {
			t.Fatalf("swap %d: reason %s right after SetBundle, want %s", i, d.Reason, want)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
