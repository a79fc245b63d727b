package policyfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"runtime"
	"strings"

	"github.com/tokengate/tokengate/core"
)

// storeFormatHint ends every message about an invalid store file.
const storeFormatHint = "fix the JSON, or restore the file from a backup; docs/admin.md describes the format"

// LoadStore reads and parses the token store file at path with [core.ParseStore]. Every
// command and the gateway read the store through it, so they reject the same files with the
// same messages. Each error names the file and the fix:
//   - a missing file wraps [fs.ErrNotExist];
//   - a file that users other than its owner can write is rejected, because any user who
//     can write the store can add tokens;
//   - content that core rejects is described without Go type names.
func LoadStore(path string) (*core.Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, storeReadError(path, err)
	}
	defer f.Close()
	// The mode is read from the open file, so it belongs to the content that is read.
	info, err := f.Stat()
	if err != nil {
		return nil, storeReadError(path, err)
	}
	if err := checkStoreMode(path, info.Mode().Perm()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, storeReadError(path, err)
	}
	return ParseStoreFile(path, data)
}

// checkStoreMode rejects a store file that its group or others can write. The roles file has
// the same rule, because both files decide who gets access.
func checkStoreMode(path string, mode fs.FileMode) error {
	// NOTE: Windows has no group or other write bits, and Go reports every writable file
	// there with mode 0666, so the check would reject every store.
	if runtime.GOOS == "windows" || mode&0o022 == 0 {
		return nil
	}
	// userClasses is the user class list of chmod's symbolic mode: g, o or both.
	var userClasses string
	switch {
	case mode&0o022 == 0o022:
		userClasses = "go"
	case mode&0o020 != 0:
		userClasses = "g"
	default:
		userClasses = "o"
	}
	return fmt.Errorf("store file %s has mode %#o, so users other than its owner can write it and add tokens: run chmod %s-w %s",
		path, mode, userClasses, path)
}

// storeReadError describes a failure to stat or read the store file.
func storeReadError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store file %s: %w: check --store, or create the store with 'tokengate token create' "+
			"(it writes a new store with the first token), or run 'tokengate demo' for a demo store", path, fs.ErrNotExist)
	}
	return fmt.Errorf("read store file: %w", err)
}

// ParseStoreFile parses the content of a store file, naming it name in error messages.
func ParseStoreFile(name string, data []byte) (*core.Store, error) {
	s, err := core.ParseStore(data)
	if errors.Is(err, core.ErrNewerStoreFormat) {
		// The file is not damaged, and the message already names the fix: an upgrade.
		return nil, fmt.Errorf("store file %s: %s", name, strings.TrimPrefix(err.Error(), "store: "))
	}
	if err != nil {
		return nil, fmt.Errorf("store file %s is invalid: %s: %s", name, describeStoreError(data, err), storeFormatHint)
	}
	return s, nil
}

// describeStoreError rewrites an error of core.ParseStore in words that need no knowledge of
// Go: encoding/json's errors name Go types such as core.storeFile.
func describeStoreError(data []byte, err error) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the file is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early, so the file may be truncated"
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("line %d: invalid JSON: %s", lineAt(data, syntaxErr.Offset), syntaxErr.Error())
	case errors.As(err, &typeErr):
		want := jsonKind(typeErr.Type)
		if typeErr.Field == "" {
			return fmt.Sprintf("the top level is a JSON %s, want an object such as {\"version\": 1, \"tokens\": [...]}", typeErr.Value)
		}
		return fmt.Sprintf("line %d: field %q is a JSON %s, want %s", lineAt(data, typeErr.Offset), typeErr.Field, typeErr.Value, want)
	}
	msg := strings.TrimPrefix(err.Error(), "store: ")
	return strings.TrimPrefix(msg, "json: ")
}

// lineAt returns the 1-based line of the byte offset in data.
func lineAt(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// jsonKind names the JSON value that decodes into a value of type t.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another JSON value"
}
