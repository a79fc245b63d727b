package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Timeouts of the HTTP servers that Run starts.
const (
	// readHeaderTimeout bounds how long a client may take to send its request header, so
	// slow clients cannot hold connections open without sending a request.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes keep-alive connections that carry no request for this long.
	idleTimeout = 2 * time.Minute
	// shutdownTimeout is how long a graceful stop waits for requests in flight.
	shutdownTimeout = 10 * time.Second
)

// Run serves the gateway on cfg.Listen until ctx is done or the process gets SIGINT or
// SIGTERM, and then stops gracefully. SIGHUP and changes to the policy or store file reload
// the configuration. It returns an error when the settings are invalid, the first load fails
// or the listener cannot be opened. Run does not log the errors it returns.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	g, err := New(cfg, logger)
	if err != nil {
		return err
	}
	// Listen first, so that an address in use fails at once rather than after the engine
	// has loaded. Serve closes the listener too, and the second close does nothing.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return listenError("listen", cfg.Listen, err, "--listen (for make run, ADDR, as in make run ADDR=127.0.0.1:PORT with a free PORT)")
	}
	defer ln.Close()
	var mock *http.Server
	if cfg.MockUpstream {
		mock, err = g.startMock()
		if err != nil {
			return err
		}
		defer mock.Close()
	}
	if err := g.reload(ctx, "start", false); err != nil {
		return fmt.Errorf("load configuration: %w", err)
	}
	defer g.Close()

	srv := &http.Server{
		Handler:           g,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	stopWatch, err := g.Watch(ctx)
	if err != nil {
		return err
	}
	defer stopWatch()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "upstream", g.upstream.String(),
		"mock_upstream", cfg.MockUpstream, "engine", cfg.Engine, "shadow", cfg.Shadow)
	return g.serveUntilStopped(ctx, srv, served, signals)
}

// serveUntilStopped reloads on SIGHUP and shuts srv down on SIGINT, SIGTERM or the end of ctx.
func (g *Gateway) serveUntilStopped(ctx context.Context, srv *http.Server, served <-chan error, signals <-chan os.Signal) error {
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				// Reload logs its own result; a failure keeps the previous configuration.
				_ = g.Reload(ctx, "sighup")
				continue
			}
			g.log.Info("stopping", "signal", sig.String())
			return g.shutdown(srv)
		case <-ctx.Done():
			g.log.Info("stopping", "cause", context.Cause(ctx).Error())
			return g.shutdown(srv)
		}
	}
}

func (g *Gateway) shutdown(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		g.log.Error("graceful stop timed out; closing open connections", "timeout", shutdownTimeout.String(), "error", err)
		srv.Close()
	}
	g.log.Info("stopped")
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// startMock starts the mock upstream on cfg.MockListen and points the gateway at it.
func (g *Gateway) startMock() (*http.Server, error) {
	ln, err := net.Listen("tcp", g.cfg.MockListen)
	if err != nil {
		return nil, listenError("mock upstream", g.cfg.MockListen, err, "--mock-listen, or port 0 for any free port")
	}
	srv := &http.Server{
		Handler:           NewMockUpstream(g.Policy),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("mock upstream stopped", "error", err)
		}
	}()
	g.SetUpstream(&url.URL{Scheme: "http", Host: ln.Addr().String()})
	g.log.Info("mock upstream started", "addr", ln.Addr().String())
	return srv, nil
}

// listenError describes a failure of the listener ("listen" or "mock upstream") to listen on
// addr. An address in use, the usual failure of a second `make run`, gets a hint: fix names
// the flag that chooses another address.
func listenError(listener, addr string, err error, fix string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s address %s is already in use, perhaps by another tokengate: stop that process, or choose a free address with %s",
			listener, addr, fix)
	}
	return fmt.Errorf("%s on %s: %w", listener, addr, err)
}
