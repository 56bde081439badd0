// Package redisserver runs a real redis-server of its own for a test: on
// a free loopback port, in the test's temporary directory, never the
// machine's own Redis. A test can kill it and start it again on the same
// port, as an outage would. It is for tests only, and free of Caddy.
package redisserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is what a test says when redis-server is missing: the
// contract and cluster tests need the real server, so they fail rather
// than skip.
const InstallHint = "redis-server is not installed: run `make -f xcaddy.mk redis-server` (it runs apt-get install -y redis-server when the command is missing)"

// startTimeout bounds how long a server has to answer PING after it is
// started. A fresh redis-server answers in milliseconds; this is generous
// for a loaded CI machine.
const startTimeout = 15 * time.Second

// Options change how the server runs.
type Options struct {
	// AppendOnly keeps every write in an append-only file fsynced on each
	// write, so that what was written survives Kill and Restart, as with
	// the persistence the docs recommend. Off, the server keeps nothing
	// on disk and comes back empty.
	AppendOnly bool
	// Password, when set, is required of every client (requirepass).
	Password string
}

// Server is one redis-server process for one test.
type Server struct {
	t    testing.TB
	opts Options
	port int
	dir  string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	logPath string
}

// Start runs a server with the default options (nothing on disk) and
// stops it when the test ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith runs a server with opts and stops it when the test ends. It
// fails the test, with the reason, when redis-server is not installed or
// does not come up.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal(InstallHint)
	}
	s := &Server{t: t, opts: opts, dir: t.TempDir()}
	t.Cleanup(s.Kill)
	// A free port found by listening on :0 can be taken by another
	// process before redis-server binds it, so a failed bind is retried
	// on another port.
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redisserver: no free port: %v", err)
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("redisserver: %v", err)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's port; it stays the same across Restart.
func (s *Server) Port() int { return s.port }

// URL is a redis:// URL for database 0 of the server, with the password
// when one is set.
func (s *Server) URL() string {
	if s.opts.Password != "" {
		return "redis://:" + s.opts.Password + "@" + s.Addr() + "/0"
	}
	return "redis://" + s.Addr() + "/0"
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running()
}

func (s *Server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Kill ends the server at once with SIGKILL, as a crash would: clients
// see their connections reset, and nothing is saved on the way out. It
// does nothing when the server is not running.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, 0) }

// Stop shuts the server down with SIGTERM, as an orderly restart would,
// and kills it if it has not exited within 5 s.
func (s *Server) Stop() { s.signal(syscall.SIGTERM, 5*time.Second) }

func (s *Server) signal(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-s.exited:
			return
		case <-time.After(grace):
			_ = s.cmd.Process.Kill()
		}
	}
	<-s.exited
}

// Restart starts the server again on the same port and in the same
// directory, killing it first if it is still running, and waits until it
// answers. With AppendOnly, it comes back with what it had.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	// The port was ours a moment ago; a client's connection in TIME_WAIT
	// does not stop a listener, but give a racing process a few tries.
	var err error
	for range 3 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("redisserver: restart on port %d: %v", s.port, err)
}

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--logfile", "",
		"--databases", "16",
	}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	s.logPath = filepath.Join(s.dir, "redis-"+strconv.Itoa(s.port)+".log")
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	if err := waitReady(s.Addr(), s.opts.Password, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server on port %d: %v; its log:\n%s", s.port, err, tail(s.logPath))
	}
	return nil
}

// waitReady dials addr and sends PING, after AUTH when the server has a
// password, until the server answers PONG, the process exits, or
// startTimeout passes. An unauthenticated PING would not do: a server
// with a password answers it NOAUTH even while it is still loading its
// data, and answers LOADING to the commands that follow.
func waitReady(addr, password string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if ping(addr, password) {
			return nil
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %v", startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ping(addr, password string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	req := "PING\r\n"
	if password != "" {
		req = "AUTH " + password + "\r\n" + req
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return false
	}
	r := bufio.NewReader(c)
	if password != "" {
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return false
		}
	}
	line, err := r.ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the end of the server's log, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}
