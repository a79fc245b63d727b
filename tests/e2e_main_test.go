// Package tests runs the built tokengate binary end to end: over real HTTP on loopback ports,
// alone and behind the real nginx and Caddy binaries.
package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/conformance"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/policyfile"
	"github.com/tokengate/tokengate/internal/atomicfile"
	"github.com/tokengate/tokengate/internal/wasmtest"
)

// Paths from this package's folder.
const (
	repoRoot      = ".."
	policyPath    = "../scopes.yaml"
	casesPath     = "testdata/cases.json"
	examplesDir   = "../plugin/examples"
	buildTimeout  = 5 * time.Minute
	startTimeout  = 60 * time.Second
	signalTimeout = 20 * time.Second
)

var (
	// binary is the tokengate binary that TestMain built.
	binary string
	// moduleDir holds the tokengate.wasm that TestMain built, when the extism engine exists.
	moduleDir string
	// engineName is the engine the binary runs: extism when this build has it.
	engineName = "native"
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tokengate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildBinary(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if slices.Contains(engine.Names(), "extism") {
		if _, err := wasmtest.Build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		engineName = "extism"
	}
	moduleDir = dir
	return m.Run()
}

func buildBinary(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	binary = filepath.Join(dir, "tokengate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", binary, "./host/cmd/tokengate")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build tokengate: %w\n%s", err, out)
	}
	return nil
}

// server is one running `tokengate serve` process.
type server struct {
	cmd      *exec.Cmd
	addr     string // host:port of the gateway
	mockAddr string // host:port of the mock upstream, when started with --mock-upstream
	logs     *lineLog
	exited   chan struct{}
	exitErr  error
}

// startServe runs `tokengate serve` on a free loopback port with the test engine and the
// given flags, waits until it listens and stops it when the test ends.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	s, err := launchServe(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	if err := s.waitListening(); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, s.logs)
	}
	return s
}

// launchServe starts the process without waiting for it to listen.
func launchServe(args ...string) (*server, error) {
	full := append([]string{"serve", "--listen", "127.0.0.1:0", "--engine", engineName, "--modules", moduleDir}, args...)
	s := &server{logs: newLineLog(), exited: make(chan struct{})}
	s.cmd = exec.Command(binary, full...)
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tokengate serve: %w", err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// waitListening waits for the "listening" log line and reads the addresses from the log.
func (s *server) waitListening() error {
	line, err := s.logs.waitFor(`"msg":"listening"`, startTimeout, s.exited)
	if err != nil {
		return fmt.Errorf("tokengate serve did not start: %w", err)
	}
	var l struct{ Addr string }
	if err := json.Unmarshal([]byte(line), &l); err != nil || l.Addr == "" {
		return fmt.Errorf("listening line %q has no address", line)
	}
	s.addr = l.Addr
	if mock, ok := s.logs.find(`"msg":"mock upstream started"`); ok {
		var m struct{ Addr string }
		_ = json.Unmarshal([]byte(mock), &m)
		s.mockAddr = m.Addr
	}
	return nil
}

// signal sends sig to the process and waits for it to exit, returning its exit code.
func (s *server) signal(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", sig, err)
	}
	select {
	case <-s.exited:
	case <-time.After(signalTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Fatalf("tokengate serve did not exit within %s of %s\nlog:\n%s", signalTimeout, sig, s.logs)
	}
	return s.cmd.ProcessState.ExitCode()
}

func (s *server) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(signalTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("tokengate serve ignored SIGTERM for %s and was killed", signalTimeout)
	}
}

// health returns the decoded response of the health endpoint.
func (s *server) health(t *testing.T) map[string]any {
	t.Helper()
	resp, body := rawRequest(t, s.addr, "GET", "/_tokengate/healthz", nil)
	var h map[string]any
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("health body: %v\n%s", err, body)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health status %d, want 200: %s", resp.StatusCode, body)
	}
	return h
}

// waitDigest waits until the server has the bundle digest want in force.
func (s *server) waitDigest(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		got, _ := s.health(t)["bundle_digest"].(string)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundle digest is %s after %s, want %s\nlog:\n%s", got, startTimeout, want, s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lineLog keeps the lines a process writes and lets tests wait for one.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{}
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := slices.Index(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + string(l.partial)
}

// find returns the first line that contains substr.
func (l *lineLog) find(substr string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			return line, true
		}
	}
	return "", false
}

// count returns the number of lines that contain substr.
func (l *lineLog) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// waitFor waits until a line contains substr, the timeout passes or exited closes.
func (l *lineLog) waitFor(substr string, timeout time.Duration, exited <-chan struct{}) (string, error) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if line, ok := l.find(substr); ok {
			return line, nil
		}
		select {
		case <-changed:
		case <-exited:
			if line, ok := l.find(substr); ok {
				return line, nil
			}
			return "", fmt.Errorf("process exited before logging %s", substr)
		case <-deadline:
			return "", fmt.Errorf("no log line with %s after %s", substr, timeout)
		}
	}
}

// rawRequest sends one HTTP/1.1 request with exactly the given request target and header
// fields, in order, and returns the response with its body read.
func rawRequest(t *testing.T, addr, method, target string, headers [][2]string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, addr)
	for _, h := range headers {
		if strings.ContainsAny(h[0]+h[1], "\r\n") {
			t.Fatalf("header %q: line breaks cannot be sent", h)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("Content-Length: 0\r\nConnection: close\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// loadCases reads the conformance file.
func loadCases(t *testing.T) *conformance.File {
	t.Helper()
	f, err := conformance.Load(casesPath)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// shiftedStore returns the conformance file's tokens with every instant moved so that the
// instant at maps to the wall-clock instant base. The gateway decides with the real clock, so
// this is how a case written for a fixed "now" keeps its meaning.
func shiftedStore(t *testing.T, f *conformance.File, at, base time.Time) *core.Store {
	t.Helper()
	delta := base.Sub(at)
	tokens := make([]core.Token, len(f.Tokens))
	for i, tok := range f.Tokens {
		for _, ts := range []*time.Time{&tok.ExpiresAt, &tok.RevokedAt, &tok.CreatedAt} {
			if !ts.IsZero() {
				*ts = ts.Add(delta)
			}
		}
		tokens[i] = tok
	}
	store, err := core.NewStore(tokens)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// writeStoreFile writes store to path atomically and returns the bundle digest that the
// gateway will report for it with the default policy.
func writeStoreFile(t *testing.T, path string, store *core.Store) string {
	t.Helper()
	data, err := json.Marshal(store)
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return bundleDigest(t, store)
}

// bundleDigest returns the bundle digest that the gateway reports for store with the default
// policy.
func bundleDigest(t *testing.T, store *core.Store) string {
	t.Helper()
	policy, err := policyfile.Load(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := core.EncodeBundle(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	_, info, err := core.DecodeBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return info.Digest
}

// currentStoreFile writes the conformance tokens shifted to now into a temporary folder and
// returns the store path.
func currentStoreFile(t *testing.T, f *conformance.File) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.json")
	writeStoreFile(t, path, shiftedStore(t, f, f.Now, time.Now()))
	return path
}

// findBinary returns the path of a proxy binary on PATH or in /usr/sbin. When it is missing,
// the test is skipped, or fails under CI=true, where .ci/run installs it.
func findBinary(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); isExecutable(p) {
		return p
	}
	msg := fmt.Sprintf("%s not found on PATH or in /usr/sbin: install it with apt-get install -y nginx-light caddy", name)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitPort waits until addr accepts connections, failing early when exited closes.
func waitPort(t *testing.T, addr string, exited <-chan struct{}, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("process exited before listening on %s\n%s", addr, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %s\n%s", addr, startTimeout, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
