// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package simulator serves a fake Databricks workspace: the serving-endpoint
// list, get and metrics APIs, backed by deterministic per-window values.
//
// It is the default data source of `make run`, the fixture of the end-to-end
// tests and the target of load benchmarks. Because every value is a pure
// function of (seed, endpoint, served entity, window index), a test can ask
// the simulator what it served (GET /simulator/truth) and compare that with
// what reached the exporters, exactly.
//
// The /api/ paths accept a static bearer token (Config.Token, replaced at
// run time by PUT /simulator/tokens) or an unexpired token issued by one of
// the two client-credentials endpoints: Databricks OAuth M2M
// (POST /oidc/v1/token) and Azure Entra ID
// (POST /{tenant}/oauth2/v2.0/token).
//
// End-to-end tests run the simulator as a separate process, so they drive it
// over HTTP; the /simulator/ paths need no token:
//
//	GET    /simulator/truth[?endpoint=NAME]   windows served, deleted endpoints included
//	GET    /simulator/stats                   request and token counters
//	GET    /simulator/requests[?reset=1]      /metrics requests per endpoint and credential
//	DELETE /simulator/requests                zero those counts
//	GET    /simulator/timeline?endpoint=NAME  arrival times (unix ms) of the last 1000 /metrics requests
//	POST   /simulator/endpoints               create {"name":..., "kind":"cpu"|"gpu"|"multi-entity"|"scale-to-zero"|"fmapi"}
//	PATCH  /simulator/endpoints/{name}        change ready, config_update, deployment, metrics_status, fault
//	DELETE /simulator/endpoints/{name}        delete an endpoint
//	POST   /simulator/endpoints/{name}/events apply a lifecycle event {"event":..., "entity":..., "traffic_percentage":..., "gap":"5s"}
//	PUT    /simulator/tokens                  replace the static tokens {"tokens":[...]}
//	PUT    /simulator/faults/{call}           fail the list, get or token call {"fault": {...}}; {"fault": null} clears
//
// Lifecycle events change an endpoint the way real workspaces do:
// add_entity, remove_entity, bump_version and resize change the served
// entities, retag the tags, recreate gives a new id, hide drops the endpoint
// from the list for a while, flip_type exposes a family custom_score whose
// type changes, scale_to_zero and scale_up force and end a scale to zero.
// Apply them with Server.ApplyEvent, the events path above, or on a
// schedule (Server.RunSchedule, ParseSchedule, the -lifecycle flag of
// cmd/workspace-simulator); the Event constants describe each one. The list
// and get APIs show a change at once, /metrics from the window in progress:
// a window's body never changes once the window is complete. Each window of
// the truth carries the description (id, tags, served entities) of the
// endpoint that served it.
//
// Fault-matrix tests run the simulator in-process and make an endpoint's
// /metrics misbehave with Server.SetFault or PATCH {"fault": {...}}
// ({"fault": null} restores it); see Fault for the modes, and
// Server.Timeline for checking how requests were spaced. Workspace-level
// faults change a whole call instead, with the modes status, slow_headers
// and echo_request: Server.SetAPIFault the list call or the get call of
// every endpoint (after the token check, like /metrics faults), and
// Server.SetTokenFault both token endpoints, whose status fault answers an
// OAuth temporarily_unavailable error; PUT /simulator/faults/{call} with
// call list, get or token is their HTTP form.
//
// A hostile workspace, for the receiver's limits and redaction:
// series_churn (a /metrics fault) adds label sets no scrape repeats;
// echo_request (/metrics, list, get, token) answers an error whose body
// echoes the request line and every header, Authorization included;
// amplified_describe (get) serves descriptions with many more served
// entities and long tags; huge_list (list) lists fake endpoints after the
// real ones. With huge_body, gzip_bomb and many_labels they exceed every
// limit of the receiver; the Fault modes bound their sizes, so that a typo
// cannot exhaust the test machine's memory.
//
// An Account (NewAccount) simulates a Databricks account: several
// workspaces, each a Server on its own 127.0.0.1 port, listed by the
// Accounts API with an account-level OAuth token and by an Azure Resource
// Manager style list with an Entra ID token; a workspace whose Config does
// not name the account's principal is one the principal is not assigned
// to. On the Azure flavour the account's Entra ID endpoint is the tenant's
// and also issues the workspaces' AzureDatabricks tokens, and
// AccountConfig.TLS serves the workspaces over HTTPS with a self-signed
// certificate (Account.CertificatePEM), as clients reach Azure workspaces at
// https://<workspaceUrl>. Workspaces are added, stopped and removed at run
// time (see Account), or on a schedule (Account.RunSchedule).
package simulator
