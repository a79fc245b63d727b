package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/internal/atomicfile"
)

func init() {
	commands["check"] = command{"decide one request and print the decision as JSON", runCheck}
	commands["bundle"] = command{"compile a policy and a store into a bundle for the wasm engines", runBundle}
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	policyPath := fs.String("policy", "scopes.yaml", "policy `file`")
	storePath := fs.String("store", "", "token store `file` (required)")
	method := fs.String("method", "GET", "request `method`")
	path := fs.String("path", "", "request `path`, optionally with a query (required)")
	nowFlag := fs.String("now", "", "decide at this RFC 3339 `instant` instead of the clock")
	var headers headerList
	fs.Var(&headers, "H", "request header `'Name: value'` (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tokengate check: unexpected argument %s: check takes flags only, and a request header goes after -H\n", quotedArgument(fs.Arg(0)))
		return exitUsage
	}
	if *storePath == "" || *path == "" {
		fmt.Fprintln(stderr, "tokengate check: --store and --path are required")
		return exitUsage
	}
	if !isHTTPToken(*method) {
		fmt.Fprintf(stderr, "tokengate check: --method %q is not an HTTP method: want a token such as GET or POST, "+
			"of letters, digits and !#$%%&'*+-.^_`|~ without spaces (RFC 9110)\n", *method)
		return exitUsage
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			fmt.Fprintf(stderr, "tokengate check: --now %q: want an RFC 3339 instant such as 2026-06-01T12:00:00Z\n", *nowFlag)
			return exitUsage
		}
		now = t
	}
	v, err := loadValidator(*policyPath, *storePath)
	if err != nil {
		fmt.Fprintf(stderr, "tokengate check: %v\n", err)
		return exitUsage
	}
	d := v.Decide(core.Request{Method: *method, Path: *path, Headers: headers.headers}, now)
	out, _ := json.Marshal(d)
	fmt.Fprintf(stdout, "%s\n", out)
	if !d.Allow {
		return exitDenied
	}
	return exitOK
}

func runBundle(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bundle", stderr)
	policyPath := fs.String("policy", "scopes.yaml", "policy `file`")
	storePath := fs.String("store", "", "token store `file` (required)")
	output := fs.String("o", "-", "output `file`; - for standard output")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tokengate bundle: unexpected argument %s: bundle takes flags only\n", quotedArgument(fs.Arg(0)))
		return exitUsage
	}
	if *storePath == "" {
		fmt.Fprintln(stderr, "tokengate bundle: --store is required")
		return exitUsage
	}
	v, err := loadValidator(*policyPath, *storePath)
	if err != nil {
		fmt.Fprintf(stderr, "tokengate bundle: %v\n", err)
		return exitUsage
	}
	data, err := core.EncodeBundle(v.Policy(), v.Store())
	if err != nil {
		fmt.Fprintf(stderr, "tokengate bundle: %v\n", err)
		return exitUsage
	}
	if *output == "-" {
		fmt.Fprintf(stdout, "%s\n", data)
		return exitOK
	}
	if err := atomicfile.Write(*output, append(data, '\n'), 0o600); err != nil {
		fmt.Fprintf(stderr, "tokengate bundle: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// isHTTPToken reports whether s is an RFC 9110 token, the syntax of a request method: one or
// more of the letters, digits and !#$%&'*+-.^_`|~.
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
