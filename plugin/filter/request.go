package filter

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/tokengate/tokengate/core"
)

// RequestTimeProperty is the host attribute the filter decides at: the instant the first byte
// of the request arrived, as 8 bytes of little-endian int64 nanoseconds since the Unix epoch
// (Envoy's request.time attribute). The filter never reads a clock the request controls.
var RequestTimeProperty = []string{"request", "time"}

// earliestRequestTime is the earliest request.time the filter accepts. An earlier instant
// means the host clock is unset, and deciding with it would treat expired and revoked tokens
// as valid.
var earliestRequestTime = time.Date(2020, time.January, 1, 0, 0, 0, 0, time.UTC)

// EncodeRequestTime returns t in the encoding of [RequestTimeProperty].
func EncodeRequestTime(t time.Time) []byte {
	return binary.LittleEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

// readRequestTime reads and checks the request.time attribute.
func readRequestTime(h host) (time.Time, error) {
	raw, err := h.property(RequestTimeProperty)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the request.time property: %w", err)
	}
	if len(raw) != 8 {
		return time.Time{}, fmt.Errorf("the request.time property has %d bytes: want 8 (int64 nanoseconds since the Unix epoch)", len(raw))
	}
	t := time.Unix(0, int64(binary.LittleEndian.Uint64(raw))).UTC()
	if t.Before(earliestRequestTime) {
		return time.Time{}, fmt.Errorf("the request.time property is %s, before %s: the host clock is not set", t.Format(time.RFC3339), earliestRequestTime.Format(time.RFC3339))
	}
	return t, nil
}

// buildRequest turns the host's request header list into a core request. Pseudo-headers are
// left out of the headers, and :method and :path become the method and the path. A list
// without exactly one :method and one :path gets an empty path, which core rejects as
// malformed_path, because the upstream's choice between two values cannot be known. (HTTP/2
// and HTTP/3 codecs already reject such requests.)
func buildRequest(pairs [][2]string) core.Request {
	req := core.Request{Headers: make([]core.Header, 0, len(pairs))}
	methods, paths := 0, 0
	for _, kv := range pairs {
		name, value := kv[0], kv[1]
		if !strings.HasPrefix(name, ":") {
			req.Headers = append(req.Headers, core.Header{Name: name, Value: value})
			continue
		}
		switch name {
		case ":method":
			req.Method = value
			methods++
		case ":path":
			req.Path = value
			paths++
		}
	}
	if methods != 1 || paths != 1 {
		req.Path = ""
	}
	return req
}
