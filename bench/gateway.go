package bench

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

// upstreamBody is the response body of the loopback upstream.
var upstreamBody = []byte(`{"results":[],"requestID":"bench"}`)

// Server is an HTTP server on a loopback port that the benchmarks started.
type Server struct {
	// URL is the server's base URL, such as http://127.0.0.1:41234.
	URL   string
	close func() error
}

// Close stops the server.
func (s *Server) Close() error { return s.close() }

// StartUpstream starts the small loopback upstream that every gateway run proxies to. It
// responds to every request with 200 and a short JSON body, as a fast backend would.
func StartUpstream() (*Server, error) {
	return serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(upstreamBody)
	}))
}

// NewPlainProxy returns an httputil.ReverseProxy to upstream that checks nothing: the
// baseline of the gateway figures. Like the tokengate gateway, it uses the default transport
// and sets the X-Forwarded headers.
func NewPlainProxy(upstream string) (http.Handler, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("plain proxy: upstream %q: %w", upstream, err)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = ""
			pr.SetXForwarded()
		},
		// The load generator cancels requests in flight when a run ends; those are expected.
		ErrorLog: log.New(io.Discard, "", 0),
	}, nil
}

// ServePlainProxy serves NewPlainProxy on listen, which must be a loopback address, until
// the process gets SIGTERM or SIGINT. It is the body of `benchreport plain-proxy`, which
// runs the baseline in its own process, as `tokengate serve` runs in its own.
func ServePlainProxy(listen, upstream string) error {
	if err := checkLoopback("http://" + listen); err != nil {
		return err
	}
	h, err := NewPlainProxy(upstream)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("plain proxy: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("plain proxy: %w", err)
	}
	return nil
}

// StartPlainProxy runs command (for example benchreport plain-proxy) with -listen on a free
// loopback port and -upstream, and waits until it forwards requests. Close sends SIGTERM.
func StartPlainProxy(ctx context.Context, command []string, upstream string, log io.Writer) (*Server, error) {
	if len(command) == 0 {
		return nil, errors.New("plain proxy: no command given")
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args := append(append([]string(nil), command[1:]...), "-listen", addr, "-upstream", upstream)
	return startProcess(ctx, "plain proxy", exec.Command(command[0], args...), addr, log)
}

func serveLoopback(h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &Server{
		URL: "http://" + ln.Addr().String(),
		close: func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		},
	}, nil
}

// GatewayOptions start one `tokengate serve` process.
type GatewayOptions struct {
	// Binary is the tokengate executable, such as build/tokengate.
	Binary string
	// Upstream is the base URL of the upstream.
	Upstream string
	// Policy and Store are the policy file and the token store file.
	Policy, Store string
	// Engine names the engine, such as extism or native.
	Engine string
	// Modules is the folder with the built wasm modules.
	Modules string
	// Log receives the process's standard error, its JSON log.
	Log io.Writer
	// Extra flags are appended to the command line.
	Extra []string
}

// healthzPath is the gateway's health endpoint, which responds with 200 once a configuration
// is in force.
const healthzPath = "/_tokengate/healthz"

// StartGateway runs `tokengate serve` on a free loopback port and waits until its health
// endpoint responds with 200, for at most 60 seconds. Close sends SIGTERM and waits for the exit.
func StartGateway(ctx context.Context, opts GatewayOptions) (*Server, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--listen", addr, "--upstream", opts.Upstream, "--policy", opts.Policy,
		"--store", opts.Store, "--engine", opts.Engine, "--modules", opts.Modules}
	cmd := exec.Command(opts.Binary, append(args, opts.Extra...)...)
	return startProcess(ctx, "tokengate serve --engine "+opts.Engine, cmd, addr, opts.Log)
}

// startProcess starts cmd, which listens on addr, and waits until the health path responds
// with 200 there. The plain proxy serves that path by forwarding it to the upstream.
func startProcess(ctx context.Context, name string, cmd *exec.Cmd, addr string, log io.Writer) (*Server, error) {
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	// done closes when the process has exited; waitErr is then its exit status.
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			var exit *exec.ExitError
			if errors.As(waitErr, &exit) && !exit.Exited() {
				return nil // ended by the signal
			}
			return waitErr
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s did not stop within 15s of SIGTERM: killed", name)
		}
	}
	base := "http://" + addr
	if err := waitHealthy(ctx, base+healthzPath, done); err != nil {
		_ = stop()
		return nil, fmt.Errorf("%s: %w (see its log)", name, err)
	}
	return &Server{URL: base, close: stop}, nil
}

// waitHealthy polls url until it responds with 200, done closes or 60 seconds pass.
func waitHealthy(ctx context.Context, url string, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("exited before it was healthy")
		case <-ctx.Done():
			return fmt.Errorf("not healthy at %s within 60s", url)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeLoopbackAddr returns a loopback address with a port that was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

// WriteStoreFile writes the fixture's store as a store file in dir and returns its path.
func (f *Fixture) WriteStoreFile(dir string) (string, error) {
	data, err := f.Store.MarshalJSON()
	if err != nil {
		return "", err
	}
	path := dir + "/store.json"
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// GatewayBenchOptions configure [RunGatewayBench].
type GatewayBenchOptions struct {
	// Binary is the tokengate executable; Policy and Modules are as for `tokengate serve`.
	Binary, Policy, Modules string
	// PlainProxy is the command that serves the baseline proxy (see [StartPlainProxy]).
	PlainProxy []string
	// Engines lists the engines to run `tokengate serve` with, in order.
	Engines []string
	// Load bounds each run.
	Load LoadOptions
	// Rounds is the number of runs per proxy; 1 when 0 or less. The runs of a round go
	// through every proxy in turn, and each proxy's row is its median round, so a busy
	// moment of the machine does not land on one proxy alone.
	Rounds int
	// Log receives the gateways' logs.
	Log io.Writer
}

// GatewayRow is the load result of one proxy.
type GatewayRow struct {
	// Name is "proxy" for the plain reverse proxy or "tokengate-ENGINE".
	Name   string     `json:"name"`
	Result LoadResult `json:"result"`
	// Rounds is the number of runs that Result is the median of.
	Rounds int `json:"rounds"`
}

// RunGatewayBench starts a loopback upstream in this process, then runs the same load through
// a plain reverse proxy and through `tokengate serve` with each engine, in turn for each of
// opts.Rounds rounds, with the fixture's allowed request. Each proxy runs in a process of its own, so none shares
// a Go scheduler with the load generator.
func RunGatewayBench(ctx context.Context, f *Fixture, opts GatewayBenchOptions) ([]GatewayRow, error) {
	dir, err := os.MkdirTemp("", "tokengate-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	store, err := f.WriteStoreFile(dir)
	if err != nil {
		return nil, err
	}
	upstream, err := StartUpstream()
	if err != nil {
		return nil, err
	}
	defer upstream.Close()

	header := http.Header{}
	for _, h := range f.Request.Headers {
		if h.Name != "Host" && h.Name != "Content-Length" {
			header.Add(h.Name, h.Value)
		}
	}
	run := func(name string, srv *Server) (LoadResult, error) {
		target := LoadTarget{URL: srv.URL + f.Request.Path, Header: header, Body: []byte(`{"query":"quarterly report"}`)}
		res, err := RunLoad(ctx, target, opts.Load)
		if err != nil {
			return LoadResult{}, fmt.Errorf("%s: %w", name, err)
		}
		if res.Errors > 0 {
			return LoadResult{}, fmt.Errorf("%s: %d of %d requests failed", name, res.Errors, res.Errors+res.Requests)
		}
		return res, nil
	}

	// Start every proxy first, so that the rounds can alternate between them. A proxy
	// without load sits idle.
	names := []string{"proxy"}
	plain, err := StartPlainProxy(ctx, opts.PlainProxy, upstream.URL, opts.Log)
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	servers := []*Server{plain}
	for _, engine := range opts.Engines {
		srv, err := StartGateway(ctx, GatewayOptions{
			Binary: opts.Binary, Upstream: upstream.URL, Policy: opts.Policy, Store: store,
			Engine: engine, Modules: opts.Modules, Log: opts.Log,
		})
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		names = append(names, "tokengate-"+engine)
		servers = append(servers, srv)
	}

	results := make([][]LoadResult, len(servers))
	for range max(opts.Rounds, 1) {
		for i, srv := range servers {
			res, err := run(names[i], srv)
			if err != nil {
				return nil, err
			}
			results[i] = append(results[i], res)
		}
	}
	rows := make([]GatewayRow, len(servers))
	for i := range servers {
		rows[i] = GatewayRow{Name: names[i], Result: medianByRate(results[i]), Rounds: len(results[i])}
	}
	return rows, nil
}

// medianByRate returns the result with the median requests per second, the upper one of the
// two middle results for an even count.
func medianByRate(results []LoadResult) LoadResult {
	sorted := slices.Clone(results)
	slices.SortFunc(sorted, func(a, b LoadResult) int {
		return cmp.Compare(a.RequestsPerSecond(), b.RequestsPerSecond())
	})
	return sorted[len(sorted)/2]
}

// PlainProxyCommand is the subcommand name under which benchreport, and the test binary of
// this package, serve the plain proxy.
const PlainProxyCommand = "plain-proxy"

// RunPlainProxyCommand parses the flags `-listen ADDR -upstream URL` and serves the plain
// proxy until SIGTERM.
func RunPlainProxyCommand(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(PlainProxyCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "loopback `address` to listen on, such as 127.0.0.1:8081")
	upstream := fs.String("upstream", "", "upstream base `URL`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listen == "" || *upstream == "" {
		return errors.New("plain proxy: -listen and -upstream are required")
	}
	return ServePlainProxy(*listen, *upstream)
}
