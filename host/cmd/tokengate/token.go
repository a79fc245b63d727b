package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/tokenadmin"
)

func init() {
	commands["token"] = command{"create, list, show, revoke and describe Client API tokens", runToken}
}

// tokenClock is the clock of the token subcommands. Tests replace it.
var tokenClock = time.Now

// tokenSubcommands maps the names of `tokengate token` subcommands to their implementations.
var tokenSubcommands = map[string]command{
	"create":   {"mint a token and print its secret once", runTokenCreate},
	"list":     {"list the tokens of a store", runTokenList},
	"show":     {"print one token", runTokenShow},
	"revoke":   {"revoke a token", runTokenRevoke},
	"describe": {"replace a token's description", runTokenDescribe},
}

// fixedAtCreation is the message for any attempt to change a token after it was created.
const fixedAtCreation = "a token's permission, scopes, user, act-as domains and expiry are fixed at creation: " +
	"create a new token with 'tokengate token create', switch the clients to it, then revoke the old one " +
	"with 'tokengate token revoke' ('tokengate token describe' changes only the description)"

// immutableFlags are the token fields that no command changes after create. describe and
// revoke define them only to reject them with fixedAtCreation.
var immutableFlags = []string{"permission", "scopes", "user", "expires", "actas-domain"}

func runToken(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		tokenUsage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "update" {
		fmt.Fprintf(stderr, "tokengate token update: there is no update command: %s\n", fixedAtCreation)
		return exitUsage
	}
	sub, ok := tokenSubcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tokengate token: unknown command %q\n", args[0])
		tokenUsage(stderr)
		return exitUsage
	}
	return sub.run(args[1:], stdout, stderr)
}

func tokenUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: tokengate token COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(tokenSubcommands))
	for n := range tokenSubcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, tokenSubcommands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tokengate token COMMAND -h' for the flags of a command.")
}

// singleFlag is a string flag that may be given at most once, so that a repeated flag such
// as two --permission values is rejected instead of silently keeping the last one. The repeat
// is reported after parsing, so that no error message repeats a value such as a description
// that may contain a pasted secret.
type singleFlag struct {
	value    string
	set      bool
	repeated bool
}

func (f *singleFlag) String() string {
	if f == nil {
		return ""
	}
	return f.value
}

func (f *singleFlag) Set(v string) error {
	if f.set {
		f.repeated = true
		return nil
	}
	f.value, f.set = v, true
	return nil
}

func (f *singleFlag) deferredError() error {
	if f.repeated {
		return errors.New("given more than once: give the flag once")
	}
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// tokenFlags are the flags that several token subcommands share.
type tokenFlags struct {
	fs     *flag.FlagSet
	name   string
	store  singleFlag
	roles  singleFlag
	actor  singleFlag
	output singleFlag
}

// newTokenFlags defines --store and --output, and --roles and --as when the subcommand
// changes the store.
func newTokenFlags(name string, stderr io.Writer, changes bool) *tokenFlags {
	f := &tokenFlags{fs: newFlagSet("token "+name, stderr), name: "tokengate token " + name}
	f.fs.Var(&f.store, "store", "token store `file` (required)")
	f.fs.Var(&f.output, "output", "output `format`: text or json (default text)")
	if changes {
		f.fs.Var(&f.roles, "roles", "roles `file` listing the admins (default roles.yaml in the folder of --store)")
		f.fs.Var(&f.actor, "as", "`email` of the admin making the change (required)")
	}
	return f
}

// parse parses args, which may mix flags and positional arguments, and returns the positional
// ones. When parsing ends the command (help or an invalid flag), ok is false and code is the
// exit code.
func (f *tokenFlags) parse(args []string) (positional []string, code int, ok bool) {
	for {
		if code, ok := parseFlags(f.fs, args); !ok {
			return nil, code, false
		}
		args = f.fs.Args()
		if len(args) == 0 {
			return positional, 0, true
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// check returns an error for a missing --store or --as, or an invalid --output.
func (f *tokenFlags) check() error {
	var missing []string
	if f.store.value == "" {
		missing = append(missing, "--store")
	}
	if f.fs.Lookup("as") != nil && f.actor.value == "" {
		missing = append(missing, "--as")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, " and "))
	}
	switch f.output.value {
	case "", "text", "json":
		return nil
	}
	return fmt.Errorf("invalid --output %q: want text or json", f.output.value)
}

func (f *tokenFlags) json() bool { return f.output.value == "json" }

// admin loads the roles file and returns the admin for the store.
func (f *tokenFlags) admin() (*tokenadmin.Admin, error) {
	path := f.roles.value
	if path == "" {
		path = filepath.Join(filepath.Dir(f.store.value), "roles.yaml")
	}
	roles, err := tokenadmin.LoadRoles(path)
	if err != nil {
		return nil, err
	}
	return &tokenadmin.Admin{StorePath: f.store.value, Roles: roles, Now: tokenClock}, nil
}

// fail prints err and returns the exit code for it: exitDenied when the roles forbid the
// change, exitUsage otherwise.
func (f *tokenFlags) fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", f.name, err)
	if errors.Is(err, tokenadmin.ErrForbidden) {
		return exitDenied
	}
	return exitUsage
}

// oneID returns the single positional argument, the token id.
func oneID(positional []string) (string, error) {
	if len(positional) != 1 {
		return "", fmt.Errorf("want exactly one token id, got %d arguments: run tokengate token list to see the ids", len(positional))
	}
	return positional[0], nil
}

// createFlags are the token fields given to create.
type createFlags struct {
	permission, scopes, user, description, expires singleFlag
	domains                                        listFlag
}

func runTokenCreate(args []string, stdout, stderr io.Writer) int {
	f := newTokenFlags("create", stderr, true)
	var c createFlags
	f.fs.Var(&c.permission, "permission", "exactly one `permission`: GLOBAL, USER or ANONYMOUS (required)")
	f.fs.Var(&c.scopes, "scopes", "comma-separated `scopes`, such as SEARCH,CHAT (required)")
	f.fs.Var(&c.description, "description", "`text` saying what the token is for (required)")
	f.fs.Var(&c.expires, "expires", "when the token stops working: an RFC 3339 `date` or instant, a duration such as 90d or 12h, or never (required)")
	f.fs.Var(&c.user, "user", "`email` of the user a USER token acts as (USER only, required there)")
	f.fs.Var(&c.domains, "actas-domain", "email `domain` a GLOBAL token may act as (repeatable; default any domain)")
	positional, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return f.fail(stderr, fmt.Errorf("unexpected argument %q: create takes only flags", positional[0]))
	}
	if err := f.check(); err != nil {
		return f.fail(stderr, err)
	}

	req, err := c.request(f.actor.value, tokenClock())
	if err != nil {
		return f.fail(stderr, err)
	}
	admin, err := f.admin()
	if err != nil {
		return f.fail(stderr, err)
	}
	created, err := admin.Create(req)
	if err != nil {
		return f.fail(stderr, err)
	}
	printCreated(stdout, stderr, f.json(), created, tokenClock())
	return exitOK
}

// request parses the create flags into a request by actor.
func (c *createFlags) request(actor string, now time.Time) (tokenadmin.CreateRequest, error) {
	var missing []string
	for _, required := range []struct {
		name string
		flag *singleFlag
	}{{"--permission", &c.permission}, {"--scopes", &c.scopes}, {"--description", &c.description}, {"--expires", &c.expires}} {
		if !required.flag.set {
			missing = append(missing, required.name)
		}
	}
	if len(missing) > 0 {
		return tokenadmin.CreateRequest{}, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}

	permission, err := core.ParsePermission(c.permission.value)
	if err != nil {
		return tokenadmin.CreateRequest{}, fmt.Errorf("--permission: %w", err)
	}
	var names []string
	for name := range strings.SplitSeq(c.scopes.value, ",") {
		names = append(names, strings.TrimSpace(name))
	}
	scopes, err := core.ParseScopeList(names)
	if err != nil {
		return tokenadmin.CreateRequest{}, fmt.Errorf("--scopes: %w", err)
	}
	expires, err := tokenadmin.ParseExpiry(c.expires.value, now)
	if err != nil {
		return tokenadmin.CreateRequest{}, fmt.Errorf("--expires: %w", err)
	}
	if c.user.set && c.user.value == "" {
		return tokenadmin.CreateRequest{}, fmt.Errorf("--user is empty: give the email of the user a USER token acts as")
	}
	return tokenadmin.CreateRequest{
		Actor:        actor,
		Permission:   permission,
		Scopes:       scopes,
		User:         c.user.value,
		Description:  c.description.value,
		ExpiresAt:    expires,
		ActAsDomains: c.domains,
	}, nil
}

func runTokenList(args []string, stdout, stderr io.Writer) int {
	f := newTokenFlags("list", stderr, false)
	positional, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return f.fail(stderr, fmt.Errorf("unexpected argument %q: list takes only flags", positional[0]))
	}
	if err := f.check(); err != nil {
		return f.fail(stderr, err)
	}
	store, err := tokenadmin.ReadStore(f.store.value)
	if err != nil {
		return f.fail(stderr, err)
	}
	now := tokenClock()
	views := make([]tokenView, 0, store.Len())
	for _, t := range store.Tokens() {
		views = append(views, newTokenView(t, now))
	}
	if f.json() {
		printJSON(stdout, views)
		return exitOK
	}
	printTable(stdout, views)
	return exitOK
}

func runTokenShow(args []string, stdout, stderr io.Writer) int {
	f := newTokenFlags("show", stderr, false)
	positional, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if err := f.check(); err != nil {
		return f.fail(stderr, err)
	}
	id, err := oneID(positional)
	if err != nil {
		return f.fail(stderr, err)
	}
	store, err := tokenadmin.ReadStore(f.store.value)
	if err != nil {
		return f.fail(stderr, err)
	}
	t, found := store.ByID(id)
	if !found {
		return f.fail(stderr, fmt.Errorf("%w: no token has the id %q in %s: run tokengate token list to see the ids", tokenadmin.ErrNotFound, id, f.store.value))
	}
	printToken(stdout, f.json(), newTokenView(t, tokenClock()))
	return exitOK
}

func runTokenRevoke(args []string, stdout, stderr io.Writer) int {
	return changeToken("revoke", args, stdout, stderr, nil, func(a *tokenadmin.Admin, actor, id string) (core.Token, error) {
		return a.Revoke(actor, id)
	})
}

func runTokenDescribe(args []string, stdout, stderr io.Writer) int {
	var description singleFlag
	define := func(fs *flag.FlagSet) {
		fs.Var(&description, "description", "new description `text` (required)")
	}
	return changeToken("describe", args, stdout, stderr, define, func(a *tokenadmin.Admin, actor, id string) (core.Token, error) {
		if !description.set {
			return core.Token{}, fmt.Errorf("missing --description")
		}
		return a.Describe(actor, id, description.value)
	})
}

// changeToken runs a subcommand that changes one existing token: it parses the common flags
// and those that define adds, rejects the immutable ones, and prints the changed token.
func changeToken(name string, args []string, stdout, stderr io.Writer, define func(*flag.FlagSet), apply func(*tokenadmin.Admin, string, string) (core.Token, error)) int {
	f := newTokenFlags(name, stderr, true)
	if define != nil {
		define(f.fs)
	}
	for _, flagName := range immutableFlags {
		f.fs.String(flagName, "", "rejected: "+fixedAtCreation)
	}
	positional, code, ok := f.parse(args)
	if !ok {
		return code
	}

	if err := checkImmutableFlags(f.fs); err != nil {
		return f.fail(stderr, err)
	}
	if err := f.check(); err != nil {
		return f.fail(stderr, err)
	}
	id, err := oneID(positional)
	if err != nil {
		return f.fail(stderr, err)
	}
	admin, err := f.admin()
	if err != nil {
		return f.fail(stderr, err)
	}
	t, err := apply(admin, f.actor.value, id)
	if err != nil {
		return f.fail(stderr, err)
	}

	view := newTokenView(t, tokenClock())
	if !f.json() && name == "revoke" {
		fmt.Fprintf(stdout, "Revoked token %s at %s. Validators answer it with 401 revoked_token once they load the new store.\n", t.ID, t.RevokedAt.Format(time.RFC3339))
		return exitOK
	}
	printToken(stdout, f.json(), view)
	return exitOK
}

// checkImmutableFlags rejects any immutable flag that was set.
func checkImmutableFlags(fs *flag.FlagSet) error {
	var set []string
	fs.Visit(func(fl *flag.Flag) {
		if slices.Contains(immutableFlags, fl.Name) {
			set = append(set, "--"+fl.Name)
		}
	})
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf("%s cannot be changed: %s", strings.Join(set, ", "), fixedAtCreation)
}

// tokenView is the output form of a token record. It never contains the secret or the digest.
type tokenView struct {
	ID           string        `json:"id"`
	Description  string        `json:"description"`
	Permission   string        `json:"permission"`
	Scopes       core.ScopeSet `json:"scopes"`
	User         string        `json:"user,omitempty"`
	ActAsDomains []string      `json:"actas_domains,omitempty"`
	// ExpiresAt is null for a token that never expires.
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Status is active, expired or revoked at the instant of the command.
	Status    string     `json:"status"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

func newTokenView(t core.Token, now time.Time) tokenView {
	return tokenView{
		ID:           t.ID,
		Description:  t.Description,
		Permission:   t.Permission.String(),
		Scopes:       t.Scopes,
		User:         t.User,
		ActAsDomains: t.ActAsDomains,
		ExpiresAt:    optionalUTC(t.ExpiresAt),
		RevokedAt:    optionalUTC(t.RevokedAt),
		Status:       t.Status(now),
		CreatedBy:    t.CreatedBy,
		CreatedAt:    optionalUTC(t.CreatedAt),
	}
}

func optionalUTC(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// formatTime returns t in RFC 3339, or ifZero for a missing time.
func formatTime(t *time.Time, ifZero string) string {
	if t == nil {
		return ifZero
	}
	return t.Format(time.RFC3339)
}

// printable replaces control characters, so that text from the store cannot move the cursor
// of the terminal or break a table's columns. The store file can be edited by hand, so this
// does not rely on CheckDescription.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

func printJSON(w io.Writer, v any) {
	out, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintf(w, "%s\n", out)
}

func printTable(w io.Writer, views []tokenView) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPERMISSION\tSCOPES\tUSER\tEXPIRES\tSTATUS\tCREATED BY\tCREATED AT\tDESCRIPTION")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			printable(v.ID), v.Permission, v.Scopes, orDash(v.User), formatTime(v.ExpiresAt, "never"),
			v.Status, orDash(printable(v.CreatedBy)), formatTime(v.CreatedAt, "-"), printable(v.Description))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printToken prints one token as JSON or as "field: value" lines.
func printToken(w io.Writer, asJSON bool, v tokenView) {
	if asJSON {
		printJSON(w, v)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", printable(v.ID))
	fmt.Fprintf(tw, "description:\t%s\n", printable(v.Description))
	fmt.Fprintf(tw, "permission:\t%s\n", v.Permission)
	fmt.Fprintf(tw, "scopes:\t%s\n", v.Scopes)
	if v.User != "" {
		fmt.Fprintf(tw, "user:\t%s\n", v.User)
	}
	if v.Permission == core.PermissionGlobal.String() {
		fmt.Fprintf(tw, "act-as domains:\t%s\n", orAny(strings.Join(v.ActAsDomains, ", ")))
	}
	fmt.Fprintf(tw, "expires:\t%s\n", formatTime(v.ExpiresAt, "never"))
	if v.RevokedAt != nil {
		fmt.Fprintf(tw, "revoked:\t%s\n", formatTime(v.RevokedAt, ""))
	}
	fmt.Fprintf(tw, "status:\t%s\n", v.Status)
	fmt.Fprintf(tw, "created by:\t%s\n", orDash(printable(v.CreatedBy)))
	fmt.Fprintf(tw, "created at:\t%s\n", formatTime(v.CreatedAt, "-"))
	tw.Flush()
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// createdJSON is the JSON output of create: the token and, this once, its secret.
type createdJSON struct {
	Secret string `json:"secret"`
	tokenView
}

// secretNotice is printed with every new secret.
const secretNotice = "The secret is shown only this once and cannot be shown again. Store it now, for example in a secret manager."

// printCreated prints a new token and its secret. The secret appears exactly once in the
// output. In JSON mode the notice goes to stderr, so that stdout stays one JSON value.
func printCreated(stdout, stderr io.Writer, asJSON bool, c tokenadmin.Created, now time.Time) {
	view := newTokenView(c.Token, now)
	if asJSON {
		printJSON(stdout, createdJSON{Secret: c.Secret, tokenView: view})
		fmt.Fprintln(stderr, secretNotice)
		return
	}
	fmt.Fprintf(stdout, "Created token %s.\n", c.Token.ID)
	printToken(stdout, false, view)
	fmt.Fprintf(stdout, "\n%s\nsecret: %s\n", secretNotice, c.Secret)
}
