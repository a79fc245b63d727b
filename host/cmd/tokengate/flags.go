package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/policyfile"
)

// newFlagSet returns a flag set that reports errors to stderr without exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tokengate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and returns the exit code to use when parsing stopped the command.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// headerList is a repeatable -H 'Name: value' flag.
type headerList []core.Header

func (h *headerList) String() string { return fmt.Sprint(len(*h), " headers") }

func (h *headerList) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want 'Name: value'", v)
	}
	*h = append(*h, core.Header{Name: strings.TrimSpace(name), Value: strings.TrimLeft(value, " ")})
	return nil
}

// loadStore reads a store file.
func loadStore(path string) (*core.Store, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	s, err := core.ParseStore(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// loadValidator reads a policy file and a store file.
func loadValidator(policyPath, storePath string) (*core.Validator, error) {
	policy, err := policyfile.Load(policyPath)
	if err != nil {
		return nil, err
	}
	store, err := loadStore(storePath)
	if err != nil {
		return nil, err
	}
	return core.NewValidator(policy, store), nil
}
