package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

// serverCPU returns the CPU time (user + system) the process has used so
// far, from /proc: what a request costs the server, apart from the load
// generator sharing the machine.
func serverCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc: cannot measure server CPU (%v)", err)
	}
	// Fields after the ")" that ends the command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 Hz on Linux).
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// backendEnvs are the two deployments compared: the embedded default and
// the production pair.
func backendEnv(b *testing.B, name string) []string {
	if name == "sqlite" {
		return nil
	}
	var dsn string
	if os.Getenv(pgtest.EnvDSN) != "" {
		dsn = pgtest.DSN(b)
	} else {
		dsn = pgtest.StartServer(b).DSN("postgres")
	}
	return productionEnv(dsn, redistest.Start(b).Addr())
}

// measure runs op from parallel goroutines and reports requests per
// second and the server's CPU time per request next to ns/op.
func measure(b *testing.B, s *server, op func(worker int) error) {
	var workers atomic.Int64
	cpu0, t0 := serverCPU(b, s.cmd.Process.Pid), time.Now()
	b.ResetTimer()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		w := int(workers.Add(1)) - 1
		for pb.Next() {
			if err := op(w); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	elapsed, cpu := time.Since(t0), serverCPU(b, s.cmd.Process.Pid)-cpu0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-cpu-µs/req")
}

// BenchmarkThroughput compares the embedded store with postgres + redis on
// the two hot paths: a signed-in browser's silent SSO round trip
// (authorize → code → token) and a service account's client_credentials
// token request.
func BenchmarkThroughput(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres+redis"} {
		b.Run(backend+"/silent-sso", func(b *testing.B) {
			s := startServer(b, append(backendEnv(b, backend), "GONGPAI_RATE_LIMIT_PER_IP=1000000", "GONGPAI_RATE_LIMIT_AUTHORIZE_PER_MINUTE=1000000")...)
			s.cli(b, "", "entity", "add", "--code", "ACME", "--name", "ACME", "--id-rule", "{dept}{yyyy}{seq:3}")
			s.cli(b, "", "dept", "add", "--entity", "ACME", "--code", "IT01", "--name", "IT")
			rp := newRelyingParty(b, s, "bench")
			// One signed-in browser per worker (8 = 2 CPUs × parallelism 4).
			const browsers = 8
			fbs := make([]*formBrowser, browsers)
			for i := range fbs {
				id := fmt.Sprintf("IT012024%03d", i+1)
				s.cli(b, "bench password 123\n", "employee", "add", "--entity", "ACME", "--dept", "IT01", "--name", id, "--hired", "2024-01-01", "--totp-seed", importedSeed)
				fbs[i] = newFormBrowser(b, s.URL, rp)
				cb, err := fbs[i].signIn(rp.StartURL(""), id, "bench password 123", totpCode(b, importedSeed, time.Now()))
				if err != nil || cb.Get("code") == "" {
					b.Fatalf("sign-in %s: %v %v", id, err, cb)
				}
				rp.takeFlow(cb.Get("state"))
			}
			measure(b, s, func(w int) error {
				_, cb, err := fbs[w%browsers].get(rp.StartURL(""))
				if err != nil || cb.Get("code") == "" {
					return fmt.Errorf("silent SSO: %v %v", err, cb)
				}
				_, err = rp.exchange(cb.Get("code"), rp.takeFlow(cb.Get("state")).Verifier)
				return err
			})
		})
		b.Run(backend+"/client-credentials", func(b *testing.B) {
			s := startServer(b, backendEnv(b, backend)...)
			out := s.cli(b, "", "client", "add", "--id", "hr-sync", "--grant", "client_credentials", "--scope", "openid")
			secret := secretLine.FindStringSubmatch(out)
			if secret == nil {
				b.Fatalf("no secret in %q", out)
			}
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			body := url.Values{"grant_type": {"client_credentials"}}.Encode()
			measure(b, s, func(int) error {
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("hr-sync", secret[1])
				resp, err := c.Do(req)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("client_credentials: status %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}
