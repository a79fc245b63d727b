package host_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host"
	"github.com/tokengate/tokengate/host/policyfile"
)

// This example loads the module with a bundle of one USER token and decides two requests.
func Example() {
	ctx := context.Background()

	// A bundle is the policy and the token store in one JSON document; 'tokengate bundle'
	// writes one from scopes.yaml and a store file.
	policy, err := policyfile.Load("../scopes.yaml")
	if err != nil {
		log.Fatal(err)
	}
	secret := "glean_gblGr2ccFaotRkgwmtVil6GCcs8dIt0ambjt"
	store, err := core.NewStore([]core.Token{{
		ID:         "tok_ann",
		Digest:     core.Digest(secret),
		Permission: core.PermissionUser,
		Scopes:     core.NewScopeSet(core.ScopeSearch),
		User:       "ann@example.com",
	}})
	if err != nil {
		log.Fatal(err)
	}
	bundle, err := core.EncodeBundle(policy, store)
	if err != nil {
		log.Fatal(err)
	}

	// A program passes build/tokengate.wasm (the default); the example uses the module that
	// the tests built. CacheDir keeps the compiled module for the next process.
	h, err := host.New(ctx, host.Options{ModulePath: builtModule(), CacheDir: host.CacheDirForTests(), Bundle: bundle})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close(ctx)

	search := core.Request{
		Method:  "POST",
		Path:    "/rest/api/v1/search",
		Headers: []core.Header{{Name: "Authorization", Value: "Bearer " + secret}},
	}
	chat := search
	chat.Path = "/rest/api/v1/chat"
	for _, req := range []core.Request{search, chat} {
		d, err := h.Decide(ctx, req, time.Now())
		if err != nil {
			log.Fatal(err) // the decision is a 503 then
		}
		fmt.Println(req.Path, d.Status, d.Reason, d.Principal)
	}
	// Output:
	// /rest/api/v1/search 200 ok ann@example.com
	// /rest/api/v1/chat 403 scope_missing
}
