package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// secretEnv names the environment variable the secret defaults to; the bare child process
// gets the secret through it, not on its command line.
const secretEnv = "GITHUB_WEBHOOK_SECRET"

// bareChild is the bare server running in a child process.
type bareChild struct {
	URL    string // the githubPath endpoint
	cmd    *exec.Cmd
	exited chan error
}

// startBareChild re-executes this program with -serve-bare on listen and returns once the
// child answers HTTP requests. The caller must call stop.
func startBareChild(ctx context.Context, listen, secret string, stderr io.Writer) (*bareChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start bare server: %w", err)
	}
	ready := &readyWriter{addr: make(chan string, 1)}
	cmd := exec.Command(exe, "-serve-bare", "-listen", listen)
	cmd.Env = append(os.Environ(), secretEnv+"="+secret)
	cmd.Stdout = ready
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bare server: %w", err)
	}
	c := &bareChild{cmd: cmd, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()

	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	var addr string
	select {
	case addr = <-ready.addr:
	case err := <-c.exited:
		c.exited <- err
		return nil, fmt.Errorf("bare server exited before listening: %v", err)
	case <-timeout.C:
		c.stop()
		return nil, errors.New("bare server did not start within 10s")
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
	c.URL = "http://" + addr + githubPath
	// It listens; wait until it also answers (a GET gets 405).
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(c.URL)
		if err == nil {
			resp.Body.Close()
			return c, nil
		}
		select {
		case err := <-c.exited:
			c.exited <- err
			return nil, fmt.Errorf("bare server exited: %v", err)
		case <-timeout.C:
			c.stop()
			return nil, errors.New("bare server did not answer within 10s")
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop kills the child and waits for it to exit.
func (c *bareChild) stop() {
	_ = c.cmd.Process.Kill()
	err := <-c.exited
	c.exited <- err
}

// readyWriter is the child's stdout: it passes on the address of the readyPrefix line.
type readyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
	seen bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen {
		return len(p), nil
	}
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // incomplete; wait for the rest
			return len(p), nil
		}
		if addr, ok := strings.CutPrefix(strings.TrimSpace(line), readyPrefix); ok {
			w.seen = true
			w.addr <- addr
			return len(p), nil
		}
	}
}
