package core

import (
	"encoding/json"
	"fmt"
	"time"
)

// Token is the metadata of one Client API token. It never holds the secret: the store keys it by
// the SHA-256 digest of the secret.
type Token struct {
	// ID is the public identifier, safe to log.
	ID string
	// Digest is the lowercase hex SHA-256 of the whole token string.
	Digest string
	// Description is free text.
	Description string
	// Permission is what the token acts as.
	Permission Permission
	// Scopes lists the endpoint families the token opens; it is never empty.
	Scopes ScopeSet
	// User is the email of the user a USER token acts as; empty for the other permissions.
	User string
	// ExpiresAt is the instant the token stops working; the zero time means it never expires.
	ExpiresAt time.Time
	// RevokedAt is the instant the token was revoked; the zero time means it is not revoked.
	RevokedAt time.Time
	// ActAsDomains, for GLOBAL tokens only, limits act-as addresses to these email domains
	// (lower case, matched exactly). Empty means any domain.
	ActAsDomains []string
	// CreatedAt and CreatedBy record when and by which admin the token was made.
	CreatedAt time.Time
	CreatedBy string
}

// tokenJSON is the store file encoding of a token: absent fields are omitted.
type tokenJSON struct {
	ID           string     `json:"id"`
	Digest       string     `json:"digest"`
	Description  string     `json:"description,omitempty"`
	Permission   Permission `json:"permission"`
	Scopes       ScopeSet   `json:"scopes"`
	User         string     `json:"user,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	ActAsDomains []string   `json:"actas_domains,omitempty"`
	CreatedAt    *time.Time `json:"created_at,omitempty"`
	CreatedBy    string     `json:"created_by,omitempty"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// MarshalJSON encodes the token in the store file format.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(tokenJSON{
		ID:           t.ID,
		Digest:       t.Digest,
		Description:  t.Description,
		Permission:   t.Permission,
		Scopes:       t.Scopes,
		User:         t.User,
		ExpiresAt:    optionalTime(t.ExpiresAt),
		RevokedAt:    optionalTime(t.RevokedAt),
		ActAsDomains: t.ActAsDomains,
		CreatedAt:    optionalTime(t.CreatedAt),
		CreatedBy:    t.CreatedBy,
	})
}

// UnmarshalJSON decodes a token in the store file format. Unknown fields are rejected. It checks
// field syntax only; [NewStore] checks the rules that span fields.
func (t *Token) UnmarshalJSON(data []byte) error {
	var v tokenJSON
	if err := decodeStrict(data, &v); err != nil {
		return err
	}
	tok, err := v.token()
	if err != nil {
		return err
	}
	*t = tok
	return nil
}

// token converts a decoded record to a Token. Both UnmarshalJSON and the fast path of
// ParseStore (storejson.go) use it, so they apply the same rules.
func (v *tokenJSON) token() (Token, error) {
	// The zero instant stands for an absent field, so a record that gives it would silently
	// lose the field: a revoked_at of 0001-01-01T00:00:00Z would read as not revoked.
	for _, f := range []struct {
		name string
		at   *time.Time
	}{{"expires_at", v.ExpiresAt}, {"revoked_at", v.RevokedAt}, {"created_at", v.CreatedAt}} {
		if f.at != nil && f.at.IsZero() {
			return Token{}, fmt.Errorf("token %s: %s %s is the zero instant, which means absent: omit the field or give a real instant", v.ID, f.name, f.at.UTC().Format(time.RFC3339))
		}
	}
	return Token{
		ID:           v.ID,
		Digest:       v.Digest,
		Description:  v.Description,
		Permission:   v.Permission,
		Scopes:       v.Scopes,
		User:         v.User,
		ExpiresAt:    timeOrZero(v.ExpiresAt),
		RevokedAt:    timeOrZero(v.RevokedAt),
		ActAsDomains: v.ActAsDomains,
		CreatedAt:    timeOrZero(v.CreatedAt),
		CreatedBy:    v.CreatedBy,
	}, nil
}

// Status returns "revoked", "expired" or "active" for the token at the instant now.
func (t *Token) Status(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero() && !t.RevokedAt.After(now):
		return "revoked"
	case !t.ExpiresAt.IsZero() && !t.ExpiresAt.After(now):
		return "expired"
	}
	return "active"
}

// Validate checks the rules of a single token record.
func (t *Token) Validate() error {
	if t.ID == "" {
		return fmt.Errorf("token has no id")
	}
	if !validDigest(t.Digest) {
		return fmt.Errorf("token %s: digest %q is not 64 lowercase hex characters", t.ID, t.Digest)
	}
	if !t.Permission.Valid() {
		return fmt.Errorf("token %s: missing or invalid permission", t.ID)
	}
	if t.Scopes.Len() == 0 {
		return fmt.Errorf("token %s: no scopes: a token needs at least one", t.ID)
	}
	switch t.Permission {
	case PermissionUser:
		if !IsBareAddress(t.User) {
			return fmt.Errorf("token %s: USER token needs a user email, got %q", t.ID, t.User)
		}
	default:
		if t.User != "" {
			return fmt.Errorf("token %s: only USER tokens have a user, this one is %s", t.ID, t.Permission)
		}
	}
	if len(t.ActAsDomains) > 0 && t.Permission != PermissionGlobal {
		return fmt.Errorf("token %s: actas_domains is for GLOBAL tokens only, this one is %s", t.ID, t.Permission)
	}
	for _, d := range t.ActAsDomains {
		if !isDomain(d) || d != asciiLower(d) {
			return fmt.Errorf("token %s: actas domain %q is not a lower-case domain name", t.ID, d)
		}
	}
	return t.validateInstants()
}

// validateInstants checks that every instant can be written back to a store file: JSON
// encoding of a time.Time fails outside the years 0 to 9999, which an offset can reach.
func (t *Token) validateInstants() error {
	for _, f := range []struct {
		name string
		at   time.Time
	}{{"expires_at", t.ExpiresAt}, {"revoked_at", t.RevokedAt}, {"created_at", t.CreatedAt}} {
		if f.at.IsZero() {
			continue
		}
		if y := f.at.UTC().Year(); y < 0 || y > 9999 {
			return fmt.Errorf("token %s: %s %s is outside the years 0 to 9999 in UTC: use an instant in that range", t.ID, f.name, f.at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// validDigest reports whether s is 64 lowercase hex characters. It looks each byte up in a
// table and branches once at the end, because random hex digits make a per-byte range test
// mispredict about every other byte, which dominated loading a large store.
func validDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	ok := byte(1)
	for i := 0; i < len(s); i++ {
		ok &= lowerHexDigits[s[i]]
	}
	return ok == 1
}

// lowerHexDigits maps the bytes 0-9 and a-f to 1 and every other byte to 0.
var lowerHexDigits = func() (t [256]byte) {
	for _, c := range "0123456789abcdef" {
		t[c] = 1
	}
	return t
}()
