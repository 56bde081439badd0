// Command benchupstream is the upstream of the end-to-end benchmark
// (make -f xcaddy.mk bench): it answers every request with 200 "ok" over
// keep-alive connections, doing as little work as it can so that the
// proxy in front of it is what the benchmark measures.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

var (
	body        = []byte("ok")
	contentType = []string{"text/plain; charset=utf-8"}
	contentLen  = []string{"2"}
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9401", "listen address")
	flag.Parse()

	srv := &http.Server{
		Addr: *addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = contentType
			h["Content-Length"] = contentLen
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute, // keep-alive stays on (the default)
	}
	log.Printf("benchupstream: listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}
