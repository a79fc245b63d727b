package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDelay is how long the watcher waits after the last change to a watched file before
// it reloads. One save can produce several events (a truncate, writes, a rename), and waiting
// for them to settle avoids loading a half-written file.
const reloadDelay = 100 * time.Millisecond

// Watch reloads the gateway when the policy or the store file changes, until ctx is done or
// the returned stop function is called. It watches the files' folders rather than the files,
// because an atomic replace (a write to a temporary file renamed over the old one) gives the
// path a new inode that a watch on the old file would not follow.
//
// NOTE: a change to a file reached through a symlink into another folder (as Kubernetes
// ConfigMap volumes use) is not seen, so send SIGHUP after such an update.
func (g *Gateway) Watch(ctx context.Context) (stop func(), err error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch files: %w", err)
	}

	targets := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range []string{g.cfg.Policy, g.cfg.Store} {
		abs, err := filepath.Abs(p)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		targets[abs] = true
		dirs[filepath.Dir(abs)] = true
	}

	for dir := range dirs {
		if err := w.Add(dir); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch folder %s: %w", dir, err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.watchLoop(ctx, w, targets)
	}()
	stop = func() {
		cancel()
		w.Close()
		wg.Wait()
	}
	return stop, nil
}

func (g *Gateway) watchLoop(ctx context.Context, w *fsnotify.Watcher, targets map[string]bool) {
	timer := time.NewTimer(reloadDelay)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			// A chmod counts as a change too: a store that others can write is rejected, so
			// the chmod that fixes its mode must start a reload.
			if !targets[filepath.Clean(ev.Name)] {
				continue
			}
			g.log.Debug("watched file changed", "file", ev.Name, "op", ev.Op.String())
			timer.Reset(reloadDelay)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			g.log.Error("file watcher failed; reloads may be missed until SIGHUP", "error", err)
		case <-timer.C:
			// Reload logs its own result; a failure keeps the previous configuration.
			_ = g.Reload(ctx, "file change")
		}
	}
}
