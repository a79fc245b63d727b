package host

import (
	"context"
	"errors"
)

// ErrClosed is returned by calls on a closed Host.
var ErrClosed = errors.New("host is closed")

// pool bounds the number of module instances and keeps the idle ones. A caller holds a slot
// while it uses an instance, so at most cap(slots) instances exist and idle never blocks.
type pool struct {
	slots chan struct{}
	idle  chan *instance
	done  chan struct{}
}

func newPool(size int) *pool {
	return &pool{
		slots: make(chan struct{}, size),
		idle:  make(chan *instance, size),
		done:  make(chan struct{}),
	}
}

// acquire takes a slot and returns an idle instance, or nil when the caller must create one.
func (p *pool) acquire(ctx context.Context) (*instance, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.done:
		return nil, ErrClosed
	}
	select {
	case <-p.done:
		<-p.slots
		return nil, ErrClosed
	default:
	}
	select {
	case inst := <-p.idle:
		return inst, nil
	default:
		return nil, nil
	}
}

// release returns an instance to the idle set and frees its slot.
func (p *pool) release(inst *instance) {
	p.idle <- inst
	<-p.slots
}

// drop frees the slot of an instance that must not be reused, or of one never created.
func (p *pool) drop() { <-p.slots }

// close stops new acquisitions, waits until every slot is free or ctx ends, and returns the
// idle instances.
func (p *pool) close(ctx context.Context) ([]*instance, error) {
	close(p.done)
	var err error
	for range cap(p.slots) {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	var idle []*instance
	for {
		select {
		case inst := <-p.idle:
			idle = append(idle, inst)
		default:
			return idle, err
		}
	}
}
