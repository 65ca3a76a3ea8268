package bench_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkW2Loopback measures the throughput of W2 over loopback TCP: the
// real GraphQL handler and the baseline handler each behind an
// httptest.Server, with 4×GOMAXPROCS clients sending the 10×20 nested query
// at once. ns/op is the wall time per answered request over all clients,
// so throughput is 1e9 / ns/op requests a second; compare the two sides'
// figures (server/baseline is the inverse of the throughput ratio).
func BenchmarkW2Loopback(b *testing.B) {
	eachDialect(b, func(b *testing.B, e *env) {
		body := nestedBody(10, 20)
		for _, s := range []struct {
			name string
			h    http.Handler
		}{{"impl=server", e.handler}, {"impl=baseline", e.baselineHandler()}} {
			b.Run(s.name, func(b *testing.B) {
				srv := httptest.NewServer(s.h)
				b.Cleanup(srv.Close)
				tr := &http.Transport{MaxIdleConnsPerHost: 64}
				b.Cleanup(tr.CloseIdleConnections)
				c := &http.Client{Transport: tr}
				if err := post(c, srv.URL, e.key, body); err != nil {
					b.Fatal(err)
				}
				b.SetParallelism(4)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := post(c, srv.URL, e.key, body); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	})
}

// post sends body to url+"/graphql" with the API key and checks the answer
// is a 200 without errors.
func post(c *http.Client, url, key string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK || bytes.Contains(got, []byte(`"errors"`)) {
		return fmt.Errorf("HTTP %d: %.200s", res.StatusCode, got)
	}
	return nil
}
