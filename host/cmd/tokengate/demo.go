package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/atomicfile"
)

func init() {
	commands["demo"] = command{"create a demo policy and token store and print ready-to-paste curl commands", runDemo}
}

// demoUser is the user that the demo USER token acts as and the GLOBAL token acts as.
const demoUser = "ann@example.com"

// demoTokenLifetime is how long demo tokens work, so a forgotten demo store stops working.
const demoTokenLifetime = 30 * 24 * time.Hour

// demoToken is one token that the demo mints, with its secret kept only until printed.
type demoToken struct {
	token  core.Token
	secret string
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("demo", stderr)
	state := flags.String("state", "state", "`folder` for the demo policy and store")
	policySource := flags.String("policy", "scopes.yaml", "policy `file` to copy into the state folder")
	addr := flags.String("addr", "127.0.0.1:8080", "gateway `address` to show in the curl commands")
	if code, ok := parseFlags(flags, args); !ok {
		return code
	}

	policyPath := filepath.Join(*state, "scopes.yaml")
	storePath := filepath.Join(*state, "tokens.json")
	if _, err := os.Stat(storePath); err == nil {
		printDemoExisting(stdout, storePath)
		return exitOK
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "tokengate demo: %v\n", err)
		return exitUsage
	}

	if err := os.MkdirAll(*state, 0o700); err != nil {
		fmt.Fprintf(stderr, "tokengate demo: create state folder: %v\n", err)
		return exitUsage
	}
	if err := writeDemoPolicy(*policySource, policyPath); err != nil {
		fmt.Fprintf(stderr, "tokengate demo: %v\n", err)
		return exitUsage
	}
	tokens, err := writeDemoStore(storePath, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "tokengate demo: %v\n", err)
		return exitUsage
	}
	printDemoCreated(stdout, policyPath, storePath, *addr, tokens)
	return exitOK
}

// writeDemoPolicy copies the policy file to dst unless dst exists, after checking that it
// loads.
func writeDemoPolicy(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read policy to copy: %w", err)
	}
	if _, err := policyfile.Parse(src, data); err != nil {
		return err
	}
	return atomicfile.Write(dst, data, 0o644)
}

// writeDemoStore mints the demo tokens and writes a store with their digests to path.
func writeDemoStore(path string, now time.Time) ([]demoToken, error) {
	now = now.UTC().Truncate(time.Second)
	specs := []core.Token{
		{
			ID:          "tok_demo_user",
			Description: "demo USER token for " + demoUser,
			Permission:  core.PermissionUser,
			Scopes:      core.NewScopeSet(core.ScopeSearch),
			User:        demoUser,
		},
		{
			ID:           "tok_demo_global",
			Description:  "demo GLOBAL token that acts as any example.com user",
			Permission:   core.PermissionGlobal,
			Scopes:       core.NewScopeSet(core.ScopeSearch, core.ScopeChat),
			ActAsDomains: []string{"example.com"},
		},
	}
	tokens := make([]demoToken, 0, len(specs))
	records := make([]core.Token, 0, len(specs))
	for _, t := range specs {
		secret, err := core.MintToken(rand.Reader)
		if err != nil {
			return nil, err
		}
		t.Digest = core.Digest(secret)
		t.CreatedAt = now
		t.CreatedBy = "tokengate demo"
		t.ExpiresAt = now.Add(demoTokenLifetime)
		tokens = append(tokens, demoToken{token: t, secret: secret})
		records = append(records, t)
	}
	store, err := core.NewStore(records)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(store, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode store: %w", err)
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o600); err != nil {
		return nil, err
	}
	return tokens, nil
}

func printDemoCreated(w io.Writer, policyPath, storePath, addr string, tokens []demoToken) {
	fmt.Fprintf(w, "Created the demo policy %s and token store %s.\n\n", policyPath, storePath)
	fmt.Fprintln(w, "Demo tokens (shown only now: the store keeps each secret's SHA-256 digest, never the secret):")
	for _, t := range tokens {
		who := ""
		if t.token.User != "" {
			who = " as " + t.token.User
		}
		fmt.Fprintf(w, "  %-16s %s%s, scopes %s, expires %s\n    %s\n", t.token.ID, t.token.Permission, who,
			t.token.Scopes, t.token.ExpiresAt.Format(time.RFC3339), t.secret)
	}
	user, global := tokens[0].secret, tokens[1].secret
	base := "http://" + addr + core.DefaultBasePath
	fmt.Fprintf(w, "\nOnce the gateway runs, try these (the mock upstream echoes what it received):\n\n")
	fmt.Fprintf(w, "# Allowed: the USER token searches (200)\n")
	fmt.Fprintf(w, "curl -i -X POST %s/search -H 'Authorization: Bearer %s' -d '{\"query\":\"hello\"}'\n\n", base, user)
	fmt.Fprintf(w, "# Denied: the USER token lacks the CHAT scope (403 scope_missing)\n")
	fmt.Fprintf(w, "curl -i -X POST %s/chat -H 'Authorization: Bearer %s' -d '{}'\n\n", base, user)
	fmt.Fprintf(w, "# Allowed: the GLOBAL token acts as %s (200)\n", demoUser)
	fmt.Fprintf(w, "curl -i -X POST %s/search -H 'Authorization: Bearer %s' -H 'X-Scio-ActAs: %s' -d '{\"query\":\"hello\"}'\n\n", base, global, demoUser)
	fmt.Fprintf(w, "# Denied: the GLOBAL token must name a user to act as (400 actas_required)\n")
	fmt.Fprintf(w, "curl -i -X POST %s/search -H 'Authorization: Bearer %s' -d '{\"query\":\"hello\"}'\n\n", base, global)
}

func printDemoExisting(w io.Writer, storePath string) {
	fmt.Fprintf(w, "The demo store %s exists; its secrets were printed once, when it was created.\n", storePath)
	if data, err := os.ReadFile(storePath); err == nil {
		if store, err := core.ParseStore(data); err == nil {
			now := time.Now()
			for _, t := range store.Tokens() {
				fmt.Fprintf(w, "  %-16s %s, %s\n", t.ID, t.Permission, t.Status(now))
			}
		}
	}
	fmt.Fprintf(w, "The store keeps only digests, so a lost secret cannot be shown again. To get a new token,\n")
	if _, ok := commands["token"]; ok {
		fmt.Fprintf(w, "run 'tokengate token create --store %s' (see 'tokengate token create -h'), or\n", storePath)
	}
	fmt.Fprintf(w, "remove the folder %s and run the demo again.\n\n", filepath.Dir(storePath))
}
