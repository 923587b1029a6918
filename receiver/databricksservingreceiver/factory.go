// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
)

const (
	// defaultCollectionInterval is half of Databricks' one-minute window, so every minute is seen at least once
	// even when a scrape is late; seeing it twice costs nothing (it is added once).
	defaultCollectionInterval = 30 * time.Second
	defaultRequestTimeout     = 10 * time.Second
	// defaultMaxConcurrency keeps a 1000-endpoint workspace's cycle to a few seconds at typical API latency.
	defaultMaxConcurrency = 32
)

// NewFactory creates a factory for the databricksserving receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(createMetricsReceiver, metadata.MetricsStability))
}

func createDefaultConfig() component.Config {
	controller := scraperhelper.NewDefaultControllerConfig()
	controller.CollectionInterval = defaultCollectionInterval
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = defaultRequestTimeout
	controller.Timeout = defaultRequestTimeout // the same key; see Config
	return &Config{
		ControllerConfig:     controller,
		ClientConfig:         client,
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		Discovery:            discovery.Config{RefreshInterval: discovery.DefaultRefreshInterval},
		Shard:                discovery.ShardConfig{Count: 1},
		MaxConcurrency:       defaultMaxConcurrency,
		SpreadRequests:       true,
		Limits: LimitsConfig{
			MaxBodyBytes:        defaultMaxBodyBytes,
			MaxSamples:          defaultMaxSamples,
			MaxLabels:           defaultMaxLabels,
			MaxLabelNameLength:  defaultMaxLabelNameLength,
			MaxLabelValueLength: defaultMaxLabelValueLength,
			MaxFamilyNameLength: defaultMaxFamilyNameLength,
			MaxHelpLength:       defaultMaxHelpLength,
			MaxSeries:           defaultMaxSeries,
			MaxWorkspaceSeries:  defaultMaxWorkspaceSeries,
			MaxEndpoints:        defaultMaxEndpoints,
			MaxServedEntities:   defaultMaxServedEntities,
			MaxTags:             defaultMaxTags,
			MaxTagKeyLength:     defaultMaxTagKeyLength,
			MaxTagValueLength:   defaultMaxTagValueLength,
		},
	}
}

func createMetricsReceiver(_ context.Context, settings receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	rCfg, ok := cfg.(*Config)
	if !ok {
		return nil, errors.New("config is not a databricksserving receiver config")
	}
	var sc scraper.Metrics
	var err error
	if rCfg.multiWorkspace() {
		s := newAccountScraper(rCfg, settings)
		sc, err = scraper.NewMetrics(s.scrape, scraper.WithStart(s.start), scraper.WithShutdown(s.shutdown))
	} else {
		s := newServingScraper(rCfg, settings)
		sc, err = scraper.NewMetrics(s.scrape, scraper.WithStart(s.start), scraper.WithShutdown(s.shutdown))
	}
	if err != nil {
		return nil, err
	}
	// "timeout" is the per-request timeout (see Config); the scraper bounds each cycle by the interval itself.
	controller := rCfg.ControllerConfig
	controller.Timeout = 0
	return scraperhelper.NewMetricsController(&controller, settings, next, scraperhelper.AddMetricsScraper(metadata.Type, sc))
}
