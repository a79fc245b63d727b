package hostile

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

// loadRun sizes one load test.
type loadRun struct {
	connections int
	duration    time.Duration
	// maxPerConnection bounds the requests of one connection, so the loop ends even if the
	// clock misbehaves.
	maxPerConnection int
	// maxRSSKiB bounds the serve process's resident memory at every sample.
	maxRSSKiB int64
}

var (
	// shortLoad runs in `make test`.
	shortLoad = loadRun{connections: 20, duration: 3 * time.Second, maxPerConnection: 20000, maxRSSKiB: 256 << 10}
	// soakLoad runs in `make soak`. The figures it logs are recorded in docs/security.md.
	soakLoad = loadRun{connections: 200, duration: 60 * time.Second, maxPerConnection: 200000, maxRSSKiB: 256 << 10}
)

// loadCase is one request of the load mix and the decision the native core gives it.
type loadCase struct {
	name   string
	path   string
	fields [][2]string
	want   core.Decision
}

// loadMix returns valid and invalid requests in about equal parts, each with its expected
// decision from the native core at the current instant.
func loadMix(t testing.TB, fx *fixture) []loadCase {
	t.Helper()
	const api = "/rest/api/v1"
	auth := func(id string) [2]string { return [2]string{"Authorization", fx.bearer(id)} }
	mix := []loadCase{
		{name: "user searches", path: api + "/search", fields: [][2]string{auth("tok_user")}},
		{name: "global acts as a user", path: api + "/search", fields: [][2]string{auth("tok_global"), {"X-Scio-ActAs", "Dana@Example.com"}}},
		{name: "anonymous searches", path: api + "/search", fields: [][2]string{auth("tok_anon")}},
		{name: "user with forged identity", path: api + "/search?q=load", fields: [][2]string{auth("tok_user"), {"X-Tokengate-User", forgedValue}, {"X_Tokengate_Token_Id", forgedValue}}},
		{name: "all-scope token on people", path: api + "/people", fields: [][2]string{auth("tok_all")}},
		{name: "scope missing", path: api + "/chat", fields: [][2]string{auth("tok_user")}},
		{name: "no token", path: api + "/search"},
		{name: "revoked token", path: api + "/search", fields: [][2]string{auth("tok_revoked")}},
		{name: "expired token", path: api + "/search", fields: [][2]string{auth("tok_expired")}},
		{name: "wrong checksum", path: api + "/search", fields: [][2]string{{"Authorization", "Bearer glean_000000000000000000000000000000000000"}}},
		{name: "unknown token", path: api + "/search", fields: [][2]string{{"Authorization", "Bearer not-a-known-token"}}},
		{name: "global without act-as", path: api + "/search", fields: [][2]string{auth("tok_global")}},
		{name: "double slash", path: api + "//search", fields: [][2]string{auth("tok_user")}},
		{name: "two credentials", path: api + "/search", fields: [][2]string{auth("tok_user"), auth("tok_anon")}},
	}
	v := fx.validator()
	now := time.Now()
	for i := range mix {
		req := core.Request{Method: "POST", Path: mix[i].path}
		for _, f := range mix[i].fields {
			req.Headers = append(req.Headers, core.Header{Name: f[0], Value: f[1]})
		}
		mix[i].want = v.Decide(req, now)
	}
	return mix
}

// loadResult counts what the load clients saw.
type loadResult struct {
	requests, wrong, serverErrors, transportErrors atomic.Int64

	mu        sync.Mutex
	examples  []string
	latencies []time.Duration
}

func (r *loadResult) fail(format string, args ...any) {
	r.wrong.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.examples) < 5 {
		r.examples = append(r.examples, fmt.Sprintf(format, args...))
	}
}

func TestServe_Load(t *testing.T) {
	run := soakLoad
	if testing.Short() {
		run = shortLoad
	}
	fx := newFixture(t)
	policyPath, storePath := fx.writeFiles(t)
	up := newUpstream(t, 0)
	s := startServe(t, "--engine", "extism", "--policy", policyPath, "--store", storePath, "--upstream", up.url())
	mix := loadMix(t, fx)
	startRSS := s.rssKiB(t)

	var res loadResult
	stopSampling := make(chan struct{})
	samples := make(chan []int64, 1)
	go func() { samples <- sampleRSS(s.cmd.Process.Pid, stopSampling) }()

	deadline := time.Now().Add(run.duration)
	var wg sync.WaitGroup
	for c := range run.connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadConnection(s.addr, mix, c, deadline, run.maxPerConnection, &res)
		}()
	}
	wg.Wait()
	close(stopSampling)
	rss := <-samples

	total := res.requests.Load()
	slices.Sort(res.latencies)
	rss = append([]int64{startRSS}, rss...)
	peak := slices.Max(rss)
	t.Logf("%d connections for %s: %d requests (%.0f/s), latency p50 %s p99 %s, VmRSS %d KiB at start, %d KiB peak, %d KiB at end",
		run.connections, run.duration, total, float64(total)/run.duration.Seconds(),
		percentile(res.latencies, 0.50), percentile(res.latencies, 0.99), startRSS, peak, rss[len(rss)-1])

	if total == 0 {
		t.Fatal("no request completed")
	}
	if n := res.wrong.Load(); n != 0 {
		t.Errorf("%d of %d decisions were wrong, for example:\n%v", n, total, res.examples)
	}
	if n := res.serverErrors.Load(); n != 0 {
		t.Errorf("%d responses had a 5xx status", n)
	}
	if n := res.transportErrors.Load(); n != 0 {
		t.Errorf("%d requests failed without a response, for example:\n%v", n, res.examples)
	}
	if peak > run.maxRSSKiB {
		t.Errorf("peak VmRSS %d KiB is over the bound of %d KiB", peak, run.maxRSSKiB)
	}
	if !s.alive() {
		t.Fatalf("tokengate serve exited under load\nlog:\n%s", s.logs)
	}
}

// loadConnection sends requests of the mix over one keep-alive connection until the deadline
// or max requests, and checks each response against the expected decision.
func loadConnection(addr string, mix []loadCase, first int, deadline time.Time, max int, res *loadResult) {
	transport := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: exchangeTimeout}
	var latencies []time.Duration
	defer func() {
		res.mu.Lock()
		res.latencies = append(res.latencies, latencies...)
		res.mu.Unlock()
	}()
	for i := 0; i < max && time.Now().Before(deadline); i++ {
		c := mix[(first+i)%len(mix)]
		req, _ := http.NewRequest("POST", "http://"+addr+c.path, nil)
		for _, f := range c.fields {
			req.Header.Add(f[0], f[1])
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			res.transportErrors.Add(1)
			res.fail("%s: %v", c.name, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		latencies = append(latencies, time.Since(start))
		res.requests.Add(1)
		if err != nil {
			res.transportErrors.Add(1)
			res.fail("%s: read body: %v", c.name, err)
			continue
		}
		if resp.StatusCode >= 500 {
			res.serverErrors.Add(1)
		}
		checkLoadAnswer(c, resp.StatusCode, body, res)
	}
}

// checkLoadAnswer compares one response with the case's expected decision: the status, then
// the reason of a denial or the identity the upstream received for an allow.
func checkLoadAnswer(c loadCase, status int, body []byte, res *loadResult) {
	if status != c.want.Status {
		res.fail("%s: status %d, want %d: %.200s", c.name, status, c.want.Status, body)
		return
	}
	if !c.want.Allow {
		if got := bodyReason(body); got != c.want.Reason.String() {
			res.fail("%s: reason %q, want %s", c.name, got, c.want.Reason)
		}
		return
	}
	var echo upstreamEcho
	if err := json.Unmarshal(body, &echo); err != nil {
		res.fail("%s: upstream body %q: %v", c.name, body, err)
		return
	}
	if echo.TokenID != c.want.TokenID || echo.User != c.want.Principal {
		res.fail("%s: upstream got token %q user %q, want %q %q", c.name, echo.TokenID, echo.User, c.want.TokenID, c.want.Principal)
	}
}

// sampleRSS reads the serve process's VmRSS every 250 ms until stop closes or the process
// is gone.
func sampleRSS(pid int, stop <-chan struct{}) []int64 {
	var out []int64
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		kib, err := readRSSKiB(pid)
		if err != nil {
			return out
		}
		out = append(out, kib)
		select {
		case <-stop:
			return out
		case <-tick.C:
		}
	}
}

// percentile returns the p-quantile of sorted durations, rounded to 10 µs.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1))].Round(10 * time.Microsecond)
}
