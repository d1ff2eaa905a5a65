package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

var ephemeralTests = []ephemeralTest{
	{"AuthRequestRoundTrip", testAuthRequestRoundTrip},
	{"AuthRequestDuplicate", testAuthRequestDuplicate},
	{"AuthRequestMissingAndExpired", testAuthRequestMissingAndExpired},
	{"AuthRequestComplete", testAuthRequestComplete},
	{"AuthRequestCompleteMissingOrExpired", testAuthRequestCompleteMissing},
	{"AuthRequestDelete", testAuthRequestDelete},
	{"AuthCodeTakeOnce", testAuthCodeTakeOnce},
	{"AuthCodeOnePerRequest", testAuthCodeOnePerRequest},
	{"AuthCodeFailures", testAuthCodeFailures},
	{"AuthCodeExpired", testAuthCodeExpired},
	{"SessionRoundTrip", testSessionRoundTrip},
	{"SessionMissingAndExpired", testSessionMissingAndExpired},
	{"SessionAddClient", testSessionAddClient},
	{"SessionDelete", testSessionDelete},
	{"SessionsOfSubject", testSessionsOfSubject},
	{"SessionsOfSubjectDelete", testDeleteSessionsOfSubject},
	{"AccessTokenRoundTrip", testAccessTokenRoundTrip},
	{"AccessTokenMissingAndExpired", testAccessTokenMissingAndExpired},
	{"AccessTokenDelete", testAccessTokenDelete},
	{"HitCounts", testHitCounts},
	{"HitFixedWindow", testHitFixedWindow},
	{"TOTPStep", testTOTPStep},
	{"TOTPStepExpires", testTOTPStepExpires},
	{"Ping", func(t *testing.T, s storage.Ephemeral, _ *clock) { must(t, s.Ping(t.Context()), "Ping") }},
	{"CancelledContext", testEphemeralCancelled},
	{"RaceTakeAuthCode", testRaceTakeAuthCode},
	{"RaceSaveAuthCode", testRaceSaveAuthCode},
	{"RaceUseTOTPStep", testRaceUseTOTPStep},
	{"RaceHit", testRaceHit},
	{"RaceAddSessionClient", testRaceAddSessionClient},
}

func authRequest(c *clock, id string) *storage.AuthRequest {
	maxAge := 10 * time.Minute
	return &storage.AuthRequest{
		ID:                  id,
		ClientID:            "oa",
		RedirectURI:         "https://oa.acme.example/callback",
		Scopes:              []string{"openid", "profile", "employee"},
		State:               "state-xyz",
		Nonce:               "nonce-abc",
		ResponseType:        "code",
		ResponseMode:        "query",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login", "consent"},
		MaxAge:              &maxAge,
		UILocales:           []string{"zh-CN", "en"},
		LoginHint:           "HR012023001",
		ACRValues:           []string{"urn:gongpai:mfa"},
		HintSubject:         "sub-hint",
		BrowserBinding:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		CreatedAt:           c.local(0),
		ExpiresAt:           c.local(30 * time.Minute),
	}
}

func testAuthRequestRoundTrip(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	zero := time.Duration(0)
	tests := []struct {
		name string
		r    *storage.AuthRequest
	}{
		{"every field set", authRequest(c, "ar-full")},
		{"nil lists and no max_age", &storage.AuthRequest{ID: "ar-min", ClientID: "spa", RedirectURI: "http://127.0.0.1/cb",
			ResponseType: "code", CreatedAt: c.local(0), ExpiresAt: c.local(time.Minute)}},
		{"empty lists and max_age=0", &storage.AuthRequest{ID: "ar-empty", ClientID: "spa", Scopes: []string{}, Prompt: []string{},
			MaxAge: &zero, UILocales: []string{}, ACRValues: []string{}, AMR: []string{}, CreatedAt: c.local(0), ExpiresAt: c.local(time.Minute)}},
		{"already done", func() *storage.AuthRequest {
			r := authRequest(c, "ar-done")
			r.Done, r.Subject, r.AuthTime, r.AMR, r.ACR, r.SessionID = true, "sub-1", c.local(-time.Second), []string{"pwd"}, "acr-1", "sess-1"
			return r
		}()},
	}
	for _, tt := range tests {
		must(t, s.CreateAuthRequest(ctx, tt.r), "CreateAuthRequest "+tt.name)
		got, err := s.AuthRequest(ctx, tt.r.ID)
		must(t, err, "AuthRequest "+tt.name)
		wantEqual(t, tt.name, got, tt.r)
	}
}

func testAuthRequestDuplicate(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, authRequest(c, "ar-1")), "CreateAuthRequest")
	wantErr(t, s.CreateAuthRequest(ctx, authRequest(c, "ar-1")), storage.ErrConflict, "CreateAuthRequest duplicate")
}

func testAuthRequestMissingAndExpired(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	_, err := s.AuthRequest(ctx, "ar-missing")
	wantErr(t, err, storage.ErrNotFound, "AuthRequest missing")
	must(t, s.CreateAuthRequest(ctx, authRequest(c, "ar-1")), "CreateAuthRequest")
	c.Advance(29 * time.Minute)
	_, err = s.AuthRequest(ctx, "ar-1")
	must(t, err, "AuthRequest before expiry")
	c.Advance(2 * time.Minute)
	_, err = s.AuthRequest(ctx, "ar-1")
	wantErr(t, err, storage.ErrNotFound, "AuthRequest after expiry")
}

func testAuthRequestComplete(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	r := authRequest(c, "ar-1")
	must(t, s.CreateAuthRequest(ctx, r), "CreateAuthRequest")
	res := storage.AuthResult{Subject: "sub-1", AuthTime: c.local(time.Second), AMR: []string{"pwd", "otp"}, ACR: "urn:gongpai:mfa", SessionID: "sess-1"}
	must(t, s.CompleteAuthRequest(ctx, "ar-1", res), "CompleteAuthRequest")
	want := *r
	want.Done, want.Subject, want.AuthTime, want.AMR, want.ACR, want.SessionID = true, res.Subject, res.AuthTime, res.AMR, res.ACR, res.SessionID
	got, err := s.AuthRequest(ctx, "ar-1")
	must(t, err, "AuthRequest")
	wantEqual(t, "completed request", got, &want)
}

func testAuthRequestCompleteMissing(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	res := storage.AuthResult{Subject: "sub-1", AuthTime: c.local(0)}
	wantErr(t, s.CompleteAuthRequest(ctx, "ar-missing", res), storage.ErrNotFound, "CompleteAuthRequest missing")
	must(t, s.CreateAuthRequest(ctx, authRequest(c, "ar-1")), "CreateAuthRequest")
	c.Advance(31 * time.Minute)
	wantErr(t, s.CompleteAuthRequest(ctx, "ar-1", res), storage.ErrNotFound, "CompleteAuthRequest expired")
}

func testAuthRequestDelete(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, authRequest(c, "ar-1")), "CreateAuthRequest")
	must(t, s.CreateAuthRequest(ctx, authRequest(c, "ar-2")), "CreateAuthRequest")
	must(t, s.DeleteAuthRequest(ctx, "ar-1"), "DeleteAuthRequest")
	_, err := s.AuthRequest(ctx, "ar-1")
	wantErr(t, err, storage.ErrNotFound, "AuthRequest after delete")
	_, err = s.AuthRequest(ctx, "ar-2")
	must(t, err, "other AuthRequest after delete")
	must(t, s.DeleteAuthRequest(ctx, "ar-1"), "DeleteAuthRequest again (idempotent)")
}

// completed creates an auth request and completes it, as sign-in does
// before a code is issued.
func completed(t *testing.T, s storage.Ephemeral, c *clock, id string) *storage.AuthRequest {
	t.Helper()
	ctx := t.Context()
	r := authRequest(c, id)
	must(t, s.CreateAuthRequest(ctx, r), "CreateAuthRequest")
	res := storage.AuthResult{Subject: "sub-1", AuthTime: c.local(0), AMR: []string{"pwd", "otp"}, ACR: "urn:gongpai:mfa", SessionID: "sess-1"}
	must(t, s.CompleteAuthRequest(ctx, id, res), "CompleteAuthRequest")
	r.Done, r.Subject, r.AuthTime, r.AMR, r.ACR, r.SessionID = true, res.Subject, res.AuthTime, res.AMR, res.ACR, res.SessionID
	return r
}

func testAuthCodeTakeOnce(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	want := completed(t, s, c, "ar-1")
	must(t, s.SaveAuthCode(ctx, "ar-1", "code-1", time.Minute), "SaveAuthCode")
	got, err := s.TakeAuthCode(ctx, "code-1")
	must(t, err, "TakeAuthCode")
	wantEqual(t, "request behind the code", got, want)
	_, err = s.TakeAuthCode(ctx, "code-1")
	wantErr(t, err, storage.ErrNotFound, "TakeAuthCode a second time")
}

func testAuthCodeOnePerRequest(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	completed(t, s, c, "ar-1")
	completed(t, s, c, "ar-2")
	must(t, s.SaveAuthCode(ctx, "ar-1", "code-1", time.Minute), "SaveAuthCode")
	wantErr(t, s.SaveAuthCode(ctx, "ar-1", "code-2", time.Minute), storage.ErrConflict, "second code for one request")
	wantErr(t, s.SaveAuthCode(ctx, "ar-2", "code-1", time.Minute), storage.ErrConflict, "one code for two requests")
	_, err := s.TakeAuthCode(ctx, "code-2")
	wantErr(t, err, storage.ErrNotFound, "TakeAuthCode of the refused code")
	_, err = s.TakeAuthCode(ctx, "code-1")
	must(t, err, "TakeAuthCode")
	wantErr(t, s.SaveAuthCode(ctx, "ar-1", "code-3", time.Minute), storage.ErrConflict, "new code after the first was taken")
}

func testAuthCodeFailures(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	wantErr(t, s.SaveAuthCode(ctx, "ar-missing", "code-1", time.Minute), storage.ErrNotFound, "SaveAuthCode for a missing request")
	_, err := s.TakeAuthCode(ctx, "code-unknown")
	wantErr(t, err, storage.ErrNotFound, "TakeAuthCode unknown")

	completed(t, s, c, "ar-1")
	must(t, s.SaveAuthCode(ctx, "ar-1", "code-1", time.Minute), "SaveAuthCode")
	must(t, s.DeleteAuthRequest(ctx, "ar-1"), "DeleteAuthRequest")
	_, err = s.TakeAuthCode(ctx, "code-1")
	wantErr(t, err, storage.ErrNotFound, "TakeAuthCode after its request was deleted")

	completed(t, s, c, "ar-2")
	c.Advance(31 * time.Minute)
	wantErr(t, s.SaveAuthCode(ctx, "ar-2", "code-2", time.Minute), storage.ErrNotFound, "SaveAuthCode for an expired request")
}

func testAuthCodeExpired(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	completed(t, s, c, "ar-1")
	completed(t, s, c, "ar-2")
	must(t, s.SaveAuthCode(ctx, "ar-1", "code-1", time.Minute), "SaveAuthCode")
	must(t, s.SaveAuthCode(ctx, "ar-2", "code-2", 5*time.Minute), "SaveAuthCode")
	c.Advance(2 * time.Minute)
	_, err := s.TakeAuthCode(ctx, "code-1")
	wantErr(t, err, storage.ErrNotFound, "TakeAuthCode after the code's ttl")
	_, err = s.TakeAuthCode(ctx, "code-2")
	must(t, err, "TakeAuthCode within the code's ttl")
}

func session(c *clock, id, subject string) *storage.Session {
	return &storage.Session{
		ID: id, Subject: subject, AuthTime: c.local(0), AMR: []string{"pwd", "otp"}, ACR: "urn:gongpai:mfa",
		ClientIDs: []string{"oa"}, UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", RemoteIP: "2001:db8::1",
		CreatedAt: c.local(0), ExpiresAt: c.local(10 * time.Hour),
	}
}

func testSessionRoundTrip(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	bare := &storage.Session{ID: "sess-bare", Subject: "sub-1", AuthTime: c.local(0), CreatedAt: c.local(0), ExpiresAt: c.local(time.Hour)}
	empty := &storage.Session{ID: "sess-empty", Subject: "sub-1", AMR: []string{}, ClientIDs: []string{}, CreatedAt: c.local(0), ExpiresAt: c.local(time.Hour)}
	for _, sess := range []*storage.Session{session(c, "sess-full", "sub-1"), bare, empty} {
		must(t, s.CreateSession(ctx, sess), "CreateSession "+sess.ID)
		got, err := s.Session(ctx, sess.ID)
		must(t, err, "Session "+sess.ID)
		wantEqual(t, "Session "+sess.ID, got, sess)
	}
	wantErr(t, s.CreateSession(ctx, session(c, "sess-full", "sub-2")), storage.ErrConflict, "CreateSession duplicate")
}

func testSessionMissingAndExpired(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	_, err := s.Session(ctx, "sess-missing")
	wantErr(t, err, storage.ErrNotFound, "Session missing")
	must(t, s.CreateSession(ctx, session(c, "sess-1", "sub-1")), "CreateSession")
	c.Advance(10*time.Hour - time.Minute)
	_, err = s.Session(ctx, "sess-1")
	must(t, err, "Session before expiry")
	c.Advance(2 * time.Minute)
	_, err = s.Session(ctx, "sess-1")
	wantErr(t, err, storage.ErrNotFound, "Session after expiry")
	wantErr(t, s.AddSessionClient(ctx, "sess-1", "erp"), storage.ErrNotFound, "AddSessionClient expired")
}

func testSessionAddClient(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	sess := session(c, "sess-1", "sub-1")
	sess.ClientIDs = nil
	must(t, s.CreateSession(ctx, sess), "CreateSession")
	steps := []struct {
		add  string
		want []string
	}{
		{"oa", []string{"oa"}},
		{"erp", []string{"erp", "oa"}},
		{"oa", []string{"erp", "oa"}},
		{"wiki", []string{"erp", "oa", "wiki"}},
		{"erp", []string{"erp", "oa", "wiki"}},
	}
	for _, st := range steps {
		must(t, s.AddSessionClient(ctx, "sess-1", st.add), "AddSessionClient "+st.add)
		got, err := s.Session(ctx, "sess-1")
		must(t, err, "Session")
		ids := slices.Clone(got.ClientIDs)
		slices.Sort(ids)
		if !slices.Equal(ids, st.want) {
			t.Errorf("after adding %q: got ClientIDs %v, want %v", st.add, got.ClientIDs, st.want)
		}
	}
	wantErr(t, s.AddSessionClient(ctx, "sess-missing", "oa"), storage.ErrNotFound, "AddSessionClient missing")
}

func testSessionDelete(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	must(t, s.CreateSession(ctx, session(c, "sess-1", "sub-1")), "CreateSession")
	must(t, s.CreateSession(ctx, session(c, "sess-2", "sub-1")), "CreateSession")
	must(t, s.DeleteSession(ctx, "sess-1"), "DeleteSession")
	_, err := s.Session(ctx, "sess-1")
	wantErr(t, err, storage.ErrNotFound, "Session after delete")
	_, err = s.Session(ctx, "sess-2")
	must(t, err, "other Session after delete")
	must(t, s.DeleteSession(ctx, "sess-1"), "DeleteSession again (idempotent)")
}

// seedSessions creates two live sessions for alice, one for bob, and one
// for alice that expires after 1h; callers advance past it.
func seedSessions(t *testing.T, s storage.Ephemeral, c *clock) (alice, bob []storage.Session) {
	t.Helper()
	ctx := t.Context()
	short := session(c, "sess-a-short", "alice")
	short.ExpiresAt = c.local(time.Hour)
	for _, sess := range []*storage.Session{session(c, "sess-a1", "alice"), session(c, "sess-a2", "alice"), session(c, "sess-b1", "bob"), short} {
		must(t, s.CreateSession(ctx, sess), "CreateSession")
		switch sess.ID {
		case "sess-a1", "sess-a2":
			alice = append(alice, *sess)
		case "sess-b1":
			bob = append(bob, *sess)
		}
	}
	return alice, bob
}

func sessionsByID(ss []storage.Session) []storage.Session {
	sortBy(ss, func(s storage.Session) string { return s.ID })
	return ss
}

func testSessionsOfSubject(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	alice, bob := seedSessions(t, s, c)
	c.Advance(2 * time.Hour)
	tests := []struct {
		subject string
		want    []storage.Session
	}{
		{"alice", alice},
		{"bob", bob},
		{"carol", nil},
	}
	for _, tt := range tests {
		got, err := s.SessionsOfSubject(ctx, tt.subject)
		must(t, err, "SessionsOfSubject "+tt.subject)
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		wantEqual(t, "SessionsOfSubject "+tt.subject, sessionsByID(got), tt.want)
	}
}

func testDeleteSessionsOfSubject(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	alice, bob := seedSessions(t, s, c)
	c.Advance(2 * time.Hour)
	got, err := s.DeleteSessionsOfSubject(ctx, "alice")
	must(t, err, "DeleteSessionsOfSubject")
	wantEqual(t, "deleted sessions (live ones only)", sessionsByID(got), alice)
	for _, sess := range alice {
		_, err := s.Session(ctx, sess.ID)
		wantErr(t, err, storage.ErrNotFound, "Session after DeleteSessionsOfSubject")
	}
	left, err := s.SessionsOfSubject(ctx, "bob")
	must(t, err, "SessionsOfSubject bob")
	wantEqual(t, "bob's sessions", left, bob)
	got, err = s.DeleteSessionsOfSubject(ctx, "alice")
	must(t, err, "DeleteSessionsOfSubject again")
	if len(got) != 0 {
		t.Errorf("second DeleteSessionsOfSubject: got %d sessions, want 0", len(got))
	}
}

func accessToken(c *clock, id, family, subject string) *storage.AccessToken {
	return &storage.AccessToken{
		ID: id, ClientID: "oa", Subject: subject, Scopes: []string{"openid", "employee"}, Audience: []string{"oa", "erp"},
		RefreshFamily: family, SessionID: "sess-1", CreatedAt: c.local(0), ExpiresAt: c.local(5 * time.Minute),
	}
}

func testAccessTokenRoundTrip(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	clientCreds := &storage.AccessToken{ID: "at-cc", ClientID: "batch", Subject: "batch", Scopes: []string{},
		CreatedAt: c.local(0), ExpiresAt: c.local(time.Minute)}
	for _, at := range []*storage.AccessToken{accessToken(c, "at-1", "fam-1", "sub-1"), clientCreds} {
		must(t, s.CreateAccessToken(ctx, at), "CreateAccessToken")
		got, err := s.AccessToken(ctx, at.ID)
		must(t, err, "AccessToken")
		wantEqual(t, "AccessToken "+at.ID, got, at)
	}
	wantErr(t, s.CreateAccessToken(ctx, accessToken(c, "at-1", "", "sub-2")), storage.ErrConflict, "CreateAccessToken duplicate")
}

func testAccessTokenMissingAndExpired(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	_, err := s.AccessToken(ctx, "at-missing")
	wantErr(t, err, storage.ErrNotFound, "AccessToken missing")
	must(t, s.CreateAccessToken(ctx, accessToken(c, "at-1", "", "sub-1")), "CreateAccessToken")
	c.Advance(4 * time.Minute)
	_, err = s.AccessToken(ctx, "at-1")
	must(t, err, "AccessToken before expiry")
	c.Advance(2 * time.Minute)
	_, err = s.AccessToken(ctx, "at-1")
	wantErr(t, err, storage.ErrNotFound, "AccessToken after expiry")
}

func testAccessTokenDelete(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	tokens := []*storage.AccessToken{
		accessToken(c, "at-f1-a", "fam-1", "alice"),
		accessToken(c, "at-f1-b", "fam-1", "alice"),
		accessToken(c, "at-f2", "fam-2", "alice"),
		accessToken(c, "at-nofam", "", "alice"),
		accessToken(c, "at-bob", "fam-3", "bob"),
		accessToken(c, "at-bob-nofam", "", "bob"),
		accessToken(c, "at-single", "", "carol"),
	}
	for _, at := range tokens {
		must(t, s.CreateAccessToken(ctx, at), "CreateAccessToken")
	}
	steps := []struct {
		name string
		do   func() error
		gone []string
	}{
		{"DeleteAccessToken", func() error { return s.DeleteAccessToken(ctx, "at-single") }, []string{"at-single"}},
		{"DeleteAccessToken missing", func() error { return s.DeleteAccessToken(ctx, "at-single") }, nil},
		{"DeleteAccessTokensOfFamily", func() error { return s.DeleteAccessTokensOfFamily(ctx, "fam-1") }, []string{"at-f1-a", "at-f1-b"}},
		// "" is "no family", not a family: it must not reach at-nofam.
		{"DeleteAccessTokensOfFamily empty", func() error { return s.DeleteAccessTokensOfFamily(ctx, "") }, nil},
		{"DeleteAccessTokensOfSubject", func() error { return s.DeleteAccessTokensOfSubject(ctx, "alice") }, []string{"at-f2", "at-nofam"}},
	}
	gone := map[string]bool{}
	for _, st := range steps {
		must(t, st.do(), st.name)
		for _, id := range st.gone {
			gone[id] = true
		}
		for _, at := range tokens {
			_, err := s.AccessToken(ctx, at.ID)
			if gone[at.ID] {
				wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("after %s: %s", st.name, at.ID))
			} else {
				must(t, err, fmt.Sprintf("after %s: %s", st.name, at.ID))
			}
		}
	}
}

func testHitCounts(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	const window = 15 * time.Minute
	steps := []struct {
		name    string
		advance time.Duration
		reset   string
		key     string
		want    int64
	}{
		{name: "first", key: "emp:HR012023001", want: 1},
		{name: "second", key: "emp:HR012023001", want: 2},
		{name: "other key", key: "ip:192.0.2.1", want: 1},
		{name: "third", key: "emp:HR012023001", want: 3},
		{name: "after reset", reset: "emp:HR012023001", key: "emp:HR012023001", want: 1},
		{name: "reset of an unknown key", reset: "never-hit", key: "emp:HR012023001", want: 2},
		{name: "other key untouched", key: "ip:192.0.2.1", want: 2},
		{name: "after the window", advance: window + time.Second, key: "ip:192.0.2.1", want: 1},
	}
	for _, st := range steps {
		c.Advance(st.advance)
		if st.reset != "" {
			must(t, s.ResetHits(ctx, st.reset), "ResetHits")
		}
		got, err := s.Hit(ctx, st.key, window)
		must(t, err, "Hit "+st.name)
		if got != st.want {
			t.Errorf("Hit %s: got %d, want %d", st.name, got, st.want)
		}
	}
}

func testHitFixedWindow(t *testing.T, s storage.Ephemeral, c *clock) {
	// The window starts at the first hit and does not slide: hits late in
	// the window do not extend it.
	ctx := t.Context()
	const window = 10 * time.Minute
	steps := []struct {
		advance time.Duration
		want    int64
	}{
		{0, 1},
		{6 * time.Minute, 2},
		{3 * time.Minute, 3},
		{2 * time.Minute, 1}, // 11 minutes after the first hit: a new window
		{9 * time.Minute, 2},
	}
	for i, st := range steps {
		c.Advance(st.advance)
		got, err := s.Hit(ctx, "k", window)
		must(t, err, "Hit")
		if got != st.want {
			t.Errorf("hit %d: got %d, want %d", i, got, st.want)
		}
	}
}

func testTOTPStep(t *testing.T, s storage.Ephemeral, _ *clock) {
	ctx := t.Context()
	const ttl = 3 * time.Minute
	steps := []struct {
		subject string
		step    int64
		want    error
	}{
		{"alice", 1000, nil},
		{"alice", 1000, storage.ErrConflict}, // replay in the same step
		{"alice", 999, storage.ErrConflict},  // an older step (skew window)
		{"bob", 1000, nil},                   // steps are per subject
		{"alice", 1001, nil},
		{"alice", 1000, storage.ErrConflict},
		{"alice", 1003, nil},
		{"alice", 1002, storage.ErrConflict},
	}
	for _, st := range steps {
		err := s.UseTOTPStep(ctx, st.subject, st.step, ttl)
		what := fmt.Sprintf("UseTOTPStep(%s, %d)", st.subject, st.step)
		if st.want == nil {
			must(t, err, what)
		} else {
			wantErr(t, err, st.want, what)
		}
	}
}

func testTOTPStepExpires(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	must(t, s.UseTOTPStep(ctx, "alice", 1000, 3*time.Minute), "UseTOTPStep")
	c.Advance(2 * time.Minute)
	wantErr(t, s.UseTOTPStep(ctx, "alice", 1000, 3*time.Minute), storage.ErrConflict, "UseTOTPStep within ttl")
	c.Advance(2 * time.Minute)
	must(t, s.UseTOTPStep(ctx, "alice", 1000, 3*time.Minute), "UseTOTPStep after the record expired")
}

func testEphemeralCancelled(t *testing.T, s storage.Ephemeral, c *clock) {
	completed(t, s, c, "ar-1")
	must(t, s.SaveAuthCode(t.Context(), "ar-1", "code-1", time.Minute), "SaveAuthCode")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"AuthRequest", func() error { _, err := s.AuthRequest(ctx, "ar-1"); return err }},
		{"CreateAuthRequest", func() error { return s.CreateAuthRequest(ctx, authRequest(c, "ar-2")) }},
		{"TakeAuthCode", func() error { _, err := s.TakeAuthCode(ctx, "code-1"); return err }},
		{"CreateSession", func() error { return s.CreateSession(ctx, session(c, "sess-1", "sub-1")) }},
		{"DeleteSessionsOfSubject", func() error { _, err := s.DeleteSessionsOfSubject(ctx, "sub-1"); return err }},
		{"Hit", func() error { _, err := s.Hit(ctx, "k", time.Minute); return err }},
		{"UseTOTPStep", func() error { return s.UseTOTPStep(ctx, "alice", 1, time.Minute) }},
	}
	for _, tt := range tests {
		wantErr(t, tt.call(), context.Canceled, tt.name)
	}
	_, err := s.TakeAuthCode(t.Context(), "code-1")
	must(t, err, "TakeAuthCode after a cancelled take")
}

func testRaceTakeAuthCode(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	completed(t, s, c, "ar-1")
	must(t, s.SaveAuthCode(ctx, "ar-1", "code-1", time.Minute), "SaveAuthCode")
	errs := race(workers, func(int) error {
		r, err := s.TakeAuthCode(ctx, "code-1")
		if err == nil && r.ID != "ar-1" {
			return fmt.Errorf("took request %q, want ar-1", r.ID)
		}
		return err
	})
	wantOneWinner(t, errs, storage.ErrNotFound)
}

func testRaceSaveAuthCode(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	completed(t, s, c, "ar-1")
	errs := race(workers, func(i int) error {
		return s.SaveAuthCode(ctx, "ar-1", fmt.Sprintf("code-%d", i), time.Minute)
	})
	w := wantOneWinner(t, errs, storage.ErrConflict)
	for i := range workers {
		_, err := s.TakeAuthCode(ctx, fmt.Sprintf("code-%d", i))
		if i == w {
			must(t, err, "TakeAuthCode of the winning code")
		} else {
			wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("TakeAuthCode of losing code %d", i))
		}
	}
}

func testRaceUseTOTPStep(t *testing.T, s storage.Ephemeral, _ *clock) {
	ctx := t.Context()
	errs := race(workers, func(int) error { return s.UseTOTPStep(ctx, "alice", 5000, time.Minute) })
	wantOneWinner(t, errs, storage.ErrConflict)
}

func testRaceHit(t *testing.T, s storage.Ephemeral, _ *clock) {
	ctx := t.Context()
	const perWorker = 4
	counts := make([][]int64, workers)
	errs := race(workers, func(i int) error {
		for range perWorker {
			n, err := s.Hit(ctx, "ip:192.0.2.1", time.Hour)
			if err != nil {
				return err
			}
			counts[i] = append(counts[i], n)
		}
		return nil
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("goroutine %d", i))
	}
	// Atomic increments hand out every count from 1 to N exactly once.
	all := slices.Concat(counts...)
	slices.Sort(all)
	for i, n := range all {
		if n != int64(i+1) {
			t.Fatalf("counts returned by concurrent hits: got %v, want 1..%d each once", all, workers*perWorker)
		}
	}
	n, err := s.Hit(ctx, "ip:192.0.2.1", time.Hour)
	must(t, err, "Hit")
	if want := int64(workers*perWorker + 1); n != want {
		t.Errorf("final count: got %d, want %d", n, want)
	}
}

func testRaceAddSessionClient(t *testing.T, s storage.Ephemeral, c *clock) {
	ctx := t.Context()
	sess := session(c, "sess-1", "sub-1")
	sess.ClientIDs = nil
	must(t, s.CreateSession(ctx, sess), "CreateSession")
	// Every client is added by two goroutines: no update may be lost and
	// none may be duplicated.
	errs := race(workers, func(i int) error { return s.AddSessionClient(ctx, "sess-1", fmt.Sprintf("client-%02d", i/2)) })
	for i, err := range errs {
		must(t, err, fmt.Sprintf("goroutine %d", i))
	}
	got, err := s.Session(ctx, "sess-1")
	must(t, err, "Session")
	ids := slices.Clone(got.ClientIDs)
	slices.Sort(ids)
	var want []string
	for i := range workers / 2 {
		want = append(want, fmt.Sprintf("client-%02d", i))
	}
	if !slices.Equal(ids, want) {
		t.Errorf("ClientIDs after concurrent adds: got %v, want %v", got.ClientIDs, want)
	}
}
