package tokenadmin

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/tokengate/tokengate/core"
)

// The actions an audit event records.
const (
	ActionCreate   = "create"
	ActionRevoke   = "revoke"
	ActionDescribe = "describe"
)

// Event is one line of the audit log. It never holds a token secret or digest.
type Event struct {
	// Time is when the change was made, in UTC to the second.
	Time time.Time `json:"time"`
	// Actor is the admin who made the change, lower case.
	Actor string `json:"actor"`
	// Action is ActionCreate, ActionRevoke or ActionDescribe.
	Action string `json:"action"`
	// TokenID is the id of the token changed.
	TokenID string `json:"token_id"`
	// Permission, Scopes, User, ExpiresAt and ActAsDomains copy the new token's fields in a
	// create event and are absent from the other events. An absent ExpiresAt in a create
	// event means the token never expires.
	Permission   string        `json:"permission,omitempty"`
	Scopes       core.ScopeSet `json:"scopes,omitempty"`
	User         string        `json:"user,omitempty"`
	ExpiresAt    *time.Time    `json:"expires_at,omitempty"`
	ActAsDomains []string      `json:"actas_domains,omitempty"`
	// Description is the token's description after a create or describe event.
	Description string `json:"description,omitempty"`
}

// createEvent returns the audit event of a newly created token.
func createEvent(t core.Token) Event {
	e := Event{
		Time:         t.CreatedAt,
		Actor:        t.CreatedBy,
		Action:       ActionCreate,
		TokenID:      t.ID,
		Permission:   t.Permission.String(),
		Scopes:       t.Scopes,
		User:         t.User,
		ActAsDomains: t.ActAsDomains,
		Description:  t.Description,
	}
	if !t.ExpiresAt.IsZero() {
		expires := t.ExpiresAt
		e.ExpiresAt = &expires
	}
	return e
}

// auditAppend is an event appended to the audit log that can still be undone while the store
// lock is held.
type auditAppend struct {
	file     *os.File
	previous int64
}

// appendAudit appends e as one JSON line to the log at path, creating it with mode 0600, and
// syncs it. The caller must hold the store lock and must call commit or undo on the result.
func appendAudit(path string, e Event) (*auditAppend, error) {
	line, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit event: %w", err)
	}
	line = append(line, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	a := &auditAppend{file: f, previous: info.Size()}
	if _, err := f.Write(line); err != nil {
		return nil, a.undoAfter(fmt.Errorf("append to audit log %s: %w", path, err))
	}
	if err := f.Sync(); err != nil {
		return nil, a.undoAfter(fmt.Errorf("sync audit log %s: %w", path, err))
	}
	return a, nil
}

// commit keeps the appended event. The event is already synced, so a close error cannot lose
// it and is ignored.
func (a *auditAppend) commit() { _ = a.file.Close() }

// undo truncates the log back to its size before the append, so the log does not claim a
// change that was not made.
func (a *auditAppend) undo() error {
	defer a.file.Close()
	if err := a.file.Truncate(a.previous); err != nil {
		return fmt.Errorf("remove the audit event of the failed change from %s: %w", a.file.Name(), err)
	}
	return a.file.Sync()
}

// undoAfter undoes the append after err and returns err, joined with any undo failure.
func (a *auditAppend) undoAfter(err error) error {
	if undoErr := a.undo(); undoErr != nil {
		return fmt.Errorf("%w; %v", err, undoErr)
	}
	return err
}
