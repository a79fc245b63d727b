package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/policyfile"
)

func init() {
	commands["conformance"] = command{"run conformance files against an engine", runConformance}
}

func runConformance(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("conformance", stderr)
	engineName := fs.String("engine", "native", "engine `name`: "+strings.Join(engine.Names(), ", "))
	policyPath := fs.String("policy", "scopes.yaml", "policy `file`")
	moduleDir := fs.String("modules", "build", "`folder` with the built wasm modules")
	verbose := fs.Bool("v", false, "print every case, not only failures")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "tokengate conformance: name at least one conformance file")
		return exitUsage
	}
	policy, err := policyfile.Load(*policyPath)
	if err != nil {
		fmt.Fprintf(stderr, "tokengate conformance: %v\n", err)
		return exitUsage
	}
	ctx := context.Background()
	passed, failed, broken := 0, 0, 0
	for _, path := range fs.Args() {
		f, err := conformance.Load(path)
		if err != nil {
			fmt.Fprintf(stderr, "tokengate conformance: %v\n", err)
			broken++
			continue
		}
		bundle, err := f.Bundle(policy)
		if err != nil {
			fmt.Fprintf(stderr, "tokengate conformance: %v\n", err)
			broken++
			continue
		}
		e, err := engine.Open(ctx, *engineName, bundle, engine.Options{ModuleDir: *moduleDir})
		if err != nil {
			fmt.Fprintf(stderr, "tokengate conformance: engine %s: %v\n", *engineName, err)
			return exitUsage
		}
		for _, r := range conformance.Run(ctx, e, f) {
			if r.Passed() {
				passed++
				if *verbose {
					fmt.Fprintf(stdout, "ok    %s: %s\n", path, r.Case.Name)
				}
				continue
			}
			failed++
			printFailure(stdout, path, r)
		}
		if err := e.Close(ctx); err != nil {
			fmt.Fprintf(stderr, "tokengate conformance: close engine: %v\n", err)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 || broken > 0 {
		return exitDenied
	}
	return exitOK
}

func printFailure(w io.Writer, path string, r conformance.Result) {
	fmt.Fprintf(w, "FAIL  %s: %s\n", path, r.Case.Name)
	if r.Err != nil {
		fmt.Fprintf(w, "      engine error: %v\n", r.Err)
		return
	}
	for _, m := range r.Mismatches {
		want, _ := json.Marshal(m.Expected)
		got, _ := json.Marshal(m.Actual)
		fmt.Fprintf(w, "      %s: expected %s, actual %s\n", m.Field, want, got)
	}
}
