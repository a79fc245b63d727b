// Command tokengate validates Client API bearer tokens at the edge: it checks single requests,
// builds bundles for the WebAssembly engines, runs conformance files, serves as a gateway and
// authorization server, and administers tokens.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. run returns the process exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands maps subcommand names to their implementations. Each file of this package that
// adds a subcommand registers it in an init function.
var commands = map[string]command{}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// programName is the program as it was invoked, such as ./build/tokengate, for the commands
// that the CLI prints to paste. A bare "tokengate" was found on PATH, so it works as it is.
// Tests replace it.
var programName = invokedName(os.Args)

// invokedName returns args[0] quoted for a POSIX shell, or "tokengate" when it is missing.
func invokedName(args []string) string {
	if len(args) == 0 || args[0] == "" {
		return "tokengate"
	}
	name := args[0]
	if strings.IndexFunc(name, needsShellQuote) < 0 {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", `'\''`) + "'"
}

// needsShellQuote reports whether r is special to a POSIX shell or not printable ASCII.
func needsShellQuote(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("/._-+,:@%", r)
}

// Exit codes shared by the subcommands.
const (
	exitOK     = 0
	exitDenied = 1 // a decision denied the request, or a conformance case failed
	exitUsage  = 2 // invalid flags or input
)

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tokengate: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tokengate COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tokengate COMMAND -h' for the flags of a command.")
}
