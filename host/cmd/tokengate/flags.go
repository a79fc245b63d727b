package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
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
// No message it prints contains the value of a flag that may hold a token secret. The flag
// package's own errors are rewritten by flagErrorMessage. Flags whose values may be secrets
// record malformed input instead of failing, so their check runs after parsing.
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

// secretFlags are the flags whose values may contain a secret: request headers, free text, and
// an upstream URL with credentials in it. No message repeats their values.
var secretFlags = map[string]bool{"H": true, "description": true, "upstream": true}

// invalidFlagValue matches the flag package's "invalid value %q for flag -%s: %v" and
// "invalid boolean value %q for -%s: %v".
var invalidFlagValue = regexp.MustCompile(`^invalid (boolean )?value (".*") for (?:flag )?-(\S+): (.*)$`)

// flagErrorMessage rewrites an error of the flag package. It repeats the value of a flag that
// cannot hold a secret, so that the message shows what was wrong, and names only the flag for
// the flags in secretFlags. It replaces the flag package's bare "parse error" with the form
// that the flag takes.
func flagErrorMessage(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"flag provided but not defined: ", "bad flag syntax: "} {
		if arg, ok := strings.CutPrefix(msg, prefix); ok {
			if !shownArgument(arg) {
				return strings.TrimSuffix(prefix, ": ") + " (not shown, because it may be a secret): run with -h to list the flags"
			}
			return msg + ": run with -h to list the flags"
		}
	}
	m := invalidFlagValue.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	boolean, value, name, reason := m[1] != "", m[2], m[3], m[4]
	if boolean && reason == "parse error" {
		reason = "want true or false"
	}
	if secretFlags[name] {
		return fmt.Sprintf("invalid value for flag -%s (not shown, because it may be a secret): %s", name, reason)
	}
	return fmt.Sprintf("invalid value %s for flag -%s: %s", value, name, reason)
}

// shownArgument reports whether a message may repeat arg: a long argument, or one with a
// space, is left out because it may be a pasted secret or header.
func shownArgument(arg string) bool {
	return len(arg) <= maxShownFlagName && !strings.ContainsFunc(arg, unicode.IsSpace)
}

// quotedArgument returns arg quoted for a message, or a note in its place when shownArgument
// rejects it.
func quotedArgument(arg string) string {
	if shownArgument(arg) {
		return strconv.Quote(arg)
	}
	return "(not shown, because it may be a secret)"
}

// intRange is an int flag that accepts only whole numbers from min to max. Its message for an
// invalid value names the range, which the flag package's "parse error" does not.
type intRange struct {
	value    *int
	min, max int
	unit     string // such as "bytes"; "" for none
}

func (f *intRange) String() string {
	if f == nil || f.value == nil {
		return ""
	}
	return strconv.Itoa(*f.value)
}

func (f *intRange) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < f.min || n > f.max {
		unit := ""
		if f.unit != "" {
			unit = " " + f.unit
		}
		return fmt.Errorf("want a whole number from %d to %d%s", f.min, f.max, unit)
	}
	*f.value = n
	return nil
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

// loadValidator reads a policy file and a store file.
func loadValidator(policyPath, storePath string) (*core.Validator, error) {
	policy, err := policyfile.Load(policyPath)
	if err != nil {
		return nil, err
	}
	store, err := policyfile.LoadStore(storePath)
	if err != nil {
		return nil, err
	}
	return core.NewValidator(policy, store), nil
}
