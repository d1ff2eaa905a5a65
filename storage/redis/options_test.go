package redis_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gongpai/gongpai/storage/redis"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

const secret = "s3cret-hunter2"

// TestPasswordNeverPrinted: Options printed or logged by mistake, and the
// errors of a failed authentication, never show the password.
func TestPasswordNeverPrinted(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), DisableIdentity: true})
	t.Cleanup(func() { admin.Close() })
	if err := admin.ConfigSet(t.Context(), "requirepass", secret).Err(); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	o := redis.Options{Addrs: []string{srv.Addr()}, Password: secret,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	s, err := redis.Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open with the right password: %v", err)
	}
	s.Close()
	wrong := o
	wrong.Password = secret + "-wrong"
	_, err = redis.Open(t.Context(), wrong)
	if err == nil {
		t.Fatal("Open with a wrong password: no error")
	}
	slog.New(slog.NewTextHandler(&logs, nil)).Info("options", "o", o)

	printed := map[string]string{
		"%v":         fmt.Sprintf("%v", o),
		"%+v":        fmt.Sprintf("%+v", o),
		"%#v":        fmt.Sprintf("%#v", o),
		"%s":         fmt.Sprintf("%s", o),
		"logs":       logs.String(),
		"Open error": err.Error(),
	}
	for how, text := range printed {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows the password: %s", how, text)
		}
	}
	if !strings.Contains(printed["%v"], "password set: true") {
		t.Errorf("%%v: got %s, want it to say a password is set", printed["%v"])
	}
}
