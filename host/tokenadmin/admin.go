// Package tokenadmin creates, revokes and describes Client API tokens in a store file under
// the rules of a workspace roles file.
//
// The rules: only admins change tokens, and only super admins create GLOBAL tokens or change
// the description of one. Any admin may revoke any token, because revoking only removes
// access and a leaked GLOBAL token should not wait for a super admin. A token's permission,
// scopes, user, act-as domains and expiry are fixed at creation. The secret is returned once
// by [Admin.Create] and only its digest is stored.
//
// Every change runs under an exclusive flock on STORE.lock, writes the store atomically with
// mode 0600 and appends one JSON line to STORE.audit.jsonl.
//
// NOTE: the actor is the email the caller states (the CLI's --as), not an authenticated
// identity. Anyone who can write the store file can bypass these rules, so its file mode is
// the access boundary.
package tokenadmin

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokengate/tokengate/core"
)

// Errors that [Admin] methods wrap.
var (
	// ErrForbidden means the roles file does not let the actor make the change.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound means no token in the store has the given id.
	ErrNotFound = errors.New("token not found")
	// ErrAlreadyRevoked means the token was revoked before.
	ErrAlreadyRevoked = errors.New("token already revoked")
)

// DefaultLockTimeout is how long a change waits for another process to release the store lock.
const DefaultLockTimeout = 10 * time.Second

// MaxDescriptionLen is the maximum length of a token description, in characters.
const MaxDescriptionLen = 256

// idRandomBytes is the number of random bytes in a token id, written as hex after "tok_".
const idRandomBytes = 8

// Admin changes the tokens of one store file on behalf of the admins of a roles file.
type Admin struct {
	// StorePath is the store file. Its lock file and audit log sit beside it.
	StorePath string
	// Roles lists who may change tokens.
	Roles *Roles
	// Now returns the current instant. Nil means time.Now.
	Now func() time.Time
	// Random is the source of secrets and ids. Nil means crypto/rand.Reader.
	Random io.Reader
	// LockTimeout bounds the wait for the store lock. Zero means DefaultLockTimeout.
	LockTimeout time.Duration
}

// now returns the current instant in UTC to the second, the precision of the store's times.
func (a *Admin) now() time.Time {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	return now().UTC().Truncate(time.Second)
}

func (a *Admin) random() io.Reader {
	if a.Random != nil {
		return a.Random
	}
	return rand.Reader
}

func (a *Admin) lockTimeout() time.Duration {
	if a.LockTimeout > 0 {
		return a.LockTimeout
	}
	return DefaultLockTimeout
}

// requireAdmin returns an ErrForbidden error unless actor is an admin.
func (a *Admin) requireAdmin(actor string) error {
	if !a.Roles.IsAdmin(actor) {
		return fmt.Errorf("%w: %q is not an admin in the roles file %s: ask a workspace admin, or add the email under admins there", ErrForbidden, actor, a.Roles.Name())
	}
	return nil
}

// requireSuperAdmin returns an ErrForbidden error unless actor is a super admin. The message
// names the action as doing.
func (a *Admin) requireSuperAdmin(actor, doing string) error {
	if !a.Roles.IsSuperAdmin(actor) {
		return fmt.Errorf("%w: only a super admin may %s, and %q is not one in the roles file %s: ask a super admin", ErrForbidden, doing, actor, a.Roles.Name())
	}
	return nil
}

// CreateRequest is the metadata of a token to create. All of it is fixed for the token's life.
type CreateRequest struct {
	// Actor is the admin creating the token.
	Actor string
	// Permission is exactly one of GLOBAL, USER or ANONYMOUS.
	Permission core.Permission
	// Scopes is one or more scopes.
	Scopes core.ScopeSet
	// User is the email a USER token acts as. It must be empty for the other permissions.
	User string
	// Description is free text of at most MaxDescriptionLen characters without control
	// characters. It is required, so that a list of tokens shows what each one is for.
	Description string
	// ExpiresAt is when the token stops working. The zero time means never.
	ExpiresAt time.Time
	// ActAsDomains, for GLOBAL tokens only, limits the act-as addresses to these domains.
	// They are lowercased.
	ActAsDomains []string
}

// Created is the result of [Admin.Create].
type Created struct {
	// Token is the stored record.
	Token core.Token
	// Secret is the bearer token. It exists only here: the store keeps its digest.
	Secret string
}

// Create checks the request against the roles and the token rules, mints a token and adds it
// to the store, creating the store if it is missing. Errors from the roles wrap ErrForbidden.
func (a *Admin) Create(req CreateRequest) (Created, error) {
	if err := a.checkCreate(&req); err != nil {
		return Created{}, err
	}
	var created Created
	err := a.update(true, func(current *core.Store, now time.Time) ([]core.Token, Event, error) {
		if !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
			return nil, Event{}, fmt.Errorf("expiry %s is not in the future: choose a later instant, a duration such as 90d, or never", req.ExpiresAt.Format(time.RFC3339))
		}
		t, secret, err := a.mint(current, req, now)
		if err != nil {
			return nil, Event{}, err
		}
		created = Created{Token: t, Secret: secret}
		return append(current.Tokens(), t), createEvent(t), nil
	})
	if err != nil {
		return Created{}, err
	}
	return created, nil
}

// checkCreate checks a create request and normalizes its emails and domains to lower case.
func (a *Admin) checkCreate(req *CreateRequest) error {
	if err := a.requireAdmin(req.Actor); err != nil {
		return err
	}
	req.Actor = canonicalEmail(req.Actor)
	if !req.Permission.Valid() {
		return fmt.Errorf("missing or invalid permission: want exactly one of GLOBAL, USER or ANONYMOUS")
	}
	if req.Permission == core.PermissionGlobal {
		if err := a.requireSuperAdmin(req.Actor, "create a GLOBAL token"); err != nil {
			return err
		}
	}
	if req.Scopes.Len() == 0 {
		return fmt.Errorf("no scopes given: a token needs at least one scope")
	}
	if err := checkUser(req); err != nil {
		return err
	}
	domains, err := checkActAsDomains(req.Permission, req.ActAsDomains)
	if err != nil {
		return err
	}
	req.ActAsDomains = domains
	return CheckDescription(req.Description)
}

// checkUser checks that a USER token names a user and no other token does.
func checkUser(req *CreateRequest) error {
	if req.Permission != core.PermissionUser {
		if req.User != "" {
			return fmt.Errorf("%s %s token has no user, but %q was given: drop the user, or create a USER token", article(req.Permission), req.Permission, req.User)
		}
		return nil
	}
	if req.User == "" {
		return fmt.Errorf("a USER token needs the email of the user it acts as")
	}
	if !core.IsBareAddress(req.User) {
		return fmt.Errorf("user %q is not a bare email address: want local@domain such as ann@example.com", req.User)
	}
	req.User = canonicalEmail(req.User)
	return nil
}

// article returns the indefinite article for the permission's name: "an ANONYMOUS token",
// "a USER token".
func article(p core.Permission) string {
	if p == core.PermissionAnonymous {
		return "an"
	}
	return "a"
}

// checkActAsDomains returns the domains lowercased. It rejects domains on a token that is not
// GLOBAL, an invalid domain and a domain given twice.
func checkActAsDomains(p core.Permission, domains []string) ([]string, error) {
	if len(domains) == 0 {
		return nil, nil
	}
	if p != core.PermissionGlobal {
		return nil, fmt.Errorf("act-as domains are for GLOBAL tokens only, this one is %s: drop them", p)
	}
	out := make([]string, 0, len(domains))
	seen := map[string]bool{}
	for _, d := range domains {
		if !core.IsDomain(d) {
			return nil, fmt.Errorf("act-as domain %q is not a domain name: want dot-separated labels such as example.com", d)
		}
		lower := canonicalEmail(d)
		if seen[lower] {
			return nil, fmt.Errorf("act-as domain %q is given twice", d)
		}
		seen[lower] = true
		out = append(out, lower)
	}
	return out, nil
}

// CheckDescription rejects an empty description, one longer than MaxDescriptionLen
// characters, invalid UTF-8 and control characters. Control characters would let a
// description rewrite the lines of a terminal that shows a token list.
func CheckDescription(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("missing description: say what the token is for, such as \"search bot for the help desk\"")
	case !utf8.ValidString(s):
		return fmt.Errorf("description is not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxDescriptionLen:
		return fmt.Errorf("description has %d characters, more than the maximum of %d: shorten it", utf8.RuneCountInString(s), MaxDescriptionLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("description %q contains a control character such as a line break or tab: use plain text on one line", s)
		}
	}
	return nil
}

// mint returns a new token record for req and its secret. The secret and the id are drawn
// separately from the random source, so the id reveals nothing about the secret. It retries
// the unlikely case of an id or digest already in the store.
func (a *Admin) mint(current *core.Store, req CreateRequest, now time.Time) (core.Token, string, error) {
	digests := map[string]bool{}
	for _, t := range current.Tokens() {
		digests[t.Digest] = true
	}
	for attempt := 0; attempt < 3; attempt++ {
		secret, err := core.MintToken(a.random())
		if err != nil {
			return core.Token{}, "", err
		}
		id, err := a.newID()
		if err != nil {
			return core.Token{}, "", err
		}
		digest := core.Digest(secret)
		if _, idTaken := current.ByID(id); idTaken || digests[digest] {
			continue
		}
		return core.Token{
			ID:           id,
			Digest:       digest,
			Description:  req.Description,
			Permission:   req.Permission,
			Scopes:       req.Scopes,
			User:         req.User,
			ExpiresAt:    req.ExpiresAt,
			ActAsDomains: req.ActAsDomains,
			CreatedAt:    now,
			CreatedBy:    req.Actor,
		}, secret, nil
	}
	return core.Token{}, "", fmt.Errorf("mint token: the random source repeated an existing id or secret 3 times: check the random source")
}

// newID returns "tok_" and idRandomBytes random bytes in hex.
func (a *Admin) newID() (string, error) {
	b := make([]byte, idRandomBytes)
	if _, err := io.ReadFull(a.random(), b); err != nil {
		return "", fmt.Errorf("mint token id: read random source: %w", err)
	}
	return "tok_" + hex.EncodeToString(b), nil
}

// Revoke marks the token with the given id revoked at the current instant. Any admin may
// revoke any token. Revoking a token twice fails with ErrAlreadyRevoked.
func (a *Admin) Revoke(actor, id string) (core.Token, error) {
	if err := a.requireAdmin(actor); err != nil {
		return core.Token{}, err
	}
	actor = canonicalEmail(actor)
	var revoked core.Token
	err := a.update(false, func(current *core.Store, now time.Time) ([]core.Token, Event, error) {
		tokens := current.Tokens()
		i, err := indexOf(tokens, id)
		if err != nil {
			return nil, Event{}, err
		}
		if !tokens[i].RevokedAt.IsZero() {
			return nil, Event{}, fmt.Errorf("%w: %s was revoked at %s", ErrAlreadyRevoked, id, tokens[i].RevokedAt.Format(time.RFC3339))
		}
		tokens[i].RevokedAt = now
		revoked = tokens[i]
		return tokens, Event{Time: now, Actor: actor, Action: ActionRevoke, TokenID: id}, nil
	})
	if err != nil {
		return core.Token{}, err
	}
	return revoked, nil
}

// Describe replaces the description of the token with the given id. Changing a GLOBAL
// token's description needs a super admin, as creating one does.
func (a *Admin) Describe(actor, id, description string) (core.Token, error) {
	if err := a.requireAdmin(actor); err != nil {
		return core.Token{}, err
	}
	actor = canonicalEmail(actor)
	if err := CheckDescription(description); err != nil {
		return core.Token{}, err
	}
	var described core.Token
	err := a.update(false, func(current *core.Store, now time.Time) ([]core.Token, Event, error) {
		tokens := current.Tokens()
		i, err := indexOf(tokens, id)
		if err != nil {
			return nil, Event{}, err
		}
		if tokens[i].Permission == core.PermissionGlobal {
			if err := a.requireSuperAdmin(actor, "change the description of a GLOBAL token"); err != nil {
				return nil, Event{}, err
			}
		}
		tokens[i].Description = description
		described = tokens[i]
		return tokens, Event{Time: now, Actor: actor, Action: ActionDescribe, TokenID: id, Description: description}, nil
	})
	if err != nil {
		return core.Token{}, err
	}
	return described, nil
}

// indexOf returns the index of the token with the given id, or an ErrNotFound error.
func indexOf(tokens []core.Token, id string) (int, error) {
	for i := range tokens {
		if tokens[i].ID == id {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: no token has the id %q: run tokengate token list to see the ids", ErrNotFound, id)
}
