package resp

// Args appends to argv the first cap(argv)-len(argv) arguments of the
// complete command frame (as returned by CommandLen), the command name first,
// and returns the extended slice. The slices alias frame. It never allocates:
// pass a slice of a fixed-size array, e.g. resp.Args(frame, argv[:0]).
//
// Inline commands are split on spaces and tabs; quotes are not interpreted
// (the proxy forwards the raw bytes, Redis does the real parsing; inline
// commands are for humans on telnet and never carry state the proxy tracks
// in unusual quoting).
func Args(frame []byte, argv [][]byte) [][]byte {
	if len(frame) == 0 {
		return argv
	}
	if frame[0] != '*' {
		return inlineArgs(frame, argv)
	}
	if frame[1] == '-' {
		return argv // "*-1": no arguments
	}
	i := 1
	n := 0
	for ; frame[i] != '\r'; i++ {
		n = n*10 + int(frame[i]-'0')
	}
	i += 2
	for k := 0; k < n && len(argv) < cap(argv); k++ {
		i++ // '$'
		l := 0
		for ; frame[i] != '\r'; i++ {
			l = l*10 + int(frame[i]-'0')
		}
		i += 2
		argv = append(argv, frame[i:i+l])
		i += l + 2
	}
	return argv
}

func inlineArgs(frame []byte, argv [][]byte) [][]byte {
	i := 0
	for len(argv) < cap(argv) {
		for i < len(frame) && isSpace(frame[i]) {
			i++
		}
		if i == len(frame) {
			return argv
		}
		j := i
		for j < len(frame) && !isSpace(frame[j]) {
			j++
		}
		argv = append(argv, frame[i:j])
		i = j
	}
	return argv
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// EqualFold reports whether b equals the lower-case ASCII word lower, ignoring
// ASCII case. Command names are ASCII, so this avoids bytes.EqualFold's
// Unicode work and any conversion.
func EqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// IsPush reports whether a complete reply frame is an out-of-band RESP3 push
// (Pub/Sub messages, client-side caching invalidations), which answers no
// command.
func IsPush(frame []byte) bool { return len(frame) > 0 && frame[0] == '>' }

// IsError reports whether a complete reply frame is an error reply.
func IsError(frame []byte) bool { return len(frame) > 0 && (frame[0] == '-' || frame[0] == '!') }
