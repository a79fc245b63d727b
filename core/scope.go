package core

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
)

// Scope opens one family of Client API endpoints.
type Scope uint8

// The 14 scopes, in the order the Client API documents them. The zero value means no scope.
const (
	ScopeActivity Scope = iota + 1
	ScopeAnnouncements
	ScopeChat
	ScopeAnswers
	ScopeCollections
	ScopeEntities
	ScopeFeedback
	ScopeInsights
	ScopePeople
	ScopePins
	ScopeSearch
	ScopeShortcuts
	ScopeSummarize
	ScopeVerification

	// NumScopes is the number of defined scopes.
	NumScopes = int(ScopeVerification)
)

var scopeNames = [...]string{
	ScopeActivity:      "ACTIVITY",
	ScopeAnnouncements: "ANNOUNCEMENTS",
	ScopeChat:          "CHAT",
	ScopeAnswers:       "ANSWERS",
	ScopeCollections:   "COLLECTIONS",
	ScopeEntities:      "ENTITIES",
	ScopeFeedback:      "FEEDBACK",
	ScopeInsights:      "INSIGHTS",
	ScopePeople:        "PEOPLE",
	ScopePins:          "PINS",
	ScopeSearch:        "SEARCH",
	ScopeShortcuts:     "SHORTCUTS",
	ScopeSummarize:     "SUMMARIZE",
	ScopeVerification:  "VERIFICATION",
}

// AllScopes returns every scope in declaration order.
func AllScopes() []Scope {
	all := make([]Scope, NumScopes)
	for i := range all {
		all[i] = Scope(i + 1)
	}
	return all
}

// String returns the scope's name, such as "SEARCH", or "" for the zero or an invalid value.
func (s Scope) String() string {
	if s == 0 || int(s) >= len(scopeNames) {
		return ""
	}
	return scopeNames[s]
}

// Valid reports whether s is one of the 14 scopes.
func (s Scope) Valid() bool { return s.String() != "" }

// ParseScope returns the scope with the given name. Names are upper case.
func ParseScope(name string) (Scope, error) {
	for i := 1; i < len(scopeNames); i++ {
		if scopeNames[i] == name {
			return Scope(i), nil
		}
	}
	return 0, fmt.Errorf("unknown scope %q: want one of %s", name, strings.Join(scopeNames[1:], ", "))
}

// MarshalText encodes the scope as its name.
func (s Scope) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("invalid scope %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a scope name.
func (s *Scope) UnmarshalText(text []byte) error {
	v, err := ParseScope(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ScopeSet is a set of scopes stored as a bit mask.
type ScopeSet uint16

// NewScopeSet returns the set of the given scopes.
func NewScopeSet(scopes ...Scope) ScopeSet {
	var set ScopeSet
	for _, s := range scopes {
		set = set.Add(s)
	}
	return set
}

// Add returns the set with s added. Adding an invalid scope returns the set unchanged.
func (set ScopeSet) Add(s Scope) ScopeSet {
	if !s.Valid() {
		return set
	}
	return set | 1<<s
}

// Has reports whether s is in the set.
func (set ScopeSet) Has(s Scope) bool { return s.Valid() && set&(1<<s) != 0 }

// Len returns the number of scopes in the set.
func (set ScopeSet) Len() int { return bits.OnesCount16(uint16(set)) }

// Scopes returns the members in declaration order.
func (set ScopeSet) Scopes() []Scope {
	out := make([]Scope, 0, set.Len())
	for i := 1; i <= NumScopes; i++ {
		if set.Has(Scope(i)) {
			out = append(out, Scope(i))
		}
	}
	return out
}

// String returns the member names joined by commas.
func (set ScopeSet) String() string {
	names := make([]string, 0, set.Len())
	for _, s := range set.Scopes() {
		names = append(names, s.String())
	}
	return strings.Join(names, ",")
}

// ParseScopeList returns the set of the named scopes. It rejects an empty list, an unknown name
// and a name given twice.
func ParseScopeList(names []string) (ScopeSet, error) {
	if len(names) == 0 {
		return 0, fmt.Errorf("no scopes given: a token needs at least one of %s", strings.Join(scopeNames[1:], ", "))
	}
	var set ScopeSet
	for _, name := range names {
		s, err := ParseScope(name)
		if err != nil {
			return 0, err
		}
		if set.Has(s) {
			return 0, fmt.Errorf("scope %s is listed twice", name)
		}
		set = set.Add(s)
	}
	return set, nil
}

// MarshalJSON encodes the set as a list of scope names.
func (set ScopeSet) MarshalJSON() ([]byte, error) {
	names := make([]string, 0, set.Len())
	for _, s := range set.Scopes() {
		names = append(names, s.String())
	}
	return json.Marshal(names)
}

// UnmarshalJSON decodes a list of scope names with [ParseScopeList].
func (set *ScopeSet) UnmarshalJSON(data []byte) error {
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return fmt.Errorf("scopes: want a list of scope names: %w", err)
	}
	v, err := ParseScopeList(names)
	if err != nil {
		return err
	}
	*set = v
	return nil
}
