package redis_test

import (
	"testing"

	"github.com/gongpai/gongpai/storage/redis/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
