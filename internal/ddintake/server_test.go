// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0", "127.0.0.1"} {
		t.Run(addr, func(t *testing.T) {
			s := New(testAPIKey)
			require.Error(t, s.Start(addr))
			assert.Empty(t, s.URL())
			assert.NoError(t, s.Close())
		})
	}
}

func TestStartServeClose(t *testing.T) {
	s := New(testAPIKey)
	assert.Empty(t, s.URL())
	require.NoError(t, s.Start("127.0.0.1:0"))
	assert.Error(t, s.Start("127.0.0.1:0"), "a second Start must fail")

	url := s.URL()
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)

	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	req, err := http.NewRequest(http.MethodGet, url+PathValidate, http.NoBody)
	require.NoError(t, err)
	req.Header.Set("DD-API-KEY", testAPIKey)
	resp, err := client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, s.Close())
	assert.Empty(t, s.URL())
	assert.NoError(t, s.Close(), "Close is idempotent")
	assert.Equal(t, 1, s.Requests()[PathValidate], "data survives Close")

	_, err = client.Get(url + PathValidate)
	assert.Error(t, err, "nothing listens after Close")
}

func TestValidate(t *testing.T) {
	ti := newTestIntake(t)

	code, body := ti.do(t, http.MethodGet, PathValidate, testAPIKey, "", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"valid":true}`, body)

	code, _ = ti.do(t, http.MethodGet, PathValidate+"?api_key="+testAPIKey, "", "", nil)
	assert.Equal(t, http.StatusOK, code, "the api_key query parameter is accepted too")

	for _, key := range []string{"wrong", ""} {
		code, body = ti.do(t, http.MethodGet, PathValidate, key, "", nil)
		assert.Equal(t, http.StatusForbidden, code)
		assert.JSONEq(t, `{"errors":["Forbidden"]}`, body)
	}

	assert.Equal(t, map[string]int{PathValidate: 4}, ti.Requests(), "validate failures are not payload rejections")
}

func TestEmptyAPIKeyAcceptsAnyKey(t *testing.T) {
	s := New("")
	require.NoError(t, s.Start("127.0.0.1:0"))
	defer func() { require.NoError(t, s.Close()) }()

	resp, err := http.Get(s.URL() + PathValidate)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	http.DefaultClient.CloseIdleConnections()
}

func TestSetPayloadStatus(t *testing.T) {
	ti := newTestIntake(t)
	payload := compress(t, "deflate", marshalSeries(t, protoSeries("m", 1, "h", nil, Point{1, 1})))

	ti.SetPayloadStatus(http.StatusInternalServerError)
	code, _ := ti.post(t, PathSeries, testAPIKey, "deflate", payload)
	assert.Equal(t, http.StatusInternalServerError, code)
	code, _ = ti.post(t, PathSketches, testAPIKey, "deflate", compress(t, "deflate", marshalSketches(t)))
	assert.Equal(t, http.StatusInternalServerError, code)
	code, _ = ti.post(t, "/api/v1/check_run", testAPIKey, "", []byte("[]"))
	assert.Equal(t, http.StatusInternalServerError, code)
	code, _ = ti.do(t, http.MethodGet, PathValidate, testAPIKey, "", nil)
	assert.Equal(t, http.StatusOK, code, "validate keeps working during an outage")
	assert.Empty(t, ti.Series(), "nothing is stored during an outage")

	ti.SetPayloadStatus(http.StatusServiceUnavailable)
	code, _ = ti.post(t, PathSeries, testAPIKey, "deflate", payload)
	assert.Equal(t, http.StatusServiceUnavailable, code)

	ti.SetPayloadStatus(0)
	code, _ = ti.post(t, PathSeries, testAPIKey, "deflate", payload)
	assert.Equal(t, http.StatusAccepted, code)
	assert.Len(t, ti.Series(), 1)

	reqs := ti.Requests()
	assert.Equal(t, 3, reqs[PathSeries])
	assert.Equal(t, 4, reqs[CountFault])
	assert.Equal(t, 2, reqs[CountFault+":"+PathSeries])
	assert.Equal(t, 1, reqs[CountFault+":"+PathSketches])
	assert.Zero(t, reqs[CountRejected])
}

func TestOtherPathsAreAcknowledged(t *testing.T) {
	ti := newTestIntake(t)
	for _, path := range []string{"/api/v1/check_run", "/api/v1/metadata", "/api/v2/host_metadata", "/api/v1/check_run"} {
		code, body := ti.post(t, path, testAPIKey, "gzip", compress(t, "gzip", []byte(`{}`)))
		assert.Equal(t, http.StatusAccepted, code)
		assert.JSONEq(t, `{"errors":[]}`, body)
	}
	code, _ := ti.post(t, "/api/v1/metadata", "wrong", "", []byte(`{}`))
	assert.Equal(t, http.StatusForbidden, code)

	reqs := ti.Requests()
	assert.Equal(t, 2, reqs["/api/v1/check_run"])
	assert.Equal(t, 2, reqs["/api/v1/metadata"])
	assert.Equal(t, 1, reqs["/api/v2/host_metadata"])
	assert.Equal(t, 1, reqs[CountRejected+":/api/v1/metadata"])
}

func TestWaitFor(t *testing.T) {
	ti := newTestIntake(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		ti.store.addSeries([]Series{{Metric: "late", Type: "count", Points: []Point{{1, 3}}}})
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, ti.WaitFor(ctx, func(s *Server) bool { return s.SumCount("late", nil) == 3 }))
	<-done

	short, cancelShort := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancelShort()
	err := ti.WaitFor(short, func(*Server) bool { return false })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
