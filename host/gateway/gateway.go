// Package gateway serves tokengate over HTTP. It provides a reverse proxy that validates Client
// API bearer tokens before a request goes upstream and an authorization endpoint for nginx
// auth_request and Caddy forward_auth. Beside them are a mock upstream for trying it out,
// health and Prometheus endpoints, and reloads of the policy and store files that drop no
// request.
//
// Every decision comes from an [engine.Engine] opened on a bundle of the policy and the store.
// A reload builds and opens a new bundle first and swaps it in only when that succeeded, so an
// invalid file never replaces a working configuration.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tokengate/tokengate/core"
)

// The gateway's own endpoints. The gateway serves every path below OpsPrefix itself and never
// forwards one.
const (
	OpsPrefix   = "/_tokengate/"
	HealthzPath = OpsPrefix + "healthz"
	MetricsPath = OpsPrefix + "metrics"
	AuthzPath   = OpsPrefix + "authz"
)

// Gateway is an http.Handler that serves the proxy and the endpoints below OpsPrefix. Create one
// with [New] and load its configuration with [Gateway.Reload] before serving.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
	proxy    *httputil.ReverseProxy
	upstream *url.URL

	// mu guards current. reloadMu serialises reloads, and current only changes while both
	// are held, so a reload may read current under reloadMu alone.
	mu       sync.RWMutex
	current  *version
	reloadMu sync.Mutex
	retiring sync.WaitGroup
}

// New returns a gateway for cfg that has no configuration loaded yet. Until the first
// successful [Gateway.Reload], it responds to every request with 503 not_configured. With
// cfg.MockUpstream set, the caller serves [NewMockUpstream] and names its address with
// [Gateway.SetUpstream], as [Run] does.
func New(cfg Config, logger *slog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: logger, metrics: newMetrics()}
	if cfg.Upstream != "" {
		u, err := ParseUpstream(cfg.Upstream)
		if err != nil {
			return nil, err
		}
		g.upstream = u
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:      g.rewrite,
		ErrorHandler: g.upstreamError,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return g, nil
}

// SetUpstream sets the upstream base URL. It is meant for start-up, before serving.
func (g *Gateway) SetUpstream(u *url.URL) {
	c := *u
	c.Path = strings.TrimRight(c.Path, "/")
	c.RawPath = strings.TrimRight(c.RawPath, "/")
	g.upstream = &c
}

// Reload loads the policy and store files, opens their bundle in the configured engine and
// puts it in force. On error the previous configuration stays in force and the error is
// logged and returned. cause names what triggered the reload in the log (start, sighup,
// file change). Requests already running finish on the version they started with, and its
// engine is closed after they end.
func (g *Gateway) Reload(ctx context.Context, cause string) error {
	return g.reload(ctx, cause, true)
}

// reload is Reload, with the log line of a failure left to the caller when logFailure is
// false, so that an error that the caller logs anyway appears once.
func (g *Gateway) reload(ctx context.Context, cause string, logFailure bool) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	start := time.Now()
	old := g.current

	c, err := compile(g.cfg)
	if err != nil {
		g.metrics.observeReload(false)
		if logFailure {
			g.logReloadError(cause, old, err)
		}
		return err
	}
	if old != nil && old.info.Digest == c.info.Digest {
		// Same content: keep the engine in force rather than open an identical one.
		g.metrics.observeReload(true)
		g.log.Info("configuration unchanged", "cause", cause, "bundle_digest", c.info.Digest)
		return nil
	}
	v, err := c.open(ctx, g.cfg)
	if err != nil {
		g.metrics.observeReload(false)
		if logFailure {
			g.logReloadError(cause, old, err)
		}
		return err
	}

	g.mu.Lock()
	g.current = v
	g.mu.Unlock()
	g.metrics.observeReload(true)

	attrs := []any{"cause", cause, "engine", v.engineName, "bundle_digest", v.info.Digest,
		"tokens", v.info.Tokens, "endpoints", v.info.Endpoints,
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000}
	if old != nil {
		attrs = append(attrs, "previous_digest", old.info.Digest)
	}
	g.log.Info("configuration loaded", attrs...)
	if old != nil {
		g.retire(old)
	}
	return nil
}

func (g *Gateway) logReloadError(cause string, old *version, err error) {
	if old == nil {
		g.log.Error("configuration load failed", "cause", cause, "error", err)
		return
	}
	msg := "reload failed; keeping the previous configuration"
	if errors.Is(err, fs.ErrNotExist) {
		msg = "reload failed because a file is missing; keeping the previous configuration"
	}
	g.log.Error(msg, "cause", cause, "error", err, "bundle_digest", old.info.Digest)
}

// retire closes the engine of a replaced version once its requests have finished.
func (g *Gateway) retire(v *version) {
	g.retiring.Add(1)
	go func() {
		defer g.retiring.Done()
		v.active.Wait()
		g.closeEngine(v)
	}()
}

func (g *Gateway) closeEngine(v *version) {
	if err := v.engine.Close(context.Background()); err != nil {
		g.log.Error("close engine failed", "engine", v.engineName, "bundle_digest", v.info.Digest, "error", err)
	}
}

// Close takes the configuration out of force, waits for the requests that use it and closes
// every engine. Requests after Close get 503 not_configured.
func (g *Gateway) Close() {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	g.mu.Lock()
	v := g.current
	g.current = nil
	g.mu.Unlock()
	if v != nil {
		g.retire(v)
	}
	g.retiring.Wait()
}

// acquire returns the version in force with its request count raised, or nil when none is
// loaded. The caller must call release.
func (g *Gateway) acquire() *version {
	g.mu.RLock()
	defer g.mu.RUnlock()
	v := g.current
	if v != nil {
		v.active.Add(1)
	}
	return v
}

func (v *version) release() {
	if v != nil {
		v.active.Done()
	}
}

// Policy returns the policy in force, or nil before the first successful load.
func (g *Gateway) Policy() *core.Policy {
	v := g.acquire()
	defer v.release()
	if v == nil {
		return nil
	}
	return v.policy
}

// ServeHTTP serves the paths below OpsPrefix itself and proxies every other request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, _, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(path, OpsPrefix) {
		g.serveProxy(w, r)
		return
	}
	switch path {
	case AuthzPath:
		g.serveAuthz(w, r)
	case HealthzPath:
		g.serveHealth(w, r)
	case MetricsPath:
		g.metrics.handler().ServeHTTP(w, r)
	default:
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Message: "no such tokengate endpoint"})
	}
}

// decide returns the version's engine's decision at the current time, or the not_configured
// decision without a version.
func (g *Gateway) decide(ctx context.Context, v *version, req core.Request) (core.Decision, error) {
	if v == nil {
		d := core.NotConfigured()
		g.metrics.observeDecision(d, 0)
		return d, nil
	}
	start := time.Now()
	d, err := v.engine.Decide(ctx, req, start)
	if err != nil {
		g.metrics.engineErrors.Inc()
		return d, fmt.Errorf("engine %s: %w", v.engineName, err)
	}
	g.metrics.observeDecision(d, time.Since(start))
	return d, nil
}

// logEngineError logs a failed decision. A client that went away while the engine waited
// for a free instance is logged at debug level, because it is not a fault of the engine.
func (g *Gateway) logEngineError(r *http.Request, err error, method, target string) {
	method, path := logValue(method, r.Header), logValue(requestPath(target), r.Header)
	if r.Context().Err() != nil {
		g.log.Debug("client closed the request before the decision", "error", err, "method", method, "path", path)
		return
	}
	g.log.Error("engine failed to decide; responding 503", "error", err, "method", method, "path", path)
}

// realm returns the realm of the version's policy, or the default realm without one.
func (v *version) realm() string {
	if v == nil {
		return core.DefaultRealm
	}
	return v.policy.Realm()
}
