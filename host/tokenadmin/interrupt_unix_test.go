//go:build unix

package tokenadmin

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Environment of TestKilledWriteHelperProcess: the write step at which it kills itself, and
// the store it writes.
const (
	killAtStepEnv = "TOKENADMIN_TEST_KILL_AT_STEP"
	killStoreEnv  = "TOKENADMIN_TEST_KILL_STORE"
)

// TestKilledWriteHelperProcess is not a test: TestUpdate_KilledBeforeRename runs the test
// binary with it selected to get a real process that dies in the middle of a store write.
// It creates a token and sends itself SIGKILL at the write step that killAtStepEnv names.
func TestKilledWriteHelperProcess(t *testing.T) {
	step := os.Getenv(killAtStepEnv)
	if step == "" {
		return
	}
	roles, err := ParseRoles("roles.yaml", []byte("admins: [ann@example.com]\n"))
	if err != nil {
		t.Fatal(err)
	}
	failpoint = func(s string) error {
		if s == step {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // SIGKILL cannot be caught, so the process ends here.
		}
		return nil
	}
	a := &Admin{StorePath: os.Getenv(killStoreEnv), Roles: roles, Now: func() time.Time { return testNow }}
	_, err = a.Create(userRequest())
	t.Fatalf("Create returned (error %v) instead of being killed at step %q", err, step)
}

// TestUpdate_KilledBeforeRename kills a real process at each step between writing the new
// store to its temporary file and renaming it into place. The store must stay as it was and
// valid, and the lock must die with the process.
func TestUpdate_KilledBeforeRename(t *testing.T) {
	for _, step := range []string{"prepared", "audited"} {
		t.Run(step, func(t *testing.T) {
			a := newTestAdmin(t)
			first := mustCreate(t, a, userRequest())
			before := snapshot(t, a)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKilledWriteHelperProcess$")
			cmd.Env = append(os.Environ(), killAtStepEnv+"="+step, killStoreEnv+"="+a.StorePath)
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("helper process: err = %v, expected it to be killed; output:\n%s", err, out)
			}
			if status, ok := exitErr.Sys().(syscall.WaitStatus); !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
				t.Fatalf("helper process ended with %v, expected SIGKILL; output:\n%s", err, out)
			}

			after := snapshot(t, a)
			if after[0] != before[0] {
				t.Errorf("store changed:\nbefore: %s\nafter:  %s", before[0], after[0])
			}
			store, err := ReadStore(a.StorePath)
			if err != nil {
				t.Fatalf("store is no longer valid: %v", err)
			}
			if store.Len() != 1 {
				t.Errorf("store has %d tokens, expected 1", store.Len())
			}
			if _, ok := store.ByID(first.Token.ID); !ok {
				t.Errorf("store lost token %s", first.Token.ID)
			}
			events := readEvents(t, a)
			switch step {
			case "prepared":
				if after[1] != before[1] {
					t.Errorf("audit log changed although the process died before appending:\nbefore: %s\nafter:  %s", before[1], after[1])
				}
			case "audited":
				// The event was synced before the rename, so the log records a change that
				// was not made, as the package documents.
				if len(events) != 2 || events[1].Action != ActionCreate {
					t.Errorf("audit log has %d events, expected the first create and the interrupted one", len(events))
				}
			}

			// flock locks end with the process, so the next change does not wait for them.
			a.LockTimeout = time.Second
			mustCreate(t, a, userRequest())
			store, err = ReadStore(a.StorePath)
			if err != nil {
				t.Fatal(err)
			}
			if store.Len() != 2 {
				t.Errorf("store has %d tokens after the next create, expected 2", store.Len())
			}
		})
	}
}
