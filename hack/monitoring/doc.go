// Package monitoring holds the test of the chart's alert rules and Grafana
// dashboard: every PromQL expression parses, and every metric it reads is
// one haredis documents.
package monitoring
