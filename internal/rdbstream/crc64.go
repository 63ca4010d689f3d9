package rdbstream

import "hash/crc64"

// jones is the CRC-64 polynomial of Redis's RDB and DUMP checksums (Jones,
// normal form 0xad93d23594c935a9), in the reversed form hash/crc64 takes.
const jones = 0x95ac9329ac4bc9b5

var jonesTable = crc64.MakeTable(jones)

// CRC64 continues Redis's crc64(crc, p): reflected, initial value 0, no
// final XOR. hash/crc64 inverts the value before and after, so the
// inversions are undone here.
func CRC64(crc uint64, p []byte) uint64 {
	return ^crc64.Update(^crc, jonesTable, p)
}
