package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/host/gateway"
)

func TestServeConfig_FlagsOverrideFile(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "tokengate.yaml")
	content := "listen: 127.0.0.1:7000\nmock_upstream: true\nstore: tokens.json\nengine: native\nshadow: true\n"
	if err := os.WriteFile(config, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cfg, code, ok := serveConfig([]string{"--config", config, "--listen", "127.0.0.1:7001", "--shadow=false"}, &stderr)
	if !ok {
		t.Fatalf("serveConfig failed with %d: %s", code, stderr.String())
	}
	checks := []struct{ name, got, want string }{
		{"listen from the flag", cfg.Listen, "127.0.0.1:7001"},
		{"store from the file, beside it", cfg.Store, filepath.Join(dir, "tokens.json")},
		{"engine from the file", cfg.Engine, "native"},
		{"policy default", cfg.Policy, gateway.DefaultPolicy},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.Shadow {
		t.Error("shadow = true, want the flag's false")
	}
	if !cfg.MockUpstream {
		t.Error("mock upstream = false, want the file's true")
	}
}

func TestServeConfig_Defaults(t *testing.T) {
	var stderr bytes.Buffer
	cfg, code, ok := serveConfig([]string{"--mock-upstream", "--store", "tokens.json"}, &stderr)
	if !ok {
		t.Fatalf("serveConfig failed with %d: %s", code, stderr.String())
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Engine != "extism" || cfg.Modules != "build" || cfg.MaxHeaderBytes != 64<<10 {
		t.Errorf("defaults = listen %s engine %s modules %s max header %d, want 127.0.0.1:8080 extism build 65536",
			cfg.Listen, cfg.Engine, cfg.Modules, cfg.MaxHeaderBytes)
	}
}

func TestServeConfig_Errors(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("listen: x\nlisten_addr: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no store", []string{"--mock-upstream"}, "--store"},
		{"no upstream", []string{"--store", "t.json"}, "--upstream"},
		{"positional argument", []string{"--mock-upstream", "--store", "t.json", "extra"}, `unexpected argument "extra"`},
		{"unknown config key", []string{"--config", badConfig}, "listen_addr"},
		{"missing config file", []string{"--config", filepath.Join(dir, "none.yaml")}, "read config file"},
		{"unknown flag", []string{"--listen-port", "1"}, "listen-port"},
		{"unknown engine", []string{"--mock-upstream", "--store", "t.json", "--engine", "foo"}, `engine "foo" is unknown`},
		{"invalid listen", []string{"--mock-upstream", "--store", "t.json", "--listen", "8080"}, `listen address "8080" is invalid`},
		{"invalid upstream", []string{"--store", "t.json", "--upstream", "localhost:9000"}, "scheme must be http or https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, code, ok := serveConfig(c.args, &stderr)
			if ok {
				t.Fatal("serveConfig succeeded, want an error")
			}
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr = %q, want it to mention %q", stderr.String(), c.want)
			}
		})
	}
}

func TestServe_InvalidEngineStartsNothing(t *testing.T) {
	store, _ := cliStore(t)
	code, stdout, stderr := cliRun(t, "serve", "--mock-upstream", "--store", store, "--policy", cliPolicyPath, "--engine", "foo")
	if code != exitUsage {
		t.Errorf("exit code %d, want %d; stderr %q", code, exitUsage, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	// The gateway logs JSON lines once it starts anything, the mock upstream included.
	if strings.Contains(stderr, `"msg"`) {
		t.Errorf("serve logged before rejecting the flag: %q", stderr)
	}
}
