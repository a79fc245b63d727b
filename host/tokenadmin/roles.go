package tokenadmin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/tokengate/tokengate/core"
	"go.yaml.in/yaml/v3"
)

// Roles is the set of workspace admins read from a roles file. A super admin is also an admin.
// Emails compare without regard to case.
type Roles struct {
	// name is the file the roles were read from, for error messages.
	name        string
	superAdmins map[string]bool
	admins      map[string]bool
}

// rolesFile is the YAML layout of a roles file. Nodes keep line numbers for error messages.
type rolesFile struct {
	SuperAdmins yaml.Node `yaml:"super_admins"`
	Admins      yaml.Node `yaml:"admins"`
}

// rolesKeys lists the top-level keys of a roles file, in the order the file documents them.
var rolesKeys = []string{"super_admins", "admins"}

// LoadRoles reads the roles file at path. It rejects a file that users other than its owner
// can write, because whoever edits the file decides who may create tokens.
func LoadRoles(path string) (*Roles, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("roles file %s not found: copy examples/roles.yaml there and list your admins, or pass --roles FILE", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read roles file: %w", err)
	}
	if mode := info.Mode().Perm(); mode&0o022 != 0 {
		return nil, fmt.Errorf("roles file %s has mode %#o, so other users can write it: run chmod go-w %s", path, mode, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read roles file: %w", err)
	}
	return ParseRoles(path, data)
}

// ParseRoles decodes the content of a roles file, naming it name in error messages. The file
// is a YAML mapping with two optional lists of emails, super_admins and admins. It rejects
// unknown keys, entries that are not bare email addresses, an email listed twice in one list
// and a file that lists no email. Errors name the file, the line and the value.
func ParseRoles(name string, data []byte) (*Roles, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: the roles file is empty: list at least one email under super_admins or admins", name)
	}
	if err := checkRolesKeys(name, doc.Content[0]); err != nil {
		return nil, err
	}
	// Every key is known at this point, and KnownFields stays on as a second guard.
	var f rolesFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	r := &Roles{name: name, superAdmins: map[string]bool{}, admins: map[string]bool{}}
	if err := readEmails(name, "super_admins", &f.SuperAdmins, r.superAdmins); err != nil {
		return nil, err
	}
	if err := readEmails(name, "admins", &f.Admins, r.admins); err != nil {
		return nil, err
	}
	if len(r.superAdmins) == 0 && len(r.admins) == 0 {
		return nil, fmt.Errorf("%s: the roles file lists no email: list at least one email under super_admins or admins", name)
	}
	for email := range r.superAdmins {
		r.admins[email] = true
	}
	return r, nil
}

// checkRolesKeys rejects a top level that is not a mapping and any key other than rolesKeys.
func checkRolesKeys(name string, root *yaml.Node) error {
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping with the keys %s", name, root.Line, strings.Join(rolesKeys, " and "))
	}
	for i := 0; i < len(root.Content); i += 2 {
		key := root.Content[i]
		known := false
		for _, k := range rolesKeys {
			known = known || key.Value == k
		}
		if !known {
			return fmt.Errorf("%s:%d: unknown key %q: want %s", name, key.Line, key.Value, strings.Join(rolesKeys, " or "))
		}
	}
	return nil
}

// readEmails adds the emails of one list, lowercased, to set.
func readEmails(name, key string, list *yaml.Node, set map[string]bool) error {
	switch {
	case list.Kind == 0, list.Kind == yaml.ScalarNode && list.Tag == "!!null":
		return nil
	case list.Kind != yaml.SequenceNode:
		return fmt.Errorf("%s:%d: %s: want a list of emails", name, list.Line, key)
	}
	lines := map[string]int{}
	for _, n := range list.Content {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			return fmt.Errorf("%s:%d: %s: entry %q is not an email: want a bare address such as ann@example.com", name, n.Line, key, n.Value)
		}
		if !core.IsBareAddress(n.Value) {
			return fmt.Errorf("%s:%d: %s: %q is not a bare email address: want local@domain such as ann@example.com, without a display name or brackets", name, n.Line, key, n.Value)
		}
		email := canonicalEmail(n.Value)
		if first, dup := lines[email]; dup {
			return fmt.Errorf("%s:%d: %s: %q is already listed on line %d: remove one of them", name, n.Line, key, n.Value, first)
		}
		lines[email] = n.Line
		set[email] = true
	}
	return nil
}

// Name returns the name of the roles file, as given to [LoadRoles] or [ParseRoles].
func (r *Roles) Name() string { return r.name }

// IsAdmin reports whether email is an admin or a super admin.
func (r *Roles) IsAdmin(email string) bool { return r.admins[canonicalEmail(email)] }

// IsSuperAdmin reports whether email is a super admin.
func (r *Roles) IsSuperAdmin(email string) bool { return r.superAdmins[canonicalEmail(email)] }

// canonicalEmail returns the form in which emails are compared and recorded: lower case.
// Bare addresses are ASCII, so lowering ASCII letters is enough.
func canonicalEmail(email string) string { return strings.ToLower(email) }
