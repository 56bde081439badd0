// Package cluster tests several Caddy instances sharing one Redis: each
// instance is a real Caddy process built from this tree with the plugin
// and its simulator, each Redis a real redis-server of the test's own.
package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bin is the Caddy the instances run: CADDY_WECHAT_CLUSTER_BIN, or one
// built into a temporary directory when the tests start.
var bin string

// ran counts the tests that started instances; TestMain fails a run in
// which none did, so that the suite cannot pass by doing nothing.
var ran int

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "caddy-wechat-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = os.Getenv("CADDY_WECHAT_CLUSTER_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "caddy")
		build := exec.Command("go", "build", "-o", bin, "./testdata/caddy")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "cluster: building the test Caddy failed:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 && ran == 0 && os.Getenv("CADDY_WECHAT_CLUSTER_LIST") == "" && !testing.Short() {
		if f := flagRun(); f == "" {
			fmt.Fprintln(os.Stderr, "cluster: no test started an instance")
			code = 1
		}
	}
	os.Exit(code)
}

// flagRun is the -test.run pattern, if any: a run narrowed to tests that
// start no instance is not an empty suite.
func flagRun() string {
	for i, a := range os.Args {
		if a == "-test.run" && i+1 < len(os.Args) {
			return os.Args[i+1]
		}
		if len(a) > 10 && a[:10] == "-test.run=" {
			return a[10:]
		}
	}
	return ""
}
