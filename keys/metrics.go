package keys

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gongpai/gongpai/storage"
)

var (
	descActiveAge = prometheus.NewDesc("gongpai_signing_key_active_age_seconds",
		"Seconds since the active signing key of each algorithm started signing.", []string{"alg"}, nil)
	descKeys = prometheus.NewDesc("gongpai_signing_keys",
		"Signing keys by effective state (next, active, retired, removed, revoked).", []string{"state"}, nil)
	descNextRotation = prometheus.NewDesc("gongpai_signing_key_next_rotation_seconds",
		"Seconds until the active key of each algorithm is replaced: its pending successor's activation, else the rotation schedule (negative when overdue).",
		[]string{"alg"}, nil)
)

// Collector exposes the key ring to Prometheus. Values are computed at
// scrape time from the in-memory snapshot, so they cost no query.
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descActiveAge
	ch <- descKeys
	ch <- descNextRotation
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.current()
	if s == nil {
		return
	}
	now := c.m.now()
	counts := map[storage.KeyState]int{
		storage.KeyNext: 0, storage.KeyActive: 0, storage.KeyRetired: 0, storage.KeyRemoved: 0, storage.KeyRevoked: 0,
	}
	for _, v := range s.views {
		counts[v.State]++
		if v.State == storage.KeyActive {
			ch <- prometheus.MustNewConstMetric(descActiveAge, prometheus.GaugeValue, now.Sub(v.ActivatesAt).Seconds(), v.Algorithm)
			ch <- prometheus.MustNewConstMetric(descNextRotation, prometheus.GaugeValue, v.RetiresAt.Sub(now).Seconds(), v.Algorithm)
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(n), string(state))
	}
}
