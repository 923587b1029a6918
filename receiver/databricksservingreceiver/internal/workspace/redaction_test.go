// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedactRemovesSecretsAndCredentials(t *testing.T) {
	const secret = "s3cr3t/value+with=chars"
	basic := base64.StdEncoding.EncodeToString([]byte("client:" + url.QueryEscape(secret)))
	for name, text := range map[string]string{
		"the secret itself":        "echo: " + secret,
		"form-encoded":             "grant_type=client_credentials&client_secret=" + url.QueryEscape(secret),
		"in an HTTP Basic header":  "Authorization: Basic " + basic + "\r\nHost: x",
		"base64 inside JSON":       `{"auth":"` + basic + `"}`,
		"unknown bearer token":     "GET / HTTP/1.1\r\nAuthorization: Bearer unknown-token-value\r\n",
		"go header map":            "map[Accept:[*/*] Authorization:[Bearer unknown-token-value]]",
		"json authorization":       `{"headers":{"authorization":"Token unknown-token-value"}}`,
		"json access_token":        `{"access_token":"unknown-token-value"}`,
		"bearer without header":    "sent bearer unknown-token-value",
		"databricks pat":           "token dapi0123456789abcdef0123456789abcdef-2 rejected",
		"client_secret form value": "client_secret=unknown-token-value&scope=all-apis",
	} {
		t.Run(name, func(t *testing.T) {
			got := Redact(text, secret)
			for _, leaked := range []string{secret, url.QueryEscape(secret), basic, "unknown-token-value", "dapi0123456789abcdef"} {
				assert.NotContains(t, got, leaked)
			}
			assert.Contains(t, got, "[REDACTED]")
		})
	}
	t.Run("words stay", func(t *testing.T) {
		msg := "Invalid bearer token. The access token: expired"
		assert.Equal(t, msg, Redact(msg))
	})
	t.Run("capped with the length", func(t *testing.T) {
		got := Redact(strings.Repeat("é", 1000))
		assert.LessOrEqual(t, len(got), MaxRedactedLength+len("…(2000 bytes)"))
		assert.True(t, strings.HasSuffix(got, "…(2000 bytes)"), got)
	})
	t.Run("control characters", func(t *testing.T) {
		assert.Equal(t, "a b c", Redact("a\nb\x1bc"))
	})
}

// An answer that echoes the request's Authorization header must not put the token into the error.
func TestAPIErrorsNeverCarryTheToken(t *testing.T) {
	const token = "dapi-plain-token-value-42"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_ = r.Header.Write(&b)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(b.Bytes())
	}))
	defer srv.Close()
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	c := NewClient(srv.Client(), base, StaticToken(token), "test", 1<<20)
	_, err = c.ListEndpoints(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 400")
	assert.NotContains(t, err.Error(), token)
}

// Names that are not endpoint names are never requested; valid names are escaped once.
func TestEndpointPathsAreBuiltOnce(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.RequestURI)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	c := NewClient(srv.Client(), base, StaticToken("t"), "test", 1<<20)
	for _, name := range []string{"..", "a/b", "a b", "%2e", ""} {
		_, err := c.FetchMetrics(context.Background(), name, &bytes.Buffer{})
		var invalid *InvalidNameError
		require.ErrorAs(t, err, &invalid, name)
	}
	assert.Empty(t, got, "nothing requested for invalid names")
	_, _ = c.FetchMetrics(context.Background(), "ok_1-A", &bytes.Buffer{})
	assert.Equal(t, []string{"/api/2.0/serving-endpoints/ok_1-A/metrics"}, got)
}

// A secret that is part of another is redacted after it: the longer one is redacted whole, and leaves no rest
// of itself around the shorter one's mark.
func TestASecretInsideAnotherLeavesNoRestBehind(t *testing.T) {
	assert.Equal(t, "got [REDACTED] back", Redact("got xabc12345y back", "abc12345", "xabc12345y"))
}

// Of a secret's base64 encodings (one per alignment), the characters that depend on the secret alone are
// redacted when they are at least 8; fewer could be any text's, and are left.
func TestOnlyBase64FormsOfEightCharactersOrMoreAreRedacted(t *testing.T) {
	const secret = "1234567"
	aligned := base64.StdEncoding.EncodeToString([]byte(secret)) // its first 8 characters are the secret's alone
	assert.Equal(t, "echo [REDACTED]Nw==", Redact("echo "+aligned, secret))
	for pad, short := range map[int]string{1: "EyMzQ1", 2: "xMjM0"} { // what the other alignments leave
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, pad), secret...))
		require.Contains(t, enc, short)
		assert.Equal(t, "echo "+short, Redact("echo "+short, secret), "alignment %d", pad)
	}
}

// Truncate cuts on a rune boundary, and text that is not UTF-8 (a host name of escaped bytes) does not make it
// cut outside the text.
func TestTruncateCutsInvalidUTF8WithinTheText(t *testing.T) {
	assert.Equal(t, "…(100 bytes)", Truncate(strings.Repeat("\x80", 100), 10))
	assert.Equal(t, "ab…(6 bytes)", Truncate("abé\x80\x80", 3))
}
