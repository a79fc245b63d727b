package main

import (
	"bytes"
	"net"
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
		{"header limit not a number", []string{"--max-header-bytes", "1e9"},
			`invalid value "1e9" for flag -max-header-bytes: want a whole number from 4096 to 16777216 bytes`},
		{"header limit out of range", []string{"--max-header-bytes", "100"}, "from 4096 to 16777216"},
		{"shadow not a boolean", []string{"--shadow=maybe"}, `invalid value "maybe" for flag -shadow: want true or false`},
		{"misspelt config key", []string{"--config", cliFile(t, "c.yaml", "mock_upstream: true\n\nlisen: 127.0.0.1:1\n", 0o600)},
			`c.yaml:3: unknown key "lisen": want one of listen, upstream, mock_upstream,`},
		{"config value of the wrong type", []string{"--config", cliFile(t, "c.yaml", "shadow: maybe\n", 0o600)},
			`c.yaml:1: invalid value: want true or false, not "maybe"`},
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

// TestServeConfig_HidesUpstreamSecrets checks that no error repeats the user information or
// the query of an upstream URL, from a flag or from the config file.
func TestServeConfig_HidesUpstreamSecrets(t *testing.T) {
	secrets := []string{"hunter2", "s3cr3tKEY", "svc"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"password", []string{"--store", "t.json", "--upstream", "http://svc:hunter2@127.0.0.1:1/"}, `upstream "http://xxxxx@127.0.0.1:1/"`},
		{"query", []string{"--store", "t.json", "--upstream", "http://127.0.0.1:1/?key=s3cr3tKEY"}, `upstream "http://127.0.0.1:1/?key=xxxxx"`},
		{"unparsable", []string{"--store", "t.json", "--upstream", "http://svc:hunter2@127.0.0.1:1/%zz?key=s3cr3tKEY"},
			`upstream "http://xxxxx@127.0.0.1:1/%zz?key=xxxxx" is not a valid URL`},
		{"unparsable without credentials", []string{"--store", "t.json", "--upstream", "http://127.0.0.1:1/%zz"}, `invalid URL escape "%zz"`},
		{"config file", []string{"--config", cliFile(t, "c.yaml", "store: t.json\nupstream: http://svc:hunter2@127.0.0.1:1/?key=s3cr3tKEY\n", 0o600)},
			`upstream "http://xxxxx@127.0.0.1:1/?key=xxxxx"`},
		{"config file and mock", []string{"--mock-upstream", "--config", cliFile(t, "c.yaml", "store: t.json\nupstream: http://svc:hunter2@127.0.0.1:1/\n", 0o600)},
			"both an upstream (http://xxxxx@127.0.0.1:1/) and the mock upstream are set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if _, _, ok := serveConfig(c.args, &stderr); ok {
				t.Fatal("serveConfig succeeded, want an error")
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), c.want)
			}
			for _, secret := range secrets {
				if strings.Contains(stderr.String(), secret) {
					t.Errorf("stderr = %q repeats %q", stderr.String(), secret)
				}
			}
		})
	}
}

func TestServe_AddressInUse(t *testing.T) {
	store, _ := cliStore(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	code, _, stderr := cliRun(t, "serve", "--mock-upstream", "--store", store, "--policy", cliPolicyPath,
		"--engine", "native", "--listen", addr)
	if code != exitDenied {
		t.Errorf("exit code %d, want %d", code, exitDenied)
	}
	for _, want := range []string{"listen address " + addr + " is already in use", "--listen", "make run ADDR="} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not contain %q", stderr, want)
		}
	}
	// The address is bound before the engine loads, so nothing else happened.
	if strings.Contains(stderr, "configuration loaded") || strings.Contains(stderr, "mock upstream started") {
		t.Errorf("serve started parts of the gateway before binding its address: %q", stderr)
	}
}

func TestServe_MissingStoreLoggedOnce(t *testing.T) {
	store := filepath.Join(t.TempDir(), "tokens.json")
	code, _, stderr := cliRun(t, "serve", "--mock-upstream", "--store", store, "--policy", cliPolicyPath,
		"--engine", "native", "--listen", "127.0.0.1:0")
	if code != exitDenied {
		t.Errorf("exit code %d, want %d", code, exitDenied)
	}
	if n := strings.Count(stderr, "file does not exist"); n != 1 {
		t.Errorf("the missing store is logged %d times, want once: %q", n, stderr)
	}
	if !strings.Contains(stderr, "'tokengate token create'") || !strings.Contains(stderr, "'tokengate demo'") {
		t.Errorf("the error gives no way to create the store: %q", stderr)
	}
}

func TestServe_RejectsStoreOthersCanWrite(t *testing.T) {
	store, _ := cliStore(t)
	cliChmod(t, store, 0o606)
	code, _, stderr := cliRun(t, "serve", "--mock-upstream", "--store", store, "--policy", cliPolicyPath,
		"--engine", "native", "--listen", "127.0.0.1:0")
	if code != exitDenied {
		t.Errorf("exit code %d, want %d", code, exitDenied)
	}
	if !strings.Contains(stderr, "run chmod o-w "+store) {
		t.Errorf("stderr %q does not give the chmod that fixes the store", stderr)
	}
}
