package token

import (
	"errors"
	"fmt"
)

// KeySet is the keys tokens are signed and verified with. The first key
// signs; every key verifies, chosen by the token's kid (never by trying
// them in turn), so that a key can be replaced without logging everyone
// out: add the new one first and keep the old one until its tokens are
// gone.
type KeySet struct {
	keys     []*Key
	byID     map[string]*Key
	byHeader map[string]*Key // by the encoded header of their tokens
	issuer   string
}

// NewKeySet makes a set that signs with keys[0] and names issuer in iss.
// Two keys with one kid are an error: a token could not say which it
// means.
func NewKeySet(issuer string, keys ...*Key) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("wechat: a token key set needs at least one key")
	}
	ks := &KeySet{keys: keys, byID: make(map[string]*Key, len(keys)), byHeader: make(map[string]*Key, len(keys)), issuer: issuer}
	for _, k := range keys {
		if _, dup := ks.byID[k.ID]; dup {
			return nil, fmt.Errorf("wechat: two token keys have the same kid %s; each key may be given once", k.ID)
		}
		ks.byID[k.ID] = k
		ks.byHeader[k.header] = k
	}
	return ks, nil
}

// Current is the key that signs.
func (ks *KeySet) Current() *Key { return ks.keys[0] }

// Keys are every key, the current one first.
func (ks *KeySet) Keys() []*Key { return ks.keys }

// Key returns the key whose kid is id.
func (ks *KeySet) Key(id string) (*Key, bool) {
	k, ok := ks.byID[id]
	return k, ok
}

// Issuer is the iss claim minted and required.
func (ks *KeySet) Issuer() string { return ks.issuer }

// Algs are the algorithms of the keys, each once.
func (ks *KeySet) Algs() []string {
	var algs []string
	seen := map[string]bool{}
	for _, k := range ks.keys {
		if !seen[k.Alg()] {
			seen[k.Alg()] = true
			algs = append(algs, k.Alg())
		}
	}
	return algs
}
