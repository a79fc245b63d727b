package core

import "fmt"

// Permission is what a token may act as. Every token has exactly one.
type Permission uint8

// The permissions. The zero value is not a valid permission.
const (
	// PermissionGlobal acts as any user named in the act-as header of each request.
	PermissionGlobal Permission = iota + 1
	// PermissionUser acts as the one user fixed at creation and sends no act-as header.
	PermissionUser
	// PermissionAnonymous acts as an anonymous user on the endpoints that allow it.
	PermissionAnonymous
)

var permissionNames = [...]string{
	PermissionGlobal:    "GLOBAL",
	PermissionUser:      "USER",
	PermissionAnonymous: "ANONYMOUS",
}

// String returns the permission's name, such as "GLOBAL", or "" for an invalid value.
func (p Permission) String() string {
	if p == 0 || int(p) >= len(permissionNames) {
		return ""
	}
	return permissionNames[p]
}

// Valid reports whether p is one of the three permissions.
func (p Permission) Valid() bool { return p.String() != "" }

// ParsePermission returns the permission with the given name. Names are upper case.
func ParsePermission(name string) (Permission, error) {
	for p := PermissionGlobal; p <= PermissionAnonymous; p++ {
		if permissionNames[p] == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("invalid permission %q: want GLOBAL, USER or ANONYMOUS", name)
}

// MarshalText encodes the permission as its name.
func (p Permission) MarshalText() ([]byte, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("invalid permission %d", uint8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText decodes a permission name.
func (p *Permission) UnmarshalText(text []byte) error {
	v, err := ParsePermission(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
