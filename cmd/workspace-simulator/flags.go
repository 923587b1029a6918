// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// tokenEnv supplies the token when -token is not given, so it need not
// appear in process listings.
const tokenEnv = "SIMULATOR_TOKEN"

// errUsage marks flag errors, which the flag package has already reported.
var errUsage = errors.New("usage error")

// options is what the command line configures.
type options struct {
	listen string
	// accessLog is the file of the /metrics access log ("" for none).
	accessLog string
	cfg       simulator.Config
	// schedule is the lifecycle schedule, run again after its last event
	// when repeatSchedule is set.
	schedule       []simulator.ScheduledEvent
	repeatSchedule bool
}

// lifecycleUsage documents -lifecycle.
const lifecycleUsage = "`schedule` of lifecycle events, offsets from start-up: comma-separated offset=endpoint:event[?key=value&key=value], " +
	"such as 20s=cpu-endpoint-0:add_entity,90s=cpu-endpoint-1:recreate?gap=5s. Events: add_entity[?traffic_percentage=1..99], " +
	"remove_entity[?entity=NAME], bump_version[?entity=NAME], resize[?entity=NAME], retag, recreate[?gap=DURATION], " +
	"hide?gap=DURATION, flip_type, scale_to_zero, scale_up. A failed event is logged and the schedule goes on (repeatable: the entries add up)"

// parseFlags reads the command line; getenv supplies the token when -token
// is absent.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	opts := options{cfg: simulator.DefaultConfig()}
	cfg := &opts.cfg
	cfg.TokenLifetime = simulator.DefaultTokenLifetime
	flags := flag.NewFlagSet("workspace-simulator", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&opts.listen, "listen", "127.0.0.1:18080", "address to listen on")
	flags.StringVar(&cfg.Token, "token", cfg.Token, "static bearer token the /api/ paths accept (default from $"+tokenEnv+" when set)")
	flags.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every generated value")
	flags.DurationVar(&cfg.Window, "window", cfg.Window, "length of one metrics window")
	flags.IntVar(&cfg.CPU, "cpu", cfg.CPU, "number of CPU endpoints")
	flags.IntVar(&cfg.GPU, "gpu", cfg.GPU, "number of GPU endpoints")
	flags.IntVar(&cfg.MultiEntity, "multi-entity", cfg.MultiEntity, "number of endpoints with two served entities")
	flags.IntVar(&cfg.ScaleToZero, "scale-to-zero", cfg.ScaleToZero, "number of scale-to-zero endpoints")
	flags.IntVar(&cfg.FoundationModel, "fmapi", cfg.FoundationModel, "number of pay-per-token Foundation Model API endpoints (no metrics)")
	flags.IntVar(&cfg.GPUsPerEndpoint, "gpus", cfg.GPUsPerEndpoint, "GPUs per GPU endpoint")
	flags.DurationVar(&cfg.ResponseDelay, "response-delay", cfg.ResponseDelay, "latency added to every /metrics request")
	flags.StringVar(&opts.accessLog, "access-log", "", "`file` that gets a line per /metrics request: arrival and response Unix ns, status, endpoint (for load benchmarks)")
	flags.Var(&clientsFlag{clients: &cfg.OAuthClients}, "oauth-client", "`id:secret` of a service principal of the OAuth M2M token endpoint /oidc/v1/token (repeatable)")
	flags.StringVar(&cfg.AzureTenant, "azure-tenant", "", "Entra ID tenant served at /{tenant}/oauth2/v2.0/token")
	flags.Var(&clientsFlag{clients: &cfg.AzureClients}, "azure-client", "`id:secret` of a service principal of the Entra ID token endpoint (repeatable)")
	flags.DurationVar(&cfg.TokenLifetime, "token-lifetime", cfg.TokenLifetime, "lifetime of the tokens the token endpoints issue")
	flags.Var(&scheduleFlag{schedule: &opts.schedule}, "lifecycle", lifecycleUsage)
	flags.BoolVar(&opts.repeatSchedule, "lifecycle-repeat", false, "run the -lifecycle schedule again after its last event, until the simulator stops")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return options{}, err
		}
		return options{}, errUsage
	}
	if problem := checkArguments(flags, opts); problem != "" {
		_, _ = fmt.Fprintln(stderr, problem)
		flags.Usage()
		return options{}, errUsage
	}
	if !isFlagSet(flags, "token") {
		if token := getenv(tokenEnv); token != "" {
			cfg.Token = token
		}
	}
	return opts, nil
}

// checkArguments finds what the flag package cannot: leftover arguments
// and flags that contradict each other. It returns "" when all is well.
func checkArguments(flags *flag.FlagSet, opts options) string {
	switch {
	case flags.NArg() > 0:
		return fmt.Sprintf("unexpected arguments: %q", flags.Args())
	case opts.repeatSchedule && len(opts.schedule) == 0:
		return "-lifecycle-repeat needs a -lifecycle schedule"
	case opts.repeatSchedule && slices.MaxFunc(opts.schedule, byOffset).After == 0:
		return "-lifecycle-repeat needs an event after 0s in the -lifecycle schedule, or it would repeat without pause"
	}
	return ""
}

func byOffset(a, b simulator.ScheduledEvent) int {
	return cmp.Compare(a.After, b.After)
}

func isFlagSet(flags *flag.FlagSet, name string) bool {
	set := false
	flags.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// clientsFlag collects repeated id:secret values into a client id to secret
// map.
type clientsFlag struct {
	clients *map[string]string
}

// String lists the client ids only: flag usage output must not show secrets.
func (f *clientsFlag) String() string {
	if f.clients == nil {
		return ""
	}
	return strings.Join(slices.Sorted(maps.Keys(*f.clients)), ",")
}

func (f *clientsFlag) Set(value string) error {
	// The id cannot contain a colon (HTTP Basic splits on the first one);
	// the secret may.
	id, secret, ok := strings.Cut(value, ":")
	if !ok || id == "" || secret == "" {
		return errors.New("want id:secret")
	}
	if *f.clients == nil {
		*f.clients = make(map[string]string)
	}
	if _, dup := (*f.clients)[id]; dup {
		return fmt.Errorf("client %q given twice", id)
	}
	(*f.clients)[id] = secret
	return nil
}

// scheduleFlag parses -lifecycle with simulator.ParseSchedule, so that a bad
// schedule is a usage error at start-up. Whether the endpoints exist is
// only known when an event applies: endpoints may be created at run time.
type scheduleFlag struct {
	schedule *[]simulator.ScheduledEvent
}

func (f *scheduleFlag) String() string {
	if f.schedule == nil {
		return ""
	}
	entries := make([]string, len(*f.schedule))
	for i, ev := range *f.schedule {
		entries[i] = ev.String()
	}
	return strings.Join(entries, ",")
}

func (f *scheduleFlag) Set(value string) error {
	schedule, err := simulator.ParseSchedule(value)
	if err != nil {
		return err
	}
	*f.schedule = append(*f.schedule, schedule...)
	return nil
}
