// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

func TestLoadValidAccountConfigs(t *testing.T) {
	for _, name := range []string{"account_aws", "account_gcp_govcloud_template", "account_azure", "static_workspaces", "account_local_simulator"} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, confmap.Validate(loadConfig(t, name)))
		})
	}
	aws := loadConfig(t, "account_aws").Account
	assert.Equal(t, "https://accounts.cloud.databricks.com", aws.host())
	assert.Equal(t, "https://{deployment_name}.cloud.databricks.com", aws.workspaceURL())
	assert.Equal(t, 10*time.Minute, aws.refreshInterval())
	gcp := loadConfig(t, "account_gcp_govcloud_template").Account
	assert.Equal(t, "https://accounts.example.internal", gcp.host())
	assert.Equal(t, "https://{deployment_name}.databricks.example.internal", gcp.workspaceURL())
	assert.Equal(t, 3*time.Minute, gcp.refreshInterval())
	assert.Equal(t, "https://management.azure.com", loadConfig(t, "account_azure").Account.managementURL())
}

func TestInvalidAccountConfigNamesTheField(t *testing.T) {
	for _, tc := range []struct{ name, wantErr string }{
		{"account_and_endpoint", "endpoint, account are all set: set exactly one of endpoint"},
		{"account_with_token", "token cannot be used with account: a personal access token belongs to one workspace"},
		{"account_with_token", "account with cloud aws needs oauth"},
		{"account_without_cloud", `account.cloud must be aws, gcp or azure, got ""`},
		{"account_without_id", "account.account_id must be set"},
		{"account_template_without_placeholder", "account.workspace_url \"https://workspace.cloud.databricks.com\" must contain {deployment_name}"},
		{"account_template_plain_http", `uses http:// with the non-loopback host "127.0.0.1.cloud.databricks.com"`},
		{"account_plain_http_host", `account.host "http://accounts.cloud.databricks.com" uses http:// with the non-loopback host`},
		{"account_azure_without_subscriptions", "account.subscriptions must list the Azure subscriptions"},
		{"account_azure_plain_http_management", `account.management_url "http://management.azure.com" uses http://`},
		{"account_azure_with_oauth", "account with cloud azure needs azure"},
		{"account_oauth_token_url", "oauth.token_url cannot be used with account"},
		{"account_bad_glob", `account.include: "prod-[a" is not a valid glob`},
		{"workspaces_plain_http", `workspaces[0]: endpoint "http://dbc-741cfa95-12d1.cloud.databricks.com" uses http://`},
		{"workspaces_with_token", "token cannot be used with workspaces"},
		{"workspaces_with_token", "workspaces needs oauth"},
		{"workspaces_twice", "workspaces[1]: dbc-1.cloud.databricks.com is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, tc.name))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestAccountConfigNeverPrintsASecret(t *testing.T) {
	for name, secret := range map[string]string{"account_aws": "dose0123456789abcdef", "account_azure": "azure-secret-value"} {
		cfg := loadConfig(t, name)
		for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
			assert.NotContains(t, s, secret)
		}
	}
}
