package store

import (
	"context"
	"sync"
	"time"
)

// memoryRevocations holds revocations until their Until, and tells
// subscribers at once, in the revoking goroutine: with one instance the
// gate's local copy is current before Revoke returns.
type memoryRevocations struct {
	mu   sync.Mutex
	list []Revocation
	subs map[int]func(Revocation)
	next int
}

// Revoke implements Revocations.
func (m *memoryRevocations) Revoke(_ context.Context, r Revocation) error {
	m.mu.Lock()
	now := time.Now()
	kept := m.list[:0]
	for _, old := range m.list {
		if now.Before(old.Until) {
			kept = append(kept, old)
		}
	}
	m.list = append(kept, r)
	subs := make([]func(Revocation), 0, len(m.subs))
	for _, fn := range m.subs {
		subs = append(subs, fn)
	}
	m.mu.Unlock()
	for _, fn := range subs {
		fn(r)
	}
	return nil
}

// List implements Revocations.
func (m *memoryRevocations) List(context.Context) ([]Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var out []Revocation
	for _, r := range m.list {
		if now.Before(r.Until) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Subscribe implements Revocations.
func (m *memoryRevocations) Subscribe(fn func(Revocation)) (stop func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subs == nil {
		m.subs = make(map[int]func(Revocation))
	}
	id := m.next
	m.next++
	m.subs[id] = fn
	return func() {
		m.mu.Lock()
		delete(m.subs, id)
		m.mu.Unlock()
	}
}
