package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// LoadOptions bound one load run. The run stops at Duration or after MaxRequests requests,
// whichever comes first.
type LoadOptions struct {
	// Connections is the number of concurrent workers, each with its own keep-alive
	// connection.
	Connections int
	// Duration is the measured time, after Warmup.
	Duration time.Duration
	// Warmup is sent first and not measured, so connections are open and caches are warm.
	Warmup time.Duration
	// MaxRequests caps the requests of the measured part.
	MaxRequests int
}

// LoadResult is the outcome of one measured load run.
type LoadResult struct {
	// Requests counts the requests that got a 200 response, whose body was read in full.
	Requests int `json:"requests"`
	// Errors counts failed requests and responses other than 200.
	Errors int `json:"errors"`
	// Elapsed is the measured wall time.
	Elapsed time.Duration `json:"elapsed_ns"`
	// P50 and P99 are latency percentiles of the successful requests.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
}

// RequestsPerSecond returns the successful requests per second of wall time.
func (r LoadResult) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// LoadTarget is the request that a load run sends again and again.
type LoadTarget struct {
	// URL must point at a loopback address.
	URL    string
	Header http.Header
	Body   []byte
}

// RunLoad sends target from opts.Connections workers until the warm-up and the measured time
// have passed or opts.MaxRequests have been measured. It rejects a URL whose host is not a
// loopback IP address, so a typo cannot aim load at another machine.
func RunLoad(ctx context.Context, target LoadTarget, opts LoadOptions) (LoadResult, error) {
	if err := checkLoopback(target.URL); err != nil {
		return LoadResult{}, err
	}
	if opts.Connections < 1 || opts.Duration <= 0 || opts.MaxRequests < 1 {
		return LoadResult{}, fmt.Errorf("load: connections %d, duration %s and max requests %d must all be positive",
			opts.Connections, opts.Duration, opts.MaxRequests)
	}
	transport := &http.Transport{
		MaxIdleConns:        opts.Connections,
		MaxIdleConnsPerHost: opts.Connections,
		MaxConnsPerHost:     opts.Connections,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	if opts.Warmup > 0 {
		warm, cancel := context.WithTimeout(ctx, opts.Warmup)
		runWorkers(warm, client, target, opts.Connections, opts.MaxRequests, nil)
		cancel()
	}
	measured, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	start := time.Now()
	latencies := make([][]time.Duration, opts.Connections)
	errs := runWorkers(measured, client, target, opts.Connections, opts.MaxRequests, latencies)
	elapsed := time.Since(start)

	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	slices.Sort(all)
	return LoadResult{
		Requests: len(all),
		Errors:   errs,
		Elapsed:  elapsed,
		P50:      percentile(all, 0.50),
		P99:      percentile(all, 0.99),
	}, nil
}

// runWorkers runs the workers until ctx ends or maxRequests requests were sent in all. When
// latencies is not nil, worker i appends the latency of each successful request to
// latencies[i]. It returns the number of failed requests.
func runWorkers(ctx context.Context, client *http.Client, target LoadTarget, workers, maxRequests int, latencies [][]time.Duration) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		sent   int
		failed int
	)
	claim := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if sent >= maxRequests {
			return false
		}
		sent++
		return true
	}
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && claim() {
				begin := time.Now()
				err := sendOnce(ctx, client, target)
				took := time.Since(begin)
				if ctx.Err() != nil {
					return // a request cut off by the deadline is neither a success nor a failure
				}
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					continue
				}
				if latencies != nil {
					latencies[i] = append(latencies[i], took)
				}
			}
		}()
	}
	wg.Wait()
	return failed
}

// sendOnce sends the target request and reads the whole response body.
func sendOnce(ctx context.Context, client *http.Client, target LoadTarget) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.URL, bytes.NewReader(target.Body))
	if err != nil {
		return err
	}
	for name, values := range target.Header {
		req.Header[name] = values
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("load: status %d from %s", resp.StatusCode, target.URL)
	}
	return nil
}

// percentile returns the q quantile of sorted latencies by the nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// checkLoopback rejects a URL whose host is not a loopback IP address.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("load: target %q: %w", raw, err)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("load: target %q is not a loopback IP address: use 127.0.0.1 or [::1]", raw)
	}
	return nil
}
