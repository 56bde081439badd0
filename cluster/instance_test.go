package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-wechat/caddy-wechat/internal/testenv"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv/redisserver"
)

// instance is one Caddy process.
type instance struct {
	name   string
	admin  int
	site   int
	api    int
	dir    string
	cmd    *exec.Cmd
	log    string
	opts   options
	exited chan struct{}
}

// options shape an instance's Caddyfile.
type options struct {
	redisURL     string
	fake         string // the fake WeChat's URL
	up           string // the upstream's URL
	clientLimit  int    // rate_limit client <n> 1m; 0: off
	maxStaleness string // the store's max_staleness; "" is the default
	resync       string // unused by the Caddyfile; kept for the report
}

func (o options) caddyfile(i *instance) string {
	limit := "rate_limit client off"
	if o.clientLimit > 0 {
		limit = fmt.Sprintf("rate_limit client %d 1m", o.clientLimit)
	}
	staleness := ""
	if o.maxStaleness != "" {
		staleness = "max_staleness " + o.maxStaleness
	}
	return fmt.Sprintf(`{
	admin localhost:%[1]d
	auto_https off
	skip_install_trust
	persist_config off
	storage file_system %[2]s/storage
	wechat {
		api_base %[3]s
		timeout 2s
		app %[4]s {
			secret %[5]s
		}
		token {
			signing_key %[6]s
			ttl 1h
		}
		cookie {
		}
		store redis {
			url %[7]s
			%[8]s
		}
	}
}
:%[9]d {
	wechat_login /login {
		%[10]s
		rate_limit app off
	}
	wechat_logout /logout
	handle /session/ticket {
		wechat_auth
		wechat_ticket
	}
	handle /phone {
		wechat_auth
		wechat_phone
	}
	handle {
		wechat_auth
		reverse_proxy %[11]s {
			transport http {
				keepalive 2s
			}
		}
	}
}
http://127.0.0.1:%[12]d {
	bind 127.0.0.1
	wechat_api
}
`, i.admin, i.dir, o.fake, testenv.AppID, testenv.Secret, testenv.SigningKey, o.redisURL, staleness, i.site, limit, o.up, i.api)
}

// start runs an instance of o and waits until it serves.
func start(t *testing.T, name string, o options) *instance {
	t.Helper()
	ran++
	i := &instance{name: name, admin: testenv.FreePort(t), site: testenv.FreePort(t), api: testenv.FreePort(t), dir: t.TempDir(), opts: o}
	cfg := filepath.Join(i.dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(o.caddyfile(i)), 0o600); err != nil {
		t.Fatal(err)
	}
	i.log = filepath.Join(i.dir, "caddy.log")
	logf, err := os.Create(i.log)
	if err != nil {
		t.Fatal(err)
	}
	i.cmd = exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
	i.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+i.dir+"/data", "XDG_CONFIG_HOME="+i.dir+"/config")
	i.cmd.Stdout, i.cmd.Stderr = logf, logf
	i.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := i.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	i.exited = make(chan struct{})
	go func() { _ = i.cmd.Wait(); logf.Close(); close(i.exited) }()
	t.Cleanup(func() {
		_ = i.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-i.exited:
		case <-time.After(10 * time.Second):
			_ = i.cmd.Process.Kill()
			<-i.exited
		}
		if t.Failed() {
			t.Logf("instance %s's log (last lines):\n%s", i.name, i.tail(40))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !i.serves() {
		select {
		case <-i.exited:
			t.Fatalf("instance %s exited:\n%s", name, i.tail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s did not start:\n%s", name, i.tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return i
}

func (i *instance) serves() bool {
	for _, p := range []int{i.admin, i.site} {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

func (i *instance) tail(n int) string {
	raw, _ := os.ReadFile(i.log)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// url is the URL of path on the instance's site.
func (i *instance) url(path string) string { return fmt.Sprintf("http://localhost:%d%s", i.site, path) }

// adminURL is the URL of path on the instance's admin endpoint.
func (i *instance) adminURL(path string) string {
	return fmt.Sprintf("http://localhost:%d%s", i.admin, path)
}

// reload loads the instance's Caddyfile again through the admin API, as
// caddy reload does.
func (i *instance) reload(t *testing.T) {
	t.Helper()
	req, _ := http.NewRequest("POST", i.adminURL("/load"), strings.NewReader(i.opts.caddyfile(i)))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reload %s: %v", i.name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload %s: %d %s", i.name, resp.StatusCode, body)
	}
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// goroutines is the instance's goroutine count, from its admin endpoint.
func (i *instance) goroutines(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(i.adminURL("/debug/pprof/goroutine?debug=1"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	m := goroutineTotal.FindSubmatch(raw)
	if m == nil {
		t.Fatalf("no goroutine total in %.200s", raw)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// settled is the goroutine count once it stops falling, so that work
// finishing after a burst does not count as growth.
func (i *instance) settled(t *testing.T, ceiling int) int {
	t.Helper()
	n := i.goroutines(t)
	for deadline := time.Now().Add(15 * time.Second); n > ceiling && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		n = i.goroutines(t)
	}
	return n
}

// metric is one sample of the instance's /metrics, or -1.
func (i *instance) metric(t *testing.T, sample string) float64 {
	t.Helper()
	resp, err := http.Get(i.adminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(raw)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// pair is two instances on one Redis, with a fake WeChat and an upstream
// that records what reached it.
type pair struct {
	a, b  *instance
	redis *redisserver.Server
	wx    *testenv.FakeAPI
	up    *testenv.Upstream
}

func newPair(t *testing.T, o options, redisOpts redisserver.Options) *pair {
	t.Helper()
	p := &pair{redis: redisserver.StartWith(t, redisOpts), wx: testenv.NewFakeAPI(t), up: testenv.NewUpstream(t)}
	o.redisURL, o.fake, o.up = p.redis.URL(), p.wx.URL, p.up.URL
	p.a = start(t, "A", o)
	p.b = start(t, "B", o)
	return p
}

// redisClients counts the clients connected to the pair's Redis, this
// test's own query excluded.
func (p *pair) redisClients(t *testing.T) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: p.redis.Addr()})
	defer c.Close()
	list, err := c.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count([]byte(strings.TrimSpace(list)), []byte("\n")) // n lines, one is ours
}
