// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxRedactedLength caps, in bytes, any text that Redact returns: what an answer says goes into errors and logs,
// and its size must not be the answer's to choose.
const MaxRedactedLength = 256

// redactedMark replaces whatever Redact removes.
const redactedMark = "[REDACTED]"

// credentialPatterns find credentials that Redact removes even when it was not told their value: an
// Authorization header's value (as an HTTP header dump, a Go header map or JSON writes it), bearer and basic
// credentials, the form and JSON fields that carry secrets and tokens, and Databricks personal access tokens.
var credentialPatterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)(authorization["']?\s*[:=]\s*[\["']*\s*)[^"'\r\n\]}&]+`), "${1}" + redactedMark},
	// A credential is at least 8 characters: "bearer token" in a sentence is not one.
	{regexp.MustCompile(`(?i)\b(bearer|basic)(\s+|%20|\+)[A-Za-z0-9\-._~+/=%]{8,}`), "${1} " + redactedMark},
	{regexp.MustCompile(`(?i)\b(client_secret|client_assertion|access_token|refresh_token|id_token|password|api_key|apikey)(["']?\s*[:=]\s*[\["']*\s*)[^"'\s&,;\]}]+`), "${1}${2}" + redactedMark},
	// token and secret alone are common words: only as a form field (token=) or a JSON key ("token":).
	{regexp.MustCompile(`(?i)\b(token|secret)(=|["']\s*:\s*[\["']*\s*)[^"'\s&,;\]}]+`), "${1}${2}" + redactedMark},
	{regexp.MustCompile(`dapi[0-9a-fA-F]{16,}(-[0-9]+)?`), redactedMark},
}

// Redact makes text from an answer (an error body, an error description) fit for an error or a log line: it
// removes the given secrets (in the forms a request carries them: as they are, form-encoded, in an HTTP Basic
// credential) and every credential credentialPatterns find, replaces control characters and invalid UTF-8, and
// caps the result at MaxRedactedLength bytes, ending it with "…(N bytes)" when it was longer. Every error or log
// line built from a response body passes through it.
func Redact(text string, secrets ...string) string {
	for _, secret := range expandSecrets(secrets) {
		text = strings.ReplaceAll(text, secret, redactedMark)
	}
	for _, p := range credentialPatterns {
		text = p.re.ReplaceAllString(text, p.with)
	}
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(text, "\uFFFD"))
	return Truncate(text, MaxRedactedLength)
}

// Truncate caps text at limit bytes (on a rune boundary), ending it with "…(N bytes)", N its whole length.
func Truncate(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", text[:cut], len(text))
}

// expandSecrets returns each non-empty secret in the forms requests carry it: as it is, form- or query-encoded,
// path-encoded, and base64-encoded (an HTTP Basic credential holds "id:secret" in base64, whose middle bytes
// depend on the alignment, so each alignment of the secret's encoding is included).
func expandSecrets(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		// HTTP Basic carries the form-encoded secret (RFC 6749 2.3.1), some clients the secret as it is.
		for _, form := range []string{s, url.QueryEscape(s)} {
			for pad := 0; pad < 3; pad++ {
				enc := base64.StdEncoding.EncodeToString(append(make([]byte, pad), form...))
				// Skip the characters that depend on the padding bytes and on what follows the secret.
				start, end := (pad*8+5)/6, len(enc)-4
				if end-start >= 8 {
					out = append(out, enc[start:end])
				}
			}
		}
	}
	// Longest first, so that a secret contained in another does not leave the other's rest behind.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
