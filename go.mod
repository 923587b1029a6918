module github.com/otelcol-databricks/otelcol-databricks

go 1.26.0

toolchain go1.26.8

// The workspace simulator is a module of its own (the receiver's tests use it too), taken from this checkout.
// The receiver is a module of its own as well: receiver/databricksservingreceiver/go.mod.
replace github.com/otelcol-databricks/otelcol-databricks/internal/simulator => ./internal/simulator

require (
	github.com/DataDog/agent-payload/v5 v5.0.202
	github.com/DataDog/datadog-agent/pkg/util/quantile v0.79.0-devel.0.20260402163801-bfa4eff6c991
	github.com/otelcol-databricks/otelcol-databricks/internal/simulator v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.11.1
	go.uber.org/goleak v1.3.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/DataDog/sketches-go v1.4.8 // indirect
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/kr/pretty v0.3.1 // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/rogpeppe/go-internal v1.14.1 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
	gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c // indirect
)
