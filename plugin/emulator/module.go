package emulator

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ModuleName is the file name of the built filter module, as `make build` writes it.
const ModuleName = "tokengate-proxywasm.wasm"

// moduleSources lists the files and folders, relative to the repository root, whose Go files
// the module is built from.
var moduleSources = []string{"go.mod", "go.sum", "core", "plugin"}

// EnsureModule returns the path of root/build/tokengate-proxywasm.wasm, first building it with
// the go command when it is missing or older than one of its Go sources. It is meant for
// tests and tools, so that they never run a stale module; ctx bounds the build.
func EnsureModule(ctx context.Context, root string) (string, error) {
	path := filepath.Join(root, "build", ModuleName)
	fresh, err := moduleIsFresh(root, path)
	if err != nil {
		return "", err
	}
	if fresh {
		return path, nil
	}
	if err := BuildModule(ctx, root, path); err != nil {
		return "", err
	}
	return path, nil
}

// BuildModule builds the filter module of the repository at root into out. It writes a
// temporary file beside out and renames it, so a concurrent reader never sees half a module.
func BuildModule(ctx context.Context, root, out string) error {
	// The go command runs in root, so a relative out must not be read from there.
	out, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("build the filter module: %w", err)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build the filter module: %w: put the go command in PATH or run make build", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("build the filter module: %w", err)
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), ModuleName+".*.tmp")
	if err != nil {
		return fmt.Errorf("build the filter module: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, ModuleName)

	cmd := exec.CommandContext(ctx, goCmd, "build", "-buildmode=c-shared", "-o", tmp, "./plugin")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the filter module: %w\n%s", err, output)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("build the filter module: %w", err)
	}
	return nil
}

// moduleIsFresh reports whether the module at path exists and is newer than its sources.
func moduleIsFresh(root, path string) (bool, error) {
	info, err := os.Stat(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check the filter module: %w", err)
	}
	newest, err := newestSource(root)
	if err != nil {
		return false, err
	}
	return info.ModTime().After(newest), nil
}

// newestSource returns the latest modification time of the module's Go sources.
func newestSource(root string) (time.Time, error) {
	var newest time.Time
	for _, rel := range moduleSources {
		err := filepath.WalkDir(filepath.Join(root, rel), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !isModuleSource(d.Name()) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.ModTime().After(newest) {
				newest = info.ModTime()
			}
			return nil
		})
		if err != nil {
			return time.Time{}, fmt.Errorf("check the filter module's sources: %w", err)
		}
	}
	return newest, nil
}

func isModuleSource(name string) bool {
	if name == "go.mod" || name == "go.sum" {
		return true
	}
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
}
