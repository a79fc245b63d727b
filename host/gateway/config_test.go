package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigFile_SetsAndResolves(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokengate.yaml")
	writeFile(t, path, `
listen: 127.0.0.1:9999
upstream: https://api.example.com/base/
policy: policy/scopes.yaml
store: /abs/tokens.json
engine: native
shadow: true
max_header_bytes: 8192
log_level: debug
`)
	cfg, err := LoadConfigFile(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"listen", cfg.Listen, "127.0.0.1:9999"},
		{"upstream", cfg.Upstream, "https://api.example.com/base/"},
		{"policy", cfg.Policy, filepath.Join(dir, "policy/scopes.yaml")},
		{"store", cfg.Store, "/abs/tokens.json"},
		{"engine", cfg.Engine, "native"},
		{"modules", cfg.Modules, DefaultModules},
		{"log level", cfg.LogLevel, "debug"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !cfg.Shadow {
		t.Error("shadow = false, want true")
	}
	if cfg.MaxHeaderBytes != 8192 {
		t.Errorf("max header bytes = %d, want 8192", cfg.MaxHeaderBytes)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadConfigFile_Errors(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    string
	}{
		{"unknown key", "listen: 127.0.0.1:1\nlisten_port: 9\n", `:2: unknown key "listen_port": want one of listen, upstream, mock_upstream, mock_listen, ` +
			"policy, store, engine, modules, cache_dir, shadow, max_header_bytes, log_level"},
		{"wrong type", "shadow: maybe\n", `:1: invalid value: want true or false, not "maybe"`},
		{"list for a number", "max_header_bytes: [1]\n", ":1: invalid value: want a whole number, not a list"},
		{"fraction for a number", "max_header_bytes: 4096.9\n", ":1: invalid value: want a whole number, not 4096.9"},
		{"string for a number", "max_header_bytes: big\n", `:1: invalid value: want a whole number, not "big"`},
		{"list at the top", "- listen\n", ":1: invalid value: want a mapping of keys such as listen and store, not a list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			writeFile(t, path, c.content)
			_, err := LoadConfigFile(path, DefaultConfig())
			if err == nil {
				t.Fatal("LoadConfigFile succeeded, want an error")
			}
			if !strings.Contains(err.Error(), path+c.want) {
				t.Errorf("error = %q, want it to contain %q after the file name", err, c.want)
			}
			for _, goName := range []string{"gateway.", "fileConfig", "not found in type"} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("error = %q, want no Go detail such as %q", err, goName)
				}
			}
		})
	}
	if _, err := LoadConfigFile(filepath.Join(t.TempDir(), "missing.yaml"), DefaultConfig()); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: error = %v, want not-exist", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestConfig_Validate(t *testing.T) {
	valid := DefaultConfig()
	valid.Store = "tokens.json"
	valid.MockUpstream = true
	cases := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"no upstream", func(c *Config) { c.MockUpstream = false }, "no upstream"},
		{"both upstreams", func(c *Config) { c.Upstream = "http://127.0.0.1:1" }, "choose one"},
		{"ftp upstream", func(c *Config) { c.MockUpstream = false; c.Upstream = "ftp://x" }, "http or https"},
		{"upstream with query", func(c *Config) { c.MockUpstream = false; c.Upstream = "http://x/?a=1" }, "without query"},
		{"no store", func(c *Config) { c.Store = "" }, "--store"},
		{"tiny header limit", func(c *Config) { c.MaxHeaderBytes = 100 }, "out of range"},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, "log level"},
		{"empty listen", func(c *Config) { c.Listen = "" }, "--listen"},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, `listen address "127.0.0.1" is invalid`},
		{"listen with named port", func(c *Config) { c.Listen = "127.0.0.1:http" }, "invalid port"},
		{"mock listen out of range", func(c *Config) { c.MockListen = "127.0.0.1:70000" }, "mock listen address"},
		{"unknown engine", func(c *Config) { c.Engine = "foo" }, `engine "foo" is unknown: use one of`},
		{"proxywasm engine", func(c *Config) { c.Engine = "proxywasm" }, "one open instance per process"},
	}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid
			c.change(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %q, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestParseUpstream_TrimsSlash(t *testing.T) {
	u, err := ParseUpstream("https://api.example.com/rest/")
	if err != nil {
		t.Fatal(err)
	}
	if u.EscapedPath() != "/rest" {
		t.Errorf("path = %q, want /rest", u.EscapedPath())
	}
}

func TestRedactURL(t *testing.T) {
	cases := []struct{ raw, want string }{
		{"https://api.example.com/rest", "https://api.example.com/rest"},
		{"http://svc:hunter2@127.0.0.1:1/", "http://xxxxx@127.0.0.1:1/"},
		{"http://svc@127.0.0.1:1/", "http://xxxxx@127.0.0.1:1/"},
		{"http://127.0.0.1:1/?key=s3cr3t&mode=x", "http://127.0.0.1:1/?key=xxxxx&mode=xxxxx"},
		{"http://127.0.0.1:1/?s3cr3t", "http://127.0.0.1:1/?xxxxx"},
		{"http://127.0.0.1:1/?", "http://127.0.0.1:1/?"},
		{"http://127.0.0.1:1/#s3cr3t", "http://127.0.0.1:1/#xxxxx"},
		{"http://a:b@c@127.0.0.1:1/%zz?k=v", "http://xxxxx@127.0.0.1:1/%zz?k=xxxxx"},
		{"svc:hunter2@127.0.0.1:1/", "xxxxx@127.0.0.1:1/"},
		{"http://svc:hun#ter?2@127.0.0.1:1/", "http://xxxxx@127.0.0.1:1/"},
		{"http://svc:hun/ter2@127.0.0.1:1/?k=v#f", "http://xxxxx@127.0.0.1:1/?k=xxxxx#xxxxx"},
	}
	for _, c := range cases {
		if got := RedactURL(c.raw); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

func TestParseUpstream_ErrorsHideCredentials(t *testing.T) {
	for _, raw := range []string{
		"http://svc:hunter2@127.0.0.1:1/",
		"http://127.0.0.1:1/?key=hunter2",
		"http://127.0.0.1:1/#hunter2",
		"http://svc:hunter2@127.0.0.1:1/%zz",
		"http://svc:hunter2@[::1/",
		"ftp://svc:hunter2@127.0.0.1/",
		"http://svc:hunter2@/",
		"http://svc:hunt#er2@127.0.0.1:1/",
		"http://svc:hunt/er2@127.0.0.1:1/",
	} {
		_, err := ParseUpstream(raw)
		if err == nil {
			t.Errorf("ParseUpstream(%q) succeeded, want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunt") || strings.Contains(err.Error(), "er2") || strings.Contains(err.Error(), "svc") {
			t.Errorf("ParseUpstream(%q): error %q repeats the credential", raw, err)
		}
	}
}
