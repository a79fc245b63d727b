// Package atomicfile replaces files so that readers never see a torn write.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes data to path through a temporary file in the same folder, synced and renamed
// into place, so a reader sees either the old or the new content. On error the old file is
// left as it was and the temporary file is removed.
func Write(path string, data []byte, perm os.FileMode) error {
	p, err := Prepare(path, data, perm)
	if err != nil {
		return err
	}
	return p.Commit()
}

// Pending is the new content of a file, written to a temporary file in the same folder and
// synced, but not yet renamed into place. Exactly one of Commit or Abort should follow.
type Pending struct {
	path string
	tmp  string
	done bool
}

// Prepare writes data with mode perm to a temporary file beside path and syncs it. The file at
// path is not touched until [Pending.Commit]. On error the temporary file is removed.
func Prepare(path string, data []byte, perm os.FileMode) (*Pending, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := writeAndSync(tmp, data, perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &Pending{path: path, tmp: tmp.Name()}, nil
}

// Commit renames the temporary file over the target path and syncs the folder. On error the
// target is left as it was and the temporary file is removed.
func (p *Pending) Commit() error {
	if p.done {
		return fmt.Errorf("write %s: the pending write was already committed or aborted", p.path)
	}
	p.done = true
	if err := os.Rename(p.tmp, p.path); err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	// Sync the folder so the rename itself survives a crash.
	if d, err := os.Open(filepath.Dir(p.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Abort removes the temporary file and leaves the target untouched. It does nothing after
// Commit or a previous Abort.
func (p *Pending) Abort() {
	if p.done {
		return
	}
	p.done = true
	os.Remove(p.tmp)
}

func writeAndSync(f *os.File, data []byte, perm os.FileMode) error {
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}
