package tokenadmin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tokengate/tokengate/core"
)

const (
	superAdmin = "root@example.com"
	plainAdmin = "ann@example.com"
	stranger   = "eve@example.com"
)

// newTestAdmin returns an admin for a store in a new temporary folder, with a clock that
// starts at testNow and the real random source.
func newTestAdmin(t *testing.T) *Admin {
	t.Helper()
	roles, err := ParseRoles("roles.yaml", []byte("super_admins: [Root@Example.com]\nadmins: [ann@example.com]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &Admin{
		StorePath: filepath.Join(t.TempDir(), "tokens.json"),
		Roles:     roles,
		Now:       func() time.Time { return testNow },
	}
}

func userRequest() CreateRequest {
	return CreateRequest{
		Actor:       plainAdmin,
		Permission:  core.PermissionUser,
		Scopes:      core.NewScopeSet(core.ScopeSearch, core.ScopeChat),
		User:        "bob@example.com",
		Description: "bob's search bot",
		ExpiresAt:   testNow.Add(90 * 24 * time.Hour),
	}
}

func mustCreate(t *testing.T, a *Admin, req CreateRequest) Created {
	t.Helper()
	c, err := a.Create(req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return c
}

// snapshot returns the content of the store and the audit log, "" for a missing file.
func snapshot(t *testing.T, a *Admin) [2]string {
	t.Helper()
	var out [2]string
	for i, path := range []string{a.StorePath, AuditPath(a.StorePath)} {
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		out[i] = string(data)
	}
	return out
}

// assertUnchanged fails unless the store and the audit log equal before byte for byte and no
// temporary file is left beside them.
func assertUnchanged(t *testing.T, a *Admin, before [2]string) {
	t.Helper()
	after := snapshot(t, a)
	if after[0] != before[0] {
		t.Errorf("store changed:\nbefore: %s\nafter:  %s", before[0], after[0])
	}
	if after[1] != before[1] {
		t.Errorf("audit log changed:\nbefore: %s\nafter:  %s", before[1], after[1])
	}
	assertNoTempFiles(t, filepath.Dir(a.StorePath))
}

// assertErrorContains fails unless err is an error whose message contains expect.
func assertErrorContains(t *testing.T, err error, expect string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, expected one containing %q", expect)
	}
	if !strings.Contains(err.Error(), expect) {
		t.Errorf("error %q does not contain %q", err, expect)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s was left behind", e.Name())
		}
	}
}

// readEvents decodes every line of the audit log, rejecting unknown fields.
func readEvents(t *testing.T, a *Admin) []Event {
	t.Helper()
	f, err := os.Open(AuditPath(a.StorePath))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []Event
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		dec := json.NewDecoder(bytes.NewReader(scanner.Bytes()))
		dec.DisallowUnknownFields()
		var e Event
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("audit line %q: %v", scanner.Text(), err)
		}
		events = append(events, e)
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

func TestCreate_UserToken(t *testing.T) {
	a := newTestAdmin(t)
	req := userRequest()
	req.User = "Bob@Example.com"
	req.Actor = "ANN@example.com"
	c := mustCreate(t, a, req)

	if err := core.CheckTokenFormat(c.Secret); err != nil {
		t.Errorf("secret %q is not in the token format: %v", c.Secret, err)
	}
	if !regexp.MustCompile(`^tok_[0-9a-f]{16}$`).MatchString(c.Token.ID) {
		t.Errorf("id %q is not tok_ and 16 hex digits", c.Token.ID)
	}
	store, err := ReadStore(a.StorePath)
	if err != nil {
		t.Fatalf("ReadStore: %v", err)
	}
	got, ok := store.ByID(c.Token.ID)
	if !ok {
		t.Fatalf("token %s is not in the store", c.Token.ID)
	}
	if got.Digest != core.Digest(c.Secret) {
		t.Errorf("stored digest %s is not the digest of the secret", got.Digest)
	}
	if got.User != "bob@example.com" {
		t.Errorf("user = %q, expected it lowercased", got.User)
	}
	if got.CreatedBy != plainAdmin {
		t.Errorf("created_by = %q, expected %q", got.CreatedBy, plainAdmin)
	}
	if !got.CreatedAt.Equal(testNow) {
		t.Errorf("created_at = %v, expected %v", got.CreatedAt, testNow)
	}
	if !got.ExpiresAt.Equal(req.ExpiresAt) {
		t.Errorf("expires_at = %v, expected %v", got.ExpiresAt, req.ExpiresAt)
	}
	if got.Scopes != req.Scopes {
		t.Errorf("scopes = %s, expected %s", got.Scopes, req.Scopes)
	}
	if got.Permission != core.PermissionUser {
		t.Errorf("permission = %s, expected USER", got.Permission)
	}
	assertSecretAbsent(t, a, c.Secret)
}

// assertSecretAbsent fails if the store, the lock file or the audit log contains the secret.
func assertSecretAbsent(t *testing.T, a *Admin, secret string) {
	t.Helper()
	for _, path := range []string{a.StorePath, AuditPath(a.StorePath), LockPath(a.StorePath)} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("%s contains the secret", filepath.Base(path))
		}
	}
	data, err := os.ReadFile(AuditPath(a.StorePath))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(core.Digest(secret))) {
		t.Error("the audit log contains the digest of the secret")
	}
}

func TestCreate_FileModes(t *testing.T) {
	a := newTestAdmin(t)
	mustCreate(t, a, userRequest())
	for _, path := range []string{a.StorePath, AuditPath(a.StorePath), LockPath(a.StorePath)} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %#o, expected 0600", filepath.Base(path), mode)
		}
	}
}

func TestCreate_TightensStoreMode(t *testing.T) {
	a := newTestAdmin(t)
	mustCreate(t, a, userRequest())
	if err := os.Chmod(a.StorePath, 0o644); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, a, userRequest())
	info, err := os.Stat(a.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("store has mode %#o after a write, expected 0600", mode)
	}
}

func TestCreate_GlobalAndAnonymous(t *testing.T) {
	a := newTestAdmin(t)
	global := mustCreate(t, a, CreateRequest{
		Actor:        superAdmin,
		Permission:   core.PermissionGlobal,
		Scopes:       core.NewScopeSet(core.ScopeSearch),
		Description:  "help desk integration",
		ActAsDomains: []string{"Example.COM", "corp.example.org"},
	})
	if got := global.Token.ActAsDomains; !slices.Equal(got, []string{"example.com", "corp.example.org"}) {
		t.Errorf("act-as domains = %q, expected them lowercased in order", got)
	}
	if !global.Token.ExpiresAt.IsZero() {
		t.Errorf("expires_at = %v, expected never", global.Token.ExpiresAt)
	}
	anonymous := mustCreate(t, a, CreateRequest{
		Actor:       plainAdmin,
		Permission:  core.PermissionAnonymous,
		Scopes:      core.NewScopeSet(core.ScopeSearch),
		Description: "public search box",
		ExpiresAt:   testNow.Add(time.Hour),
	})
	if anonymous.Token.User != "" {
		t.Errorf("anonymous token has user %q", anonymous.Token.User)
	}
	store, err := ReadStore(a.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	if store.Len() != 2 {
		t.Errorf("store has %d tokens, expected 2", store.Len())
	}
	if global.Secret == anonymous.Secret {
		t.Error("two tokens share a secret")
	}
	if global.Token.ID == anonymous.Token.ID {
		t.Error("two tokens share an id")
	}
}

func TestCreate_Errors(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*CreateRequest)
		forbidden bool
		expect    string
	}{
		{"stranger", func(r *CreateRequest) { r.Actor = stranger }, true, "not an admin in the roles file roles.yaml"},
		{"empty actor", func(r *CreateRequest) { r.Actor = "" }, true, "not an admin"},
		{"plain admin creates global", func(r *CreateRequest) {
			r.Permission, r.User = core.PermissionGlobal, ""
		}, true, "only a super admin may create a GLOBAL token, and \"ann@example.com\" is not one in the roles file roles.yaml"},
		{"no permission", func(r *CreateRequest) { r.Permission = 0 }, false, "permission"},
		{"no scopes", func(r *CreateRequest) { r.Scopes = 0 }, false, "no scopes"},
		{"user token without user", func(r *CreateRequest) { r.User = "" }, false, "needs the email"},
		{"user token with malformed user", func(r *CreateRequest) { r.User = "Bob <bob@example.com>" }, false, "not a bare email"},
		{"anonymous token with user", func(r *CreateRequest) { r.Permission = core.PermissionAnonymous }, false, "an ANONYMOUS token has no user"},
		{"global token with user", func(r *CreateRequest) {
			r.Actor, r.Permission = superAdmin, core.PermissionGlobal
		}, false, "a GLOBAL token has no user"},
		{"domains on a user token", func(r *CreateRequest) { r.ActAsDomains = []string{"example.com"} }, false, "GLOBAL tokens only"},
		{"invalid domain", func(r *CreateRequest) {
			r.Actor, r.Permission, r.User, r.ActAsDomains = superAdmin, core.PermissionGlobal, "", []string{"example"}
		}, false, "not a domain name"},
		{"duplicate domain", func(r *CreateRequest) {
			r.Actor, r.Permission, r.User, r.ActAsDomains = superAdmin, core.PermissionGlobal, "", []string{"example.com", "EXAMPLE.com"}
		}, false, "given twice"},
		{"empty description", func(r *CreateRequest) { r.Description = "" }, false, "missing description"},
		{"line break in description", func(r *CreateRequest) { r.Description = "bot\nstatus: revoked" }, false, "control character"},
		{"escape in description", func(r *CreateRequest) { r.Description = "bot\x1b[2J" }, false, "control character"},
		{"long description", func(r *CreateRequest) { r.Description = strings.Repeat("é", MaxDescriptionLen+1) }, false, "maximum"},
		{"invalid utf-8 description", func(r *CreateRequest) { r.Description = "bot\xff" }, false, "UTF-8"},
		{"expiry now", func(r *CreateRequest) { r.ExpiresAt = testNow }, false, "not in the future"},
		{"expiry past", func(r *CreateRequest) { r.ExpiresAt = testNow.Add(-time.Hour) }, false, "not in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAdmin(t)
			mustCreate(t, a, userRequest())
			before := snapshot(t, a)
			req := userRequest()
			tt.edit(&req)
			c, err := a.Create(req)
			if err == nil {
				t.Fatalf("Create accepted the request and made %s", c.Token.ID)
			}
			if !strings.Contains(err.Error(), tt.expect) {
				t.Errorf("error %q does not contain %q", err, tt.expect)
			}
			if got := errors.Is(err, ErrForbidden); got != tt.forbidden {
				t.Errorf("errors.Is(err, ErrForbidden) = %v, expected %v", got, tt.forbidden)
			}
			if c.Secret != "" {
				t.Error("a failed Create returned a secret")
			}
			assertUnchanged(t, a, before)
		})
	}
}

func TestCreate_LongestDescription(t *testing.T) {
	a := newTestAdmin(t)
	req := userRequest()
	req.Description = strings.Repeat("é", MaxDescriptionLen)
	mustCreate(t, a, req)
}

func TestCreate_RandomSourceFails(t *testing.T) {
	a := newTestAdmin(t)
	mustCreate(t, a, userRequest())
	before := snapshot(t, a)
	a.Random = iotest.ErrReader(errors.New("entropy exhausted"))
	_, err := a.Create(userRequest())
	assertErrorContains(t, err, "entropy exhausted")
	assertUnchanged(t, a, before)
}

func TestCreate_RepeatedRandomRetries(t *testing.T) {
	a := newTestAdmin(t)
	// A source that returns the same bytes every time yields the same secret and id again.
	a.Random = repeatReader(0x41)
	mustCreate(t, a, userRequest())
	before := snapshot(t, a)
	_, err := a.Create(userRequest())
	assertErrorContains(t, err, "repeated an existing id or secret")
	assertUnchanged(t, a, before)
}

// repeatReader returns b forever.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func TestCreate_AuditEvent(t *testing.T) {
	a := newTestAdmin(t)
	req := userRequest()
	c := mustCreate(t, a, req)
	events := readEvents(t, a)
	if len(events) != 1 {
		t.Fatalf("audit log has %d events, expected 1", len(events))
	}
	e := events[0]
	expect := Event{
		Time:        testNow,
		Actor:       plainAdmin,
		Action:      ActionCreate,
		TokenID:     c.Token.ID,
		Permission:  "USER",
		Scopes:      req.Scopes,
		User:        req.User,
		ExpiresAt:   &req.ExpiresAt,
		Description: req.Description,
	}
	if !eventsEqual(e, expect) {
		t.Errorf("audit event = %+v, expected %+v", e, expect)
	}
	line, err := os.ReadFile(AuditPath(a.StorePath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(line, []byte(`"time":"2026-06-01T12:00:00Z"`)) {
		t.Errorf("audit line %s has no RFC 3339 time in UTC", line)
	}
}

// eventsEqual compares two events by their JSON lines.
func eventsEqual(a, b Event) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestCreate_MissingStoreFolder(t *testing.T) {
	a := newTestAdmin(t)
	a.StorePath = filepath.Join(filepath.Dir(a.StorePath), "no", "such", "tokens.json")
	if _, err := a.Create(userRequest()); err == nil {
		t.Fatal("Create succeeded in a missing folder")
	}
}

func TestRevoke(t *testing.T) {
	a := newTestAdmin(t)
	c := mustCreate(t, a, userRequest())
	a.Now = func() time.Time { return testNow.Add(time.Hour) }
	revoked, err := a.Revoke("Ann@Example.com", c.Token.ID)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if !revoked.RevokedAt.Equal(testNow.Add(time.Hour)) {
		t.Errorf("revoked_at = %v, expected %v", revoked.RevokedAt, testNow.Add(time.Hour))
	}
	store, err := ReadStore(a.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := store.ByID(c.Token.ID)
	if got := stored.Status(testNow.Add(time.Hour)); got != "revoked" {
		t.Errorf("status after revoke = %q, expected revoked", got)
	}

	// Nothing but revoked_at changed.
	stored.RevokedAt = time.Time{}
	if !eventsEqual(createEvent(stored), createEvent(c.Token)) {
		t.Errorf("revoke changed more than revoked_at: %+v", stored)
	}

	events := readEvents(t, a)
	if len(events) != 2 {
		t.Fatalf("audit log has %d events, expected 2", len(events))
	}
	expect := Event{Time: testNow.Add(time.Hour), Actor: plainAdmin, Action: ActionRevoke, TokenID: c.Token.ID}
	if !eventsEqual(events[1], expect) {
		t.Errorf("revoke event = %+v, expected %+v", events[1], expect)
	}
}

func TestRevoke_GlobalByPlainAdmin(t *testing.T) {
	a := newTestAdmin(t)
	c := mustCreate(t, a, CreateRequest{
		Actor: superAdmin, Permission: core.PermissionGlobal,
		Scopes: core.NewScopeSet(core.ScopeSearch), Description: "leaked integration",
	})
	if _, err := a.Revoke(plainAdmin, c.Token.ID); err != nil {
		t.Fatalf("a plain admin could not revoke a GLOBAL token: %v", err)
	}
}

func TestRevoke_Errors(t *testing.T) {
	tests := []struct {
		name        string
		actor       string
		id          string // the created token's id when empty
		revokeFirst bool
		target      error
	}{
		{"stranger", stranger, "", false, ErrForbidden},
		{"unknown id", plainAdmin, "tok_missing", false, ErrNotFound},
		{"twice", plainAdmin, "", true, ErrAlreadyRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAdmin(t)
			c := mustCreate(t, a, userRequest())
			id := tt.id
			if id == "" {
				id = c.Token.ID
			}
			if tt.revokeFirst {
				if _, err := a.Revoke(plainAdmin, id); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, a)
			_, err := a.Revoke(tt.actor, id)
			if !errors.Is(err, tt.target) {
				t.Fatalf("Revoke: err = %v, expected %v", err, tt.target)
			}
			assertUnchanged(t, a, before)
		})
	}
}

func TestRevoke_MissingStore(t *testing.T) {
	a := newTestAdmin(t)
	if _, err := a.Revoke(plainAdmin, "tok_x"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Revoke on a missing store: err = %v, expected not found", err)
	}
	if _, err := os.Stat(a.StorePath); !errors.Is(err, os.ErrNotExist) {
		t.Error("Revoke created the store")
	}
}

func TestDescribe(t *testing.T) {
	a := newTestAdmin(t)
	c := mustCreate(t, a, userRequest())
	got, err := a.Describe(plainAdmin, c.Token.ID, "bob's chat bot")
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if got.Description != "bob's chat bot" {
		t.Errorf("description = %q", got.Description)
	}
	store, err := ReadStore(a.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := store.ByID(c.Token.ID)
	stored.Description = c.Token.Description
	if !eventsEqual(createEvent(stored), createEvent(c.Token)) {
		t.Errorf("describe changed more than the description: %+v", stored)
	}
	events := readEvents(t, a)
	expect := Event{Time: testNow, Actor: plainAdmin, Action: ActionDescribe, TokenID: c.Token.ID, Description: "bob's chat bot"}
	if len(events) != 2 {
		t.Fatalf("audit log has %d events, expected 2", len(events))
	}
	if !eventsEqual(events[1], expect) {
		t.Errorf("describe event = %+v, expected %+v", events[1], expect)
	}
}

func TestDescribe_Errors(t *testing.T) {
	tests := []struct {
		name        string
		actor       string
		global      bool
		description string
		target      error
		expect      string
	}{
		{"stranger", stranger, false, "x", ErrForbidden, "not an admin"},
		{"plain admin on global", plainAdmin, true, "x", ErrForbidden, "super admin"},
		{"empty", plainAdmin, false, "", nil, "missing description"},
		{"control character", superAdmin, true, "a\tb", nil, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAdmin(t)
			req := userRequest()
			if tt.global {
				req = CreateRequest{Actor: superAdmin, Permission: core.PermissionGlobal, Scopes: req.Scopes, Description: "g"}
			}
			c := mustCreate(t, a, req)
			before := snapshot(t, a)
			_, err := a.Describe(tt.actor, c.Token.ID, tt.description)
			if err == nil {
				t.Fatal("Describe succeeded")
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("err = %v, expected %v", err, tt.target)
			}
			if !strings.Contains(err.Error(), tt.expect) {
				t.Errorf("error %q does not contain %q", err, tt.expect)
			}
			assertUnchanged(t, a, before)
		})
	}
}

func TestDescribe_GlobalBySuperAdmin(t *testing.T) {
	a := newTestAdmin(t)
	c := mustCreate(t, a, CreateRequest{
		Actor: superAdmin, Permission: core.PermissionGlobal,
		Scopes: core.NewScopeSet(core.ScopeSearch), Description: "g",
	})
	if _, err := a.Describe(superAdmin, c.Token.ID, "help desk"); err != nil {
		t.Fatalf("Describe: %v", err)
	}
}

func TestUpdate_RejectsStoreItCannotRead(t *testing.T) {
	tests := []struct {
		name   string
		store  string
		expect string
	}{
		{"unknown field", `{"version":1,"tokens":[],"owner":"ops"}`, "unknown field"},
		{"unknown token field", `{"tokens":[{"id":"tok_a","digest":"` + strings.Repeat("a", 64) + `","permission":"ANONYMOUS","scopes":["SEARCH"],"note":"x"}]}`, "unknown field"},
		{"newer version", `{"version":2,"tokens":[]}`, "newer"},
		{"truncated", `{"version":1,"tokens":[`, "truncated"},
		{"invalid token", `{"tokens":[{"id":"tok_a","digest":"abc","permission":"ANONYMOUS","scopes":["SEARCH"]}]}`, "digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAdmin(t)
			if err := os.WriteFile(a.StorePath, []byte(tt.store), 0o600); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, a)
			_, err := a.Create(userRequest())
			if err == nil {
				t.Fatal("Create rewrote a store it cannot read")
			}
			if !strings.Contains(err.Error(), tt.expect) {
				t.Errorf("error %q does not contain %q", err, tt.expect)
			}
			if _, err := a.Revoke(plainAdmin, "tok_a"); err == nil {
				t.Error("Revoke rewrote a store it cannot read")
			}
			assertUnchanged(t, a, before)
		})
	}
}

func TestUpdate_RejectsStoreOthersCanWrite(t *testing.T) {
	for _, mode := range []os.FileMode{0o602, 0o620} {
		t.Run(mode.String(), func(t *testing.T) {
			a := newTestAdmin(t)
			if _, err := a.Create(userRequest()); err != nil {
				t.Fatal(err)
			}
			// Set the mode explicitly, because the umask may clear bits that WriteFile requests.
			if err := os.Chmod(a.StorePath, mode); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, a)
			_, err := a.Create(userRequest())
			if err == nil {
				t.Fatalf("Create accepted a store with mode %#o", mode)
			}
			if !strings.Contains(err.Error(), a.StorePath) || !strings.Contains(err.Error(), "-w "+a.StorePath) {
				t.Errorf("error %q does not name the file and the chmod that fixes it", err)
			}
			if _, err := ReadStore(a.StorePath); err == nil {
				t.Errorf("ReadStore accepted a store with mode %#o", mode)
			}
			assertUnchanged(t, a, before)
		})
	}
}

func TestUpdate_InterruptedWrite(t *testing.T) {
	for _, step := range []string{"prepared", "audited"} {
		t.Run(step, func(t *testing.T) {
			a := newTestAdmin(t)
			first := mustCreate(t, a, userRequest())
			before := snapshot(t, a)
			injected := errors.New("power lost")
			failpoint = func(s string) error {
				if s == step {
					return injected
				}
				return nil
			}
			defer func() { failpoint = nil }()

			_, err := a.Create(userRequest())
			if !errors.Is(err, injected) {
				t.Fatalf("Create: err = %v, expected the injected failure", err)
			}
			if _, err := a.Revoke(plainAdmin, first.Token.ID); !errors.Is(err, injected) {
				t.Fatalf("Revoke: err = %v, expected the injected failure", err)
			}
			assertUnchanged(t, a, before)
			store, err := ReadStore(a.StorePath)
			if err != nil {
				t.Fatalf("store is no longer valid: %v", err)
			}
			if store.Len() != 1 {
				t.Errorf("store has %d tokens, expected 1", store.Len())
			}

			// The next write, without the failure, goes through.
			failpoint = nil
			mustCreate(t, a, userRequest())
			if n := len(readEvents(t, a)); n != 2 {
				t.Errorf("audit log has %d events after a good write, expected 2", n)
			}
		})
	}
}

func TestUpdate_AuditLogUnwritable(t *testing.T) {
	a := newTestAdmin(t)
	mustCreate(t, a, userRequest())
	before := snapshot(t, a)
	// A folder in place of the audit log makes every append fail.
	if err := os.Rename(AuditPath(a.StorePath), AuditPath(a.StorePath)+".saved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(AuditPath(a.StorePath), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := a.Create(userRequest())
	assertErrorContains(t, err, "audit log")
	after, err := os.ReadFile(a.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != before[0] {
		t.Error("the store changed although the audit event could not be written")
	}
	assertNoTempFiles(t, filepath.Dir(a.StorePath))
}

func TestUpdate_LockTimeout(t *testing.T) {
	a := newTestAdmin(t)
	mustCreate(t, a, userRequest())
	before := snapshot(t, a)
	holder, err := lockFile(LockPath(a.StorePath), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a.LockTimeout = 50 * time.Millisecond
	_, err = a.Create(userRequest())
	assertErrorContains(t, err, "timed out")
	assertUnchanged(t, a, before)

	// Once the holder releases the lock, a waiting writer proceeds.
	a.LockTimeout = 5 * time.Second
	done := make(chan error, 1)
	go func() {
		_, err := a.Create(userRequest())
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	holder.Close()
	if err := <-done; err != nil {
		t.Fatalf("Create after the lock was released: %v", err)
	}
}

// TestCreate_Concurrent runs creates from many goroutines at once. Each takes the lock through
// its own file descriptor, exactly as separate processes do, so a missing or broken lock loses
// tokens here.
func TestCreate_Concurrent(t *testing.T) {
	const writers, perWriter = 8, 5
	a := newTestAdmin(t)
	var wg sync.WaitGroup
	ids := make(chan string, writers*perWriter)
	errs := make(chan error, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := *a
			for i := 0; i < perWriter; i++ {
				c, err := own.Create(userRequest())
				if err != nil {
					errs <- err
					return
				}
				ids <- c.Token.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Errorf("Create: %v", err)
	}

	store, err := ReadStore(a.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	for id := range ids {
		if _, ok := store.ByID(id); !ok {
			t.Errorf("token %s was created but is not in the store", id)
		}
	}
	if store.Len() != writers*perWriter {
		t.Errorf("store has %d tokens, expected %d", store.Len(), writers*perWriter)
	}
	if n := len(readEvents(t, a)); n != writers*perWriter {
		t.Errorf("audit log has %d events, expected %d", n, writers*perWriter)
	}
}

func TestReadStore_Missing(t *testing.T) {
	_, err := ReadStore(filepath.Join(t.TempDir(), "tokens.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, expected it to wrap fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "--store") {
		t.Errorf("error %q does not say what to do", err)
	}
}
