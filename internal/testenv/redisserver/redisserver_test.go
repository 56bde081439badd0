package redisserver

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// do sends one inline command and returns the first line of the answer.
func do(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if strings.HasPrefix(line, "$") && !strings.HasPrefix(line, "$-1") {
		if line, err = r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	return strings.TrimSpace(line)
}

// TestKillRestart: a killed server refuses connections, comes back on the
// same port, and comes back empty without AppendOnly.
func TestKillRestart(t *testing.T) {
	s := Start(t)
	if got := do(t, s.Addr(), "SET k v"); got != "+OK" {
		t.Fatalf("SET: %q", got)
	}
	port := s.Port()
	s.Kill()
	if s.Running() {
		t.Fatal("running after Kill")
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("a killed server still accepts connections")
	}
	s.Restart()
	if s.Port() != port || !s.Running() {
		t.Fatalf("restarted on port %d (was %d), running %v", s.Port(), port, s.Running())
	}
	if got := do(t, s.Addr(), "GET k"); got != "$-1" {
		t.Fatalf("a server without persistence kept k: %q", got)
	}
}

// TestAppendOnlySurvivesKill: with AppendOnly, a write acknowledged
// before a SIGKILL is there after Restart.
func TestAppendOnlySurvivesKill(t *testing.T) {
	s := StartWith(t, Options{AppendOnly: true, Password: "pw-test"})
	if got := do(t, s.Addr(), "GET k"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("no password asked: %q", got)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("AUTH pw-test\r\nSET k v\r\n"))
	r := bufio.NewReader(c)
	for range 2 {
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("AUTH/SET: %q %v", line, err)
		}
	}
	c.Close()
	s.Kill()
	s.Restart()
	c, err = net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A missing line fails the test rather than hanging it.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("AUTH pw-test\r\nGET k\r\n"))
	r = bufio.NewReader(c)
	var lines []string
	for range 3 {
		line, _ := r.ReadString('\n')
		lines = append(lines, strings.TrimSpace(line))
	}
	if strings.Join(lines, " ") != "+OK $1 v" {
		t.Fatalf("after a kill and a restart: %q", lines)
	}
	if !strings.Contains(s.URL(), ":pw-test@") {
		t.Fatalf("URL without the password: %s", s.URL())
	}
}

// TestMissingServerFails: without redis-server on PATH a test fails (it
// does not skip) and says how to install it. The failing test runs in a
// child process of this test binary.
func TestMissingServerFails(t *testing.T) {
	if os.Getenv("REDISSERVER_CHILD") == "1" {
		Start(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingServerFails$", "-test.v")
	cmd.Env = append(os.Environ(), "REDISSERVER_CHILD=1", "PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "make -f xcaddy.mk redis-server") {
		t.Fatalf("without redis-server: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "SKIP") {
		t.Fatalf("the test skipped:\n%s", out)
	}
}
