// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// An Account is a simulated Databricks account: several workspaces, each a
// Server on its own 127.0.0.1 port with its own endpoints and token
// endpoints, and the account-level APIs that list them:
//
//	POST /oidc/accounts/{account_id}/v1/token              account-level OAuth M2M token
//	GET  /api/2.0/accounts/{account_id}/workspaces         the Accounts API list (AWS and GCP)
//	POST /{tenant}/oauth2/v2.0/token                       Entra ID token, for Azure Resource Manager or for the workspaces
//	GET  /subscriptions/{sub}/providers/Microsoft.Databricks/workspaces?api-version=...
//	                                                       the ARM list, in pages linked by nextLink
//
// Each workspace's deployment_name is its address (127.0.0.1:PORT), so a
// client builds its URL with the template http://{deployment_name}, or
// https://{deployment_name} when AccountConfig.TLS serves the workspaces
// over HTTPS; the ARM list's workspaceUrl is the same address, to which a
// client prepends https:// as it does for Azure's. A workspace whose Config
// does not name the account's service principal among its OAuthClients is
// one where the principal is not assigned: its token endpoint refuses the
// client.
//
// The Entra ID endpoint is the tenant's, as on Azure: it issues a token for
// one scope, Resource Manager's (which the ARM list accepts) or the
// AzureDatabricks application's (which the account's workspaces accept, but
// only from a principal among the workspace Config's AzureClients: an
// unassigned principal's token is refused with 401). Tokens are not
// interchangeable: an account-level OAuth token lists the Accounts API
// only, an ARM token the ARM list only.
//
// The account changes at run time with AddWorkspace, SetWorkspaceStatus and
// RemoveWorkspace, on a schedule (RunSchedule), or over HTTP (no token
// needed):
//
//	POST   /simulator/account/workspaces       add {"name":..., "cpu": N}: a workspace like AccountConfig.Template
//	PATCH  /simulator/account/workspaces/{id}  {"status": "RUNNING"|"CANCELLING"|...}
//	DELETE /simulator/account/workspaces/{id}  remove the workspace and stop its server
type Account struct {
	cfg         AccountConfig
	now         func() time.Time
	credentials *credentials
	handler     http.Handler
	// cert and certPEM are the workspaces' certificate with TLS.
	cert    tls.Certificate
	certPEM []byte

	// closing ends RunSchedule when the account closes.
	closing   chan struct{}
	closeOnce sync.Once

	mu         sync.Mutex
	workspaces map[string]*AccountWorkspace // by id
	nextID     int64
	closed     bool // no workspace is added after Close
	httpServer *http.Server
	serveDone  chan struct{}
}

// AccountConfig describes a simulated account.
type AccountConfig struct {
	AccountID string
	// OAuthClients are the service principals, client id to secret, that may
	// get account-level tokens.
	OAuthClients map[string]string
	// AzureTenant and AzureClients are the Entra ID tenant and principals of
	// the ARM flavour's token endpoint; Subscription is the subscription the
	// ARM list serves.
	AzureTenant  string
	AzureClients map[string]string
	Subscription string
	// PageSize is how many workspaces one ARM page holds (zero: 100).
	PageSize int
	// Region is every workspace's aws_region and location (zero: us-west-2).
	Region string
	// Template is the Config of workspaces added over HTTP.
	Template Config
	// TokenLifetime is how long issued tokens are accepted (zero: 1h).
	TokenLifetime time.Duration
	// TLS serves every workspace over HTTPS, with one self-signed
	// certificate for 127.0.0.1 made by NewAccount (CertificatePEM), as a
	// client must reach Azure workspaces: https:// and the workspaceUrl of
	// the ARM list. The account-level APIs stay plain HTTP on loopback.
	TLS bool
}

// AccountWorkspace is one workspace of an Account.
type AccountWorkspace struct {
	ID     string
	Name   string
	Region string
	// Addr is the workspace server's address, 127.0.0.1:PORT: its
	// deployment_name, and its URL's host.
	Addr string
	// URL is https://Addr with AccountConfig.TLS, else http://Addr.
	URL    string
	Server *Server
	// status is the Accounts API's workspace_status (guarded by Account.mu).
	status string
}

// Workspace statuses of the Accounts API; the ARM list maps RUNNING to
// provisioningState Succeeded and the others to Failed.
const (
	WorkspaceRunning    = "RUNNING"
	WorkspaceCancelling = "CANCELLING"
	WorkspaceFailed     = "FAILED"
)

// armScope is the Entra ID scope of Azure Resource Manager.
const armScope = "https://management.azure.com/.default"

// NewAccount builds an account without workspaces.
func NewAccount(cfg AccountConfig) (*Account, error) {
	if cfg.AccountID == "" || strings.ContainsAny(cfg.AccountID, "/?#") {
		return nil, fmt.Errorf("simulator: invalid AccountID %q: must be one non-empty path segment", cfg.AccountID)
	}
	errs := append(validateClients("OAuthClients", cfg.OAuthClients), validateClients("AzureClients", cfg.AzureClients)...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("simulator: invalid account: %w", err)
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	if cfg.Region == "" {
		cfg.Region = "us-west-2"
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	cfg.OAuthClients, cfg.AzureClients = maps.Clone(cfg.OAuthClients), maps.Clone(cfg.AzureClients)
	a := &Account{cfg: cfg, now: time.Now, workspaces: map[string]*AccountWorkspace{}, nextID: 1000000000000001, closing: make(chan struct{})}
	if cfg.TLS {
		var err error
		if a.cert, a.certPEM, err = selfSignedCertificate(); err != nil {
			return nil, err
		}
	}
	a.credentials = newCredentials(a.now, cfg.TokenLifetime, nil)
	a.handler = a.routes()
	return a, nil
}

// Handler serves the account-level APIs and the account's control paths.
func (a *Account) Handler() http.Handler { return a.handler }

// CertificatePEM is the PEM of the workspaces' self-signed certificate, the
// CA a client trusts them with; nil without AccountConfig.TLS.
func (a *Account) CertificatePEM() []byte { return slices.Clone(a.certPEM) }

// AddWorkspace creates a workspace named name from cfg and serves it on its
// own 127.0.0.1 port, over HTTPS with AccountConfig.TLS. It is RUNNING.
func (a *Account) AddWorkspace(name string, cfg Config) (*AccountWorkspace, error) {
	srv, err := New(cfg, withTokenIssuer(a.workspaceTokens(maps.Clone(cfg.AzureClients))))
	if err != nil {
		return nil, err
	}
	var addr net.Addr
	scheme := "http://"
	if a.cfg.TLS {
		addr, err = srv.StartTLS("127.0.0.1:0", a.cert)
		scheme = "https://"
	} else {
		addr, err = srv.Start("127.0.0.1:0")
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, errors.Join(errors.New("simulator: account closed"), srv.Close())
	}
	ws := &AccountWorkspace{
		ID: strconv.FormatInt(a.nextID, 10), Name: name, Region: a.cfg.Region, Addr: addr.String(), URL: scheme + addr.String(),
		Server: srv, status: WorkspaceRunning,
	}
	a.nextID++
	a.workspaces[ws.ID] = ws
	return ws, nil
}

// SetWorkspaceStatus changes a workspace's workspace_status: any status but
// RUNNING takes it out of what a client scrapes, while its server runs on.
func (a *Account) SetWorkspaceStatus(id, status string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ws, ok := a.workspaces[id]
	if !ok {
		return fmt.Errorf("no workspace %q", id)
	}
	ws.status = status
	return nil
}

// RemoveWorkspace deletes a workspace from the account and stops its server.
func (a *Account) RemoveWorkspace(id string) error {
	a.mu.Lock()
	ws, ok := a.workspaces[id]
	delete(a.workspaces, id)
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("no workspace %q", id)
	}
	return ws.Server.Close()
}

// Workspaces returns the account's workspaces in id order.
func (a *Account) Workspaces() []*AccountWorkspace {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sortedLocked()
}

// Start serves the account-level APIs on addr (e.g. "127.0.0.1:0") and
// returns the address bound.
func (a *Account) Start(addr string) (net.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.httpServer != nil {
		return nil, errors.New("simulator: account already started")
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: listen on %s: %w", addr, err)
	}
	a.httpServer = &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	a.serveDone = make(chan struct{})
	go func(srv *http.Server, done chan<- struct{}) {
		defer close(done)
		_ = srv.Serve(listener)
	}(a.httpServer, a.serveDone)
	return listener.Addr(), nil
}

// Close stops the account's server and every workspace's, and ends
// RunSchedule.
func (a *Account) Close() error {
	a.closeOnce.Do(func() { close(a.closing) })
	a.mu.Lock()
	a.closed = true
	srv, done := a.httpServer, a.serveDone
	workspaces := slices.Collect(maps.Values(a.workspaces))
	a.mu.Unlock()
	var errs []error
	for _, ws := range workspaces {
		errs = append(errs, ws.Server.Close())
	}
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		errs = append(errs, srv.Shutdown(ctx))
		<-done
	}
	return errors.Join(errs...)
}
