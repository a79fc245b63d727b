package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tokengate/tokengate/host/gateway"
)

func init() {
	commands["serve"] = command{"run the gateway: a validating reverse proxy and authorization server", runServe}
}

func runServe(args []string, _, stderr io.Writer) int {
	cfg, code, ok := serveConfig(args, stderr)
	if !ok {
		return code
	}
	level, _ := gateway.ParseLogLevel(cfg.LogLevel)
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	// The wasm engines log through the default logger, so their lines join the same stream.
	slog.SetDefault(logger)
	// Run logs nothing of the error it returns, so this is its only log line.
	if err := gateway.Run(context.Background(), cfg, logger); err != nil {
		logger.Error("gateway failed", "error", err)
		return exitDenied
	}
	return exitOK
}

// serveConfig parses the serve flags over the config file over the defaults.
func serveConfig(args []string, stderr io.Writer) (gateway.Config, int, bool) {
	def := gateway.DefaultConfig()
	fs := newFlagSet("serve", stderr)
	configPath := fs.String("config", "", "YAML config `file` with the same settings; flags override it")
	listen := fs.String("listen", def.Listen, "TCP `address` to listen on")
	upstream := fs.String("upstream", "", "upstream base `URL` that allowed requests go to")
	mock := fs.Bool("mock-upstream", false, "proxy to a built-in stand-in for the Client API instead of --upstream")
	mockListen := fs.String("mock-listen", def.MockListen, "TCP `address` of the mock upstream; port 0 picks a free one")
	policy := fs.String("policy", def.Policy, "policy `file`")
	store := fs.String("store", "", "token store `file` (required)")
	engineName := fs.String("engine", def.Engine, "engine `name`: "+strings.Join(gateway.ServeEngines(), ", "))
	modules := fs.String("modules", def.Modules, "`folder` with the built wasm modules")
	cacheDir := fs.String("cache-dir", "", "`folder` for the wasm compilation cache; none when empty")
	shadow := fs.Bool("shadow", false, "forward every request and report the decision upstream in X-Tokengate-Shadow-Reason")
	maxHeader := def.MaxHeaderBytes
	fs.Var(&intRange{value: &maxHeader, min: gateway.MinMaxHeaderBytes, max: gateway.MaxMaxHeaderBytes, unit: "bytes"}, "max-header-bytes",
		fmt.Sprintf("maximum size of a request header block, in `bytes`, from %d to %d", gateway.MinMaxHeaderBytes, gateway.MaxMaxHeaderBytes))
	logLevel := fs.String("log-level", def.LogLevel, "minimum log `level`: debug, info, warn or error")
	if code, ok := parseFlags(fs, args); !ok {
		return gateway.Config{}, code, false
	}

	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tokengate serve: unexpected argument %q: serve takes flags only\n", fs.Arg(0))
		return gateway.Config{}, exitUsage, false
	}

	cfg := def
	if *configPath != "" {
		var err error
		if cfg, err = gateway.LoadConfigFile(*configPath, def); err != nil {
			fmt.Fprintf(stderr, "tokengate serve: %v\n", err)
			return gateway.Config{}, exitUsage, false
		}
	}

	// A flag given on the command line overrides the file; one left out keeps the file's value.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "upstream":
			cfg.Upstream = *upstream
		case "mock-upstream":
			cfg.MockUpstream = *mock
		case "mock-listen":
			cfg.MockListen = *mockListen
		case "policy":
			cfg.Policy = *policy
		case "store":
			cfg.Store = *store
		case "engine":
			cfg.Engine = *engineName
		case "modules":
			cfg.Modules = *modules
		case "cache-dir":
			cfg.CacheDir = *cacheDir
		case "shadow":
			cfg.Shadow = *shadow
		case "max-header-bytes":
			cfg.MaxHeaderBytes = maxHeader
		case "log-level":
			cfg.LogLevel = *logLevel
		}
	})

	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "tokengate serve: %v\n", err)
		return gateway.Config{}, exitUsage, false
	}
	return cfg, 0, true
}
