package bench

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRunLoad_ThroughPlainProxy(t *testing.T) {
	upstream, err := StartUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	handler, err := NewPlainProxy(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := serveLoopback(handler)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	res, err := RunLoad(context.Background(), LoadTarget{URL: proxy.URL + "/rest/api/v1/search", Body: []byte(`{}`)},
		LoadOptions{Connections: 4, Duration: 10 * time.Second, MaxRequests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 {
		t.Errorf("requests = %d, expected the cap of 200", res.Requests)
	}
	if res.Errors != 0 {
		t.Errorf("errors = %d, expected none", res.Errors)
	}
	if res.P50 <= 0 || res.P99 < res.P50 {
		t.Errorf("p50 %s and p99 %s are not ordered positive latencies", res.P50, res.P99)
	}
	if res.RequestsPerSecond() <= 0 {
		t.Errorf("requests per second = %v", res.RequestsPerSecond())
	}
}

func TestRunLoad_CountsErrorStatus(t *testing.T) {
	srv, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, err := RunLoad(context.Background(), LoadTarget{URL: srv.URL + "/"},
		LoadOptions{Connections: 2, Duration: 10 * time.Second, MaxRequests: 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 20 {
		t.Errorf("errors = %d, expected all 20 requests to count as errors", res.Errors)
	}
	if res.Requests != 0 {
		t.Errorf("requests = %d, expected no successes", res.Requests)
	}
}

func TestRunLoad_StopsAtDuration(t *testing.T) {
	upstream, err := StartUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	start := time.Now()
	_, err = RunLoad(context.Background(), LoadTarget{URL: upstream.URL + "/"},
		LoadOptions{Connections: 2, Duration: 200 * time.Millisecond, MaxRequests: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a 200 ms run took %s", took)
	}
}

func TestRunLoad_Errors(t *testing.T) {
	cases := []struct {
		name, url string
		opts      LoadOptions
		want      string
	}{
		{"remote host", "http://192.0.2.1/", LoadOptions{Connections: 1, Duration: time.Second, MaxRequests: 1}, "not a loopback"},
		{"host name", "http://localhost:1/", LoadOptions{Connections: 1, Duration: time.Second, MaxRequests: 1}, "not a loopback"},
		{"no connections", "http://127.0.0.1:1/", LoadOptions{Duration: time.Second, MaxRequests: 1}, "must all be positive"},
		{"no request cap", "http://127.0.0.1:1/", LoadOptions{Connections: 1, Duration: time.Second}, "must all be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := RunLoad(context.Background(), LoadTarget{URL: c.url}, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, expected one containing %q", err, c.want)
			}
		})
	}
}

func TestPercentile_NearestRank(t *testing.T) {
	sorted := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if got := percentile(sorted, 0.5); got != 5 {
		t.Errorf("p50 = %d, expected 5", got)
	}
	if got := percentile(sorted, 0.99); got != 10 {
		t.Errorf("p99 = %d, expected 10", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("p50 of nothing = %d, expected 0", got)
	}
}

func TestRunGatewayBench_NativeEngine(t *testing.T) {
	const binary = "../build/tokengate"
	if _, err := os.Stat(binary); err != nil {
		t.Skipf("%s is not built: run make build", binary)
	}
	f := newSmallFixture(t)
	var log strings.Builder
	rows, err := RunGatewayBench(context.Background(), f, GatewayBenchOptions{
		Binary: binary, Policy: policyPath, Modules: "../build", Engines: []string{"native"},
		PlainProxy: []string{os.Args[0], PlainProxyCommand},
		Load:       LoadOptions{Connections: 2, Duration: 10 * time.Second, MaxRequests: 50},
		Log:        &log,
		Rounds:     2,
	})
	if err != nil {
		t.Fatalf("%v\ngateway log:\n%s", err, log.String())
	}
	if len(rows) != 2 || rows[0].Name != "proxy" || rows[1].Name != "tokengate-native" {
		t.Fatalf("rows = %+v, expected proxy then tokengate-native", rows)
	}
	for _, r := range rows {
		if r.Result.Requests != 50 {
			t.Errorf("%s: %d requests succeeded, expected 50", r.Name, r.Result.Requests)
		}
		if r.Rounds != 2 {
			t.Errorf("%s: %d rounds, expected 2", r.Name, r.Rounds)
		}
	}
	if strings.Contains(log.String(), f.Secret) {
		t.Error("the gateway log contains the token secret")
	}
}

func TestMedianByRate(t *testing.T) {
	second := func(requests int) LoadResult { return LoadResult{Requests: requests, Elapsed: time.Second} }
	cases := []struct {
		name    string
		results []LoadResult
		want    int
	}{
		{"one round", []LoadResult{second(7)}, 7},
		{"three rounds out of order", []LoadResult{second(9), second(3), second(5)}, 5},
		{"even count takes the upper middle", []LoadResult{second(1), second(4), second(2), second(8)}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := medianByRate(c.results).Requests; got != c.want {
				t.Errorf("median has %d requests, want %d", got, c.want)
			}
		})
	}
}
