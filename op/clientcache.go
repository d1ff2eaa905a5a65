package op

// forget drops id from the cache; a load already under way is served but
// not cached (gen).
func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.gen++
	cc.mu.Unlock()
}

// ForgetClient drops a client from this replica's cache, so that a change
// or a deletion through the admin API takes effect here at once. Other
// replicas see it when their cached copy expires (clientCacheTTL, 30 s);
// a deleted client's refresh tokens and recorded access tokens are revoked
// in the shared stores by the admin API, so only tokens without a refresh
// family can outlive the deletion there, and only for that long.
func (p *Provider) ForgetClient(id string) { p.clients.forget(id) }
