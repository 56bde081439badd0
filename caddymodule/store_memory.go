package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(MemoryStore{})
}

// MemoryStore is the default store: everything in this process, kept
// across config reloads. It serves one instance; several instances need a
// network store, or their limits multiply and a logout on one is not seen
// by the others.
type MemoryStore struct {
	mem *store.Memory
}

// CaddyModule returns the Caddy module information.
func (MemoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "wechat.stores.memory",
		New: func() caddy.Module { return new(MemoryStore) },
	}
}

// memoryPool keeps the one memory store of the process across reloads: a
// revocation, a remembered answer or a cached access_token must not vanish
// because the config was reloaded.
var memoryPool = caddy.NewUsagePool()

const memoryPoolKey = "wechat_memory_store"

type pooledMemory struct{ *store.Memory }

// Destruct has nothing to stop: the memory store has no goroutine.
func (pooledMemory) Destruct() error { return nil }

// Provision takes this config's hold on the process's memory store.
func (m *MemoryStore) Provision(caddy.Context) error {
	v, _, err := memoryPool.LoadOrNew(memoryPoolKey, func() (caddy.Destructor, error) {
		return pooledMemory{store.NewMemory()}, nil
	})
	if err != nil {
		return err
	}
	m.mem = v.(pooledMemory).Memory
	return nil
}

// Cleanup releases this config's hold. Caddy calls it for every
// provisioned module, also after a failed Provision of another one, so it
// releases only what Provision took.
func (m *MemoryStore) Cleanup() error {
	if m.mem == nil {
		return nil
	}
	m.mem = nil
	_, err := memoryPool.Delete(memoryPoolKey)
	return err
}

// UnmarshalCaddyfile reads "store memory", which takes no options.
func (m *MemoryStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "memory"
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("the memory store takes no options, got %q", d.Val())
	}
	return nil
}

func (m *MemoryStore) Counters() store.Counters        { return m.mem.Counters() }
func (m *MemoryStore) Values() store.Values            { return m.mem.Values() }
func (m *MemoryStore) Revocations() store.Revocations  { return m.mem.Revocations() }
func (m *MemoryStore) AccessTokens() wechat.TokenCache { return m.mem.AccessTokens() }

// localCounters count for this process alone while a network store
// fails (see LocalCounters).
var localCounters = store.NewMemory().Counters()

// LocalCounters are this process's own counters: the fallback of a
// network store's, for limits that must keep counting while it is down.
func (a *App) LocalCounters() store.Counters { return localCounters }

// provisionStore loads the configured store, or the memory store.
func (a *App) provisionStore(ctx caddy.Context) error {
	if a.StoreRaw == nil {
		a.StoreRaw = json.RawMessage(`{"module":"memory"}`)
	}
	mod, err := ctx.LoadModule(a, "StoreRaw")
	if err != nil {
		return fmt.Errorf("wechat: loading the store: %v", err)
	}
	st, ok := mod.(store.Store)
	if !ok {
		return fmt.Errorf("wechat: module %T is not a store", mod)
	}
	a.store = st
	return nil
}

// Interface guards
var (
	_ store.Store           = (*MemoryStore)(nil)
	_ caddy.Provisioner     = (*MemoryStore)(nil)
	_ caddy.CleanerUpper    = (*MemoryStore)(nil)
	_ caddyfile.Unmarshaler = (*MemoryStore)(nil)
	_ caddy.Destructor      = pooledMemory{}
)
