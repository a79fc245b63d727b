package tokenadmin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/atomicfile"
)

// storeMode is the file mode of the store, its lock file and its audit log.
const storeMode = 0o600

// LockPath returns the path of the lock file that guards the store at storePath.
func LockPath(storePath string) string { return storePath + ".lock" }

// AuditPath returns the path of the audit log of the store at storePath.
func AuditPath(storePath string) string { return storePath + ".audit.jsonl" }

// ReadStore reads and validates the store file at path with [policyfile.LoadStore]. A
// missing file is an error that wraps [fs.ErrNotExist].
func ReadStore(path string) (*core.Store, error) {
	return policyfile.LoadStore(path)
}

// change computes the new token list from the current one at the instant now and returns the
// audit event that records it.
type change func(current *core.Store, now time.Time) ([]core.Token, Event, error)

// failpoint, when set by a test, is called at each step of a store write ("prepared" after the
// new store is synced to a temporary file, "audited" after the audit event is appended). An
// error it returns fails the write at that step.
var failpoint func(step string) error

func checkFailpoint(step string) error {
	if failpoint == nil {
		return nil
	}
	return failpoint(step)
}

// update applies fn to the store under its lock. The steps are: lock, read (a missing store
// is empty when createMissing is set), compute and validate the new store, write it to a
// synced temporary file, append the audit event, rename the file into place. A failure at any
// step leaves the store and the audit log as they were.
func (a *Admin) update(createMissing bool, fn change) error {
	lock, err := lockFile(LockPath(a.StorePath), a.lockTimeout())
	if err != nil {
		return err
	}
	defer lock.Close()

	current, err := ReadStore(a.StorePath)
	if errors.Is(err, fs.ErrNotExist) && createMissing {
		current, err = core.NewStore(nil)
	}
	if err != nil {
		return fmt.Errorf("%w (the store was left unchanged)", err)
	}
	tokens, event, err := fn(current, a.now())
	if err != nil {
		return err
	}
	data, err := encodeStore(tokens)
	if err != nil {
		return err
	}
	return a.commit(data, event)
}

// encodeStore validates the tokens with [core.NewStore] and returns the store file content:
// core's encoding, indented so that the file diffs well.
func encodeStore(tokens []core.Token) ([]byte, error) {
	store, err := core.NewStore(tokens)
	if err != nil {
		return nil, fmt.Errorf("new store is invalid, nothing was written: %w", err)
	}
	compact, err := store.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode store: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("encode store: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// commit writes the new store content and the audit event. The audit event is appended
// before the rename so that no committed change goes unrecorded, and removed again if the
// rename fails.
//
// NOTE: a crash between the append and the rename leaves an audit event for a change that
// was not made. The log never misses a change that was made.
func (a *Admin) commit(data []byte, event Event) error {
	pending, err := atomicfile.Prepare(a.StorePath, data, storeMode)
	if err != nil {
		return err
	}
	if err := checkFailpoint("prepared"); err != nil {
		pending.Abort()
		return err
	}
	audit, err := appendAudit(AuditPath(a.StorePath), event)
	if err != nil {
		pending.Abort()
		return err
	}
	if err := checkFailpoint("audited"); err != nil {
		pending.Abort()
		return audit.undoAfter(err)
	}
	if err := pending.Commit(); err != nil {
		return audit.undoAfter(err)
	}
	audit.commit()
	return nil
}
