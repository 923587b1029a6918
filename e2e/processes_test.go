// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// process is a child process of the suite whose output is kept for assertions and failure reports.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess starts binary and stops it when the test ends. Its output is written to the test log if the test
// fails, and saved under the test's artefact folder.
func startProcess(t *testing.T, name, binary string, args, env []string) *process {
	t.Helper()
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("%s: %s is missing (%v): run `make build` first", name, binary, err)
	}
	p := &process{name: name, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start(), "starting %s", name)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("----- output of %s -----\n%s", name, p.out.String())
		}
		_ = os.WriteFile(filepath.Join(artefactDir(t), name+".log"), []byte(p.out.String()), 0o644)
	})
	return p
}

// stop sends SIGTERM and waits for the process to exit, killing it (and failing the test) after 15 s.
func (p *process) stop(t *testing.T) {
	if !p.terminate(15 * time.Second) {
		t.Errorf("%s did not stop within 15 s of SIGTERM; killed it", p.name)
	}
}

// terminate sends SIGTERM, waits up to grace and then kills the process, as Kubernetes does at the end of a pod's
// termination grace period. It reports whether the process stopped by itself.
func (p *process) terminate(grace time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP200 polls url until it answers 200, failing the test after timeout or if p exits first.
func waitHTTP200(t *testing.T, p *process, url string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.exited() {
			t.Fatalf("%s exited before %s was ready: %v\n%s", p.name, url, p.err, p.out.String())
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready at %s after %s\n%s", p.name, url, timeout, p.out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// eventually polls cond every 500 ms until it returns nil or timeout passes; then it fails with the last error.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// artefactDir is where process logs of a test are kept (bin/e2e-artefacts/<test>), for CI to show on failure.
func artefactDir(t *testing.T) string {
	dir := filepath.Join(*repoRoot, "bin", "e2e-artefacts", filepath.Base(t.Name()))
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

func localURL(port int, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", port, path) }
