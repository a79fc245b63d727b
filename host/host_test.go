package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/internal/leanabi"
)

func TestDecide_Conformance(t *testing.T) {
	f, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle})
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			d, err := h.Decide(context.Background(), c.Request(), c.Instant(f))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range conformance.Compare(c, d) {
				t.Errorf("%s: expected %v, actual %v", m.Field, m.Expected, m.Actual)
			}
		})
	}
}

// decideInput returns the decide export's JSON input for a request.
func decideInput(t testing.TB, req core.Request, now time.Time) []byte {
	t.Helper()
	in, err := json.Marshal(struct {
		core.Request
		Now time.Time `json:"now"`
	}{req, now})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestDecideJSON_Conformance(t *testing.T) {
	f, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle})
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			out, err := h.DecideJSON(context.Background(), decideInput(t, c.Request(), c.Instant(f)))
			if err != nil {
				t.Fatal(err)
			}
			var d core.Decision
			if err := json.Unmarshal(out, &d); err != nil {
				t.Fatalf("decode %s: %v", out, err)
			}
			for _, m := range conformance.Compare(c, d) {
				t.Errorf("%s: expected %v, actual %v", m.Field, m.Expected, m.Actual)
			}
		})
	}
}

func TestDecideJSON_ClockWhenNowAbsent(t *testing.T) {
	f, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle})
	out, err := h.DecideJSON(context.Background(), expiredTokenInput(f))
	if err != nil {
		t.Fatal(err)
	}
	assertExpired(t, out)
}

// expiredTokenInput returns a decide input without "now" for tok_expired, which expired on
// 2026-05-01. At the system clock the decision is expired_token. At wazero's fake clock,
// which starts at 2022-01-01 unless the module config enables the system clock, it is ok.
func expiredTokenInput(f *conformance.File) []byte {
	return []byte(`{"method": "POST", "path": "/rest/api/v1/search", "headers": [["Authorization", "Bearer ` + f.Secrets["tok_expired"] + `"]]}`)
}

func assertExpired(t *testing.T, out []byte) {
	t.Helper()
	var d core.Decision
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if d.Reason != core.ReasonExpiredToken {
		t.Errorf("reason %s, want expired_token at the system clock", d.Reason)
	}
}

func TestDecideJSON_InvalidInput(t *testing.T) {
	_, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle})
	for _, in := range []string{`{`, `[]`, `{"method": 1}`, `{"path": "/", "extra": true}`, `{"headers": [["a"]]}`} {
		t.Run(in, func(t *testing.T) {
			out, err := h.DecideJSON(context.Background(), []byte(in))
			if err == nil {
				t.Fatalf("no error; output %s", out)
			}
			var d core.Decision
			if err := json.Unmarshal(out, &d); err != nil {
				t.Fatal(err)
			}
			if d.Reason != core.ReasonNotConfigured || d.Allow {
				t.Errorf("decision %+v, want not_configured", d)
			}
		})
	}
	// The instance stays usable: an invalid input is not a trap.
	if _, err := h.Describe(context.Background()); err != nil {
		t.Errorf("describe after invalid input: %v", err)
	}
}

func TestDescribe_Bundle(t *testing.T) {
	f, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle})
	info, ok := h.Bundle()
	if !ok {
		t.Fatal("no bundle")
	}
	d, err := h.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Configured {
		t.Errorf("not configured: %s", d.Error)
	}
	if d.Digest != info.Digest || !strings.HasPrefix(d.Digest, "sha256:") {
		t.Errorf("digest %q, want %q", d.Digest, info.Digest)
	}
	if d.Format != core.BundleFormatVersion {
		t.Errorf("format %d, want %d", d.Format, core.BundleFormatVersion)
	}
	if d.Tokens != len(f.Tokens) {
		t.Errorf("tokens %d, want %d", d.Tokens, len(f.Tokens))
	}
	if d.Endpoints != info.Endpoints || d.Endpoints == 0 {
		t.Errorf("endpoints %d, want %d", d.Endpoints, info.Endpoints)
	}
	if d.ModuleVersion == "" {
		t.Error("empty module version")
	}
	if d.LeanABIVersion != leanabi.Version {
		t.Errorf("lean ABI version %d, want %d", d.LeanABIVersion, leanabi.Version)
	}
}

func TestDecide_NoBundle(t *testing.T) {
	f, _ := loadCases(t)
	h := newHost(t, host.Options{})
	c := f.Cases[0]
	d, err := h.Decide(context.Background(), c.Request(), c.Instant(f))
	if !errors.Is(err, host.ErrNotConfigured) {
		t.Errorf("error %v, want host.ErrNotConfigured", err)
	}
	if d != core.NotConfigured() {
		t.Errorf("decision %+v, want not_configured", d)
	}
	if _, err := h.Describe(context.Background()); !errors.Is(err, host.ErrNotConfigured) {
		t.Errorf("describe error %v, want host.ErrNotConfigured", err)
	}
}

func TestNew_Errors(t *testing.T) {
	_, bundle := loadCases(t)
	tests := []struct {
		name string
		opts host.Options
		want string
	}{
		{"missing module", host.Options{ModulePath: filepath.Join(t.TempDir(), "none.wasm")}, "read module"},
		{"invalid bundle", host.Options{Bundle: []byte(`{"format": 1}`)}, "bundle"},
		{"altered bundle", host.Options{Bundle: []byte(strings.Replace(string(bundle), "tok_user", "tok_uzer", 1))}, "digest"},
		{"cache folder below a file", host.Options{CacheDir: filepath.Join(notAFolder(t), "cache")}, "compilation cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.ModulePath == "" {
				tt.opts.ModulePath = host.BuiltModulePath()
			}
			if tt.opts.CacheDir == "" {
				tt.opts.CacheDir = host.CacheDirForTests()
			}
			h, err := host.New(context.Background(), tt.opts)
			if err == nil {
				h.Close(context.Background())
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestNew_NotAModule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(path, []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := host.New(context.Background(), host.Options{ModulePath: path}); err == nil || !strings.Contains(err.Error(), "compile") {
		t.Errorf("error %v, want a compile error", err)
	}
}

func TestSetBundle_InvalidKeepsCurrent(t *testing.T) {
	f, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle})
	before, _ := h.Bundle()
	if err := h.SetBundle([]byte("not json")); err == nil {
		t.Fatal("invalid bundle accepted")
	}
	after, _ := h.Bundle()
	if after != before {
		t.Errorf("bundle changed from %+v to %+v", before, after)
	}
	c := f.Cases[0]
	if _, err := h.Decide(context.Background(), c.Request(), c.Instant(f)); err != nil {
		t.Errorf("decide after rejected bundle: %v", err)
	}
}

// TestSetBundle_RevokesCachedCredential decides with one instance, whose credential cache
// then holds the token, swaps to a bundle that revokes the token and back, and requires
// both ABIs to follow each swap.
func TestSetBundle_RevokesCachedCredential(t *testing.T) {
	f, active := loadCases(t)
	tokens := append([]core.Token(nil), f.Tokens...)
	for i := range tokens {
		if tokens[i].ID == "tok_user" {
			tokens[i].RevokedAt = f.Now.Add(-time.Second)
		}
	}
	revoked := encodeBundle(t, tokens)
	h := newHost(t, host.Options{Bundle: active, PoolSize: 1})
	req := core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + f.Secrets["tok_user"]}},
	}
	steps := []struct {
		name   string
		bundle []byte
		want   core.Reason
	}{
		{"active", active, core.ReasonOK},
		{"revoked in the next bundle", revoked, core.ReasonRevokedToken},
		{"active again", active, core.ReasonOK},
	}
	ctx := context.Background()
	for _, step := range steps {
		if err := h.SetBundle(step.bundle); err != nil {
			t.Fatal(err)
		}
		// Two calls on each ABI: the first of them may fill the cache, the others hit it.
		for i := range 2 {
			d, err := h.Decide(ctx, req, f.Now)
			if err != nil {
				t.Fatal(err)
			}
			if d.Reason != step.want {
				t.Errorf("%s: lean call %d: reason %s, want %s", step.name, i, d.Reason, step.want)
			}
			out, err := h.DecideJSON(ctx, decideInput(t, req, f.Now))
			if err != nil {
				t.Fatal(err)
			}
			var viaJSON core.Decision
			if err := json.Unmarshal(out, &viaJSON); err != nil {
				t.Fatalf("decode %s: %v", out, err)
			}
			if viaJSON.Reason != step.want {
				t.Errorf("%s: decide export call %d: reason %s, want %s", step.name, i, viaJSON.Reason, step.want)
			}
		}
	}
}

func TestDecide_InstantOutOfRange(t *testing.T) {
	f, bundle := loadCases(t)
	h := newHost(t, host.Options{Bundle: bundle})
	for _, now := range []time.Time{{}, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)} {
		d, err := h.Decide(context.Background(), f.Cases[0].Request(), now)
		if err == nil {
			t.Errorf("%s: no error", now)
		}
		if d != core.NotConfigured() {
			t.Errorf("%s: decision %+v, want not_configured", now, d)
		}
	}
}

// TestClose_RejectsCalls also compiles the module into the in-memory cache, unlike the
// other tests, which share a cache folder.
func TestClose_RejectsCalls(t *testing.T) {
	f, bundle := loadCases(t)
	h, err := host.New(context.Background(), host.Options{ModulePath: host.BuiltModulePath(), Bundle: bundle, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Errorf("second close: %v", err)
	}
	d, err := h.Decide(context.Background(), f.Cases[0].Request(), f.Now)
	if !errors.Is(err, host.ErrClosed) {
		t.Errorf("error %v, want host.ErrClosed", err)
	}
	if d.Allow {
		t.Error("closed host allowed a request")
	}
}

// notAFolder returns the path of a regular file, below which no folder can be made.
func notAFolder(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOptions_CredentialCacheEntries(t *testing.T) {
	f, bundle := loadCases(t)
	req := core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + f.Secrets["tok_user"]}},
	}
	cases := []struct {
		name       string
		entries    int
		wantMax    int
		wantCached int
	}{
		{"default", 0, core.DefaultCredentialCacheEntries, 1},
		{"bounded", 7, 7, 1},
		{"off", -1, 0, 0},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, host.Options{Bundle: bundle, PoolSize: 1, CredentialCacheEntries: c.entries})
			for range 2 {
				d, err := h.Decide(ctx, req, f.Now)
				if err != nil {
					t.Fatal(err)
				}
				if d.Reason != core.ReasonOK {
					t.Fatalf("reason %s, want ok", d.Reason)
				}
			}
			desc, err := h.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if desc.CredentialCacheMax != c.wantMax {
				t.Errorf("credential_cache_max = %d, want %d", desc.CredentialCacheMax, c.wantMax)
			}
			if desc.CachedCredentials != c.wantCached {
				t.Errorf("cached_credentials = %d, want %d", desc.CachedCredentials, c.wantCached)
			}
		})
	}
}
