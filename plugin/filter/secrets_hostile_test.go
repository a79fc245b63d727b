//go:build !wasm

package filter_test

import (
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/tokengate/tokengate/core"
)

// TestFilter_SecretRedactedInEverySpelling sends the secret in the path beside credential
// spellings that the decision accepts or rejects: a tab after the scheme, several spaces,
// surrounding blanks, no scheme, another scheme. The denial line must redact the secret in
// each case.
func TestFilter_SecretRedactedInEverySpelling(t *testing.T) {
	secret := fx.secrets["tok_user"]
	spellings := []struct {
		name          string
		authorization string
	}{
		{"tab after the scheme", "Bearer\t" + secret},
		{"tabs and spaces after the scheme", "Bearer \t \t" + secret},
		{"several spaces after the scheme", "Bearer    " + secret},
		{"blanks around the value", " \tBearer " + secret + "\t "},
		{"lower-case scheme", "bearer " + secret},
		{"no scheme", secret},
		{"basic scheme", "Basic " + secret},
		{"trailing garbage", "Bearer " + secret + ",x"},
	}
	forEachVM(t, func(t *testing.T, vm types.VMContext) {
		h := start(t, vm, config(t, options{}))
		for _, sp := range spellings {
			t.Run(sp.name, func(t *testing.T) {
				res := send(t, h, "POST", apiBase+"/"+secret, header("Authorization", sp.authorization))
				if res.Continued() {
					t.Fatal("the request was forwarded, want a denial")
				}
				for _, l := range res.Logs {
					if strings.Contains(l.Message, secret) {
						t.Errorf("%s log line contains the secret: %s", l.Level, l.Message)
					}
				}
				if strings.Contains(string(res.Reply.Body), secret) {
					t.Errorf("reply body contains the secret: %s", res.Reply.Body)
				}
				if got := core.Digest(secret); strings.Contains(string(res.Reply.Body), got) {
					t.Errorf("reply body contains the secret's digest")
				}
			})
		}
	})
}
