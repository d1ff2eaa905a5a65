package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

// balancer is the load balancer in front of the replicas: the test picks
// which replica serves each step, and counts what each one served.
type balancer struct {
	srv     *httptest.Server
	target  atomic.Int32
	proxies []*httputil.ReverseProxy
	mu      sync.Mutex
	served  map[int]int
}

func newBalancer(t testing.TB) *balancer {
	lb := &balancer{served: map[int]int{}}
	lb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(lb.target.Load())
		lb.mu.Lock()
		lb.served[i]++
		lb.mu.Unlock()
		lb.proxies[i].ServeHTTP(w, r)
	}))
	t.Cleanup(lb.srv.Close)
	return lb
}

func (lb *balancer) add(s *server) {
	u, _ := url.Parse(s.URL)
	lb.proxies = append(lb.proxies, httputil.NewSingleHostReverseProxy(u))
}

// use sends every following request to replica i.
func (lb *balancer) use(i int) { lb.target.Store(int32(i)) }

func randomKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// productionEnv points gongpai at a postgres and a redis of this test, with
// the keys every replica must share.
func productionEnv(pgDSN, redisAddr string) []string {
	return []string{
		"GONGPAI_STORE_DRIVER=postgres", "GONGPAI_STORE_DSN=" + pgDSN,
		"GONGPAI_EPHEMERAL_DRIVER=redis", "GONGPAI_EPHEMERAL_REDIS_ADDRS=" + redisAddr,
		"GONGPAI_MASTER_KEY=" + randomKey(), "GONGPAI_CRYPTO_KEY=" + randomKey(),
	}
}

// TestScaleOut runs three replicas on one postgres and one redis behind a
// balancer, and moves every step of a sign-in to a different replica.
func TestScaleOut(t *testing.T) {
	pg := pgtest.StartServer(t)
	rs := redistest.Start(t)
	env := productionEnv(pg.DSN("postgres"), rs.Addr())
	lb := newBalancer(t)
	var replicas []*server
	for range 3 {
		r := startServerAt(t, lb.srv.URL, env...)
		lb.add(r)
		replicas = append(replicas, r)
	}
	co := replicas[0].seedCompany(t)
	lb.use(0)
	oa := newRelyingParty(t, replicas[0], "oa")
	erp := newRelyingParty(t, replicas[0], "erp")
	b := newBrowser(t)

	// Sign in through replica 1 …
	b.run(t, chromedp.Navigate(oa.StartURL("")), submitPassword(co.seeded.ID, co.seeded.Password),
		submitCode(totpCode(t, co.seeded.TOTPSeed, time.Now())), visible(selRPDone))
	cb := oa.awaitCallback(t)
	// … redeem the code at replica 2 …
	lb.use(1)
	tok, err := oa.exchange(cb.Code, cb.Flow.Verifier)
	if err != nil {
		t.Fatalf("code from replica 1 redeemed at replica 2: %v", err)
	}
	claims := oa.idClaims(t, tok, cb.Flow.Nonce)

	// … SSO into a second app through replica 3, with no page shown.
	lb.use(2)
	b.resetDocs()
	b.run(t, chromedp.Navigate(erp.StartURL("")), visible(selRPDone))
	if shown := b.shownPages(lb.srv.URL); len(shown) > 0 {
		t.Errorf("SSO through replica 3 showed pages: %v", shown)
	}
	cb = erp.awaitCallback(t)
	tok2, err := erp.exchange(cb.Code, cb.Flow.Verifier)
	if err != nil {
		t.Fatalf("SSO code exchange at replica 3: %v", err)
	}
	if c := erp.idClaims(t, tok2, cb.Flow.Nonce); c["sid"] != claims["sid"] {
		t.Errorf("replica 3 gave sid %v, want the session from replica 1 (%v)", c["sid"], claims["sid"])
	}

	// Sign out at replica 2: the session is gone on all three.
	lb.use(1)
	rawID, _ := tok.Extra("id_token").(string)
	b.run(t, chromedp.Navigate(oa.endSessionURL(t, rawID, oa.srv.URL+"/bye", "x")), visible("#rp-bye"))
	for i := range replicas {
		lb.use(i)
		b.run(t, chromedp.Navigate(erp.StartURL("prompt=none")), visible(selRPDone))
		if cb := erp.awaitCallback(t); cb.Error != "login_required" {
			t.Errorf("after sign-out at replica 2, replica %d: prompt=none gave %q, want login_required", i+1, cb.Error)
		}
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for i := range replicas {
		if lb.served[i] == 0 {
			t.Errorf("replica %d served nothing: the balancer did not spread the flow", i+1)
		}
	}
}
