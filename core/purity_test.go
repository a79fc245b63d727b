package core

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readOnlyTables lists the package-level variables that are not error sentinels. Each is
// filled once during package initialisation and only read afterwards. Add a variable here only
// when nothing writes to it after init.
var readOnlyTables = map[string]bool{
	"base62Values":    true,
	"crc32Tables":     true,
	"lowerHexDigits":  true,
	"pathPlain":       true,
	"permissionNames": true,
	"reasons":         true,
	"scopeNames":      true,
	"token68Chars":    true,
}

// parsePackageFiles parses the package's non-test Go files.
func parsePackageFiles(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatal("found no package files")
	}
	return fset, files
}

func TestPackage_StandardLibraryOnly(t *testing.T) {
	fset, files := parsePackageFiles(t)
	for _, f := range files {
		for _, spec := range f.Imports {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", fset.Position(spec.Pos()), spec.Path.Value, err)
			}
			// Standard library import paths have no dot in their first element.
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") {
				t.Errorf("%s: imports %s, which is not in the standard library", fset.Position(spec.Pos()), path)
			}
			if path == "log" || strings.HasPrefix(path, "log/") || path == "os" {
				t.Errorf("%s: imports %s: core must not log or use the process environment", fset.Position(spec.Pos()), path)
			}
		}
	}
}

func TestPackage_NoPrinting(t *testing.T) {
	fset, files := parsePackageFiles(t)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				if fn.Name == "print" || fn.Name == "println" {
					t.Errorf("%s: calls the built-in %s", fset.Position(call.Pos()), fn.Name)
				}
			case *ast.SelectorExpr:
				pkg, ok := fn.X.(*ast.Ident)
				if ok && pkg.Name == "fmt" && (strings.HasPrefix(fn.Sel.Name, "Print") || strings.HasPrefix(fn.Sel.Name, "Fprint")) {
					t.Errorf("%s: calls fmt.%s", fset.Position(call.Pos()), fn.Sel.Name)
				}
			}
			return true
		})
	}
}

func TestPackage_NoMutableState(t *testing.T) {
	fset, files := parsePackageFiles(t)
	for _, f := range files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.VAR {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if readOnlyTables[name.Name] || isErrorSentinel(name.Name, vs, i) {
						continue
					}
					t.Errorf("%s: package-level variable %s: core keeps no package-level mutable state; "+
						"use a constant, a field of Validator or Policy, or list a read-only table in readOnlyTables",
						fset.Position(name.Pos()), name.Name)
				}
			}
		}
	}
}

// isErrorSentinel reports whether the i-th name of vs is an exported ErrXxx variable set with
// errors.New.
func isErrorSentinel(name string, vs *ast.ValueSpec, i int) bool {
	if !strings.HasPrefix(name, "Err") || i >= len(vs.Values) {
		return false
	}
	call, ok := vs.Values[i].(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "errors" && sel.Sel.Name == "New"
}
