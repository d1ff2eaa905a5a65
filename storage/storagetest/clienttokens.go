package storagetest

import (
	"slices"
	"testing"

	"github.com/gongpai/gongpai/storage"
)

// testRefreshTokenRevokeClient: deleting a client revokes every refresh
// token issued to it, and names each family once (its access tokens are
// deleted by family), leaving other clients' tokens alone.
func testRefreshTokenRevokeClient(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	other := refreshToken(c, "rt-w1", "fam-w1", "alice")
	other.ClientID = "wiki"
	for _, rt := range []*storage.RefreshToken{
		refreshToken(c, "rt-a1", "fam-a1", "alice"),
		refreshToken(c, "rt-b1", "fam-b1", "bob"),
		other,
	} {
		must(t, s.CreateRefreshToken(ctx, rt), "CreateRefreshToken")
	}
	must(t, s.RotateRefreshToken(ctx, "rt-a1", refreshToken(c, "rt-a2", "fam-a1", "alice")), "RotateRefreshToken")
	fams, err := s.RevokeRefreshTokensOfClient(ctx, "oa")
	must(t, err, "RevokeRefreshTokensOfClient")
	slices.Sort(fams)
	if !slices.Equal(fams, []string{"fam-a1", "fam-b1"}) {
		t.Errorf("families = %v, want [fam-a1 fam-b1]", fams)
	}
	for id, want := range map[string]bool{"rt-a1": true, "rt-a2": true, "rt-b1": true, "rt-w1": false} {
		got, err := s.RefreshToken(ctx, id)
		must(t, err, "RefreshToken "+id)
		if got.Revoked != want {
			t.Errorf("%s: got revoked=%v, want %v", id, got.Revoked, want)
		}
	}
	wantErr(t, s.RotateRefreshToken(ctx, "rt-a2", refreshToken(c, "rt-a3", "fam-a1", "alice")), storage.ErrConflict, "RotateRefreshToken after the client's revocation")
	// Again, or for an unknown client: nothing left to revoke.
	fams, err = s.RevokeRefreshTokensOfClient(ctx, "oa")
	must(t, err, "RevokeRefreshTokensOfClient again")
	if len(fams) != 0 {
		t.Errorf("second revocation named families %v", fams)
	}
	_, err = s.RevokeRefreshTokensOfClient(ctx, "ghost")
	must(t, err, "RevokeRefreshTokensOfClient unknown")
}
