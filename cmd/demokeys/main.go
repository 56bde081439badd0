// Command demokeys makes the keys of the demo's WeChat Pay flow, once:
// the merchant's API key, the simulator's WeChat Pay key (and its public
// half, which the merchant trusts as a PUB_KEY_ID_ key), and an APIv3 key.
// They are for the demo and its simulator only. Files that exist are
// kept, so the demo's orders and certificates stay valid across runs.
//
//	go run ./cmd/demokeys -dir .build/demo-keys
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
)

// apiv3Alphabet is what the merchant platform allows in an APIv3 key.
const apiv3Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func main() {
	dir := flag.String("dir", ".build/demo-keys", "where to write the keys")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	made, err := makeKeys(*dir)
	if err != nil {
		log.Fatal(err)
	}
	if len(made) > 0 {
		fmt.Printf("demokeys: made %v in %s (demo only)\n", made, *dir)
	}
}

// makeKeys writes whichever of the demo's key files are missing and
// returns their names.
func makeKeys(dir string) ([]string, error) {
	var made []string
	missing := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return errors.Is(err, fs.ErrNotExist)
	}
	write := func(name string, data []byte) error {
		made = append(made, name)
		return os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
	if missing("merchant_key.pem") {
		k, err := rsaPEM()
		if err != nil {
			return nil, err
		}
		if err := write("merchant_key.pem", k); err != nil {
			return nil, err
		}
	}
	// The simulator's key and its public half go together: make both
	// when either is missing.
	if missing("wechatpay_key.pem") || missing("wechatpay_pub.pem") {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return nil, err
		}
		if err := write("wechatpay_key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, err
		}
		if err := write("wechatpay_pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})); err != nil {
			return nil, err
		}
	}
	if missing("apiv3_key") {
		// 32 characters and no newline: the APIv3 key is used as it is.
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		for i := range b {
			b[i] = apiv3Alphabet[int(b[i])%len(apiv3Alphabet)]
		}
		if err := write("apiv3_key", b); err != nil {
			return nil, err
		}
	}
	return made, nil
}

func rsaPEM() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
