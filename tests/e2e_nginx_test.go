package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// exampleNginxAddr is the listen address in the shipped nginx.conf.
const exampleNginxAddr = "127.0.0.1:8000"

func TestNginx_AuthRequest(t *testing.T) {
	nginx := findBinary(t, "nginx")
	f := loadCases(t)
	s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", currentStoreFile(t, f))

	prefix := t.TempDir()
	addr := freeAddr(t)
	conf := exampleConfig(t, "nginx.conf", map[string]string{
		exampleNginxAddr:     addr,
		exampleTokengateAddr: s.addr,
		exampleUpstreamAddr:  s.mockAddr,
	})
	if os.Geteuid() == 0 {
		// Workers of a master started as root switch to an unprivileged user that cannot
		// write the temporary prefix folder.
		conf = "user root;\n" + conf
	}
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProxy(t, addr, exec.Command(nginx, "-p", prefix, "-e", "stderr", "-c", confPath))
	// NOTE: nginx-light 1.22 (Debian 12) has no directive that removes request fields by name
	// prefix, so a client's X-Tokengate-* field with a name that tokengate never sets
	// (proxyForgedOtherNames) reaches the upstream. The test forges only the names it sets.
	runProxyCases(t, addr, f, proxyForged)
}

// startProxy starts a proxy process, waits until addr accepts connections and stops the
// process when the test ends.
func startProxy(t *testing.T, addr string, cmd *exec.Cmd) {
	t.Helper()
	logs := newLineLog()
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(signalTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), logs)
		}
	})
	waitPort(t, addr, exited, logs)
}
