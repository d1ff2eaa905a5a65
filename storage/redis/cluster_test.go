package redis_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/redis"
	"github.com/gongpai/gongpai/storage/redis/redistest"
	"github.com/gongpai/gongpai/storage/storagetest"
)

// TestConformanceCluster runs the suite in cluster mode against a one-node
// Redis Cluster, which refuses any command or script whose keys span hash
// slots just as a many-node cluster does.
func TestConformanceCluster(t *testing.T) {
	srv := redistest.StartCluster(t)
	var n atomic.Int64
	storagetest.RunEphemeral(t, func(t *testing.T, now func() time.Time) storage.Ephemeral {
		return openOpts(t, redis.Options{Addrs: []string{srv.Addr()}, Cluster: true,
			KeyPrefix: fmt.Sprintf("cluster-%d:", n.Add(1)), Now: now})
	})
}
