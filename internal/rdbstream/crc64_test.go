package rdbstream

import "testing"

func TestCRC64(t *testing.T) {
	// The test vector of Redis's src/crc64.c.
	const want = 0xe9c6d914c4b8d9ca
	v := []byte("123456789")
	if got := CRC64(0, v); got != want {
		t.Errorf("crc64(123456789) = %#x, want %#x", got, uint64(want))
	}
	// Fed in pieces, the CRC continues where it stopped.
	for i := range v {
		if got := CRC64(CRC64(0, v[:i]), v[i:]); got != want {
			t.Errorf("crc64 of 123456789 split at %d = %#x, want %#x", i, got, uint64(want))
		}
	}
	if got := CRC64(0, nil); got != 0 {
		t.Errorf("crc64 of nothing = %#x, want 0", got)
	}
}
