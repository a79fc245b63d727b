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
	"text/tabwriter"
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

// The admins that the demo roles file lists, so that the token commands of docs/admin.md work
// on the demo store as written: a super admin, who may create GLOBAL tokens, and a plain
// admin, who may not.
const (
	demoSuperAdmin = "root@example.com"
	demoAdmin      = "ann@example.com"
)

// demoRoles is the content of the demo roles file.
const demoRoles = `# Workspace roles for tokengate token, written by tokengate demo.
# See examples/roles.yaml for the format. The super admin may also create GLOBAL tokens.
super_admins:
  - ` + demoSuperAdmin + `
admins:
  - ` + demoAdmin + `
`

// oldDemoRoles is the roles file that earlier demos wrote, with one super admin and no plain
// admin. The demo replaces a file with exactly this content by demoRoles.
const oldDemoRoles = `# Workspace roles for tokengate token, written by tokengate demo.
# See examples/roles.yaml for the format.
super_admins:
  - admin@example.com
`

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
	rolesPath := filepath.Join(*state, "roles.yaml")
	if _, err := os.Stat(storePath); err == nil {
		// A state folder from an older demo may lack the roles file or have the old one.
		if err := writeDemoRoles(stdout, rolesPath); err != nil {
			fmt.Fprintf(stderr, "tokengate demo: %v\n", err)
			return exitUsage
		}
		printDemoExisting(stdout, storePath, rolesPath, *addr)
		return exitOK
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "tokengate demo: %v\n", err)
		return exitUsage
	}

	if err := os.MkdirAll(*state, 0o700); err != nil {
		fmt.Fprintf(stderr, "tokengate demo: create state folder: %v\n", err)
		return exitUsage
	}
	if err := writeDemoRoles(stdout, rolesPath); err != nil {
		fmt.Fprintf(stderr, "tokengate demo: %v\n", err)
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
	printDemoCreateHint(stdout, storePath, rolesPath)
	return exitOK
}

// writeDemoRoles writes the demo roles file with mode 0600 unless path exists, because the
// token commands reject a roles file that other users can write. A file with the content of
// an earlier demo is replaced, and the replacement is reported on w. Any other file is the
// user's and stays as it is.
func writeDemoRoles(w io.Writer, path string) error {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return atomicfile.Write(path, []byte(demoRoles), 0o600)
	case err != nil:
		return err
	case string(data) != oldDemoRoles:
		return nil
	}
	if err := atomicfile.Write(path, []byte(demoRoles), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(w, "Updated the demo roles file %s: %s is the super admin and %s an admin, as in docs/admin.md.\n\n",
		path, demoSuperAdmin, demoAdmin)
	return nil
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

func printDemoExisting(w io.Writer, storePath, rolesPath, addr string) {
	fmt.Fprintf(w, "The demo store %s exists; its secrets were printed once, when it was created.\n", storePath)
	if data, err := os.ReadFile(storePath); err == nil {
		if store, err := core.ParseStore(data); err == nil {
			printDemoTokens(w, store.Tokens(), time.Now())
		}
	}
	fmt.Fprintf(w, "The store keeps only digests, so a lost secret cannot be shown again.\n")
	fmt.Fprintf(w, "To start over, remove the folder %s and run the demo again.\n", filepath.Dir(storePath))
	// The curl commands of the first run name the address of that run, which may differ.
	fmt.Fprintf(w, "Send the curl commands printed then to http://%s, the gateway address of this run (--addr).\n\n", addr)
	printDemoCreateHint(w, storePath, rolesPath)
}

// printDemoTokens lists tokens with their ids in one column as wide as the longest id.
func printDemoTokens(w io.Writer, tokens []core.Token, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range tokens {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.ID, t.Permission, t.Status(now))
	}
	tw.Flush()
}

// printDemoCreateHint prints a token create command that works on the demo state as it is,
// with the program named as it was invoked, so that the command runs when pasted.
func printDemoCreateHint(w io.Writer, storePath, rolesPath string) {
	if _, ok := commands["token"]; !ok {
		return
	}
	fmt.Fprintf(w, "The roles file %s lists %s as super admin and %s as admin: both may create and revoke tokens, "+
		"and only %s may create GLOBAL tokens.\n", rolesPath, demoSuperAdmin, demoAdmin, demoSuperAdmin)
	fmt.Fprintf(w, "docs/admin.md shows every token command on this state. To create a token, run:\n\n")
	fmt.Fprintf(w, "%s token create --store %s --as %s --permission USER --user %s --scopes SEARCH --description 'demo search bot' --expires 30d\n\n",
		programName, storePath, demoAdmin, demoUser)
}
