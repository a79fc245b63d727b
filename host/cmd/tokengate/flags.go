package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

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
// No message it prints contains a flag's value, because a value may be a token secret: the
// flag package's own errors are rewritten by flagErrorMessage, and flags whose values may be
// secrets record malformed input instead of failing, so the check runs after parsing.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	stderr := fs.Output()
	var captured bytes.Buffer
	fs.SetOutput(&captured)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	if err == nil {
		err = deferredFlagError(fs)
		if err == nil {
			return 0, true
		}
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return exitUsage, false
	}
	if errors.Is(err, flag.ErrHelp) {
		io.Copy(stderr, &captured)
		return exitOK, false
	}
	// The flag package printed err and then the usage text: print a safe message in place of
	// the first line.
	_, usageText, _ := strings.Cut(captured.String(), "\n")
	fmt.Fprintln(stderr, flagErrorMessage(err))
	io.WriteString(stderr, usageText)
	return exitUsage, false
}

// deferredError is a flag value that accepts any input and reports a problem after parsing.
type deferredError interface {
	deferredError() error
}

// deferredFlagError returns the first problem that a flag value recorded while parsing.
func deferredFlagError(fs *flag.FlagSet) error {
	var first error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := f.Value.(deferredError); ok && first == nil {
			if err := v.deferredError(); err != nil {
				first = fmt.Errorf("-%s: %w", f.Name, err)
			}
		}
	})
	return first
}

// maxShownFlagName is the longest undefined flag name that an error message repeats. A longer
// name, or one with a space, is left out because it may be a pasted secret.
const maxShownFlagName = 40

// flagErrorMessage rewrites an error of the flag package so that it names the flag but never
// repeats its value.
func flagErrorMessage(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"flag provided but not defined: ", "bad flag syntax: "} {
		if arg, ok := strings.CutPrefix(msg, prefix); ok {
			if len(arg) > maxShownFlagName || strings.ContainsFunc(arg, unicode.IsSpace) {
				return strings.TrimSuffix(prefix, ": ") + " (not shown, because it may be a secret): run with -h to list the flags"
			}
			return msg + ": run with -h to list the flags"
		}
	}
	// "invalid value %q for flag -%s: %v" and "invalid boolean value %q for -%s: %v".
	if rest, ok := strings.CutPrefix(msg, "invalid "); ok {
		if _, after, ok := strings.Cut(rest, " for "); ok {
			return "invalid value for " + after
		}
	}
	return msg
}

// headerList is a repeatable -H 'Name: value' flag. A malformed entry is recorded rather than
// rejected by Set, because the flag package would print the rejected value, which may contain
// a token secret.
type headerList struct {
	headers   []core.Header
	count     int // entries given so far, valid or not
	malformed int // number of the first malformed entry, counted from 1; 0 when none
}

func (h *headerList) String() string {
	if h == nil {
		return "0 headers"
	}
	return fmt.Sprint(len(h.headers), " headers")
}

func (h *headerList) Set(v string) error {
	h.count++
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		if h.malformed == 0 {
			h.malformed = h.count
		}
		return nil
	}
	h.headers = append(h.headers, core.Header{Name: strings.TrimSpace(name), Value: strings.TrimLeft(value, " ")})
	return nil
}

// deferredError reports the first malformed entry by its number and never by its value.
func (h *headerList) deferredError() error {
	if h.malformed == 0 {
		return nil
	}
	return fmt.Errorf("header %d: want 'Name: value'", h.malformed)
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
