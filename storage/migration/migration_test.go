package migration_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gongpai/gongpai/storage/migration"
)

func TestList(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []string // names in order
		wantErr string
	}{
		{"in order", fstest.MapFS{"m/0002_b.sql": file("B"), "m/0001_z.sql": file("A")}, []string{"0001_z.sql", "0002_b.sql"}, ""},
		{"gap", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C")}, nil, "0003_c.sql: want version 2"},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")}, nil, "want version 2"},
		{"misnamed", fstest.MapFS{"m/first.sql": file("A")}, nil, `"first.sql" is not NNNN_name.sql`},
		{"not sql", fstest.MapFS{"m/0001_a.txt": file("A")}, nil, "is not NNNN_name.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := migration.List(tt.files, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("List = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, m := range ms {
				got = append(got, m.Name)
				if m.Version != i+1 || m.SQL == "" {
					t.Errorf("migration %d = %+v", i, m)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("List = %v, want %v", got, tt.want)
			}
		})
	}
}
