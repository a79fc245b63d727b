package policyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// writeStoreFile writes content to a store file with mode in a new temporary folder.
func writeStoreFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// Set the mode explicitly, because the umask may clear bits that WriteFile requests.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadStore_Valid(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o644, 0o400} {
		path := writeStoreFile(t, `{"version":1,"tokens":[]}`, mode)
		s, err := LoadStore(path)
		if err != nil {
			t.Fatalf("mode %#o: %v", mode, err)
		}
		if s.Len() != 0 {
			t.Errorf("mode %#o: %d tokens, want 0", mode, s.Len())
		}
	}
}

func TestLoadStore_InvalidContent(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    string
	}{
		{"empty", "", "the file is empty"},
		{"truncated", `{"version":1,"tokens":[{"id":"tok_a"`, "the JSON ends early, so the file may be truncated"},
		{"array", `[]`, "the top level is a JSON array, want an object"},
		{"tokens not an array", "{\n\"tokens\": {}}", `line 2: field "tokens" is a JSON object, want an array`},
		{"syntax error", "{\n\n\"tokens\": [x]}", "line 3: invalid JSON: invalid character 'x'"},
		{"unknown field", `{"tokens":[],"owner":"ops"}`, `unknown field "owner"`},
		{"null", `null`, `missing "tokens" array`},
		{"empty object", `{}`, `missing "tokens" array`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeStoreFile(t, c.content, 0o600)
			_, err := LoadStore(path)
			if err == nil {
				t.Fatal("LoadStore succeeded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not contain %q", msg, c.want)
			}
			if !strings.HasPrefix(msg, "store file "+path+" is invalid: ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			if !strings.HasSuffix(msg, "fix the JSON, or restore the file from a backup; docs/admin.md describes the format") {
				t.Errorf("error %q does not say what to do", msg)
			}
			for _, goName := range []string{"core.", "Go value", "Go struct", "json: "} {
				if strings.Contains(msg, goName) {
					t.Errorf("error %q contains the Go detail %q", msg, goName)
				}
			}
		})
	}
}

func TestLoadStore_Missing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	_, err := LoadStore(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v does not wrap fs.ErrNotExist", err)
	}
	for _, want := range []string{path, "token create", "tokengate demo"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestLoadStore_WritableByOthers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no group and other write bits")
	}
	cases := []struct {
		mode os.FileMode
		fix  string
	}{
		{0o602, "chmod o-w"},
		{0o666, "chmod go-w"},
		{0o620, "chmod g-w"},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			path := writeStoreFile(t, `{"version":1,"tokens":[]}`, c.mode)
			_, err := LoadStore(path)
			if err == nil {
				t.Fatalf("LoadStore accepted a store with mode %#o", c.mode)
			}
			if want := c.fix + " " + path; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}
}

func TestLoadStore_NewerFormatSaysUpgrade(t *testing.T) {
	path := writeStoreFile(t, `{"version":2,"tokens":[]}`, 0o600)
	_, err := LoadStore(path)
	if err == nil {
		t.Fatal("LoadStore succeeded, want an error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "upgrade tokengate") {
		t.Errorf("error %q does not say to upgrade", msg)
	}
	if strings.Contains(msg, "fix the JSON") {
		t.Errorf("error %q tells the user to repair a file that is not damaged", msg)
	}
	if !strings.Contains(msg, path) {
		t.Errorf("error %q does not name the file", msg)
	}
}
