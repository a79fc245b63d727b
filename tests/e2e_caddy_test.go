package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// exampleCaddyAddr is the site address in the shipped Caddyfile.
const exampleCaddyAddr = "127.0.0.1:8001"

func TestCaddy_ForwardAuth(t *testing.T) {
	caddy := findBinary(t, "caddy")
	f := loadCases(t)
	s := startServe(t, "--mock-upstream", "--policy", policyPath, "--store", currentStoreFile(t, f))

	dir := t.TempDir()
	addr := freeAddr(t)
	conf := exampleConfig(t, "Caddyfile", map[string]string{
		exampleCaddyAddr:     addr,
		exampleTokengateAddr: s.addr,
		exampleUpstreamAddr:  s.mockAddr,
	})
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", confPath, "--adapter", "caddyfile")
	// Caddy keeps its autosaved config and data below these folders.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	startProxy(t, addr, cmd)
	runProxyCases(t, addr, f, append(append([][2]string{}, proxyForged...), proxyForgedOtherNames...))
}
