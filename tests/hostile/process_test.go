package hostile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the serve process on a loaded two-core machine.
const (
	startTimeout = 90 * time.Second
	stopTimeout  = 20 * time.Second
	// exchangeTimeout bounds one raw request and its response.
	exchangeTimeout = 30 * time.Second
)

// serveProcess is one running `tokengate serve`.
type serveProcess struct {
	cmd    *exec.Cmd
	addr   string
	logs   *lineLog
	exited chan struct{}
}

// startServe runs `tokengate serve` on a free loopback port with the built modules and the
// given flags, waits until it listens and stops it when the test ends.
func startServe(t testing.TB, args ...string) *serveProcess {
	t.Helper()
	full := append([]string{"serve", "--listen", "127.0.0.1:0", "--modules", moduleDir(t)}, args...)
	s := &serveProcess{logs: &lineLog{changed: make(chan struct{})}, exited: make(chan struct{})}
	s.cmd = exec.Command(binaryPath(t), full...)
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start tokengate serve: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	line, err := s.logs.waitFor(`"msg":"listening"`, startTimeout, s.exited)
	if err != nil {
		t.Fatalf("tokengate serve did not start: %v\nlog:\n%s", err, s.logs)
	}
	var l struct{ Addr string }
	if err := json.Unmarshal([]byte(line), &l); err != nil || l.Addr == "" {
		t.Fatalf("listening line %q has no address", line)
	}
	s.addr = l.Addr
	return s
}

// stop sends SIGTERM and waits for the exit, killing the process after stopTimeout.
func (s *serveProcess) stop(t testing.TB) {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("tokengate serve ignored SIGTERM for %s and was killed", stopTimeout)
	}
}

// alive reports whether the process is still running.
func (s *serveProcess) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// rssKiB returns the process's resident memory, in KiB.
func (s *serveProcess) rssKiB(t testing.TB) int64 {
	t.Helper()
	kib, err := readRSSKiB(s.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return kib
}

// readRSSKiB returns VmRSS from /proc/PID/status, in KiB.
func readRSSKiB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the status of process %d: %w", pid, err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("process %d: VmRSS line %q: %w", pid, line, err)
			}
			return kib, nil
		}
	}
	return 0, fmt.Errorf("the status of process %d has no VmRSS line", pid)
}

// get sends a GET through net/http and returns the status and body.
func (s *serveProcess) get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	client := &http.Client{Timeout: exchangeTimeout}
	resp, err := client.Get("http://" + s.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, body
}

// digest returns the bundle digest that the health endpoint reports.
func (s *serveProcess) digest(t testing.TB) string {
	t.Helper()
	_, body := s.get(t, "/_tokengate/healthz")
	var h struct {
		BundleDigest string `json:"bundle_digest"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("health body %q: %v", body, err)
	}
	return h.BundleDigest
}

// maxLogLines is the number of lines a lineLog keeps. It drops later ones, so that a load test
// at the info level does not hold every request line in memory.
const maxLogLines = 100000

// lineLog keeps the first maxLogLines lines a process writes and lets a test wait for one.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{}
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if len(l.lines) < maxLogLines {
			l.lines = append(l.lines, string(l.partial[:i]))
		}
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

// all returns every complete line and the unterminated rest, if any.
func (l *lineLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.lines)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
	}
	return out
}

// count returns the number of lines that contain substr.
func (l *lineLog) count(substr string) int {
	n := 0
	for _, line := range l.all() {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// waitFor waits until a line contains substr, the timeout passes or exited closes, and
// returns the first such line.
func (l *lineLog) waitFor(substr string, timeout time.Duration, exited <-chan struct{}) (string, error) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		for _, line := range l.all() {
			if strings.Contains(line, substr) {
				return line, nil
			}
		}
		select {
		case <-changed:
		case <-exited:
			exited = nil // check the lines once more, then wait for the deadline only
			if l.count(substr) == 0 {
				return "", fmt.Errorf("process exited before logging %s", substr)
			}
		case <-deadline:
			return "", fmt.Errorf("no log line with %s after %s", substr, timeout)
		}
	}
}

// exchange writes raw request bytes to addr and reads one response. The write runs beside the
// read, because a server that rejects an oversized request responds and closes before it has
// read everything, and the write then fails with a reset that the test ignores.
func exchange(addr string, request []byte) (*http.Response, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, exchangeTimeout)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(exchangeTimeout))
	go func() { _, _ = conn.Write(request) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, body, fmt.Errorf("read response body: %w", err)
	}
	return resp, body, nil
}

// upstream is a loopback HTTP server standing in for the Client API. It records the header
// fields of every request and responds 200 with the identity that tokengate forwarded.
type upstream struct {
	srv *httptest.Server
	// keep is the number of requests whose headers are recorded; later ones are only counted.
	keep int

	mu       sync.Mutex
	requests []http.Header
	count    int
}

// upstreamEcho is the JSON body of the upstream's response.
type upstreamEcho struct {
	TokenID string `json:"token_id"`
	User    string `json:"user"`
}

func newUpstream(t testing.TB, keep int) *upstream {
	t.Helper()
	u := &upstream{keep: keep}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.count++
	if len(u.requests) < u.keep {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		u.requests = append(u.requests, h)
	}
	u.mu.Unlock()
	body, _ := json.Marshal(upstreamEcho{TokenID: r.Header.Get("X-Tokengate-Token-Id"), User: r.Header.Get("X-Tokengate-User")})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// url returns the upstream's base URL for --upstream.
func (u *upstream) url() string { return u.srv.URL }

// take returns the recorded requests and the count of all requests, and clears both.
func (u *upstream) take() ([]http.Header, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	reqs, n := u.requests, u.count
	u.requests, u.count = nil, 0
	return reqs, n
}
