package bench

import (
	"fmt"
	"os"
	"testing"
)

// TestMain serves the plain proxy when the test binary is started as `bench.test plain-proxy
// -listen ... -upstream ...` by TestRunGatewayBench_NativeEngine, and runs the tests otherwise.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == PlainProxyCommand {
		if err := RunPlainProxyCommand(os.Args[2:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
