// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestVersionIsTheDistributionVersion: `otelcol-databricks --version` names the distribution and prints the
// version of builder-config.yaml (dist.name, dist.version), which ocb writes into the generated main.go.
func TestVersionIsTheDistributionVersion(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(*repoRoot, "builder-config.yaml"))
	require.NoError(t, err)
	var manifest struct {
		Dist struct {
			Name    string `yaml:"name"`
			Version string `yaml:"version"`
		} `yaml:"dist"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &manifest))
	require.NotEmpty(t, manifest.Dist.Name, "dist.name of builder-config.yaml")
	require.NotEmpty(t, manifest.Dist.Version, "dist.version of builder-config.yaml")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(*repoRoot, "bin", "otelcol-databricks"), "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, strings.TrimSpace(string(out)), manifest.Dist.Name+" version "+manifest.Dist.Version)
}
