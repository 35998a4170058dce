// Package dashtest checks the Grafana dashboard (dashboards/caapolicy.json) and the alert rules
// (alerts/caapolicy.yml) against a running CoreDNS with caapolicy: every PromQL expression parses
// with Prometheus's own parser, and every metric it queries is exported on /metrics. The fleet
// recording rules (alerts/caapolicy-fleet.yml) run in a real Prometheus scraping two nodes. It is
// a module of its own so that caapolicy's module does not depend on Prometheus's server code.
package dashtest
