package rdbstream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/haredis/haredis/internal/redistest"
)

func TestCheckerPassesAGoodFileAndRefusesDamagedOnes(t *testing.T) {
	srv, err := redistest.StartServer(redistest.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := srv.Client()
	defer c.Close()
	ctx := t.Context()
	for i := range 100 {
		c.Set(ctx, "k"+string(rune('a'+i%26))+string(rune('0'+i/26)), i, 0)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(srv.Dir(), "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(NewChecker(bytes.NewReader(good)))
	if err != nil || !bytes.Equal(got, good) {
		t.Fatalf("a good file: %v (%d of %d bytes)", err, len(got), len(good))
	}
	ch := NewChecker(bytes.NewReader(good))
	_, _ = io.ReadAll(ch)
	if ch.Header().RDBVersion != 10 || ch.Header().RedisVer == "" {
		t.Errorf("header %+v", ch.Header())
	}

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	if _, err := io.ReadAll(NewChecker(bytes.NewReader(flipped))); err == nil {
		t.Error("a flipped byte passed")
	}
	if _, err := io.ReadAll(NewChecker(bytes.NewReader(good[:len(good)-20]))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a cut file: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := io.ReadAll(NewChecker(bytes.NewReader([]byte("<html>not found</html>")))); err == nil {
		t.Error("an HTML page passed")
	}
}

func TestFormatOf(t *testing.T) {
	for magic, want := range map[string]int{"REDIS0010": 10, "REDIS0011": 11, "REDIS0012": 12, "VALKEY080": 80, "REDIS00xx": -1, "VALKEY08": -1, "MYSQL0001": -1} {
		got, ok := FormatOf([]byte(magic))
		if (want < 0) == ok || (ok && got != want) {
			t.Errorf("FormatOf(%q) = %d, %v; want %d", magic, got, ok, want)
		}
	}
}
