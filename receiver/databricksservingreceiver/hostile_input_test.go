// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

// Hostile input and secrets: what the configuration, the workspace's answers and the token endpoints' answers
// can make the receiver send, print or log.

// newObservedScraper is newTestScraper with a logger whose entries the test reads.
func newObservedScraper(t *testing.T, serverURL string, mutate ...func(*Config)) (*servingScraper, *observer.ObservedLogs) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = serverURL
	cfg.Token = testToken
	cfg.SpreadRequests = false
	for _, m := range mutate {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zap.DebugLevel)
	settings := receivertest.NewNopSettings(metadata.Type)
	settings.Logger = zap.New(core)
	s := newServingScraper(cfg, settings)
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	started := time.Now()
	s.now = func() time.Time { return time.UnixMilli(bodyTimestamp).Add(30*time.Second + time.Since(started)) }
	return s, logs
}

// logText renders every entry (message and fields) as a log file would hold it.
func logText(entries []observer.LoggedEntry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %s %v\n", e.Level, e.Message, e.ContextMap())
	}
	return b.String()
}

// atLeast returns the entries at level or above whose text contains substr.
func atLeast(logs *observer.ObservedLogs, level zapcore.Level, substr string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, e := range logs.All() {
		if e.Level >= level && strings.Contains(logText([]observer.LoggedEntry{e}), substr) {
			out = append(out, e)
		}
	}
	return out
}

func validationError(t *testing.T, mutate func(*Config)) string {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "https://adb-1234567890123456.7.azuredatabricks.net"
	cfg.Token = testToken
	mutate(cfg)
	if err := cfg.Validate(); err != nil {
		return err.Error()
	}
	return ""
}

// Item 2: proxy_url sends every request, loopback ones too, to the proxy: a plain-http endpoint or token URL
// through a proxy that is not on the loopback interface would hand it the credentials unencrypted.
func TestPlainHTTPThroughANonLoopbackProxyIsRefused(t *testing.T) {
	const remoteProxy = "http://proxy.example.com:3128"
	for _, tc := range []struct {
		name, field string
		mutate      func(*Config)
	}{
		{"token to a loopback http endpoint", "endpoint", func(c *Config) {
			c.Endpoint, c.ProxyURL = "http://localhost:18080", remoteProxy
		}},
		{"oauth token_url over http", "oauth.token_url", func(c *Config) {
			c.Token, c.ProxyURL = "", remoteProxy
			c.OAuth = &OAuthConfig{ClientID: "sp", ClientSecret: "s", TokenURL: "http://127.0.0.1:18081/oidc/v1/token"}
		}},
		{"oauth default token_url on a loopback http workspace", "oauth.token_url", func(c *Config) {
			c.Endpoint, c.Token, c.ProxyURL = "http://127.0.0.1:18080", "", remoteProxy
			c.OAuth = &OAuthConfig{ClientID: "sp", ClientSecret: "s"}
		}},
		{"azure token_url over http", "azure.token_url", func(c *Config) {
			c.Token, c.ProxyURL = "", remoteProxy
			c.Azure = &AzureConfig{TenantID: "t", ClientID: "sp", ClientSecret: "s", TokenURL: "http://[::1]:18081/t/oauth2/v2.0/token"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := validationError(t, tc.mutate)
			require.NotEmpty(t, msg, "a plain-http URL through a remote proxy must be a config error")
			assert.Contains(t, msg, tc.field+" ")
			assert.Contains(t, msg, "proxy_url")
			assert.Contains(t, msg, "use https://")
		})
	}
	t.Run("https through a remote proxy and http through a loopback proxy are fine", func(t *testing.T) {
		assert.Empty(t, validationError(t, func(c *Config) { c.ProxyURL = remoteProxy }))
		assert.Empty(t, validationError(t, func(c *Config) { c.Endpoint, c.ProxyURL = "http://localhost:18080", "http://127.0.0.1:3128" }))
	})
	// Without proxy_url, HTTP_PROXY applies: Go never proxies "localhost" or a loopback IP, but it does proxy
	// "LOCALHOST", so only the lower-case spelling counts as loopback.
	t.Run("LOCALHOST is not loopback for plain http", func(t *testing.T) {
		msg := validationError(t, func(c *Config) { c.Endpoint = "http://LOCALHOST:18080" })
		assert.Contains(t, msg, `non-loopback host "LOCALHOST"`)
		assert.Contains(t, msg, "lower case")
	})
}

// Item 4: URLs with credentials are refused, and no config error quotes a URL's user info or query values.
func TestURLCredentialsAreRefusedAndNeverEchoed(t *testing.T) {
	for _, tc := range []struct {
		name, field, secret string
		mutate              func(*Config)
		wantRefused         bool
	}{
		{"endpoint with user info and a path", "endpoint", "pass-secret-1", func(c *Config) {
			c.Endpoint = "https://user:pass-secret-1@adb-1.azuredatabricks.net/x"
		}, true},
		{"endpoint with a user-name token", "endpoint", "dapi-as-user-2", func(c *Config) {
			c.Endpoint = "https://dapi-as-user-2@adb-1.azuredatabricks.net"
		}, true},
		{"endpoint with a token in the query", "endpoint", "query-secret-3", func(c *Config) {
			c.Endpoint = "https://adb-1.azuredatabricks.net/?token=query-secret-3"
		}, true},
		{"plain http endpoint with a query", "endpoint", "query-secret-4", func(c *Config) {
			c.Endpoint = "http://adb-1.azuredatabricks.net?query-secret-4"
		}, true},
		{"oauth token_url with user info over https", "oauth.token_url", "tok-url-secret-5", func(c *Config) {
			c.Token = ""
			c.OAuth = &OAuthConfig{ClientID: "sp", ClientSecret: "s", TokenURL: "https://sp:tok-url-secret-5@login.example.com/token"}
		}, true},
		{"azure token_url over http with a query secret", "azure.token_url", "tok-url-secret-6", func(c *Config) {
			c.Token = ""
			c.Azure = &AzureConfig{TenantID: "t", ClientID: "sp", ClientSecret: "s", TokenURL: "http://login.example.com/token?client_secret=tok-url-secret-6"}
		}, true},
		{"azure token_url that does not parse", "azure.token_url", "tok-url-secret-7", func(c *Config) {
			c.Token = ""
			c.Azure = &AzureConfig{TenantID: "t", ClientID: "sp", ClientSecret: "s", TokenURL: "https://sp:tok-url-secret-7@[bad/token"}
		}, true},
		{"proxy_url with user info", "proxy_url", "proxy-secret-8", func(c *Config) {
			c.ProxyURL = "http://puser:proxy-secret-8@proxy.example.com:3128"
		}, true},
		{"proxy_url that does not parse", "proxy_url", "proxy-secret-9", func(c *Config) {
			c.ProxyURL = "http://puser:proxy-secret-9@[proxy"
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := validationError(t, tc.mutate)
			if tc.wantRefused {
				require.NotEmpty(t, msg, "must be refused at start-up")
			}
			assert.Contains(t, msg, tc.field)
			assert.NotContains(t, msg, tc.secret, "a config error must not echo a URL's credentials")
		})
	}
	t.Run("redacted forms", func(t *testing.T) {
		assert.Equal(t, "https://user:***@host/x?token=***&a=***#***", redactURL("https://user:pw@host/x?token=t&a=b#frag"))
		assert.Equal(t, "https://***@host", redactURL("https://dapi123@host"))
		assert.Equal(t, "https://***@[bad?***", redactURL("https://u:p@[bad?x=y"))
	})
}

// Item 7: tls.insecure_skip_verify is warned about once, at start.
func TestInsecureSkipVerifyIsWarnedAtStart(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, logs := newObservedScraper(t, srv.URL, func(c *Config) { c.TLS.InsecureSkipVerify = true })
	warnings := atLeast(logs, zapcore.WarnLevel, "tls.insecure_skip_verify")
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0].Message, "token")
	_, quiet := newObservedScraper(t, srv.URL)
	assert.Empty(t, atLeast(quiet, zapcore.WarnLevel, "insecure_skip_verify"))
}

// echo writes what a gateway that echoes the request writes: the request line, its headers and its body.
func echo(r *http.Request) string {
	body, _ := io.ReadAll(r.Body)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", r.Method, r.RequestURI, r.Proto)
	_ = r.Header.Write(&b)
	b.WriteString("\r\n")
	b.Write(body)
	return b.String()
}

// echoingWorkspace answers the call named fail ("list", "describe", "metrics" or "token") with a 400 that echoes
// the request, in the form named by format ("text" or "json"); the other calls succeed.
func echoingWorkspace(t *testing.T, fail, format string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := "metrics"
		switch {
		case strings.HasSuffix(r.URL.Path, "/token"):
			call = "token"
		case r.URL.Path == "/api/2.0/serving-endpoints":
			call = "list"
		case !strings.HasSuffix(r.URL.Path, "/metrics"):
			call = "describe"
		}
		if call == fail {
			dump := echo(r)
			w.WriteHeader(http.StatusBadRequest)
			switch {
			case call == "token":
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": dump})
			case format == "json":
				_ = json.NewEncoder(w).Encode(map[string]string{"error_code": "BAD_REQUEST", "message": dump})
			default:
				_, _ = w.Write([]byte(dump))
			}
			return
		}
		switch call {
		case "token":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "issued-access-token-0123456789", "token_type": "Bearer", "expires_in": 3600})
		case "list":
			_ = json.NewEncoder(w).Encode(map[string]any{"endpoints": []map[string]any{{"name": "fraud", "state": map[string]string{"ready": "READY"}}}})
		case "describe":
			_ = json.NewEncoder(w).Encode(map[string]any{"name": "fraud", "state": map[string]string{"ready": "READY"}})
		default:
			w.Header().Set("Content-Type", textFormat)
			_, _ = w.Write([]byte(readBody(t, "cpu_endpoint.txt")))
		}
	})
}

// Item 3: a gateway that echoes the request in its error answer must not get a secret into an error or a log
// line, for any call and any way of authenticating.
func TestEchoedRequestsNeverLeakASecret(t *testing.T) {
	const clientSecret = "client-secret-value-0123456789"
	for _, auth := range []struct {
		name    string
		calls   []string
		secrets []string
		mutate  func(c *Config, tokenURL string)
	}{
		{"personal access token", []string{"list", "describe", "metrics"}, []string{testToken}, func(*Config, string) {}},
		{"databricks oauth", []string{"token", "list", "describe", "metrics"},
			[]string{clientSecret, base64.StdEncoding.EncodeToString([]byte("sp-client:" + clientSecret)), "issued-access-token-0123456789"},
			func(c *Config, _ string) {
				c.Token = ""
				c.OAuth = &OAuthConfig{ClientID: "sp-client", ClientSecret: clientSecret}
			}},
		{"entra id", []string{"token", "list", "describe", "metrics"}, []string{clientSecret, "issued-access-token-0123456789"},
			func(c *Config, tokenURL string) {
				c.Token = ""
				c.Azure = &AzureConfig{TenantID: "t", ClientID: "sp-client", ClientSecret: clientSecret, TokenURL: tokenURL}
			}},
	} {
		for _, call := range auth.calls {
			for _, format := range []string{"text", "json"} {
				t.Run(auth.name+"/"+call+"/"+format, func(t *testing.T) {
					srv := httptest.NewServer(echoingWorkspace(t, call, format))
					defer srv.Close()
					s, logs := newObservedScraper(t, srv.URL, func(c *Config) { auth.mutate(c, srv.URL+"/t/oauth2/v2.0/token") })
					var out strings.Builder
					for range 2 {
						_, err := scrapeOnce(t, s)
						if err != nil {
							out.WriteString(err.Error() + "\n")
						}
					}
					out.WriteString(logText(logs.All()))
					text := out.String()
					require.Contains(t, text, "400", "the echoing answer was seen")
					for _, secret := range auth.secrets {
						assert.NotContains(t, text, secret)
					}
				})
			}
		}
	}
}

// Item 5: names in the list answer that are not endpoint names are not requested, and are reported once.
func TestListedNamesThatAreNotEndpointNamesAreNotRequested(t *testing.T) {
	var mu sync.Mutex
	var uris []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		uris = append(uris, r.RequestURI)
		mu.Unlock()
		switch r.URL.Path {
		case "/api/2.0/serving-endpoints":
			var endpoints []map[string]any
			for _, name := range []string{"..", "a/b", "x y", "%2e%2e", strings.Repeat("n", 64), "", "ok-1"} {
				endpoints = append(endpoints, map[string]any{"name": name})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"endpoints": endpoints})
		case "/api/2.0/serving-endpoints/ok-1":
			_ = json.NewEncoder(w).Encode(map[string]any{"name": "ok-1"})
		case "/api/2.0/serving-endpoints/ok-1/metrics":
			w.Header().Set("Content-Type", textFormat)
			_, _ = w.Write([]byte(readBody(t, "cpu_endpoint.txt")))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	s, logs := newObservedScraper(t, srv.URL, func(c *Config) { c.Discovery.RefreshInterval = time.Millisecond })
	for range 3 {
		_, _ = scrapeOnce(t, s)
		time.Sleep(2 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	allowed := []string{"/api/2.0/serving-endpoints", "/api/2.0/serving-endpoints/ok-1", "/api/2.0/serving-endpoints/ok-1/metrics"}
	for _, uri := range uris {
		assert.True(t, slices.Contains(allowed, uri), "requested %s", uri)
	}
	lists := 0
	for _, uri := range uris {
		if uri == "/api/2.0/serving-endpoints" {
			lists++
		}
	}
	assert.Equal(t, 3, lists, "listed on every scrape")
	reported := atLeast(logs, zapcore.WarnLevel, "not valid endpoint names")
	require.Len(t, reported, 1, "reported once, not on every refresh")
	assert.Equal(t, int64(6), reported[0].ContextMap()["endpoints"])
	assert.Less(t, len(logText(reported)), 2048)
}

// Item 6: log lines driven by what the workspace sends are written once per condition and are bounded.
func TestInputDrivenLogLinesAreOncePerConditionAndBounded(t *testing.T) {
	t.Run("rejected samples", func(t *testing.T) {
		ws := newFakeWorkspace(t)
		body := strings.Replace(readBody(t, "cpu_endpoint.txt"), "} 37.0 ", "} -Inf ", 1)
		require.Contains(t, body, "-Inf")
		ws.addEndpoint("fraud", "", serve(textFormat, body))
		srv := httptest.NewServer(ws)
		defer srv.Close()
		s, logs := newObservedScraper(t, srv.URL)
		var reported int
		for range 3 {
			if _, err := scrapeOnce(t, s); err != nil && strings.Contains(err.Error(), "samples rejected") {
				reported++
			}
		}
		assert.Equal(t, 1, reported, "the condition is reported when it starts")
		assert.Empty(t, atLeast(logs, zapcore.InfoLevel, "ejected"), "and not logged again on every scrape")
	})
	t.Run("describe failures", func(t *testing.T) {
		huge := strings.Repeat("x", 1<<20)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/api/2.0/serving-endpoints":
				var endpoints []map[string]any
				for i := range 40 {
					endpoints = append(endpoints, map[string]any{"name": fmt.Sprintf("endpoint-%02d", i)})
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"endpoints": endpoints})
			case strings.HasSuffix(r.URL.Path, "/metrics"):
				w.Header().Set("Content-Type", textFormat)
				_, _ = w.Write([]byte(readBody(t, "cpu_endpoint.txt")))
			default:
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(huge))
			}
		}))
		defer srv.Close()
		s, logs := newObservedScraper(t, srv.URL, func(c *Config) { c.Discovery.RefreshInterval = time.Millisecond })
		for range 3 {
			_, _ = scrapeOnce(t, s)
			time.Sleep(2 * time.Millisecond)
		}
		warned := atLeast(logs, zapcore.WarnLevel, "Could not describe")
		require.Len(t, warned, 1, "logged when the failure starts, not on every refresh")
		assert.Less(t, len(logText(warned)), 8<<10, "bounded whatever the answers hold")
	})
	t.Run("token error description", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": strings.Repeat("d", 1<<20-64)}) // oauth2 reads 1 MiB
		}))
		defer srv.Close()
		s, logs := newObservedScraper(t, srv.URL, func(c *Config) {
			c.Token = ""
			c.OAuth = &OAuthConfig{ClientID: "sp", ClientSecret: "secret"}
		})
		_, err := scrapeOnce(t, s)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "invalid_client")
		assert.Less(t, len(err.Error()), 2048, "the description is capped")
		assert.Less(t, len(logText(logs.All())), 4096)
	})
}
