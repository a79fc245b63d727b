package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func assertOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %q, expected only %s", names, name)
	}
}

func TestWrite_ReplacesWithMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o600); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := readFile(t, path); got != "new" {
		t.Errorf("content = %q, expected new", got)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %#o, expected 0600", mode)
	}
	assertOnlyFile(t, dir, "store.json")
}

func TestPending_AbortKeepsTarget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(path, []byte("new"), 0o600)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := readFile(t, path); got != "old" {
		t.Errorf("Prepare changed the target to %q", got)
	}
	p.Abort()
	p.Abort()
	if got := readFile(t, path); got != "old" {
		t.Errorf("content after Abort = %q, expected old", got)
	}
	assertOnlyFile(t, dir, "store.json")
	if err := p.Commit(); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("Commit after Abort: err = %v, expected an error", err)
	}
	if got := readFile(t, path); got != "old" {
		t.Errorf("Commit after Abort changed the target to %q", got)
	}
}

func TestPending_CommitFailureRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.json")
	p, err := Prepare(path, []byte("new"), 0o600)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	// A non-empty folder at the target makes the rename fail.
	if err := os.MkdirAll(filepath.Join(path, "child"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err == nil {
		t.Fatal("Commit over a folder succeeded")
	}
	assertOnlyFile(t, dir, "store.json")
}
