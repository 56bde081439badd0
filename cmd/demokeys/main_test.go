package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

// TestMakeKeys: the files parse as the wechatpay app parses them, the
// APIv3 key is 32 bytes, and a second run keeps what exists.
func TestMakeKeys(t *testing.T) {
	dir := t.TempDir()
	made, err := makeKeys(dir)
	if err != nil || len(made) != 4 {
		t.Fatalf("made %v: %v", made, err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := wechatpay.ParsePrivateKey(read("merchant_key.pem")); err != nil {
		t.Fatal(err)
	}
	sim, err := wechatpay.ParsePrivateKey(read("wechatpay_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := wechatpay.ParsePublicKey(read("wechatpay_pub.pem"))
	if err != nil || !pub.Equal(&sim.PublicKey) {
		t.Fatalf("the public key is not the simulator's: %v", err)
	}
	if err := wechatpay.CheckAPIv3Key(read("apiv3_key")); err != nil {
		t.Fatal(err)
	}
	before := read("merchant_key.pem")
	if made, err := makeKeys(dir); err != nil || len(made) != 0 {
		t.Fatalf("second run made %v: %v", made, err)
	}
	if string(read("merchant_key.pem")) != string(before) {
		t.Fatal("a second run replaced the merchant key")
	}
	if info, _ := os.Stat(filepath.Join(dir, "merchant_key.pem")); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode().Perm())
	}
}
