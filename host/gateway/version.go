package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tokengate/tokengate/core"
	"github.com/tokengate/tokengate/host/engine"
	"github.com/tokengate/tokengate/host/policyfile"
)

// version is one loaded configuration: a policy and a store compiled into a bundle and opened
// in an engine. It never changes after load; a reload builds a new version.
type version struct {
	engine     engine.Engine
	engineName string
	policy     *core.Policy
	info       core.BundleInfo
	loadedAt   time.Time

	// active counts the requests that use this version. After a version is replaced, its
	// engine is closed once active drops to zero.
	active sync.WaitGroup
}

// compiled is a policy and a store compiled into a checked bundle, before an engine opens it.
type compiled struct {
	bundle []byte
	policy *core.Policy
	info   core.BundleInfo
}

// compile reads the policy and store files and builds their bundle.
func compile(cfg Config) (*compiled, error) {
	policy, err := policyfile.Load(cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	store, err := policyfile.LoadStore(cfg.Store)
	if err != nil {
		return nil, err
	}
	bundle, err := core.EncodeBundle(policy, store)
	if err != nil {
		return nil, err
	}
	// Decoding the bundle checks it exactly as every engine will, and yields its digest.
	_, info, err := core.DecodeBundle(bundle)
	if err != nil {
		return nil, err
	}
	return &compiled{bundle: bundle, policy: policy, info: info}, nil
}

// open opens the bundle in the configured engine.
func (c *compiled) open(ctx context.Context, cfg Config) (*version, error) {
	e, err := engine.Open(ctx, cfg.Engine, c.bundle, engine.Options{ModuleDir: cfg.Modules, CacheDir: cfg.CacheDir})
	if err != nil {
		return nil, fmt.Errorf("open engine %s: %w", cfg.Engine, err)
	}
	return &version{engine: e, engineName: cfg.Engine, policy: c.policy, info: c.info, loadedAt: time.Now()}, nil
}
