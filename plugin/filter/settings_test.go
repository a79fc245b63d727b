//go:build !wasm

package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
)

const testSecret = "imported-secret-of-test-token"

// testBundle returns a bundle with POST /search under SEARCH and one USER token, revoked at
// revokedAt unless that is zero.
func testBundle(t *testing.T, strip bool, revokedAt time.Time) []byte {
	t.Helper()
	policy, err := core.NewPolicy(core.PolicySpec{
		AllowCORSPreflight: true,
		StripCredential:    strip,
		Endpoints:          []core.Endpoint{{Method: "POST", Path: "/search", Scope: core.ScopeSearch}},
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := core.NewStore([]core.Token{{
		ID: "tok_a", Digest: core.Digest(testSecret), Permission: core.PermissionUser,
		User: "a@example.com", Scopes: core.NewScopeSet(core.ScopeSearch), RevokedAt: revokedAt,
	}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.EncodeBundle(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadSettings_BundleForms(t *testing.T) {
	b := string(testBundle(t, false, time.Time{}))
	stringForm, err := EncodeConfig([]byte(b), true, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		config string
		shadow bool
	}{
		{"object", `{"bundle": ` + b + `}`, false},
		{"object with spaces around", " \n{ \"bundle\" :\n  " + b + " ,\"shadow\": false }\n", false},
		{"string", string(stringForm), true},
		{"string with a trailing newline", `{"bundle": ` + quoteJSON(b+"\n") + `}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := loadSettings([]byte(tt.config))
			if err != nil {
				t.Fatalf("loadSettings: %v", err)
			}
			if s.shadow != tt.shadow {
				t.Errorf("shadow = %t, want %t", s.shadow, tt.shadow)
			}
			if s.info.Tokens != 1 || s.info.Endpoints != 1 {
				t.Errorf("bundle info = %+v, want 1 token and 1 endpoint", s.info)
			}
			if s.realm != core.DefaultRealm {
				t.Errorf("realm = %q, want %q", s.realm, core.DefaultRealm)
			}
		})
	}
}

func quoteJSON(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func TestLoadSettings_StripCombinesPolicyAndOption(t *testing.T) {
	tests := []struct {
		name         string
		policy, flag bool
		want         bool
	}{
		{"neither", false, false, false},
		{"option only", false, true, true},
		{"policy only", true, false, true},
		{"both", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := EncodeConfig(testBundle(t, tt.policy, time.Time{}), false, tt.flag)
			if err != nil {
				t.Fatal(err)
			}
			s, err := loadSettings(c)
			if err != nil {
				t.Fatal(err)
			}
			if s.strip != tt.want {
				t.Errorf("strip = %t, want %t", s.strip, tt.want)
			}
		})
	}
}
