// Package flight runs one call per key at a time and hands its result to
// every caller that asked meanwhile. A double-tapped login button sends
// the same code twice; exchanging it twice would turn the second into
// errcode 40163.
package flight

import "sync"

// Group is a set of calls by key. Its zero value is ready to use.
type Group struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done chan struct{}
	val  any
	err  error
}

// Do runs fn for key unless a call for key is under way, in which case it
// waits for that call's result.
func (g *Group) Do(key string, fn func() (any, error)) (any, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call)
	}
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	c := &call{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	return c.val, c.err
}
