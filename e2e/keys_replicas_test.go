package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

// jwksKIDs is the kids a server publishes at /keys.
func jwksKIDs(t *testing.T, s *server) []string {
	t.Helper()
	resp, err := http.Get(s.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}

// Replicas on postgres + redis polling every five minutes publish a key
// the CLI adds within seconds: serve wires the durable store's
// LISTEN/NOTIFY into the key manager even behind storage.Combine.
func TestKeyChangeReachesReplicasAtOnce(t *testing.T) {
	pg := pgtest.StartServer(t)
	rs := redistest.Start(t)
	env := append(productionEnv(pg.DSN("postgres"), rs.Addr()), "GONGPAI_KEYS_POLL_INTERVAL=5m")
	replicas := []*server{startServer(t, env...), startServer(t, env...)}
	// Let each serve's rotation job LISTEN before the change is made.
	time.Sleep(time.Second)

	out := replicas[0].cli(t, "", "keys", "rotate", "--reason", "e2e")
	kid, _, ok := strings.Cut(strings.TrimPrefix(out, "key "), " ")
	if !strings.HasPrefix(out, "key ") || !ok {
		t.Fatalf("keys rotate printed %q", out)
	}
	for i, r := range replicas {
		deadline := time.Now().Add(3 * time.Second)
		for !slices.Contains(jwksKIDs(t, r), kid) {
			if time.Now().After(deadline) {
				t.Fatalf("replica %d does not publish %s 3s after the rotation (poll interval 5m): %v", i+1, kid, jwksKIDs(t, r))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
