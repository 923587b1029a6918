// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartAndClose(t *testing.T) {
	sim, err := New(testConfig())
	require.NoError(t, err)
	addr, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)
	tcpAddr := addr.(*net.TCPAddr)
	assert.True(t, tcpAddr.IP.IsLoopback())
	assert.NotZero(t, tcpAddr.Port)

	resp, body := getURL(t, "http://"+addr.String()+"/api/2.0/serving-endpoints", testToken)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))

	_, err = sim.Start("127.0.0.1:0")
	assert.Error(t, err, "a server starts once")

	require.NoError(t, sim.Close())
	require.NoError(t, sim.Close(), "Close is idempotent")
	_, err = net.DialTimeout("tcp", addr.String(), time.Second)
	assert.Error(t, err, "the listener is closed")
}

func TestStartReportsListenErrors(t *testing.T) {
	sim, err := New(testConfig())
	require.NoError(t, err)
	_, err = sim.Start("127.0.0.1:-1")
	assert.Error(t, err)
	require.NoError(t, sim.Close())
}

func TestCloseWithoutStart(t *testing.T) {
	sim, err := New(testConfig())
	require.NoError(t, err)
	assert.NoError(t, sim.Close())
}

func TestCloseCutsResponseDelaysShort(t *testing.T) {
	cfg := testConfig()
	cfg.ResponseDelay = time.Hour
	sim, err := New(cfg)
	require.NoError(t, err)
	addr, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr.String()+metricsPath("cpu-endpoint-0"), http.NoBody)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := client.Do(req)
		if err != nil {
			status <- 0
			return
		}
		_ = resp.Body.Close()
		status <- resp.StatusCode
	}()
	// The counter moves before the delay starts.
	require.Eventually(t, func() bool { return sim.Stats().Requests.Metrics == 1 }, 5*time.Second, 10*time.Millisecond)

	start := time.Now()
	require.NoError(t, sim.Close())
	assert.Less(t, time.Since(start), shutdownTimeout, "Close does not wait for the delay")
	assert.Equal(t, http.StatusServiceUnavailable, <-status)
	assert.Empty(t, sim.Truth().Endpoints, "an aborted request serves no window")
}
