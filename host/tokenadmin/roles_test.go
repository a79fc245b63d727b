package tokenadmin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRoles(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		email      string
		admin      bool
		superAdmin bool
	}{
		{"super admin is an admin", "super_admins: [root@example.com]\n", "root@example.com", true, true},
		{"plain admin", "admins: [ann@example.com]\n", "ann@example.com", true, false},
		{"case is ignored in the file", "admins: [Ann@Example.COM]\n", "ann@example.com", true, false},
		{"case is ignored in the query", "super_admins: [root@example.com]\n", "ROOT@example.com", true, true},
		{"stranger", "admins: [ann@example.com]\n", "eve@example.com", false, false},
		{"listed in both lists", "super_admins: [root@example.com]\nadmins: [root@example.com]\n", "root@example.com", true, true},
		{"empty list beside a full one", "super_admins:\nadmins: [ann@example.com]\n", "ann@example.com", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRoles("roles.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseRoles: %v", err)
			}
			if got := r.IsAdmin(tt.email); got != tt.admin {
				t.Errorf("IsAdmin(%q) = %v, expected %v", tt.email, got, tt.admin)
			}
			if got := r.IsSuperAdmin(tt.email); got != tt.superAdmin {
				t.Errorf("IsSuperAdmin(%q) = %v, expected %v", tt.email, got, tt.superAdmin)
			}
		})
	}
}

func TestParseRoles_Errors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// expect lists substrings the error must contain: the line and the value.
		expect []string
	}{
		{"unknown key", "admins: [ann@example.com]\nsuperadmins: [root@example.com]\n", []string{"roles.yaml:2:", `"superadmins"`}},
		{"display name", "admins:\n  - ann@example.com\n  - Bob <bob@example.com>\n", []string{"roles.yaml:3:", `"Bob <bob@example.com>"`}},
		{"no domain dot", "super_admins:\n  - root@localhost\n", []string{"roles.yaml:2:", `"root@localhost"`}},
		{"no at sign", "admins: [ann.example.com]\n", []string{"roles.yaml:1:", `"ann.example.com"`}},
		{"number entry", "admins:\n  - 42\n", []string{"roles.yaml:2:", `"42"`}},
		{"nested list entry", "admins:\n  - [ann@example.com]\n", []string{"roles.yaml:2:"}},
		{"duplicate in one list", "admins:\n  - ann@example.com\n  - ANN@example.com\n", []string{"roles.yaml:3:", "line 2"}},
		{"list is a string", "admins: ann@example.com\n", []string{"roles.yaml:1:", "want a list"}},
		{"top level is a list", "- ann@example.com\n", []string{"roles.yaml:1:", "want a mapping"}},
		{"empty file", "", []string{"empty"}},
		{"comments only", "# nobody yet\n", []string{"empty"}},
		{"names nobody", "super_admins: []\nadmins: []\n", []string{"lists no email"}},
		{"invalid yaml", "admins: [ann@example.com\n", []string{"roles.yaml"}},
		{"duplicate key", "admins: [ann@example.com]\nadmins: [bob@example.com]\n", []string{"roles.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRoles("roles.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("ParseRoles accepted the file: %+v", r)
			}
			for _, want := range tt.expect {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestLoadRoles_Example(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "roles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRoles("examples/roles.yaml", data)
	if err != nil {
		t.Fatalf("the example roles file does not load: %v", err)
	}
	if !r.IsSuperAdmin("root@example.com") {
		t.Error("root@example.com is not a super admin in the example")
	}
	if !r.IsAdmin("ann@example.com") {
		t.Error("ann@example.com is not an admin in the example")
	}
	if r.IsSuperAdmin("ann@example.com") {
		t.Error("ann@example.com is a super admin in the example, expected a plain admin")
	}
}

func TestLoadRoles_WritableByOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roles.yaml")
	if err := os.WriteFile(path, []byte("admins: [ann@example.com]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRoles(path); err != nil {
		t.Fatalf("LoadRoles of a 0600 file: %v", err)
	}
	for _, mode := range []os.FileMode{0o620, 0o602, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadRoles(path)
		if err == nil {
			t.Errorf("LoadRoles accepted a file with mode %#o", mode)
			continue
		}
		if !strings.Contains(err.Error(), "chmod go-w") {
			t.Errorf("error %q does not say how to fix the mode", err)
		}
	}
}

func TestLoadRoles_Missing(t *testing.T) {
	_, err := LoadRoles(filepath.Join(t.TempDir(), "roles.yaml"))
	if err == nil {
		t.Fatal("LoadRoles accepted a missing file")
	}
	if !strings.Contains(err.Error(), "roles.yaml") {
		t.Errorf("error %q does not name the file", err)
	}
	for _, fix := range []string{"copy examples/roles.yaml", "--roles"} {
		if !strings.Contains(err.Error(), fix) {
			t.Errorf("error %q does not say the fix %q", err, fix)
		}
	}
}
