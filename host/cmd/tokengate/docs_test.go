package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docProgram is how the guides invoke the CLI: a bare tokengate is not on PATH after make.
const docProgram = "build/tokengate"

// docCommands returns the commands of the ```sh blocks of the Markdown file at path, in order,
// with continued lines joined and comment lines dropped.
func docCommands(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var commands []string
	inBlock, pending := false, ""
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !inBlock:
			inBlock = trimmed == "```sh"
			continue
		case trimmed == "```":
			inBlock = false
			continue
		case pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")):
			continue
		}
		if joined, continued := strings.CutSuffix(trimmed, `\`); continued {
			pending += joined + " "
			continue
		}
		commands = append(commands, pending+trimmed)
		pending = ""
	}
	return commands
}

// shellWords splits a command line into words as a POSIX shell would for the subset that the
// guides use: blanks, single quotes, double quotes with backslash escapes, and backslash
// escapes. It rejects expansions, pipes and redirections, which the test cannot run.
func shellWords(line string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote in %q", line)
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '$' || line[i] == '`' {
					return nil, fmt.Errorf("expansion in double quotes in %q", line)
				}
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
				}
				word.WriteByte(line[i])
			}
			if i == len(line) {
				return nil, fmt.Errorf("unterminated double quote in %q", line)
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
			inWord = true
		case strings.IndexByte("$`|;&<>(){}*?", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q that the test cannot run in %q", c, line)
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// runDocCommand runs one command of a guide in process. It fails the test unless the command
// invokes docProgram and exits 0.
func runDocCommand(t *testing.T, command string) {
	t.Helper()
	words, err := shellWords(command)
	if err != nil {
		t.Fatal(err)
	}
	if len(words) < 2 || words[0] != docProgram {
		t.Fatalf("command %q does not start with %s", command, docProgram)
	}
	code, stdout, stderr := cliRun(t, words[1:]...)
	if code != exitOK {
		t.Fatalf("command %q exited %d\nstdout:\n%s\nstderr:\n%s", command, code, stdout, stderr)
	}
}

// startDemoState changes the working folder to a new temporary folder and writes the demo
// state into state/ there, as make run does.
func startDemoState(t *testing.T, policy string) {
	t.Helper()
	t.Chdir(t.TempDir())
	if code, _, stderr := cliRun(t, "demo", "--state", "state", "--policy", policy); code != exitOK {
		t.Fatalf("demo exited %d: %s", code, stderr)
	}
}

// TestDocs_AdminCommandsRunOnDemoState runs every command of docs/admin.md in the order the
// guide gives them, then the README's token example, each on a fresh demo state, as a reader
// pastes them after make run.
func TestDocs_AdminCommandsRunOnDemoState(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(root, "scopes.yaml")

	t.Run("docs/admin.md", func(t *testing.T) {
		commands := docCommands(t, filepath.Join(root, "docs", "admin.md"))
		// Three creates, two lists, a show, a revoke and a describe.
		if len(commands) < 8 {
			t.Fatalf("found %d commands in docs/admin.md, want at least 8: %q", len(commands), commands)
		}
		startDemoState(t, policy)
		for _, command := range commands {
			runDocCommand(t, command)
		}
	})

	t.Run("README.md", func(t *testing.T) {
		var tokenCommands []string
		for _, command := range docCommands(t, filepath.Join(root, "README.md")) {
			if strings.HasPrefix(command, docProgram+" token ") {
				tokenCommands = append(tokenCommands, command)
			}
		}
		if len(tokenCommands) == 0 {
			t.Fatal("README.md has no token command")
		}
		startDemoState(t, policy)
		for _, command := range tokenCommands {
			runDocCommand(t, command)
		}
	})
}

// TestDocs_CommandsNameTheBuiltProgram checks that no command of the guides starts with a bare
// tokengate, which is not on PATH after make.
func TestDocs_CommandsNameTheBuiltProgram(t *testing.T) {
	for _, doc := range []string{"README.md", "docs/admin.md", "docs/gateway.md"} {
		for _, command := range docCommands(t, filepath.Join(repoRoot, doc)) {
			if strings.HasPrefix(command, "tokengate ") {
				t.Errorf("%s: command %q runs a bare tokengate: write %s", doc, command, docProgram)
			}
		}
	}
}

func TestShellWords(t *testing.T) {
	cases := []struct {
		line string
		want []string
	}{
		{`a  b`, []string{"a", "b"}},
		{`--description "Bob's bot"`, []string{"--description", "Bob's bot"}},
		{`-H 'Authorization: Bearer x'`, []string{"-H", "Authorization: Bearer x"}},
		{`"a\"b" c\ d`, []string{`a"b`, "c d"}},
		{`x''`, []string{"x"}},
	}
	for _, c := range cases {
		got, err := shellWords(c.line)
		if err != nil {
			t.Errorf("shellWords(%q): %v", c.line, err)
			continue
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("shellWords(%q) = %q, want %q", c.line, got, c.want)
		}
	}
	for _, line := range []string{`a | b`, `echo $HOME`, `"unterminated`, `'unterminated`, `a > f`} {
		if _, err := shellWords(line); err == nil {
			t.Errorf("shellWords(%q) succeeded, want an error", line)
		}
	}
}
